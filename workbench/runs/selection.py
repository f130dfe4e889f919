"""Which runs the panels show: a tiny Qt model every panel takes in `__init__` and subscribes to."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal


class RunSelection(QObject):
    """The selected run directories, in selection order; `changed` carries the new list."""

    changed = Signal(list)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._runs: list[Path] = []

    def runs(self) -> list[Path]:
        return list(self._runs)

    def set_runs(self, runs: list[Path]) -> None:
        runs = [Path(r) for r in runs]
        if runs != self._runs:
            self._runs = runs
            self.changed.emit(list(runs))
