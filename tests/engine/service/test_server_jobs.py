"""The engine running real jobs: a study cancelled mid-training and resumed, and `mvssl study` in the foreground."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.model.checkpoints import load_checkpoint
from engine.service.client import BlockingClient
from engine.rundir.events import iter_events
from engine.service.protocol import SubmitStudy
from engine.rundir.files import read_status
from engine.service.studies import plan_steps
from tests.engine.service.test_server import mvssl, running_engine, wait_push

TINY = dict(batch_size=4, num_workers=0, precision="fp32", device="cpu", segment_s=2.0, min_gap_s=2.0)


def test_a_study_plans_its_steps_in_pipeline_order_one_probe_per_task() -> None:
    spec = SubmitStudy(type="submit_study", id=1, methods=["byol"], stages=["probe", "embed", "pretrain"],
                       tasks=["genre", "mood"], fractions=[10, 100], draws=2, options={"embed": {"batch": 8}})
    steps = [(s.kind, s.args) for s in plan_steps(spec)]
    assert steps == [("pretrain", {}), ("embed", {"batch": 8}),
                     ("probe", {"task": "genre", "fractions": [10.0, 100.0], "draws": 2}),
                     ("probe", {"task": "mood", "fractions": [10.0, 100.0], "draws": 2})]  # one job per task


@pytest.mark.slow
def test_cancel_then_resume_a_study(tmp_path: Path, tiny_corpus: Path) -> None:
    runs = tmp_path / "runs"
    settings = {**TINY, "steps": 8, "log_every": 1, "checkpoint_every": 2}
    with running_engine(runs, "--grace", "120"), BlockingClient.for_runs_dir(runs) as client:
        study = client.request("submit_study", methods=["vicreg"], corpus=f"folder:{tiny_corpus}", config=settings,
                               stages=["pretrain", "embed"], name="cr")["study"]
        run = study["branches"][0]["run"]
        assert run == "cr-vicreg-s0" and [s["kind"] for s in study["branches"][0]["steps"]] == ["pretrain", "embed"]
        client.request("subscribe", run=run)
        wait_push(client, lambda p: p["type"] == "event" and p["event"].get("type") == "train")
        assert client.request("cancel", study="cr") == {"jobs": ["j1"]}
        ended = wait_push(client, lambda p: p["type"] == "study" and p["study"]["state"] != "running")["study"]
        assert ended["state"] == "cancelled"
        assert [s["state"] for s in ended["branches"][0]["steps"]] == ["cancelled", "pending"]
        status = read_status(runs / run)
        stopped_at = load_checkpoint(runs / run / "checkpoints" / "last.pt")["step"]
        assert status["state"] == "cancelled" and 1 <= stopped_at == status["step"] < 8

        assert mvssl("runs", "resume", "--study", "cr", "--runs-dir", str(runs)) == 0
        with pytest.raises(ValueError, match="nothing to resume"):
            mvssl("runs", "resume", "--study", "cr", "--runs-dir", str(runs))
        assert client.request("get_study", study="cr")["study"]["state"] == "running"
        assert wait_push(client, lambda p: p["type"] == "reset")["run"] == run  # events cut back to the checkpoint
        resumed = wait_push(client, lambda p: p["type"] == "event" and p["event"].get("type") == "train"
                            and p["event"]["step"] > stopped_at)
        assert resumed["event"]["step"] == stopped_at + 1
        done = wait_push(client, lambda p: p["type"] == "study" and p["study"]["state"] != "running", timeout=600)
        assert done["study"]["state"] == "done"
        assert [s["state"] for s in done["study"]["branches"][0]["steps"]] == ["done", "done"]
    steps = [e["step"] for e in iter_events(runs / run / "events.jsonl") if e.get("type") == "train"]
    assert steps == list(range(1, 9))
    assert read_status(runs / run)["state"] == "done" and (runs / run / "embeddings.h5").exists()


def test_study_command_follows_progress_until_done(tmp_path: Path, tiny_corpus: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    runs = tmp_path / "runs"
    argv = ["study", "--methods", "random", "--corpus", f"folder:{tiny_corpus}", "--stages", "pretrain",
            "--name", "quick", "--runs-dir", str(runs), *[f"--set={k}={v}" for k, v in TINY.items()]]
    try:
        assert mvssl(*argv) == 0
        out = capsys.readouterr().out
        assert "quick-random-s0: pretrain running" in out and out.rstrip().endswith("study quick: done")
        assert mvssl("runs", "studies", "--runs-dir", str(runs)) == 0
        assert "quick" in capsys.readouterr().out
        with pytest.raises(ValueError, match="already exists"):
            mvssl(*argv, "--detach")
    finally:
        mvssl("engine", "stop", "--runs-dir", str(runs))
