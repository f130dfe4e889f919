"""The Slurm launcher without Slurm: its options in the protocol, and the queue following a scripted Slurm."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.rundir.files import read_status, write_status
from engine.service import protocol, slurm
from engine.service.enginedir import engine_paths
from engine.service.queue import JobQueue
from engine.service.slurm import SlurmState
from engine.training.slurm_options import SlurmOptions


def request(**fields) -> bytes:
    return json.dumps({"id": 1, **fields}).encode()


def test_submit_carries_typed_slurm_options() -> None:
    req = protocol.parse_request(request(type="submit", kind="embed", run="r", launcher="slurm",
                                         slurm={"partition": "gpu", "gpus_per_node": 1, "extra": {"qos": "high"}}))
    assert req.launcher == "slurm" and req.slurm == SlurmOptions(partition="gpu", gpus_per_node=1,
                                                                 extra={"qos": "high"})
    study = protocol.parse_request(request(type="submit_study", methods=["vicreg"], launcher="slurm"))
    assert study.launcher == "slurm" and study.slurm is None  # the runs folder's remembered options


@pytest.mark.parametrize("fields, message", [
    ({"slurm": {"partition": "gpu"}}, "slurm options need launcher slurm"),
    ({"launcher": "slurm", "slurm": {"nodes": 0}}, "field 'slurm.nodes'"),
    ({"launcher": "slurm", "slurm": {"extra": {"time": "5"}}}, "set time with its own option"),
    ({"launcher": "slurm", "slurm": {"partitions": "gpu"}}, "slurm.partitions"),
    ({"launcher": "cloud"}, "field 'launcher'"),
])
def test_bad_launcher_settings_are_refused(fields: dict, message: str) -> None:
    for kind in ({"type": "submit", "kind": "embed", "run": "r"}, {"type": "submit_study", "methods": ["vicreg"]}):
        with pytest.raises(protocol.ProtocolError, match=message):
            protocol.parse_request(request(**kind, **fields))


class ScriptedSlurm:
    """Stands in for engine.service.slurm's calls to sbatch, sacct and scancel."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.states: dict[str, SlurmState | None] = {}
        self.cancelled: list[str] = []
        self.submitted = 0
        monkeypatch.setattr(slurm, "submit", self.submit)
        monkeypatch.setattr(slurm, "poll", lambda ids: {i: self.states[i] for i in ids if i in self.states})
        monkeypatch.setattr(slurm, "cancel", self.cancelled.append)
        monkeypatch.setattr("engine.service.queue.SLURM_POLL_S", 0.0)

    def submit(self, job, run_dir: Path, options: SlurmOptions) -> str:
        self.submitted += 1
        return str(40 + self.submitted)


@pytest.fixture
def queue(tmp_path: Path) -> JobQueue:
    runs = tmp_path / "runs"
    for run in ("a", "b"):
        (runs / run / "logs").mkdir(parents=True)
        write_status(runs / run, "interrupted", message="resumable")
    paths = engine_paths(runs)
    paths.dir.mkdir(parents=True)
    return JobQueue(paths, ["cpu:0"])


def finish_with(queue: JobQueue, job, state: str) -> None:
    result = Path(job.log).with_name(f"job-{job.kind}-{job.n}.result.json")
    result.write_text(json.dumps({"state": state, "message": f"it said {state}"}))


def test_the_queue_follows_a_slurm_job_from_pending_to_its_result(queue: JobQueue,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    fake = ScriptedSlurm(monkeypatch)
    job = queue.submit("embed", "a", {"batch": 8}, launcher="slurm", slurm_options=SlurmOptions(time_min=60))
    queue.tick()
    assert (job.slurm_job_id, job.state, job.slot, job.pid) == ("41", "queued", "slurm", None)
    assert queue.running() == []  # it holds no device slot
    fake.states["41"] = SlurmState("RUNNING", "node7")
    queue.tick()
    assert (job.state, job.slurm_state, job.node) == ("running", "RUNNING", "node7")
    fake.states["41"] = SlurmState("PENDING", "")
    queue.tick()
    assert (job.state, job.node) == ("requeued", "node7")

    reloaded = JobQueue(queue.paths, ["cpu:0"])  # an engine restart: the record comes back and is followed
    reloaded.load()
    reloaded.recover()
    job = reloaded.get(job.id)
    assert job.state == "requeued" and job.slurm_job_id == "41" and job.slurm.time_min == 60
    finish_with(reloaded, job, "done")
    fake.states["41"] = SlurmState("COMPLETED", "node7")
    reloaded.tick()
    assert (job.state, job.message) == ("done", "it said done")  # the job's own result decides


@pytest.mark.parametrize("slurm_says, cancel, state, message", [
    (SlurmState("CANCELLED", ""), True, "cancelled", "scancel"),
    (SlurmState("TIMEOUT", "node7"), False, "failed", "ended TIMEOUT"),
    (None, False, "interrupted", "without a result"),  # gone from squeue with no word from the job
])
def test_a_slurm_job_without_a_result_ends_as_slurm_says(queue: JobQueue, monkeypatch: pytest.MonkeyPatch,
                                                         slurm_says, cancel: bool, state: str, message: str) -> None:
    fake = ScriptedSlurm(monkeypatch)
    job = queue.submit("pretrain", "b", launcher="slurm", slurm_options=SlurmOptions())
    queue.tick()
    assert read_status(queue.paths.runs_dir / "b")["state"] == "queued"
    if cancel:
        assert queue.cancel(job) and fake.cancelled == ["41"] and job.state == "queued"
    fake.states["41"] = slurm_says
    queue.tick()
    assert job.state == state and message in job.message
    assert read_status(queue.paths.runs_dir / "b")["state"] == state  # a training's status follows


def test_a_slurm_job_not_submitted_yet_is_dequeued_and_a_refused_one_fails(queue: JobQueue,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    fake = ScriptedSlurm(monkeypatch)
    first = queue.submit("embed", "a", launcher="slurm", slurm_options=SlurmOptions())
    assert queue.cancel(first) and first.state == "cancelled" and fake.cancelled == []

    def refuse(job, run_dir, options):
        raise RuntimeError("sbatch: error: invalid partition specified: nope")

    monkeypatch.setattr(slurm, "submit", refuse)
    second = queue.submit("embed", "a", launcher="slurm", slurm_options=SlurmOptions(partition="nope"))
    queue.tick()
    assert second.state == "failed" and "invalid partition specified: nope" in second.message
    with pytest.raises(ValueError, match="needs its Slurm options"):
        queue.submit("embed", "a", launcher="slurm")


def test_detached_runs_cancelled_while_pending_are_settled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runs = tmp_path / "runs"
    for run, job_id in (("cancelled", "7"), ("pending", "8"), ("busy", "9")):
        (runs / run).mkdir(parents=True)
        write_status(runs / run, "queued", slurm_job_id=job_id)
    states = {"7": SlurmState("CANCELLED", ""), "8": SlurmState("PENDING", ""), "9": SlurmState("CANCELLED", "")}
    monkeypatch.setattr(slurm, "poll", lambda ids: {i: states[i] for i in ids})
    slurm.settle_detached(runs, busy={"busy"})
    assert [read_status(runs / r)["state"] for r in ("cancelled", "pending", "busy")] == \
        ["cancelled", "queued", "queued"]
    assert "Slurm job 7 ended CANCELLED" in read_status(runs / "cancelled")["message"]
