"""Training on a real Slurm (.ci/slurm-cluster): 2-task DDP on CPUs, USR2 preemption that requeues and
resumes, scancel. The CLI runs as a user runs it; its jobs import this checkout (the launcher exports it)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.config import resolved_values
from engine.rundir.events import iter_events
from engine.rundir.files import read_status
from tests.conftest import PROJECT_ROOT
from tests.engine.training.conftest import DDP_SETTINGS, mvssl

pytestmark = [pytest.mark.slow, pytest.mark.slurm, pytest.mark.usefixtures("slurm_cluster")]


def steps(run: Path) -> list[int]:
    return [e["step"] for e in iter_events(run / "events.jsonl") if e["type"] == "train"]


def losses(run: Path) -> list[float]:
    return [e["loss"] for e in iter_events(run / "events.jsonl") if e["type"] == "train"]


def job_id(stdout: str) -> str:
    match = re.search(r"submitted Slurm job (\d+)", stdout)
    assert match, stdout
    return match.group(1)


def accounted_state(job: str, timeout: float = 60.0) -> str:
    """The job's state in Slurm's accounting (sacct) once it has left RUNNING (its tasks are still exiting
    when their results are written)."""
    end = time.monotonic() + timeout
    while True:
        state = subprocess.run(["sacct", "-n", "-X", "-P", "-o", "State", "-j", job], capture_output=True, text=True,
                               check=True).stdout.strip()
        if state not in ("RUNNING", "PENDING", "") or time.monotonic() > end:
            return state
        time.sleep(0.5)


def wait_for(run: Path, accept, timeout: float = 240.0) -> list[str]:
    """Poll status.json until `accept(status)`; returns the states seen on the way."""
    seen: list[str] = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        status = read_status(run)
        if status.get("state") and (not seen or seen[-1] != status["state"]):
            seen.append(status["state"])
        if accept(status):
            return seen
        time.sleep(0.2)
    raise AssertionError(f"{run}: timed out; states seen {seen}, status {read_status(run)}")


@pytest.fixture(scope="module")
def slurm_ddp_run(tmp_path_factory: pytest.TempPathFactory, tiny_corpus: Path) -> tuple[Path, subprocess.CompletedProcess]:
    run = tmp_path_factory.mktemp("slurm-ddp") / "ddp"
    out = mvssl("train", *DDP_SETTINGS, "--corpus", f"folder:{tiny_corpus}", "--launcher", "slurm", "--devices", "2",
                "--time-min", "60", "--run-dir", str(run))
    return run, out


def test_two_tasks_on_a_cpu_partition_match_the_local_run(slurm_ddp_run, local_ddp_run: Path) -> None:
    run, out = slurm_ddp_run
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    assert out.stdout.strip().endswith(f"{run}: done")
    status = read_status(run)
    assert status["state"] == "done" and status["world_size"] == 2 and status["slurm_job_id"] == job_id(out.stdout)
    assert resolved_values(run / "config.toml")["world_size"] == 2
    script = next((run / "logs" / "submitit").glob("*_submission.sh")).read_text()
    assert "--ntasks-per-node=2" in script and "gpus" not in script and "gres" not in script
    assert f"export PYTHONPATH={PROJECT_ROOT}" in script and sys.executable in script
    assert steps(run) == [1, 2, 3, 4]
    assert losses(run) == pytest.approx(losses(local_ddp_run), rel=1e-5)
    remembered = (run.parent / ".slurm.toml").read_text()
    assert "time_min = 60" in remembered  # the next submission to this runs folder starts from it
    assert accounted_state(status["slurm_job_id"]) == "COMPLETED"


def test_usr2_checkpoints_requeues_and_resumes_on_the_same_trajectory(slurm_ddp_run, tmp_path: Path,
                                                                       tiny_corpus: Path) -> None:
    run = tmp_path / "preempted"
    out = mvssl("train", *DDP_SETTINGS, "--corpus", f"folder:{tiny_corpus}", "--launcher", "slurm", "--devices", "2",
                "--time-min", "60", "--detach", "--run-dir", str(run))
    assert out.returncode == 0, out.stderr[-3000:]
    job = job_id(out.stdout)
    assert f"{run.resolve()}" in out.stdout
    wait_for(run, lambda s: s.get("state") == "running" and s.get("step", 0) >= 1)
    subprocess.run(["scancel", "--signal=USR2", job], check=True)
    seen = wait_for(run, lambda s: s.get("state") in ("done", "failed", "interrupted"))
    status = read_status(run)
    assert status["state"] == "done", status
    assert "requeued" in seen and status["restarts"] == 1 and status["slurm_job_id"] == job
    preempted_at = [e["step"] for e in iter_events(run / "events.jsonl") if e["type"] == "runtime"]
    assert len(preempted_at) == 2 and 1 <= preempted_at[1] < 4  # the resumed task started from the USR2 checkpoint
    assert (run / "checkpoints" / f"step-{preempted_at[1]:06d}.pt").exists()  # written on USR2 (checkpoint_every=100)
    assert steps(run) == [1, 2, 3, 4] == steps(slurm_ddp_run[0])
    assert losses(run) == pytest.approx(losses(slurm_ddp_run[0]), rel=1e-5)  # every step once, same trajectory


def test_scancel_ends_the_run_cancelled(tmp_path: Path, tiny_corpus: Path) -> None:
    run = tmp_path / "cancelled"
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "train", *DDP_SETTINGS, "--set", "steps=200",
                             "--corpus", f"folder:{tiny_corpus}", "--launcher", "slurm", "--time-min", "60",
                             "--run-dir", str(run)], env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(run, lambda s: s.get("state") == "running" and s.get("step", 0) >= 1)
        subprocess.run(["scancel", str(read_status(run)["slurm_job_id"])], check=True)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr[-3000:]
    assert stdout.strip().endswith(f"{run}: cancelled")
    assert read_status(run)["state"] == "cancelled"
    assert json.loads((run / "status.json").read_text())["step"] < 200
