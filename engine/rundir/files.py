"""Files of a run directory that several processes share: status.json and atomic writes."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Literal, get_args

from engine.rundir.disk import FILE_MODE, WriteFailed, is_disk_full, temp_path, writing
from engine.rundir.layout import RunDir

# "requeued": preempted on Slurm, checkpointed, and waiting in Slurm's queue to resume by itself
State = Literal["queued", "running", "requeued", "done", "failed", "cancelled", "diverged", "interrupted"]
STATES: tuple[str, ...] = get_args(State)  # every state status.json may hold
FINAL_STATES = tuple(s for s in STATES if s not in ("queued", "running", "requeued"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write a 0600 temporary file, fsync, then rename: readers see the old file or the new one.

    A failed write (a full disk) removes the temporary file, keeps the old one and raises WriteFailed.
    """
    path = Path(path)
    with writing(path, temp_path(path)) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)


def write_status(run_dir: Path, state: State, **fields: Any) -> dict[str, Any]:
    """Merge `fields` into status.json and set its state; returns what was written.

    On a full disk the few hundred bytes are rewritten in place rather than lost, so a failure is recorded.
    """
    status = read_status(run_dir)
    status.update(fields)
    status["state"] = state
    status["updated_at"] = time.time()
    data = json.dumps(status, indent=1).encode()
    path = RunDir(run_dir).status
    try:
        atomic_write_bytes(path, data)
    except WriteFailed as err:
        if not is_disk_full(err) or not path.exists():
            raise
        with open(path, "r+b") as f:
            f.write(data)
            f.truncate()
    return status


def read_status(run_dir: Path) -> dict[str, Any]:
    """status.json as a dict; {} when missing or unreadable (older or broken runs)."""
    try:
        value = json.loads(RunDir(run_dir).status.read_text())
        return value if isinstance(value, dict) else {}
    except (OSError, ValueError):
        return {}


def status_problem(run_dir: Path) -> str:
    """One line naming status.json when it exists but is unreadable; empty otherwise."""
    path = RunDir(run_dir).status
    try:
        value = json.loads(path.read_bytes())
    except FileNotFoundError:
        return ""
    except (OSError, ValueError) as err:
        return f"{path}: unreadable ({type(err).__name__})"
    return "" if isinstance(value, dict) else f"{path}: not a JSON object"
