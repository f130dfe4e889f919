"""engine.rundir.summary: one tolerant summary of a run directory (the GUI's RunSummary comes from it)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.rundir.files import FINAL_STATES, STATES
from engine.rundir.status import RunStatus
from engine.rundir.summary import number, run_summary


def make_run(root: Path, status: dict | None, config: str | None) -> Path:
    run = root / "r1"
    run.mkdir()
    if status is not None:
        (run / "status.json").write_text(json.dumps(status))
    if config is not None:
        (run / "config.toml").write_text(config)
    return run


def test_study_falls_back_to_config_and_corpus_to_status(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    old = make_run(tmp_path / "a", {"state": "done", "corpus": "folder:/music"}, 'method = "byol"\nstudy = "s7"\n')
    summary = run_summary(old)
    assert (summary["study"], summary["corpus"], summary["method"]) == ("s7", "folder:/music", "byol")
    both = make_run(tmp_path / "b", {"study": "s8", "corpus": "demo"}, 'study = "s7"\ncorpus = "mtat:/data"\n')
    assert (run_summary(both)["study"], run_summary(both)["corpus"]) == ("s8", "mtat:/data")


def test_states_numbers_and_unknown_values() -> None:
    assert STATES == ("queued", "running", "requeued", "done", "failed", "cancelled", "diverged", "interrupted")
    assert FINAL_STATES == ("done", "failed", "cancelled", "diverged", "interrupted")
    assert [RunStatus.from_file({"state": v}).state for v in ("done", "weird", None, 3)] == ["done"] + ["unknown"] * 3
    assert [number(v, -1.0) for v in (3, 2.5, True, "12", None)] == [3.0, 2.5, -1.0, -1.0, -1.0]


def test_status_of_a_newer_or_broken_engine_keeps_what_it_can_read() -> None:
    status = RunStatus.from_file({"state": "running", "step": True, "total_steps": 300, "message": 3,
                                  "gpu_hours": 1.5, "started_at": 10, "slurm_job_id": "42"})
    assert (status.state, status.step, status.total_steps, status.message) == ("running", None, 300, "")
    assert (status.started_at, status.slurm_job_id) == (10.0, "42")  # an int where a float goes is a float
    assert "gpu_hours" not in status.model_dump()


@pytest.mark.parametrize("status", ["{not json", "[1, 2]"])
def test_broken_files_give_neutral_values(tmp_path: Path, status: str) -> None:
    run = make_run(tmp_path, None, "this is = = not toml")
    (run / "status.json").write_text(status)
    summary = run_summary(run)
    assert summary == {"run": "r1", "state": "unknown", "method": "unknown", "step": 0, "total_steps": 0,
                       "study": "", "corpus": "", "precision": "", "message": summary["message"], "started_at": None,
                       "updated_at": None}
    assert summary["message"].startswith(f"{run}/status.json: ") and f"; {run}/config.toml: unreadable (" in summary["message"]
