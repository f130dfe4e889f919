"""Files of a run directory that several processes share: status.json and atomic writes."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Literal, get_args

from engine.rundir.layout import RunDir

# "requeued": preempted on Slurm, checkpointed, and waiting in Slurm's queue to resume by itself
State = Literal["queued", "running", "requeued", "done", "failed", "cancelled", "diverged", "interrupted"]
STATES: tuple[str, ...] = get_args(State)  # every state status.json may hold
FINAL_STATES = tuple(s for s in STATES if s not in ("queued", "running", "requeued"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file, fsync, then rename: readers see the old file or the new one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def write_status(run_dir: Path, state: State, **fields: Any) -> dict[str, Any]:
    """Merge `fields` into status.json and set its state; returns what was written."""
    status = read_status(run_dir)
    status.update(fields)
    status["state"] = state
    status["updated_at"] = time.time()
    atomic_write_bytes(RunDir(run_dir).status, json.dumps(status, indent=1).encode())
    return status


def read_status(run_dir: Path) -> dict[str, Any]:
    """status.json as a dict; {} when missing or unreadable (older or broken runs)."""
    try:
        value = json.loads(RunDir(run_dir).status.read_text())
        return value if isinstance(value, dict) else {}
    except (OSError, ValueError):
        return {}
