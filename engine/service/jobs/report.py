"""The `report` a job runs with: it tells progress and partial results, and polls whether to stop.

`LocalReport` collects them in this process (tests, notebooks); `ProcessReport` writes them to the job's
log, one line each, writes the latest progress where the engine reads it (and pushes it to clients), and
turns the engine's SIGTERM into `cancelled()`.
"""
from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any, Callable

from engine.rundir.files import atomic_write_bytes
from engine.service.contract import Progress

PROGRESS_EVERY_S = 0.5  # the progress file is rewritten at most this often (and at the last unit)


class JobCancelled(BaseException):
    """The job was asked to stop (SIGTERM, or `report.cancelled()` seen between steps)."""


class Report:
    """What a job may tell its caller; the base reports nothing and is never cancelled."""

    bars = False  # whether engine functions draw their own progress bars

    def progress(self, done: int, total: int, phrase: str = "") -> None:
        """How far the job is: `done` of `total` units, said as `phrase` ("embedding 120/300 tracks")."""

    def partial(self, obj: Any) -> None:
        """A result available before the end (a probe draw's line, a finished map)."""

    def cancelled(self) -> bool:
        return False

    def stop_if_cancelled(self) -> None:
        """Raise JobCancelled when the caller asked to stop: call it between steps."""
        if self.cancelled():
            raise JobCancelled()


class LocalReport(Report):
    """An in-process report: keeps every progress value and partial result; `cancel()` asks the job to stop."""

    def __init__(self, on_progress: Callable[[float], None] | None = None,
                 on_partial: Callable[[Any], None] | None = None) -> None:
        self.steps: list[Progress] = []
        self.partials: list[Any] = []
        self._on_progress, self._on_partial = on_progress, on_partial
        self._cancel = False

    @property
    def fractions(self) -> list[float]:
        return [p.fraction for p in self.steps]

    def progress(self, done: int, total: int, phrase: str = "") -> None:
        self.steps.append(Progress(done=done, total=total, phrase=phrase))
        if self._on_progress is not None:
            self._on_progress(self.steps[-1].fraction)

    def partial(self, obj: Any) -> None:
        self.partials.append(obj)
        if self._on_partial is not None:
            self._on_partial(obj)

    def cancel(self) -> None:
        self._cancel = True

    def cancelled(self) -> bool:
        return self._cancel


class ProcessReport(Report):
    """The report of a job process: lines on stdout (the job's log); SIGTERM cancels.

    Progress is `progress 120/300 embedding 120/300 tracks` in the log and the latest one, as a
    contract.Progress, in `progress_file` (when the engine started the job); a partial result is its text,
    or one JSON line for anything else. SIGTERM sets `cancelled()` and stops the job at once (training
    checkpoints first: it has its own handler).
    """

    def __init__(self, bars: bool = False, progress_file: Path | None = None) -> None:
        self.bars = bars
        self.progress_file = progress_file
        self._cancel = False
        self._written_at = 0.0

    def listen(self) -> None:
        """Install the SIGTERM handler (training replaces it with its own while it trains)."""
        signal.signal(signal.SIGTERM, self._on_term)

    def _on_term(self, signum: int, frame: object) -> None:
        self._cancel = True
        raise JobCancelled()

    def progress(self, done: int, total: int, phrase: str = "") -> None:
        print(f"progress {done}/{total} {phrase}".rstrip(), flush=True)
        now = time.monotonic()
        if self.progress_file is None or (now - self._written_at < PROGRESS_EVERY_S and done < total):
            return
        self._written_at = now
        data = Progress(done=done, total=total, phrase=phrase).model_dump_json().encode()
        self.progress_file.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.progress_file, data)

    def partial(self, obj: Any) -> None:
        print(obj if isinstance(obj, str) else json.dumps(obj, default=str), flush=True)

    def cancelled(self) -> bool:
        return self._cancel
