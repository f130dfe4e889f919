"""End to end: a two-method study through the engine, whose engine is killed with -9 mid-training.

The job goes on in its own session; a new engine re-attaches to it, the events keep streaming, and
the study ends with every checkpoint, embedding, diagnostic, projection and probe in place.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from engine.service import procs

from engine.rundir import analysis_store, embeddings_store
from engine.model.checkpoints import load_checkpoint, step_checkpoints
from engine.service.client import BlockingClient, EngineUnavailable
from engine.rundir.events import iter_events
from engine.rundir.files import read_status
from tests.engine.service.test_server import wait_push

TIMEOUT = 300.0  # generous: the machine is shared
STEPS = 8
CONFIG = dict(steps=STEPS, batch_size=4, num_workers=0, log_every=2, checkpoint_every=4, precision="fp32",
              device="cpu", segment_s=2.0, min_gap_s=2.0)


def _stop(engine: subprocess.Popen, client: BlockingClient) -> None:
    """Close the client; kill the engine if it did not shut down."""
    client.close()
    if engine.poll() is None:
        engine.kill()
        engine.wait()


def _start_engine(runs: Path) -> tuple[subprocess.Popen, BlockingClient]:
    """The engine as `mvssl engine` runs it, in its own session; and a connected client."""
    runs.mkdir(parents=True, exist_ok=True)
    with open(runs.parent / "engine-output.log", "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "engine.service.server", "--runs-dir", str(runs)],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        assert proc.poll() is None, (runs.parent / "engine-output.log").read_text()
        try:
            return proc, BlockingClient.for_runs_dir(runs, timeout=TIMEOUT)
        except (EngineUnavailable, OSError):
            time.sleep(0.1)
    raise AssertionError("the engine did not answer")


@pytest.mark.slow
def test_study_survives_the_engine_killed_mid_training(tmp_path: Path) -> None:
    from engine.data.corpora.demo import make_demo

    corpus = make_demo(tmp_path / "corpus", tracks=16, seconds=12.0, workers=1, progress=False)
    runs = tmp_path / "runs"
    engine, client = _start_engine(runs)
    try:
        study = client.request("submit_study", methods=["contrastive", "byol"], corpus=f"folder:{corpus}",
                               config=CONFIG, tasks=["genre"], fractions=[100], draws=1,
                               options={"project": {"methods": ["pca"]}}, name="e2e")["study"]
        run_ids = [b["run"] for b in study["branches"]]
        assert run_ids == ["e2e-contrastive-s0", "e2e-byol-s0"]
        first = run_ids[0]
        client.request("subscribe", run=first)
        seen = wait_push(client, lambda p: p["type"] == "event" and p["event"].get("type") == "train",
                         timeout=TIMEOUT)
        assert seen["event"]["step"] == 2
        jobs = client.request("list_jobs")["jobs"]
        assert [(j["run"], j["kind"], j["state"]) for j in jobs] == [  # one CPU slot: one job at a time
            (first, "pretrain", "running"), (run_ids[1], "pretrain", "queued")]
        job = jobs[0]

        # ---- the engine dies; its job does not ---------------------------------------------------------
        os.kill(engine.pid, signal.SIGKILL)
        engine.wait(timeout=TIMEOUT)
        client.close()
        assert procs.is_alive(job["pid"], job["start_ticks"])
        engine, client = _start_engine(runs)
        again = next(j for j in client.request("list_jobs")["jobs"] if j["id"] == job["id"])
        if procs.is_alive(job["pid"], job["start_ticks"]):  # (unless it finished during the restart)
            assert (again["state"], again["pid"]) == ("running", job["pid"])
        client.request("subscribe", run=first, from_offset=seen["offset"])
        following = wait_push(client, lambda p: p["type"] == "event" and p["event"].get("type") == "train",
                         timeout=TIMEOUT)
        assert following["event"]["step"] == 4  # the stream goes on where it was left

        done = wait_push(client, lambda p: p["type"] == "study" and p["study"]["state"] != "running", timeout=1800)
        assert done["study"]["state"] == "done", done["study"]
        client.request("shutdown")
        engine.wait(timeout=TIMEOUT)
    finally:
        _stop(engine, client)

    for run_id in run_ids:
        run = runs / run_id
        status = read_status(run)
        assert (status["state"], status["step"], status["study"]) == ("done", STEPS, "e2e")
        checkpoints = step_checkpoints(run)
        assert sorted(checkpoints) == [4, 8]
        for step, path in checkpoints.items():
            assert load_checkpoint(path)["step"] == step
        assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == STEPS
        assert [e["step"] for e in iter_events(run / "events.jsonl") if e.get("type") == "train"] == [2, 4, 6, 8]
        with embeddings_store.open_embeddings(run) as emb:
            vectors = emb.track_embeddings()
            assert emb.attrs["checkpoint_step"] == STEPS and len(emb.tracks) == 16
            assert vectors.shape == (16, emb.dim) and np.isfinite(vectors).all()
        assert sorted(analysis_store.read_diagnostics(run)) == [4, 8]
        assert analysis_store.read_projection(run, "pca")[0].shape == (16, 2)
        assert analysis_store.read_probes(run)["genre"].fractions() == [1.0]
        logs = sorted(p.name for p in (run / "logs").glob("job-*.log"))
        assert [name.split("-")[1] for name in logs].count("probe") == 1 and len(logs) == 5
