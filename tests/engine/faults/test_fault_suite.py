"""The fault suite: each fault injected for real into every job kind, then the run re-run.

kill -9 at a random point (train, embed, diagnose, project, probe); a full disk (a real tmpfs where this
machine may mount one, else writes failing in the kernel through RLIMIT_FSIZE) in train, embed, diagnose,
project, probe and compare; truncated and garbage run files; SIGTERM and SIGINT to the process group.
Each test records in the ledger whether the run survived (one line, nothing finished lost) and what was lost.
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from engine.cli import main as cli_main
from engine.model.checkpoints import step_checkpoints
from engine.rundir import analysis_store
from engine.rundir.embeddings_store import StoreError, open_embeddings
from engine.rundir.events import iter_events
from engine.rundir.files import read_status
from engine.rundir.summary import list_runs
from engine.service.jobs import run_job
from tests.engine.faults.conftest import Ledger, copy_run
from tests.engine.faults.helpers import can_mount_tmpfs, cli, fill, last_line, small_tmpfs, temp_files

pytestmark = pytest.mark.slow
RNG = random.Random(24)
TMPFS = can_mount_tmpfs() and not os.environ.get("MVSSL_FAULTS_NO_TMPFS")  # to exercise the fallback


def survived(ledger: Ledger, fault: str, checks: dict[str, bool], lost: int = 0) -> None:
    ledger.record(fault, all(checks.values()) and lost == 0, lost)
    failed = [name for name, ok in checks.items() if not ok]
    assert not failed and lost == 0, f"{fault}: {failed}, {lost} finished item(s) lost"


def store_id(run: Path) -> str:
    with open_embeddings(run) as emb:
        return str(emb.attrs["store_id"])


def readable_store(run: Path, before: str | None = None) -> str | None:
    """The store's id when it opens complete (embed replaces it by renaming a finished file, so a kill after that
    rename leaves a whole new store: "new"), None when it is unreadable."""
    try:
        found = store_id(run)
    except StoreError:
        return None
    return found if before is None or found == before else "new"


def job_process(kind: str, run: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "engine.service.jobs", kind, str(run), "--no-progress", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def kill_at_random(proc: subprocess.Popen, latest_s: float) -> float:
    """SIGKILL `proc` at a random moment after it started its job (its `started` line)."""
    proc.stdout.readline()
    delay = RNG.uniform(0.0, latest_s)
    time.sleep(delay)
    proc.kill()
    proc.wait()
    return delay


# ---- kill -9 --------------------------------------------------------------------------------------------
def test_kill9_in_training_then_resume_loses_nothing(trained_run: Path, tmp_path: Path, ledger: Ledger) -> None:
    run = copy_run(trained_run, tmp_path / "run", skip=("embeddings.h5", "analysis.h5"))
    (run / "config.toml").write_text((run / "config.toml").read_text().replace("steps = 2", "steps = 5"))
    proc = subprocess.Popen([sys.executable, "-m", "engine.service.jobs", "train", str(run)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not any(s > 2 for s in step_checkpoints(run)):
        time.sleep(0.05)
    time.sleep(RNG.uniform(0.0, 1.5))
    proc.kill()
    proc.wait()
    done = max(step_checkpoints(run))
    assert run_job("pretrain", run).state == "done"
    steps = sorted(e["step"] for e in iter_events(run / "events.jsonl") if e.get("type") == "train")
    survived(ledger, "kill -9: train", {"every step logged once": steps == list(range(1, 6)),
                                        "no temp file": temp_files(run) == []},
             lost=len([s for s in range(1, done + 1) if s not in steps]))


@pytest.mark.parametrize("kind", ["embed", "diagnose", "project", "probe"])
def test_kill9_in_a_job_then_rerun_loses_nothing(kind: str, trained_run: Path, fake_run: Path, tmp_path: Path,
                                                 ledger: Ledger) -> None:
    base = trained_run if kind in ("embed", "diagnose") else fake_run
    run = copy_run(base, tmp_path / "run", skip=("last.pt",))
    args = {"embed": (), "diagnose": ("--max-tracks", "16"), "project": ("--methods", "pca"),
            "probe": ("--task", "genre", "--fractions", "100", "--draws", "1", "--protocol", "linear")}[kind]
    before = store_id(run)
    if kind != "embed":  # a finished result of this kind already there: it must survive the kill
        run_job(kind, run, dict(zip(args[::2], args[1::2])) and {k.lstrip("-").replace("-", "_"): v
                                                               for k, v in zip(args[::2], args[1::2])})
    finished = analysis_store.list_projections(run) + analysis_store.list_probe_tasks(run) + [
        str(s) for s in analysis_store.read_diagnostics(run)]
    kill_at_random(job_process(kind, run, *args), latest_s=3.0)
    kept = {"embeddings.h5 readable": readable_store(run, before) in (before, "new")}
    lost = len(set(finished) - set(analysis_store.list_projections(run) + analysis_store.list_probe_tasks(run)
                                   + [str(s) for s in analysis_store.read_diagnostics(run)]))
    outcome = run_job(kind, run, {k.lstrip("-").replace("-", "_"): v for k, v in zip(args[::2], args[1::2])})
    survived(ledger, f"kill -9: {kind}", {**kept, "re-run done": outcome.state == "done",
                                          "no temp file": temp_files(run) == []}, lost)


def _fake_probe(run: Path) -> None:
    """A stored full-data probe of task `all`: what compare reads."""
    from engine.evaluation.metrics import tag_metrics

    with open_embeddings(run) as emb:
        test = emb.tracks.split_index("test")
        labels, names = emb.tracks.tags[test], emb.tracks.tag_names
    pred = labels + np.random.default_rng(0).random(labels.shape)
    analysis_store.write_probe(run, "all", 1.0, 0, pred, test, names, tag_metrics(labels, pred, names).to_dict(),
                               {"kind": "fake"})


# ---- a full disk ----------------------------------------------------------------------------------------
def _full_disk(command: list[str], run: Path, tmp_path: Path, leave: int, limit: int, size: int = 64 << 20
               ) -> tuple[subprocess.CompletedProcess, Path]:
    """Run `command` (RUN stands for the run folder) with the run on a nearly full tmpfs, or with its writes
    limited to `limit` bytes where no tmpfs can be mounted; returns the outcome and where the run was."""
    if not TMPFS:
        return cli(*[a.replace("RUN", str(run)) for a in command], max_file_bytes=limit), run
    with small_tmpfs(size) as disk:
        on_disk = copy_run(run, disk / run.name)
        fill(disk, leave)
        out = cli(*[a.replace("RUN", str(on_disk)) for a in command])
        (disk / "filler").unlink()
        result = tmp_path / "after"
        copy_run(on_disk, result)
        return out, result


def test_full_disk_in_training_is_one_line_and_resumable(trained_run: Path, tmp_path: Path, ledger: Ledger) -> None:
    run = copy_run(trained_run, tmp_path / "run", skip=("*.pt", "embeddings.h5", "events.jsonl"))
    out, after = _full_disk(["train", "--resume", "--run-dir", "RUN"], run, tmp_path, leave=4 << 20,
                            limit=8 << 20)
    line = last_line(out.stderr)
    status = read_status(after)
    checks = {"one line naming the checkpoint": "checkpoints/last.pt: " in line and " free)" in line,
              "rc 2": out.returncode == 2, "no temp file": temp_files(after) == [],
              "status failed with that line": status.get("state") == "failed"
              and status.get("message", "") in line and "free" in status.get("message", "")}
    survived(ledger, "full disk: train", checks)


@pytest.mark.parametrize("kind", ["embed", "diagnose", "project", "probe", "compare"])
def test_full_disk_in_a_job_is_one_line_and_keeps_the_previous_file(kind: str, trained_run: Path, fake_run: Path,
                                                                    tmp_path: Path, ledger: Ledger) -> None:
    base = trained_run if kind in ("embed", "diagnose") else fake_run
    run = copy_run(base, tmp_path / "run", skip=("last.pt", "step-000001.pt"))
    if kind == "compare":
        _fake_probe(run)
    command = {"embed": ["embed", "--run-dir", "RUN"], "diagnose": ["diagnose", "--run-dir", "RUN", "--tracks", "16"],
               "project": ["project", "--run-dir", "RUN", "--method", "pca"],
               "probe": ["probe", "--run-dir", "RUN", "--task", "genre", "--fractions", "100", "--draws", "1",
                         "--probe", "linear"],
               "compare": ["compare", "RUN", "--task", "all", "--out", "RUN/report", "--resamples", "20"]}[kind]
    before = store_id(run)
    out, after = _full_disk(command, run, tmp_path, leave=0 if kind == "compare" else 1 << 20,
                            limit=200 if kind == "compare" else 1 << 20)
    line = last_line(out.stderr)
    survived(ledger, f"full disk: {kind}", {
        "one line naming the file and the free space": line.startswith("mvssl: error: ") and " free)" in line
        and f"/{run.name}/" in line, "rc 2": out.returncode == 2, "no segfault": "Segmentation" not in out.stderr,
        "no traceback": "Traceback" not in out.stderr, "no temp file": temp_files(after) == [],
        "previous store kept": store_id(after) == before})


# ---- truncated and garbage files ------------------------------------------------------------------------
GARBAGE = {"garbage": b"\xe8\x00\xff garbage \x01", "truncated": None, "empty": b""}


@pytest.mark.parametrize("damage", list(GARBAGE))
def test_damaged_run_files_are_named_and_nothing_else_is_lost(damage: str, trained_run: Path, tmp_path: Path,
                                                              ledger: Ledger, capsys: pytest.CaptureFixture) -> None:
    def spoil(path: Path) -> None:
        data = path.read_bytes()
        path.write_bytes(GARBAGE[damage] if GARBAGE[damage] is not None else data[: len(data) // 2])

    for name, command in (("config.toml", ["train", "--resume", "--run-dir"]), ("config.toml", ["embed", "--run-dir"]),
                          ("config.toml", ["diagnose", "--tracks", "16", "--run-dir"]),
                          ("embeddings.h5", ["project", "--method", "pca", "--run-dir"]),
                          ("embeddings.h5", ["compare", "--task", "all", "--out", "OUT"])):
        run = copy_run(trained_run, tmp_path / f"{damage}-{name}-{command[0]}", skip=("last.pt",))
        if command[0] == "compare":
            _fake_probe(run)
        spoil(run / name)
        args = [str(run) if a == "OUT" else a for a in command]
        args = args + [str(run)] if command[0] != "compare" else [command[0], str(run), *args[1:-1], str(tmp_path / "o")]
        code = cli_main(args)
        line = last_line(capsys.readouterr().err)
        survived(ledger, f"{damage} {name}: {command[0]}", {
            "rc 2": code == 2, "one line naming the file": line.startswith("mvssl: error: ") and name in line,
            "checkpoints kept": sorted(step_checkpoints(run)) == [1, 2]})


def test_damaged_checkpoints_status_and_events_still_resume(trained_run: Path, tmp_path: Path,
                                                            ledger: Ledger) -> None:
    run = copy_run(trained_run, tmp_path / "run", skip=("embeddings.h5",))
    text = (run / "config.toml").read_text()
    (run / "config.toml").write_text(text.replace("steps = 2", "steps = 3"))
    good = [e for e in iter_events(run / "events.jsonl")]
    (run / "checkpoints" / "last.pt").write_bytes(b"garbage")
    step2 = run / "checkpoints" / "step-000002.pt"
    step2.write_bytes(step2.read_bytes()[:1000])
    (run / "status.json").write_bytes(b'{"state": "runn')
    with open(run / "events.jsonl", "ab") as f:
        f.write(b'\xe8garbage\n{"type": "train", "st')
    listed = list_runs(tmp_path)[0]["message"]
    outcome = run_job("pretrain", run)
    steps = [e["step"] for e in iter_events(run / "events.jsonl") if e.get("type") == "train"]
    resumed = [e for e in iter_events(run / "events.jsonl") if e.get("type") == "resume"]
    survived(ledger, "garbage last.pt + truncated step-2 + status.json + events.jsonl: train", {
        "listing names status.json": "status.json: unreadable" in listed, "done": outcome.state == "done",
        "resumed from step-000001.pt": bool(resumed) and resumed[-1]["checkpoint"] == "step-000001.pt",
        "step 1 kept as it was": [e for e in good if e.get("type") == "train" and e["step"] <= 1]
        == [e for e in iter_events(run / "events.jsonl") if e.get("type") == "train" and e["step"] <= 1],
        "every step once": steps == list(range(1, 4))})


def test_garbage_queue_json_is_moved_aside_and_named(tmp_path: Path, ledger: Ledger,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    from engine.service.enginedir import engine_paths
    from engine.service.queue import JobQueue

    paths = engine_paths(tmp_path)
    paths.dir.mkdir(parents=True)
    paths.queue.write_bytes(b"\xe8\x00 not json")
    queue = JobQueue(paths, ["cpu:0"])
    queue.load()
    aside = list(paths.dir.glob("queue.json.broken-*"))
    survived(ledger, "garbage queue.json: engine", {"named": str(paths.queue) in caplog.text,
                                                    "kept aside": len(aside) == 1, "starts empty": queue.jobs == {}})


# ---- signals to the process group -----------------------------------------------------------------------
@pytest.mark.parametrize("signum", [signal.SIGTERM])  # SIGINT takes the same handler (loop.STOP_SIGNALS)
def test_signal_to_the_group_cancels_training_with_workers(signum: int, trained_run: Path, tmp_path: Path,
                                                           ledger: Ledger) -> None:
    run = copy_run(trained_run, tmp_path / "run", skip=("*.pt", "embeddings.h5", "events.jsonl"))
    text = (run / "config.toml").read_text().replace("steps = 2", "steps = 400")
    (run / "config.toml").write_text(text.replace("num_workers = 0", "num_workers = 2"))
    (run / "status.json").write_text(json.dumps({"state": "queued", "step": 0}))
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "train", "--resume", "--run-dir", str(run)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and len([e for e in iter_events(run / "events.jsonl")
                                          if e.get("type") == "train"]) < 2:
        time.sleep(0.05)
    os.killpg(proc.pid, signum)
    stdout, stderr = proc.communicate(timeout=120)
    status = read_status(run)
    survived(ledger, f"{signal.Signals(signum).name} to the group: train", {
        "rc 0": proc.returncode == 0, "one line": stdout.strip() == f"{run}: cancelled",
        "no worker killed": "killed by signal" not in stderr,
        "cancelled and resumable": status.get("state") == "cancelled"
        and status.get("message") == f"stopped by {signal.Signals(signum).name}; resumable",
        "checkpoint of the last step": max(step_checkpoints(run)) == status.get("step")})


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_to_the_group_cancels_embed_and_keeps_the_store(signum: int, trained_run: Path, tmp_path: Path,
                                                               ledger: Ledger) -> None:
    run = copy_run(trained_run, tmp_path / "run", skip=("last.pt",))
    before = store_id(run)
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "embed", "--run-dir", str(run)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (run / ".embeddings.h5.partial").exists():
        time.sleep(0.02)
    os.killpg(proc.pid, signum)
    _, stderr = proc.communicate(timeout=120)
    name = signal.Signals(signum).name
    survived(ledger, f"{name} to the group: embed", {
        "one line": last_line(stderr) == f"mvssl: cancelled by {name}; finished results kept",
        "previous store kept": store_id(run) == before, "no temp file": temp_files(run) == []})
