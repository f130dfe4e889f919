"""TensorBoard scalars of a run: live from the trainer (`--set tensorboard=true`) or afterwards from
`events.jsonl` (`mvssl export --format tensorboard`), written to `RUN_DIR/tensorboard/`.

Every numeric field of every event becomes the scalar `<event type>/<field>` at the event's step (what
the Training and Collapse panels plot: `train/loss`, its terms, `train/lr`, `train/views_per_s`, ...,
`collapse/rankme`); `type`, `step` and `time` are not scalars, null values (NaN/inf in the run) are NaN.
Needs the optional `tensorboard` package (`pip install 'mvssl-workbench[tensorboard]'`).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable

from engine.rundir.events import EventWriter, iter_events
from engine.rundir.layout import RunDir

NOT_SCALARS = frozenset({"type", "step", "time"})


def scalars(event: dict[str, Any]) -> list[tuple[str, float]]:
    """(tag, value) of every scalar of one event; none for an event without a type or a numeric step."""
    kind, step = event.get("type"), event.get("step")
    if not isinstance(kind, str) or not isinstance(step, (int, float)) or isinstance(step, bool):
        return []
    out = []
    for key, value in event.items():
        if key in NOT_SCALARS or isinstance(value, bool):
            continue
        if value is None:
            out.append((f"{kind}/{key}", math.nan))
        elif isinstance(value, (int, float)):
            out.append((f"{kind}/{key}", float(value)))
    return out


def summary_writer(log_dir: Path, purge_step: int | None = None):
    """torch's SummaryWriter on `log_dir` (TensorBoard drops the earlier files' scalars from `purge_step` on);
    a clear error when the tensorboard package is missing."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ValueError("TensorBoard scalars need the tensorboard package: "
                         "pip install 'mvssl-workbench[tensorboard]'") from None
    return SummaryWriter(log_dir=str(log_dir), purge_step=purge_step or None)


class ScalarLog:
    """Writes the scalars of events as they come, each at its step (wall time from the event's `time`)."""

    def __init__(self, log_dir: Path, purge_step: int | None = None) -> None:
        self.writer = summary_writer(log_dir, purge_step)
        self._time: float | None = None

    def write(self, event: dict[str, Any]) -> None:
        if isinstance(event.get("time"), (int, float)):
            self._time = float(event["time"])
        for tag, value in scalars(event):
            self.writer.add_scalar(tag, value, global_step=int(event["step"]), walltime=self._time)

    def close(self) -> None:
        self.writer.close()


class MirroredEvents(EventWriter):
    """`events.jsonl` as usual, every event also written as TensorBoard scalars."""

    def __init__(self, path: Path, log_dir: Path, purge_step: int | None = None) -> None:
        self.scalars = ScalarLog(log_dir, purge_step)
        super().__init__(path)

    def write(self, event: dict[str, Any]) -> None:
        super().write(event)
        self.scalars.write(event)

    def close(self) -> None:
        super().close()
        self.scalars.close()


def event_log(run_dir: Path, tensorboard: bool, start_step: int = 0) -> EventWriter:
    """The trainer's event writer: mirrored to `RUN_DIR/tensorboard/` when `tensorboard` is on; every start
    purges the scalars of earlier files past `start_step` (the checkpoint it resumes from, 0 when it found
    none), as `events.jsonl` is truncated there."""
    run = RunDir(run_dir)
    if not tensorboard:
        return EventWriter(run.events)
    return MirroredEvents(run.events, run.tensorboard, purge_step=start_step + 1)


def export_tensorboard(run_dir: Path, out: Path | None = None) -> tuple[Path, int]:
    """Write every scalar of `RUN_DIR/events.jsonl` to `out` (default `RUN_DIR/tensorboard/`), replacing
    the event files already there; returns (folder, number of scalars)."""
    run_dir = Path(run_dir)
    events_path = RunDir(run_dir).events
    if not events_path.is_file():
        raise ValueError(f"{events_path}: no events to export")
    out = Path(out) if out is not None else RunDir(run_dir).tensorboard
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("events.out.tfevents.*"):
        old.unlink()
    return out, _write_all(out, iter_events(events_path))


def _write_all(out: Path, events: Iterable[dict[str, Any]]) -> int:
    log = ScalarLog(out)
    n = 0
    try:
        for event in events:
            log.write(event)
            n += len(scalars(event))
    finally:
        log.close()
    return n
