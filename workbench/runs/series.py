"""Per-run time series of the numbers in a run's events (loss, components, schedules, collapse). No Qt here.

The engine's event pushes (or events.jsonl read from disk) go in with `add`; views subscribe with
`subscribe(callback)` and are told which runs changed, once per batch.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

import numpy as np

from engine.rundir.summary import number

SKIPPED_KEYS = frozenset({"type", "step", "time"})


class Series:
    """A growing (step, value) series with amortised O(1) appends; `x`/`y` are views of its buffers."""

    def __init__(self, capacity: int = 256) -> None:
        self._x = np.empty(capacity, dtype=np.float64)
        self._y = np.empty(capacity, dtype=np.float64)
        self.n = 0

    def extend(self, x: list[float], y: list[float]) -> None:
        """Append points (x and y of equal length)."""
        end = self.n + len(x)
        if end > len(self._x):
            capacity = max(end, 2 * len(self._x))
            self._x = np.concatenate([self._x[: self.n], np.empty(capacity - self.n)])
            self._y = np.concatenate([self._y[: self.n], np.empty(capacity - self.n)])
        self._x[self.n:end] = x
        self._y[self.n:end] = y
        self.n = end

    @property
    def x(self) -> np.ndarray:  # (n,)
        return self._x[: self.n]

    @property
    def y(self) -> np.ndarray:  # (n,)
        return self._y[: self.n]


def _number(value: Any) -> float | None:
    """A plotted value: numbers as float, null (NaN/inf in the run) as NaN, anything else skipped."""
    return float("nan") if value is None else number(value, None)


class SeriesStore:
    """Series per run, event type and key: `get("r1", "train", "loss") -> (steps, values)`."""

    def __init__(self) -> None:
        self._series: dict[str, dict[tuple[str, str], Series]] = {}
        self._callbacks: list[Callable[[set[str]], None]] = []

    def subscribe(self, callback: Callable[[set[str]], None]) -> None:
        """Call `callback(changed_runs)` after every change."""
        self._callbacks.append(callback)

    def unsubscribe(self, callback: Callable[[set[str]], None]) -> None:
        if callback in self._callbacks:
            self._callbacks.remove(callback)

    def _notify(self, runs: set[str]) -> None:
        if runs:
            for callback in list(self._callbacks):
                callback(runs)

    def _add(self, run: str, events: Iterable[dict[str, Any]]) -> None:
        points: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
        for event in events:
            step, kind = event.get("step"), event.get("type")
            if not isinstance(step, (int, float)) or isinstance(step, bool) or not isinstance(kind, str):
                continue
            for key, value in event.items():
                number = _number(value) if key not in SKIPPED_KEYS else None
                if number is not None:
                    xs, ys = points.setdefault((kind, key), ([], []))
                    xs.append(step)
                    ys.append(number)
        series = self._series.setdefault(run, {})
        for key, (xs, ys) in points.items():
            series.setdefault(key, Series()).extend(xs, ys)

    def add(self, run: str, events: Iterable[dict[str, Any]]) -> None:
        """Append the numeric fields of `events` (dicts with `type` and `step`) to `run`'s series."""
        self._add(run, events)
        self._notify({run})

    def add_batch(self, batch: dict[str, list[dict[str, Any]]]) -> None:
        """Append events of several runs, then notify once."""
        for run, events in batch.items():
            self._add(run, events)
        self._notify(set(batch))

    def clear(self, run: str) -> None:
        """Forget `run`'s series (its events file was rewritten and is replayed from the start)."""
        if self._series.pop(run, None) is not None:
            self._notify({run})

    def clear_all(self) -> None:
        """Forget every run (another runs directory is shown)."""
        runs, self._series = set(self._series), {}
        self._notify(runs)

    def has(self, run: str) -> bool:
        return run in self._series

    def keys(self, run: str, kind: str = "train") -> list[str]:
        """Keys of `run`'s events of type `kind`, in first-seen order."""
        return [key for (k, key) in self._series.get(run, {}) if k == kind]

    def get(self, run: str, kind: str, key: str) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of one series; empty arrays when unknown."""
        series = self._series.get(run, {}).get((kind, key))
        if series is None:
            return np.empty(0), np.empty(0)
        return series.x, series.y
