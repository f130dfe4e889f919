"""The engine with the Slurm launcher on a real Slurm (.ci/slurm-cluster): a study whose every job is a Slurm job,
through an engine restart; cancel from the engine, running and pending; a detached training cancelled while
pending is settled by the engine."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from engine.rundir.files import read_status
from engine.service import slurm
from engine.service.client import BlockingClient
from engine.training.slurm_options import load_remembered
from tests.engine.service.test_server import mvssl, running_engine, wait_until
from tests.engine.service.test_server_jobs import TINY
from tests.engine.training.conftest import mvssl as mvssl_process

pytestmark = [pytest.mark.slow, pytest.mark.slurm, pytest.mark.usefixtures("slurm_cluster")]

ON_SLURM = {"time_min": 60}
PENDING_AN_HOUR = {"time_min": 60, "extra": {"begin": "now+60minutes"}}  # stays PENDING: never starts


def accounted(job_ids: list[str]) -> dict[str, str]:
    """Slurm's accounting: job id -> final state."""
    out = subprocess.run(["sacct", "-X", "-n", "-P", "-o", "JobIDRaw,State", "-j", ",".join(job_ids)],
                         capture_output=True, text=True, check=True).stdout
    return {line.split("|")[0]: line.split("|")[1].split()[0] for line in out.splitlines() if "|" in line}


def squeue_state(job_id: str) -> str:
    return subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True, text=True).stdout.strip()


def job(client: BlockingClient, job_id: str) -> dict:
    return next(j for j in client.request("list_jobs")["jobs"] if j["id"] == job_id)


def test_a_study_on_slurm_runs_every_job_there_and_survives_an_engine_restart(tmp_path: Path,
                                                                              tiny_corpus: Path) -> None:
    runs = tmp_path / "runs"
    settings = {**TINY, "steps": 40, "log_every": 1, "checkpoint_every": 100}
    with running_engine(runs):
        assert mvssl("study", "--methods", "vicreg", "--corpus", f"folder:{tiny_corpus}", "--stages",
                     "pretrain,embed,probe", "--tasks", "genre", "--fractions", "100", "--draws", "1", "--probe",
                     "linear", "--name", "onslurm", "--launcher", "slurm", "--time-min", "60", "--detach",
                     "--runs-dir", str(runs), *[f"--set={k}={v}" for k, v in settings.items()]) == 0
        with BlockingClient.for_runs_dir(runs) as client:
            study = client.request("get_study", study="onslurm")["study"]
            assert study["launcher"] == "slurm" and study["slurm"]["time_min"] == 60
            run = study["branches"][0]["run"]
            pretrain = wait_until(lambda: (j := job(client, "j1"))["state"] == "running" and j, timeout=300,
                                  what="the training running on Slurm")
            assert pretrain["slot"] == "slurm" and pretrain["pid"] is None and pretrain["slurm_state"] == "RUNNING"
    # the engine is gone while the training runs on Slurm; a new one re-attaches to the Slurm job
    assert squeue_state(pretrain["slurm_job_id"]) == "RUNNING"
    with running_engine(runs), BlockingClient.for_runs_dir(runs) as client:
        assert job(client, "j1")["slurm_job_id"] == pretrain["slurm_job_id"]
        wait_until(lambda: client.request("get_study", study="onslurm")["study"]["state"] != "running",
                   timeout=600, what="the study's end")
        ended = client.request("get_study", study="onslurm")["study"]
        jobs = client.request("list_jobs")["jobs"]
    assert ended["state"] == "done", ended
    assert [s["state"] for s in ended["branches"][0]["steps"]] == ["done", "done", "done"]
    assert [j["kind"] for j in jobs] == ["pretrain", "embed", "probe"]
    ids = [j["slurm_job_id"] for j in jobs]
    assert all(j["launcher"] == "slurm" and j["state"] == "done" and j["node"] for j in jobs) and all(ids)
    assert accounted(ids) == {i: "COMPLETED" for i in ids}
    status = read_status(runs / run)
    assert status["state"] == "done" and status["slurm_job_id"] == ids[0] and status["step"] == 40
    assert "training step" in (jobs[0]["progress"] or {}).get("phrase", "")
    for record in jobs:  # each job's output went to its usual log in the run folder
        assert Path(record["log"]).parent == runs / run / "logs" and Path(record["log"]).stat().st_size > 0
    assert "job probe" in Path(jobs[2]["log"]).read_text()
    assert (runs / run / "embeddings.h5").exists()
    assert load_remembered(runs).time_min == 60  # the next Slurm submission to this runs folder starts from it


def test_cancel_from_the_engine_scancels_running_and_pending_slurm_jobs(tmp_path: Path, tiny_corpus: Path) -> None:
    runs = tmp_path / "runs"
    settings = {**TINY, "corpus": f"folder:{tiny_corpus}", "steps": 500, "log_every": 1, "checkpoint_every": 100}
    with running_engine(runs), BlockingClient.for_runs_dir(runs) as client:
        pending = client.request("submit", kind="pretrain", run="waits", config=settings, launcher="slurm",
                                 slurm=PENDING_AN_HOUR)["job"]
        running = client.request("submit", kind="pretrain", run="trains", config=settings, launcher="slurm",
                                 slurm=ON_SLURM)["job"]
        waiting = wait_until(lambda: (j := job(client, pending["id"]))["slurm_job_id"] and j, what="submission")
        assert waiting["state"] == "queued" and read_status(runs / "waits")["state"] == "queued"
        wait_until(lambda: read_status(runs / "trains").get("step", 0) >= 1, timeout=300, what="a training step")
        assert client.request("cancel", run="waits") == {"jobs": [pending["id"]]}
        assert client.request("cancel", run="trains") == {"jobs": [running["id"]]}
        def both_ended() -> list[dict] | None:
            records = [job(client, pending["id"]), job(client, running["id"])]
            return records if all(r["state"] not in ("queued", "running", "requeued") for r in records) else None

        ended = wait_until(both_ended, timeout=120, what="the ends of both jobs")
    assert [j["state"] for j in ended] == ["cancelled", "cancelled"]
    assert read_status(runs / "waits")["state"] == "cancelled"  # it never started: the engine said so
    trained = read_status(runs / "trains")
    assert trained["state"] == "cancelled" and 1 <= trained["step"] < 500  # the training checkpointed and said so
    assert set(accounted([j["slurm_job_id"] for j in ended]).values()) == {"CANCELLED"}


def test_a_detached_training_cancelled_while_pending_is_settled_cancelled(tmp_path: Path, tiny_corpus: Path) -> None:
    run = tmp_path / "runs" / "detached"
    out = mvssl_process("train", "--method", "random", "--corpus", f"folder:{tiny_corpus}", "--launcher", "slurm",
                        "--time-min", "60", "--sbatch", "begin=now+60minutes", "--detach", "--run-dir", str(run))
    assert out.returncode == 0, out.stderr[-3000:]
    status = read_status(run)
    assert status["state"] == "queued"
    subprocess.run(["scancel", status["slurm_job_id"]], check=True)
    wait_until(lambda: accounted([status["slurm_job_id"]]).get(status["slurm_job_id"]) == "CANCELLED",
               what="Slurm's record of the cancel")
    slurm.settle_detached(run.parent, busy=set())
    settled = read_status(run)
    assert settled["state"] == "cancelled" and "CANCELLED" in settled["message"]
