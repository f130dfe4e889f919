"""`make bench` at tiny sizes: every section runs, every row is numeric with ratio = ours / baseline."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import run as bench_run
from benchmarks.common import row

ROOT = Path(__file__).resolve().parents[1]
# training: 5 methods x 3 rows, auto vs the other precision, 6 profile rows, the matmul peak (no cached
# measurement row: the test environment sets MVSSL_CPU_PRECISION)
ROWS_PER_SECTION = {"training": 23, "compile": 0, "data": 7, "embedding": 3, "evaluation": 7, "study": 5, "gui": 5}


@pytest.mark.slow
def test_quick_bench_writes_every_row_with_its_ratio(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "benchmarks.run", "--quick", "--out-dir", str(tmp_path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    [json_path] = tmp_path.glob("*-quick.json")
    result = json.loads(json_path.read_text())
    assert not [s for s in result["sections"].values() if "error" in s]
    counts = {s: sum(r["section"] == s for r in result["rows"]) for s in ROWS_PER_SECTION}
    assert counts == ROWS_PER_SECTION
    for r in result["rows"]:
        assert all(isinstance(r[k], float) and math.isfinite(r[k]) for k in ("ours", "baseline", "ratio")), r
        assert r["baseline"] > 0 and r["ratio"] == pytest.approx(r["ours"] / r["baseline"]), r
        assert (r["goal"] is None) == (r["met"] is None), r
    methods = {r["what"].split(":")[0] for r in result["rows"] if r["section"] == "training"}
    assert {"train contrastive", "train byol", "train clustering", "train barlow_twins", "train vicreg"} <= methods
    table = json_path.with_suffix(".md").read_text()
    assert "| what | ours | baseline | ratio | goal | met? |" in table
    assert table.count("\n| ") == 1 + sum(ROWS_PER_SECTION.values())  # header + one line per row


def test_a_failing_section_is_recorded_and_the_others_still_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(bench_run.SECTIONS, "missing", "benchmarks.no_such_section")
    monkeypatch.setitem(bench_run.SECTIONS, "tiny", "benchmarks.bench_eval")  # a stand-in section
    monkeypatch.setattr("benchmarks.bench_eval.run",
                        lambda quick, progress: {"rows": [row("tiny", "x", "s", 2.0, 4.0, "y")]})
    outcome = bench_run.run_sections(["missing", "tiny"], quick=True)
    assert "ModuleNotFoundError" in outcome["sections"]["missing"]["error"]
    assert [r["ratio"] for r in outcome["rows"]] == [0.5]
    table = bench_run.markdown({"date": "d", "quick": True, "seconds": 1.0, **outcome,
                                "machine": {"host": "h", "cpu": "c", "cores": 2, "torch": "t", "torch_threads": 2,
                                            "loadavg_at_start": [1.0]}})
    assert "- missing: ModuleNotFoundError" in table and "| x | 2 s | 4 s (y) | 0.5 | – | – |" in table
