"""The `report` a job runs with: it tells progress and partial results, and polls whether to stop.

`LocalReport` collects them in this process (tests, notebooks); `ProcessReport` writes them to the job's
log, one line each, and turns the engine's SIGTERM into `cancelled()`.
"""
from __future__ import annotations

import json
import signal
from typing import Any, Callable


class JobCancelled(BaseException):
    """The job was asked to stop (SIGTERM, or `report.cancelled()` seen between steps)."""


class Report:
    """What a job may tell its caller; the base reports nothing and is never cancelled."""

    bars = False  # whether engine functions draw their own progress bars

    def progress(self, fraction: float) -> None:
        """How far the job is, in [0, 1]."""

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
        self.fractions: list[float] = []
        self.partials: list[Any] = []
        self._on_progress, self._on_partial = on_progress, on_partial
        self._cancel = False

    def progress(self, fraction: float) -> None:
        self.fractions.append(float(fraction))
        if self._on_progress is not None:
            self._on_progress(float(fraction))

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

    Progress is `progress 0.250`; a partial result is its text, or one JSON line for anything else.
    SIGTERM sets `cancelled()` and stops the job at once (training checkpoints first: it has its own handler).
    """

    def __init__(self, bars: bool = False) -> None:
        self.bars = bars
        self._cancel = False

    def listen(self) -> None:
        """Install the SIGTERM handler (training replaces it with its own while it trains)."""
        signal.signal(signal.SIGTERM, self._on_term)

    def _on_term(self, signum: int, frame: object) -> None:
        self._cancel = True
        raise JobCancelled()

    def progress(self, fraction: float) -> None:
        print(f"progress {float(fraction):.3f}", flush=True)

    def partial(self, obj: Any) -> None:
        print(obj if isinstance(obj, str) else json.dumps(obj, default=str), flush=True)

    def cancelled(self) -> bool:
        return self._cancel
