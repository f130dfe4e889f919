"""Qt tree model of the runs list: one top row per study, its runs below; runs of no study in their own group.

Live updates (`update_status`, `update_job`) change single rows in place; `set_runs` resets the
model only when the set or grouping of runs changed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from engine.service.contract import Job, RunStatus
from workbench.runs.collapse_note import collapse_note
from workbench.runs.model import NO_STUDY, RunSummary, colour_of, format_duration, group_by_study, with_job, with_status

COLUMNS = ("Run", "Method", "Status", "Progress", "Elapsed", "ETA")
PROGRESS_ROLE = Qt.ItemDataRole.UserRole + 1  # float in [0, 1]
PATH_ROLE = Qt.ItemDataRole.UserRole + 2  # the run directory (None on a study row)
NO_STUDY_TITLE = "Single runs"
_GROUP = 0  # internal id of a study row; a run row's internal id is its group's row + 1
Index = QModelIndex | QPersistentModelIndex


class RunsTreeModel(QAbstractItemModel):
    """Studies and their runs."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._groups: list[str] = []
        self._members: list[list[str]] = []
        self._runs: dict[str, RunSummary] = {}
        self._study_states: dict[str, str] = {}

    # ---- updates -------------------------------------------------------------------------------------
    def set_runs(self, runs: list[RunSummary]) -> None:
        """Show exactly `runs`; rows whose run and group stay the same are updated in place."""
        grouped = group_by_study(runs)
        groups = [study for study, _ in grouped]
        members = [[r.run_id for r in rs] for _, rs in grouped]
        if groups == self._groups and members == self._members:
            self._runs = {r.run_id: r for r in runs}
            if self._groups:
                self._changed_all()
            return
        self.beginResetModel()
        self._groups, self._members = groups, members
        self._runs = {r.run_id: r for r in runs}
        self.endResetModel()

    def update_status(self, run_id: str, status: RunStatus) -> bool:
        """Apply a status push; False when the run is unknown or moved to another study (reload then)."""
        run = self._runs.get(run_id)
        if run is None:
            return False
        updated = with_status(run, status)
        if updated.study != run.study:
            return False
        self._runs[run_id] = updated
        self._changed_run(run_id)
        return True

    def update_job(self, job: Job) -> bool:
        """Apply a job push (shows embed/probe/... jobs and their progress); False when the run is unknown."""
        run = self._runs.get(job.run)
        if run is None:
            return False
        self._runs[run.run_id] = with_job(run, job)
        self._changed_run(run.run_id)
        return True

    def set_study_state(self, study: str, state: str) -> None:
        self._study_states[study] = state
        if study in self._groups:
            row = self._groups.index(study)
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    def tick(self) -> None:
        """Refresh elapsed and ETA of running runs (they change with the clock)."""
        for run in self._runs.values():
            if run.state == "running":
                self._changed_run(run.run_id, first=COLUMNS.index("Elapsed"))

    def _changed_run(self, run_id: str, first: int = 0) -> None:
        index = self.index_of(run_id)
        if index.isValid():
            self.dataChanged.emit(index.siblingAtColumn(first), index.siblingAtColumn(len(COLUMNS) - 1))
            parent = index.parent()
            self.dataChanged.emit(parent.siblingAtColumn(first), parent.siblingAtColumn(len(COLUMNS) - 1))

    def _changed_all(self) -> None:
        last = len(COLUMNS) - 1
        self.dataChanged.emit(self.index(0, 0), self.index(len(self._groups) - 1, last))
        for row in range(len(self._groups)):
            group = self.index(row, 0)
            self.dataChanged.emit(self.index(0, 0, group), self.index(len(self._members[row]) - 1, last, group))

    # ---- lookup --------------------------------------------------------------------------------------
    def runs(self) -> list[RunSummary]:
        return list(self._runs.values())

    def run(self, run_id: str) -> RunSummary | None:
        return self._runs.get(run_id)

    def run_at(self, index: Index) -> RunSummary | None:
        if not index.isValid() or index.internalId() == _GROUP:
            return None
        return self._runs[self._members[index.internalId() - 1][index.row()]]

    def study_at(self, index: Index) -> str | None:
        """The study id of a study row (`""` for the group of single runs), None on a run row."""
        if not index.isValid() or index.internalId() != _GROUP:
            return None
        return self._groups[index.row()]

    def runs_of(self, index: Index) -> list[RunSummary]:
        """The run of a run row, or every run of a study row."""
        run = self.run_at(index)
        if run is not None:
            return [run]
        study = self.study_at(index)
        return [] if study is None else [self._runs[r] for r in self._members[index.row()]]

    def index_of(self, run_id: str) -> QModelIndex:
        for row, members in enumerate(self._members):
            if run_id in members:
                return self.index(members.index(run_id), 0, self.index(row, 0))
        return QModelIndex()

    def group_index(self, study: str) -> QModelIndex:
        return self.index(self._groups.index(study), 0) if study in self._groups else QModelIndex()

    # ---- QAbstractItemModel --------------------------------------------------------------------------
    def index(self, row: int, column: int, parent: Index = QModelIndex()) -> QModelIndex:  # noqa: B008
        if column < 0 or column >= len(COLUMNS) or row < 0:
            return QModelIndex()
        if not parent.isValid():
            return self.createIndex(row, column, _GROUP) if row < len(self._groups) else QModelIndex()
        if parent.internalId() == _GROUP and row < len(self._members[parent.row()]):
            return self.createIndex(row, column, parent.row() + 1)
        return QModelIndex()

    def parent(self, index: Index = QModelIndex()) -> QModelIndex:  # noqa: B008
        if not index.isValid() or index.internalId() == _GROUP:
            return QModelIndex()
        return self.createIndex(index.internalId() - 1, 0, _GROUP)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        if not parent.isValid():
            return len(self._groups)
        if parent.internalId() == _GROUP and parent.column() == 0:
            return len(self._members[parent.row()])
        return 0

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        run = self.run_at(index)
        if run is None:
            return self._group_data(index, role)
        column = COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return {"Run": short_id(run), "Method": run.method, "Status": run.status_text,
                    "Progress": _progress_text(run), "Elapsed": format_duration(run.elapsed_s),
                    "ETA": format_duration(run.eta_s)}[column]
        if role == Qt.ItemDataRole.DecorationRole and column in ("Run", "Method"):
            return QColor(colour_of(run.method))
        if role == Qt.ItemDataRole.ToolTipRole:
            tip = f"{run.run_id} ({run.method})\n{run.message or run.path}"
            tip += f"\n{run.job_text}" if run.job_text else ""
            tip = f"{tip}\nprecision: {run.precision}" if run.precision else tip
            note = collapse_note(run.path, run.method)
            return f"{tip}\n{note}" if note else tip
        if role == PROGRESS_ROLE:
            if run.job_progress is not None:
                return run.job_progress
            return run.progress if run.trains else None
        if role == PATH_ROLE:
            return run.path
        return None

    def _group_data(self, index: Index, role: int) -> Any:
        study = self._groups[index.row()]
        runs = [self._runs[r] for r in self._members[index.row()]]
        column = COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            if column == "Run":
                return study or NO_STUDY_TITLE
            if column == "Method":
                return f"{len(runs)} run" + ("s" if len(runs) != 1 else "")
            if column == "Status" and study != NO_STUDY:
                return self._study_states.get(study) or _summary_state(runs)
            if column == "Progress":
                return f"{sum(r.state == 'done' and r.job is None for r in runs)}/{len(runs)} done"
            return ""
        if role == PROGRESS_ROLE:
            return sum(r.progress for r in runs) / len(runs) if runs else 0.0
        if role == Qt.ItemDataRole.FontRole and column == "Run":
            from PySide6.QtGui import QFont

            font = QFont()
            font.setBold(True)
            return font
        return None


def _progress_text(run: RunSummary) -> str:
    """The current job's units ("embed 120/300") while a job other than training runs, else the steps."""
    job = run.job
    if run.job_progress is not None and job is not None and job.progress is not None:
        return f"{job.kind} {job.progress.done}/{job.progress.total}"
    return run.progress_text


def short_id(run: RunSummary) -> str:
    """A run's id under its study's row: without the study's name in front (the full id is in the tooltip)."""
    prefix = f"{run.study}-"
    return run.run_id[len(prefix):] if run.study and run.run_id.startswith(prefix) else run.run_id


def _summary_state(runs: list[RunSummary]) -> str:
    states = {r.state for r in runs}
    for state in ("running", "queued", "failed", "diverged", "interrupted", "cancelled"):
        if state in states:
            return state
    return "done" if states == {"done"} else "unknown"


def path_of(index: Index) -> Path | None:
    value = index.data(PATH_ROLE)
    return Path(value) if value is not None else None
