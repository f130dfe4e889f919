"""Jobs as `run(spec, report)`: the registry, the report in this process, and the same contract in a job process."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from dataclasses import fields
from pathlib import Path

import pytest

from engine.rundir import analysis_store
from engine.service import job_specs, jobs
from engine.service.client import BlockingClient
from engine.service.procs import child_env
from tests.engine.fake_runs import make_run
from tests.engine.service.test_server import running_engine, wait_push


def test_every_kind_has_a_spec_and_a_run_function() -> None:
    assert tuple(jobs.JOBS) == job_specs.KINDS == tuple(job_specs.SPECS)
    for kind, job in jobs.JOBS.items():
        assert job.spec is job_specs.SPECS[kind] and callable(job.run)
        assert [f.name for f in fields(job.spec)][0] == "run_dir"
        assert set(job_specs.options_of(kind)) == {f.name for f in fields(job.spec)} - {"run_dir"}
    assert jobs.job_type("train") is jobs.JOBS["pretrain"]


def test_an_unknown_kind_is_a_loud_error_listing_the_kinds(tmp_path: Path) -> None:
    listed = ", ".join(sorted(job_specs.KINDS))
    for call in (lambda: jobs.job_type("sleep"), lambda: jobs.run_job("sleep", tmp_path),
                 lambda: job_specs.check_args("sleep", {})):
        with pytest.raises(ValueError, match=f"unknown job kind 'sleep' \\(valid: {listed}\\)"):
            call()


def test_a_spec_holds_the_checked_options_and_leaves_the_others_to_the_engine(tmp_path: Path) -> None:
    spec = job_specs.make_spec("probe", tmp_path, {"task": "genre", "fractions": [5, 100], "draws": "3"})
    assert spec == job_specs.ProbeSpec(run_dir=tmp_path, task="genre", fractions=(5.0, 100.0), draws=3)
    assert job_specs.given(spec) == {"task": "genre", "fractions": (5.0, 100.0), "draws": 3}
    assert job_specs.given(job_specs.make_spec("embed", tmp_path, {})) == {}


def test_in_process_the_report_collects_progress_and_partial_results(tmp_path: Path) -> None:
    make_run(tmp_path, n=60)
    report = jobs.LocalReport()
    outcome = jobs.run_job("project", tmp_path, {"methods": "pca"}, report)
    assert outcome == ("done", "projections: pca")
    assert report.partials == [{"projection": "pca"}] and report.fractions == [0.0, 1.0]
    assert [p.phrase for p in report.steps] == ["projecting: pca 1/1", "projecting done"]
    assert analysis_store.read_projection(tmp_path, "pca")[0].shape == (60, 2)

    lines = jobs.LocalReport()
    outcome = jobs.run_job("probe", tmp_path, {"task": "genre", "fractions": "50,100", "draws": 2,
                                               "protocol": "linear"}, lines)
    assert outcome == ("done", "probe genre: 3 draw(s)")  # one draw at 100 %: they would all be the same
    assert [p.split(":")[0] for p in lines.partials] == [f"genre [linear] {d}" for d in
                                                          ("50% draw 0", "50% draw 1", "100% draw 0")]
    assert lines.fractions == pytest.approx([0, 1 / 3, 2 / 3, 1.0])
    assert lines.steps[2].phrase == "probe genre: draw 2/3"


def test_in_process_a_cancel_stops_the_job_at_its_next_step(tmp_path: Path) -> None:
    make_run(tmp_path, n=60)
    report = jobs.LocalReport(on_partial=lambda obj: report.cancel())
    outcome = jobs.run_job("project", tmp_path, {"methods": "pca,umap"}, report)
    assert outcome.state == "cancelled" and report.partials == [{"projection": "pca"}]
    assert analysis_store.read_projection(tmp_path, "pca") is not None and analysis_store.read_projection(tmp_path, "umap") is None


def test_a_queued_job_reports_to_its_log_and_result_file(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    make_run(runs / "fake", n=60)
    with running_engine(runs), BlockingClient.for_runs_dir(runs) as client:
        job = client.request("submit", kind="project", run="fake", args={"methods": ["pca"]})["job"]
        ended = wait_push(client, lambda p: p["type"] == "job" and p["job"]["id"] == job["id"]
                          and p["job"]["state"] not in ("queued", "running"))["job"]
    assert (ended["state"], ended["message"]) == ("done", "projections: pca")
    result = jobs.read_result(jobs.result_path(runs / "fake", "project", job["n"]))
    assert (result["state"], result["message"]) == ("done", "projections: pca")
    log = Path(ended["log"]).read_text().splitlines()
    assert '{"projection": "pca"}' in log and "progress 1/1 projecting done" in log
    assert ended["progress"] == {"done": 1, "total": 1, "phrase": "projecting done"}  # in the job record
    assert analysis_store.read_projection(runs / "fake", "pca")[0].shape == (60, 2)


def test_sigterm_cancels_a_job_process_and_its_result_says_so(tmp_path: Path) -> None:
    make_run(tmp_path, n=60)
    argv = jobs.job_argv("probe", tmp_path, {"task": "genre", "draws": 100, "protocol": "linear"}, job=7)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=child_env(), text=True)
    try:
        first = proc.stdout.readline()
        assert first.startswith("job probe ")
        while not (line := proc.stdout.readline()).startswith("genre [linear] "):
            assert line, "the job ended before its first draw"
        assert proc.stdout.readline() == "progress 1/401 probe genre: draw 1/401\n"  # 1 of 401: 100 draws at 1, 5, 10, 20 %, one at 100 %
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
    result = jobs.read_result(jobs.result_path(tmp_path, "probe", 7))
    assert (result["state"], result["message"]) == ("cancelled", "stopped by SIGTERM")
    assert result["started_at"] <= result["ended_at"] <= time.time()
    assert json.loads(jobs.result_path(tmp_path, "probe", 7).read_text()).keys() == {"state", "message",
                                                                                     "started_at", "ended_at"}
