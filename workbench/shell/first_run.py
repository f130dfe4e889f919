"""How long the demo study takes on this machine, from its measured training step time.

The measurement comes from `engine.training.speed_cache` (written by `mvssl speed`); when there is none yet,
`mvssl speed` runs in the background (a QProcess, never on the GUI thread) and the estimate appears
when it is done.
"""
from __future__ import annotations

import sys
import time
from typing import Any, Callable

from PySide6.QtCore import QObject, QProcess, Signal

from engine.evaluation.seeds import DEMO_SEEDS
from workbench.launch.model import provisional_note
from workbench.runs.model import UNTRAINED

DEMO_CORPUS_SEGMENTS = 300 * 30 // 4  # 300 tracks of 30 s, in 4 s segments
EMBED_STEP_FRACTION = 1 / 3  # a forward pass costs about a third of a training step (forward + backward)
# Diagnose, project and probe jobs beside pre-training and embedding, as a share of the training time:
# in the measured two-seed demo study (docs/results.md) they took 0.95 of it (1,617 s beside 1,702 s of training).
OTHER_JOBS_SHARE = 0.95


def demo_steps() -> int:
    """Training steps of the demo preset (engine.config, torch-free)."""
    from engine.config import build

    return build("demo").steps


def demo_seconds(measurement: dict[str, Any], methods: list[str], steps: int | None = None,
                 seeds: int = DEMO_SEEDS) -> float:
    """Seconds the demo study takes: steps × trained methods × seeds × step time, embedding every run's
    corpus, and the share of the other evaluation jobs."""
    steps = demo_steps() if steps is None else steps
    step_s = float(measurement["step_s"])
    trained = [m for m in methods if m not in UNTRAINED]
    training = steps * len(trained) * seeds * step_s
    per_step_segments = int(measurement.get("batch_size") or 32) * int(measurement.get("views") or 2)
    embedding = len(methods) * seeds * DEMO_CORPUS_SEGMENTS / per_step_segments * step_s * EMBED_STEP_FRACTION
    return training + embedding + OTHER_JOBS_SHARE * training


def describe(measurement: dict[str, Any], methods: list[str], now: float | None = None) -> str:
    """One line: the estimate and what it rests on."""
    minutes = max(1, round(demo_seconds(measurement, methods) / 60))
    age = ((now or time.time()) - float(measurement.get("measured_at") or 0)) / 86400
    when = "today" if age < 1 else f"{int(age)} day{'s' if int(age) != 1 else ''} ago"
    trained = len([m for m in methods if m not in UNTRAINED])
    return (f"About {minutes} min on this machine: {trained} methods × {DEMO_SEEDS} seeds × {demo_steps()} steps at "
            f"{float(measurement['step_s']):.2f} s per step ({measurement.get('precision', '?')}, measured {when}"
            f"{provisional_note(measurement)}), then embedding, diagnostics, maps and probes.")


def _latest() -> dict[str, Any] | None:
    from engine.training.speed_cache import latest_measurement

    return latest_measurement()


class DemoEstimate(QObject):
    """Emits `changed(text)` with the demo study's duration here, measuring the speed first if needed."""

    changed = Signal(str)

    def __init__(self, methods: list[str], read: Callable[[], dict[str, Any] | None] = _latest,
                 command: list[str] | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.methods = list(methods)
        self.read = read
        self.command = command or [sys.executable, "-m", "engine.cli", "speed"]
        self.process: QProcess | None = None
        self.text = ""

    def start(self) -> None:
        """Show the estimate now if this machine was measured, else measure it in the background."""
        found = self._read()
        if found is not None:
            self._set(describe(found, self.methods))
            return
        if self.process is not None:
            return
        self._set("Measuring this machine's training speed for a time estimate (about half a minute)…")
        self.process = QProcess(self)
        self.process.finished.connect(self._on_finished)
        self.process.errorOccurred.connect(self._on_error)
        self.process.start(self.command[0], self.command[1:])

    def _read(self) -> dict[str, Any] | None:
        try:
            found = self.read()
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return found if found and isinstance(found.get("step_s"), (int, float)) else None

    def _on_finished(self, code: int, _status: QProcess.ExitStatus) -> None:
        found = self._read()
        if found is not None:
            self._set(describe(found, self.methods))
        else:
            output = bytes(self.process.readAllStandardError()).decode(errors="replace").strip().splitlines()
            self._set(f"No time estimate: measuring the speed failed (exit {code}"
                      + (f": {output[-1]}" if output else "") + ").")

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._set(f"No time estimate: {' '.join(self.command)} could not start.")

    def _set(self, text: str) -> None:
        self.text = text
        self.changed.emit(text)

    def stop(self) -> None:
        if self.process is not None and self.process.state() != QProcess.ProcessState.NotRunning:
            self.process.kill()
            self.process.waitForFinished(2000)
