"""`make gpu-check` in its quick CPU mode: every part runs and reports numbers, so it cannot rot."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_check_cpu_mode_reports_every_part(tmp_path: Path) -> None:
    out_file = tmp_path / "gpu.json"
    out = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", "--device", "cpu", "--quick",
                          "--out", str(out_file)], cwd=ROOT, capture_output=True, text=True, timeout=400)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    result = json.loads(out_file.read_text())
    assert set(result["training"]) == {"contrastive", "byol", "clustering", "barlow_twins", "vicreg"}
    for m in result["training"].values():
        assert m["views_per_s"] > 0 and m["flops_per_step"] > 0 and 0 < m["mfu"] < 1
        assert m["precision"] == "fp32"  # MVSSL_CPU_PRECISION in the test environment
    assert result["matmul_peak_tflops"] > 0 and result["matmul_peak_precision"] == "fp32"  # the training's own
    assert result["data"]["views_per_s"] > 0 and result["data"]["ratio"] > 0
    assert result["embedding"]["clips_per_s"] > 0 and result["embedding"]["finite"]
    ddp = result["ddp"]
    assert ddp["returncode"] == 0 and ddp["backend"] == "gloo" and ddp["ddp"] == "DistributedDataParallel"
    assert ddp["all_reduce"] == 1.0 and len(ddp["losses"]) == 2
    assert result["machine"]["precision_auto"] == "fp32" and "cpu" in result["machine"]
