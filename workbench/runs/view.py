"""The runs tree: studies and their runs with method colour, status, a progress bar, elapsed time and ETA.

Selecting rows sets the RunSelection the panels follow (a study row stands for all its runs). It is
narrow by default (the method shows as the colour square beside the run; Method and Elapsed are
columns to switch on from the header's context menu).
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QItemSelection, QItemSelectionModel, QModelIndex, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QHeaderView, QStyle, QStyledItemDelegate, QStyleOptionViewItem, QTreeView, QWidget

from workbench.runs.model import NO_STUDY
from workbench.runs.tree import COLUMNS, PROGRESS_ROLE, RunsTreeModel
from workbench.runs.selection import RunSelection


class ProgressDelegate(QStyledItemDelegate):
    """Draws the progress column as its text with a thin bar under it, so the bar never covers the text."""

    BAR_PX = 3

    def paint(self, painter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        super().paint(painter, option, index)
        progress = index.data(PROGRESS_ROLE)
        if progress is None:
            return
        rect = option.rect.adjusted(2, 0, -2, -1)
        rect.setTop(rect.bottom() - self.BAR_PX + 1)
        painter.save()
        painter.fillRect(rect, option.palette.mid())
        rect.setWidth(int(round(rect.width() * max(0.0, min(1.0, float(progress))))))
        painter.fillRect(rect, option.palette.highlight() if not option.state & QStyle.StateFlag.State_Selected
                         else option.palette.highlightedText())
        painter.restore()


WIDTHS = {"Method": 100, "Status": 60, "Progress": 84, "Elapsed": 60, "ETA": 58}
HIDDEN = ("Method", "Elapsed")


class RunsView(QTreeView):
    """Tree of runs grouped by study; keeps selection and expanded studies across model resets."""

    def __init__(self, model: RunsTreeModel, selection: RunSelection, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runs_model = model
        self.selection = selection
        self.setModel(model)
        self.setSelectionMode(QTreeView.SelectionMode.ExtendedSelection)
        self.setSelectionBehavior(QTreeView.SelectionBehavior.SelectRows)
        self.setUniformRowHeights(True)
        self.setAlternatingRowColors(True)
        self.setIndentation(14)
        self.setItemDelegateForColumn(COLUMNS.index("Progress"), ProgressDelegate(self))
        header = self.header()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        header.setSectionResizeMode(COLUMNS.index("Run"), QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(40)
        for column, width in WIDTHS.items():
            header.resizeSection(COLUMNS.index(column), width)
        for column in HIDDEN:
            header.setSectionHidden(COLUMNS.index(column), True)
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        for i, column in enumerate(COLUMNS[1:], start=1):
            action = QAction(column, header, checkable=True, checked=not header.isSectionHidden(i))
            action.toggled.connect(lambda on, i=i: header.setSectionHidden(i, not on))
            header.addAction(action)
        self._saved_selection: list[str] = []
        self._collapsed: set[str] = set()
        model.modelAboutToBeReset.connect(self._on_about_to_reset)
        model.modelReset.connect(self._on_reset)
        self.selectionModel().selectionChanged.connect(self._on_selection_changed)
        self.collapsed.connect(self._on_collapsed)
        self.expanded.connect(self._on_expanded)

    def selected_runs(self) -> list[Path]:
        """Run directories of the selected rows in selection order, each once."""
        paths: list[Path] = []
        for index in self.selectionModel().selectedRows(0):
            for run in self.runs_model.runs_of(index):
                if run.path not in paths:
                    paths.append(run.path)
        return paths

    def select_run(self, run_id: str) -> bool:
        index = self.runs_model.index_of(run_id)
        if not index.isValid():
            return False
        self.setCurrentIndex(index)
        self.scrollTo(index)
        return True

    def select_runs(self, run_ids: list[str]) -> None:
        """Select exactly these runs (unknown ids skipped), telling the panels once."""
        selection = QItemSelection()
        for run_id in run_ids:
            index = self.runs_model.index_of(run_id)
            if index.isValid():
                selection.select(index, index)
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        self.selectionModel().select(selection, flags)

    def select_study(self, study: str) -> None:
        """Select a study's row (it stands for all its runs)."""
        index = self.runs_model.group_index(study)
        if index.isValid():
            flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
            self.selectionModel().select(index, flags)
            self.selectionModel().setCurrentIndex(index, QItemSelectionModel.SelectionFlag.NoUpdate)

    def selected_targets(self) -> list[dict[str, str]]:
        """What a run command acts on: each selected study (for all its runs) and each other selected run, once."""
        targets: list[dict[str, str]] = []
        for index in self.selectionModel().selectedRows(0):
            study = self.runs_model.study_at(index)
            run = self.runs_model.run_at(index)
            target = {"study": study} if study else ({"run": run.run_id} if run else None)
            if target and target not in targets:
                targets.append(target)
        return targets

    def select_newest(self) -> None:
        """Select the most recent study (all its runs), else the most recent run."""
        model = self.runs_model

        def started(run) -> float:
            return run.started_at or run.updated_at or 0.0
        studies = []
        for row in range(model.rowCount()):
            group = model.index(row, 0)
            runs = model.runs_of(group)
            if model.study_at(group) != NO_STUDY and runs:
                studies.append((max(started(r) for r in runs), model.study_at(group)))
        if studies:
            self.select_study(max(studies)[1])
        elif model.runs():
            self.select_runs([max(model.runs(), key=started).run_id])

    def _on_selection_changed(self, *_: object) -> None:
        self.selection.set_runs(self.selected_runs())

    def _on_collapsed(self, index: QModelIndex) -> None:
        study = self.runs_model.study_at(index)
        if study is not None:
            self._collapsed.add(study)

    def _on_expanded(self, index: QModelIndex) -> None:
        self._collapsed.discard(self.runs_model.study_at(index) or "")

    def _on_about_to_reset(self) -> None:
        self._saved_selection = [p.name for p in self.selected_runs()]

    def _on_reset(self) -> None:
        model = self.runs_model
        for row in range(model.rowCount()):
            group = model.index(row, 0)
            self.setExpanded(group, model.study_at(group) not in self._collapsed)
        self.select_runs(self._saved_selection)
        self._on_selection_changed()
