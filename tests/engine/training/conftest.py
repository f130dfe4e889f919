"""A 2-process DDP training on this machine (torchrun, gloo), run once: the reference of the launchers' tests."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

# 4 steps of 2 tracks per process, every step logged, no checkpoint before the last step
DDP_SETTINGS = ["--method", "clustering", "--set", "steps=4", "--set", "batch_size=2", "--set", "num_workers=0",
                "--set", "log_every=1", "--set", "checkpoint_every=100", "--set", "n_prototypes=64",
                "--set", "precision=fp32", "--set", "segment_s=1.5", "--set", "min_gap_s=1.5"]


def mvssl(*args: str, **kwargs) -> subprocess.CompletedProcess:
    """`python -m engine.cli ARGS` with this checkout first on the import path (also for its Slurm jobs)."""
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], env=env, capture_output=True, text=True,
                          timeout=kwargs.pop("timeout", 600), **kwargs)


@pytest.fixture(scope="session")
def local_ddp_run(tmp_path_factory: pytest.TempPathFactory, tiny_corpus: Path) -> Path:
    run = tmp_path_factory.mktemp("local-ddp") / "ddp"
    out = mvssl("train", *DDP_SETTINGS, "--corpus", f"folder:{tiny_corpus}", "--devices", "2", "--run-dir", str(run))
    assert out.returncode == 0, out.stderr[-3000:]
    return run
