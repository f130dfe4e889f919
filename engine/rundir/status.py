"""status.json as a typed model: what the engine pushes to clients and what the runs list reads.

Every field any writer of status.json sets (the training loop, the Slurm launcher and job, the queue,
imports and baselines) is named here. Reading a file is tolerant, so old and broken run folders still
list: fields this engine does not know are dropped and values of the wrong type fall back to their default.

    status = read_run_status(run_dir)        # None when status.json is missing or unreadable
    status.state, status.step, status.total_steps
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from engine.rundir.files import State, read_status

RunState = Literal[State, "unknown"]  # a run folder whose status.json is missing or from a newer engine


class RunStatus(BaseModel):
    """The content of a run's status.json; None marks a field the file does not hold."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)  # JSON types only: no "12" for 12

    state: RunState = "unknown"
    updated_at: float | None = None  # set by every write
    method: str = ""
    study: str = ""
    corpus: str = ""  # the log-mel baseline's; config.toml holds it for trained runs
    step: int | None = None  # training steps done
    total_steps: int | None = None
    message: str = ""  # why the run is in its state ("stopped by SIGTERM; resumable"), empty when nothing to say
    started_at: float | None = None
    finished_at: float | None = None
    pid: int | None = None  # of the training process on this machine
    world_size: int | None = None  # training processes (Slurm: nodes x tasks)
    slurm_job_id: str | None = None
    node: str | None = None  # Slurm host that runs the training
    restarts: int | None = None  # Slurm requeues so far
    skipped_audio: int | None = None  # tracks the training could not decode

    @classmethod
    def from_file(cls, raw: dict[str, Any]) -> RunStatus:
        """`raw` (status.json's content) without unknown fields and with unreadable values left at their default."""
        fields = {k: v for k, v in raw.items() if k in cls.model_fields}
        try:
            return cls.model_validate(fields)
        except ValidationError as err:
            bad = {e["loc"][0] for e in err.errors()}
            return cls.model_validate({k: v for k, v in fields.items() if k not in bad})


def read_run_status(run_dir: Path) -> RunStatus | None:
    """The run's status.json as a model; None when it is missing, unreadable or not a JSON object."""
    raw = read_status(run_dir)
    return RunStatus.from_file(raw) if raw else None
