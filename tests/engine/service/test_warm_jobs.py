"""The warm job server: a job forked from it gives what a process of its own gives, leads its own process group,
cancels on SIGTERM to its group, and never starts without the engine's go."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from engine.rundir import analysis_store
from engine.service import jobs, procs
from engine.service.warm_jobs import WarmJobs
from tests.engine.fake_runs import make_run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def warm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WarmJobs]:
    server = WarmJobs(tmp_path_factory.mktemp("warm") / "warm-jobs.log")
    server.prewarm()
    deadline = time.time() + 300
    while not server.is_ready():
        assert server.proc is not None and server.proc.poll() is None, server.log_path.read_text()
        assert time.time() < deadline, "the warm job server did not warm up in 300 s"
        time.sleep(0.2)
    yield server
    server.close()


def fork(server: WarmJobs, kind: str, run: Path, args: dict, job: int = 1) -> int:
    pid = server.spawn(jobs.warm_argv(jobs.job_argv(kind, run, args, job=job)), jobs.log_path(run, kind, job), {})
    assert pid is not None
    return pid


def wait_gone(pid: int, ticks: int | None, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while procs.is_alive(pid, ticks):
        assert time.time() < deadline, f"job {pid} still running after {timeout} s"
        time.sleep(0.05)


def run_cold(kind: str, run: Path, args: dict, job: int = 1) -> None:
    jobs.log_path(run, kind, job).parent.mkdir(exist_ok=True)
    with open(jobs.log_path(run, kind, job), "ab") as log:
        subprocess.run(jobs.job_argv(kind, run, args, job=job), stdout=log, stderr=subprocess.STDOUT, check=True,
                       env=procs.child_env())


def test_a_warm_job_gives_what_a_process_of_its_own_gives(warm: WarmJobs, tmp_path: Path) -> None:
    cold, hot = make_run(tmp_path / "cold"), make_run(tmp_path / "hot")
    for kind, args in (("project", {}), ("probe", {"task": "genre", "fractions": [50, 100], "draws": 2})):
        run_cold(kind, cold, args)
        pid = fork(warm, kind, hot, args)
        ticks = procs.start_ticks(pid)
        assert os.getpgid(pid) == pid  # its own group: the engine signals the group
        warm.release(pid)
        wait_gone(pid, ticks)
        result = jobs.read_result(jobs.result_path(hot, kind, 1))
        assert result is not None and result["state"] == "done", jobs.log_path(hot, kind, 1).read_text()
    for name in ("pca", "umap"):
        np.testing.assert_array_equal(analysis_store.read_projection(hot, name)[0],
                                      analysis_store.read_projection(cold, name)[0])
    warm_scores, cold_scores = analysis_store.read_probes(hot, "genre"), analysis_store.read_probes(cold, "genre")
    assert json.dumps(str(warm_scores)) == json.dumps(str(cold_scores))
    assert "job probe ended: done" in jobs.log_path(hot, "probe", 1).read_text()


def test_sigterm_to_a_warm_jobs_group_cancels_it(warm: WarmJobs, tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", n=600, dim=256, segments=8)
    pid = fork(warm, "probe", run, {"task": "genre", "fractions": [10, 20, 30, 40, 50, 60, 100], "draws": 8})
    ticks = procs.start_ticks(pid)
    warm.release(pid)
    log = jobs.log_path(run, "probe", 1)
    deadline = time.time() + 120
    while "draw 0:" not in (log.read_text() if log.exists() else ""):
        assert time.time() < deadline and procs.is_alive(pid, ticks), log.read_text() if log.exists() else "no log"
        time.sleep(0.05)
    assert procs.signal_group(pid, ticks, signal.SIGTERM)
    wait_gone(pid, ticks)
    assert jobs.read_result(jobs.result_path(run, "probe", 1))["state"] == "cancelled"


def test_a_job_never_released_does_nothing_when_the_engine_goes(tmp_path: Path) -> None:
    server = WarmJobs(tmp_path / "warm-jobs.log")
    assert server.spawn(["probe", str(tmp_path)], tmp_path / "log", {}) is None  # not started: the caller starts it
    server.prewarm()
    while not server.is_ready():
        assert server.proc is not None and server.proc.poll() is None, server.log_path.read_text()
        time.sleep(0.2)
    run = make_run(tmp_path / "run")
    pid = fork(server, "project", run, {})
    ticks = procs.start_ticks(pid)
    server.close()  # the engine is gone before its go
    wait_gone(pid, ticks, timeout=30)
    assert "engine gone before the job started" in jobs.log_path(run, "project", 1).read_text()
    assert jobs.read_result(jobs.result_path(run, "project", 1)) is None
    assert analysis_store.list_projections(run) == []


def test_the_server_can_be_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MVSSL_WARM_JOBS", "0")
    server = WarmJobs(tmp_path / "warm-jobs.log")
    server.prewarm()
    assert server.proc is None and server.spawn(["project", str(tmp_path)], tmp_path / "log", {}) is None
