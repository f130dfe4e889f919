"""A failed write of any run file: one line naming the path and the free space, the previous file kept, no
temp file left; stale temp files of dead writers removed; run files private; unreadable files named."""
from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import stat
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import torch

from engine import config as config_mod
from engine.model.checkpoints import resume_point
from engine.rundir import analysis_store
from engine.rundir.disk import WriteFailed, remove_stale_temps, write_error
from engine.rundir.events import EventWriter
from engine.rundir.files import atomic_write_bytes, read_status, write_status
from engine.rundir.summary import create_run, list_runs
from tests.engine.fake_runs import make_run
from tests.engine.faults.helpers import temp_files


@contextlib.contextmanager
def file_size_limit(max_bytes: int) -> Iterator[None]:
    """Writes past `max_bytes` fail in the kernel with EFBIG, as on a full disk (RLIMIT_FSIZE)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


def test_atomic_write_that_fails_keeps_the_old_file_and_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    atomic_write_bytes(path, b"old")
    with file_size_limit(1000), pytest.raises(WriteFailed) as err:
        atomic_write_bytes(path, b"x" * 5000)
    message = str(err.value)
    assert message.startswith(f"{path}: file size limit reached (") and "free); previous file kept" in message
    assert "\n" not in message
    assert path.read_bytes() == b"old" and temp_files(tmp_path) == []


def test_disk_full_message_names_the_path_and_free_space(tmp_path: Path) -> None:
    err = write_error(tmp_path / "checkpoints" / "last.pt", OSError(28, "No space left on device"))
    assert str(err).startswith(f"{tmp_path}/checkpoints/last.pt: disk full (") and " free)" in str(err)
    hdf5 = RuntimeError("Unable to synchronously flush file (file write failed: ..., errno = 28, error message = x)")
    assert "disk full" in str(write_error(tmp_path / "embeddings.h5", hdf5))


def test_event_write_that_fails_names_events_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    with EventWriter(path) as events, file_size_limit(200):
        events.write({"type": "train", "step": 1})
        with pytest.raises(WriteFailed, match=f"^{path}: file size limit reached"):
            events.write({"type": "train", "step": 2, "pad": "x" * 400})


def test_analysis_write_that_fails_keeps_the_previous_store(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    analysis_store.write_projection(run, "pca", np.zeros((10, 2)), {"method": "pca"})
    before = (run / "analysis.h5").read_bytes()
    with file_size_limit(len(before) + 4096), pytest.raises(WriteFailed, match=f"^{run}/analysis.h5: "):
        analysis_store.write_projection(run, "big", np.ones((200_000, 2)), {"method": "pca"})
    assert (run / "analysis.h5").read_bytes() == before and temp_files(run) == []
    assert analysis_store.list_projections(run) == ["pca"]


def test_embeddings_write_that_fails_is_one_line_without_a_crash(tmp_path: Path) -> None:
    """In a child: HDF5 used to segfault at exit after a failed write (rc 139) with dozens of tracebacks."""
    run = make_run(tmp_path / "run", n=40, dim=16)
    before = (run / "embeddings.h5").read_bytes()
    script = f"""
import resource, signal, sys
sys.path.insert(0, {str(Path(__file__).resolve().parents[3])!r})
from tests.engine.fake_runs import make_run
from engine.rundir.disk import WriteFailed
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, ({len(before) + 2000}, resource.RLIM_INFINITY))
try:
    make_run({str(run)!r}, n=4000, dim=64, segments=8)
except WriteFailed as err:
    print(err)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().startswith(f"{run}/embeddings.h5: file size limit reached (")
    assert "Traceback" not in out.stderr and "Exception ignored" not in out.stderr, out.stderr[-2000:]
    assert (run / "embeddings.h5").read_bytes() == before and temp_files(run) == []


def test_status_is_recorded_in_place_when_the_disk_is_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_status(tmp_path, "running", step=3, pid=os.getpid())
    from engine.rundir import files

    def full(path: Path, data: bytes) -> None:
        raise write_error(path, OSError(28, "No space left on device"))
    monkeypatch.setattr(files, "atomic_write_bytes", full)
    write_status(tmp_path, "failed", message="x: disk full")
    assert read_status(tmp_path)["state"] == "failed"


def test_stale_temp_files_of_dead_writers_are_removed(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    stale = [tmp_path / f".last.pt.{dead}.tmp", tmp_path / f".status.json.{dead}.tmp",
             tmp_path / f".analysis.h5.{dead}.partial"]
    live = tmp_path / f".events.jsonl.{os.getpid()}.tmp"
    for path in [*stale, live]:
        path.write_bytes(b"x")
    assert sorted(remove_stale_temps(tmp_path)) == sorted(stale)
    assert live.exists()


def test_run_folders_are_0700_and_files_0600(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "r1"
    create_run(run, 'method = "vicreg"\n', "vicreg", 10)
    write_status(run, "running")
    with EventWriter(run / "events.jsonl") as events:
        events.write({"type": "train", "step": 1})
    analysis_store.write_projection(run, "pca", np.zeros((3, 2)), {})
    for folder in (tmp_path / "runs", run, run / "checkpoints", run / "logs"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    for name in ("config.toml", "status.json", "events.jsonl", "analysis.h5", ".analysis.lock"):
        assert stat.S_IMODE((run / name).stat().st_mode) == 0o600, name


def test_resume_point_is_the_newest_readable_checkpoint_of_any_name(tmp_path: Path) -> None:
    ckpt = tmp_path / "checkpoints"
    ckpt.mkdir()
    weights = {"w": torch.zeros(2)}
    torch.save({"model": weights, "step": 2, "epoch": 0}, ckpt / "step-000002.pt")
    torch.save({"model": weights, "step": 4, "epoch": 0}, ckpt / "step-000004.pt")
    assert resume_point(tmp_path).path.name == "step-000004.pt"  # no last.pt
    torch.save({"model": weights, "optimizer": {"state": {}}, "scaler": {}, "step": 4, "epoch": 0}, ckpt / "last.pt")
    point = resume_point(tmp_path)
    assert point.path.name == "last.pt" and point.full and point.note == "resuming from checkpoints/last.pt (step 4)"
    (ckpt / "last.pt").write_bytes(b"garbage")
    (ckpt / "step-000004.pt").write_bytes((ckpt / "step-000004.pt").read_bytes()[:100])
    point = resume_point(tmp_path)
    assert point.step == 2 and "last.pt" in point.note and "step-000004.pt" in point.note
    (ckpt / "step-000002.pt").write_bytes(b"")
    with pytest.raises(ValueError, match=f"^{ckpt}: no readable checkpoint"):
        resume_point(tmp_path)


def test_unreadable_run_files_are_named(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "r1"
    create_run(run, 'method = "vicreg"\n', "vicreg", 10)
    (run / "config.toml").write_bytes(b"method = \xe8\x00\xff")
    with pytest.raises(config_mod.ConfigError, match=f"^{run}/config.toml: not UTF-8 text"):
        config_mod.load(run / "config.toml")
    (run / "status.json").write_bytes(b'{"state": "runn')
    message = list_runs(tmp_path / "runs")[0]["message"]
    assert f"{run}/status.json: unreadable" in message and f"{run}/config.toml: not UTF-8" in message
    assert json.loads(json.dumps(list_runs(tmp_path / "runs")))  # the listing itself still answers
