"""Qt table model of the runs list; the view reloads it from the runs directory."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from workbench.runs import METHOD_COLOURS, RunSummary, scan_runs

COLUMNS = ("Run", "Study", "Method", "Status", "Progress", "Elapsed", "ETA")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class RunsModel(QAbstractTableModel):
    """Rows = runs of one runs directory."""

    def __init__(self, runs_dir: Path, parent=None) -> None:
        super().__init__(parent)
        self.runs_dir = runs_dir
        self._runs: list[RunSummary] = []

    def reload(self) -> None:
        self.beginResetModel()
        self._runs = scan_runs(self.runs_dir)
        self.endResetModel()

    def set_runs_dir(self, runs_dir: Path) -> None:
        self.runs_dir = runs_dir
        self.reload()

    def run(self, row: int) -> RunSummary:
        return self._runs[row]

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._runs)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        run = self._runs[index.row()]
        column = COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return {
                "Run": run.run_id,
                "Study": run.study,
                "Method": run.method,
                "Status": run.state,
                "Progress": f"{run.step}/{run.total_steps} ({run.progress:.0%})",
                "Elapsed": _duration(run.elapsed_s),
                "ETA": _duration(run.eta_s),
            }[column]
        if role == Qt.ItemDataRole.DecorationRole and column == "Method":
            return QColor(METHOD_COLOURS.get(run.method, "#000000"))
        return None
