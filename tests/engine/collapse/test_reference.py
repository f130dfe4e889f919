"""The collapse reference set in its CI size: every healthy run free of alarms, every collapse built on purpose
detected with its kind, the random control untrained, and `mvssl diagnose --json` saying the same.

One script builds the runs (`python -m benchmarks.collapse_reference --size ci`): a 40-track demo corpus of
8-s tracks, 2-s views, batch 12, 30-40 steps per run, fp32 on the CPU. docs/collapse-calibration.md gives the
full-size figures and the time this test takes.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import collapse_reference as ref
from engine.collapse.verdicts import COLLAPSE_KINDS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """(runs root, the script's JSON result) of the CI-sized reference set."""
    from engine.data.corpora.demo import make_demo

    tmp = tmp_path_factory.mktemp("collapse-reference")
    corpus = make_demo(tmp / "corpus", tracks=ref.CI_TRACKS, seed=0, seconds=ref.CI_SECONDS, workers=1, progress=False)
    out = tmp / "reference.json"
    assert ref.main(["--size", "ci", "--root", str(tmp / "runs"), "--corpus", f"folder:{corpus}",
                     "--out", str(out)]) == 0
    return tmp / "runs", json.loads(out.read_text())


def test_no_alarm_on_any_healthy_run(reference) -> None:
    _, result = reference
    healthy = {name: r for name, r in result["runs"].items() if r["intended"] == "healthy"}
    assert set(healthy) == {"contrastive-30", "vicreg-30"}
    for name, run in healthy.items():
        assert all(kind not in COLLAPSE_KINDS for _, kind in run["verdicts"]), (name, run["verdicts"])
        assert run["final"] == "healthy", (name, run["verdicts"])
    assert result["summary"]["healthy_snapshots_alarmed"] == 0


def test_every_built_collapse_is_detected_with_its_kind(reference) -> None:
    _, result = reference
    collapses = {name: r for name, r in result["runs"].items() if r["intended"] in COLLAPSE_KINDS}
    assert sorted(r["intended"] for r in collapses.values()) == sorted(COLLAPSE_KINDS)
    for name, run in collapses.items():
        assert run["final"] == run["intended"], (name, run["verdicts"])
    assert result["runs"]["untrained"]["final"] == "untrained"
    matrix = result["final"]  # the confusion matrix at each run's last snapshot: the diagonal only
    assert all(list(row) == [intended] for intended, row in matrix.items()), matrix


def test_forecast_lead_times_and_false_warnings_are_reported(reference) -> None:
    _, result = reference
    summary = result["summary"]
    assert set(summary["lead_steps"]) == {n for n, r in result["runs"].items() if r["intended"] in COLLAPSE_KINDS}
    assert all(lead is None or lead >= 0 for lead in summary["lead_steps"].values())  # never after the verdict
    assert summary["false_warnings"] == 0


@pytest.mark.parametrize("case, kind", [("contrastive-30", "healthy"), ("vicreg-30", "healthy"),
                                        ("dominant", "dominant"), ("untrained", "untrained")])
def test_diagnose_json_gives_the_runs_verdict(reference, case: str, kind: str) -> None:
    runs, _ = reference
    done = subprocess.run([sys.executable, "-m", "engine.cli", "diagnose", "--run-dir", str(runs / case), "--json",
                           "--tracks", "16"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    verdict = json.loads(done.stdout)["verdict"]
    assert verdict["kind"] == kind, verdict
    assert verdict["stop_advised"] == (kind in COLLAPSE_KINDS)
    assert verdict["advice"].endswith(f"docs/collapse-calibration.md#{kind}.")
