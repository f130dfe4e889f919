"""The typed contract (engine.service.contract): every reply and push a real engine sends during a short study
matches its model, and a subscribed client sees the progress of a running embed job."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from engine.service import contract
from engine.service.client import BlockingClient, EngineError
from tests.engine.service.test_server import running_engine
from tests.engine.service.test_server_jobs import TINY


def test_models_refuse_unknown_fields_and_states() -> None:
    job = {"id": "j1", "n": 1, "kind": "embed", "run": "r", "submitted_at": 0.0}
    assert contract.Job.model_validate(job).progress is None
    with pytest.raises(ValidationError):
        contract.Job.model_validate({**job, "stage": "x"})  # a field renamed on one side fails on the other
    with pytest.raises(ValidationError):
        contract.Job.model_validate({**job, "state": "finished"})
    assert set(contract.ACTIVE_STATES) | set(contract.FINAL_STATES) == set(contract.STATES)
    assert "diverged" in contract.FINAL_STATES
    assert contract.Progress(done=120, total=300, phrase="embedding 120/300 tracks").fraction == 0.4


def test_status_pushes_are_strict_while_old_status_files_still_read() -> None:
    push = {"type": "status", "run": "r", "status": {"state": "running", "step": 3, "total_steps": 10}}
    assert contract.parse_push(push).status == contract.RunStatus(state="running", step=3, total_steps=10)
    for renamed in ({"steps": 10}, {"state": "finished"}, {"step": "3"}):
        with pytest.raises(ValidationError):
            contract.parse_push({**push, "status": {**push["status"], **renamed}})
    old = contract.RunStatus.from_file({"state": "done", "step": 10, "gpu_hours": 2.0, "pid": "1234"})
    assert (old.state, old.step, old.pid) == ("done", 10, None)


class Recording(BlockingClient):
    """A client that keeps every message the engine sends, with the request type each reply answers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.messages: list[dict[str, Any]] = []
        self.asked: dict[Any, str] = {}
        super().__init__(*args, **kwargs)

    def read_message(self, timeout: float | None = None) -> dict[str, Any]:
        message = super().read_message(timeout)
        self.messages.append(message)
        return message

    def send_raw(self, data: bytes) -> None:
        sent = json.loads(data)
        self.asked[sent["id"]] = sent["type"]
        super().send_raw(data)


@pytest.mark.slow
def test_every_message_of_a_short_study_matches_the_contract(tmp_path: Path, tiny_corpus: Path) -> None:
    runs = tmp_path / "runs"
    with running_engine(runs), Recording.for_runs_dir(runs, hello=False) as client:
        client.request("hello", version=1, client="test")
        study = client.request("submit_study", methods=["contrastive"], corpus=f"folder:{tiny_corpus}",
                               config={**TINY, "steps": 2, "log_every": 1, "checkpoint_every": 2},
                               stages=["pretrain", "embed"], name="c")["study"]
        run = study["branches"][0]["run"]
        client.request("subscribe", run=run)
        progress: list[contract.Job] = []
        while True:
            push = client.next_push(timeout=300)
            assert push is not None, "the study did not end in time"
            parsed = contract.parse_push(push)
            if isinstance(parsed, contract.JobPush) and parsed.job.kind == "embed" and parsed.job.progress:
                progress.append(parsed.job)
            if isinstance(parsed, contract.StudyPush) and parsed.study.state in contract.FINAL_STATES:
                assert parsed.study.state == "done"
                break
        for request in ("list_runs", "list_jobs", "list_studies"):
            client.request(request)
        client.request("get_run", run=run)
        client.request("get_study", study="c")
        client.request("submit", kind="project", run=run, args={"methods": ["pca"]})
        client.request("unsubscribe", run=run)
        with pytest.raises(EngineError):
            client.request("cancel", run=run, study="c")
    running = [j for j in progress if j.state == "running"]
    assert running, "no push carried the progress of the running embed job"
    assert running[0].progress.phrase.startswith("embedding ") and running[0].progress.phrase.endswith(" tracks")
    assert progress[-1].progress.done == progress[-1].progress.total == 16  # the tiny corpus's tracks
    statuses = [contract.parse_push(m).status for m in client.messages if m["type"] == "status"]
    assert any(s.state == "running" for s in statuses), "no status push while the run trained"
    assert any(s.state == "done" and s.step == s.total_steps == 2 for s in statuses)
    assert {s.method for s in statuses} == {"contrastive"} and all(s.updated_at for s in statuses)
    kinds = set()
    for message in client.messages:
        kinds.add(message["type"])
        if message["type"] == "reply":
            contract.ReplyMessage.model_validate(message)
            if message["id"] in client.asked:
                contract.parse_result(client.asked[message["id"]], message["result"])
        elif message["type"] == "error":
            contract.ErrorMessage.model_validate(message)
        else:
            contract.parse_push(message)
    assert kinds >= {"reply", "error", "event", "status", "job", "study"}
    assert set(client.asked.values()) >= set(contract.RESULTS) - {"resume", "delete", "shutdown", "cancel"}
