"""The tables of the scores panel: tags × (run, metric), heat-coloured within each metric, and the paired
"row beats column" matrix of the runs."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QHeaderView, QTableWidget, QTableWidgetItem

from engine.evaluation.metrics import PairedBootstrap

from workbench.panels.scores import model as sm
from workbench.plots import one_line, short_names

HEAT = pg.ColorMap([0.0, 0.5, 1.0], ["#ffffcc", "#fd8d3c", "#bd0026"])  # low → high within a metric
SORT_ROLE = Qt.ItemDataRole.UserRole


def heat(value: float, lo: float, hi: float) -> QColor:
    return HEAT.map(0.5 if hi <= lo else (value - lo) / (hi - lo), mode="qcolor")


class ScoresTableModel(QStandardItemModel):
    """Tags × (run, metric): text, the raw value for sorting (SORT_ROLE), a heat colour per metric range.

    Items hold their data, so no Python `data()` runs on every paint.
    """

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.table = sm.ScoreTable([], [], np.zeros((0, 0)))

    def set_table(self, table: sm.ScoreTable) -> None:
        self.table = table
        self.clear()
        labels = dict(zip(table.runs, short_names(table.runs, table.methods))) if table.runs else {}
        self.setHorizontalHeaderLabels(["tag"] + [f"{one_line(labels.get(run, run))}\n{sm.METRIC_LABELS[m]}"
                                                  for run, m in table.columns])
        for i, (run, _) in enumerate(table.columns, start=1):
            self.horizontalHeaderItem(i).setToolTip(run)
        ranges = {}
        for metric in {m for _, m in table.columns}:
            values = table.values[:, [i for i, (_, m) in enumerate(table.columns) if m == metric]]
            finite = values[np.isfinite(values)]
            ranges[metric] = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
        for tag, row in zip(table.tags, table.values):
            tag_item = QStandardItem(tag)
            tag_item.setData(tag, SORT_ROLE)
            items = [tag_item]
            for (_, metric), value in zip(table.columns, row):
                item = QStandardItem(f"{value:.3f}" if math.isfinite(value) else "–")
                item.setData(float(value) if math.isfinite(value) else -1.0, SORT_ROLE)
                if math.isfinite(value):
                    item.setBackground(heat(value, *ranges[metric]))
                else:
                    item.setToolTip("no score: the run lacks this tag or its test set has no positive / negative for it")
                items.append(item)
            for item in items:
                item.setEditable(False)
            self.appendRow(items)


class BeatsMatrix(QTableWidget):
    """Run × run: the share of paired resamples in which the row's run beats the column's."""

    def __init__(self) -> None:
        super().__init__(0, 0)
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)

    def show_beats(self, names: list[str], labels: list[str], boot: PairedBootstrap | None) -> None:
        """`names` against each other, headed by `labels` (the full name as tooltip)."""
        self.clear()
        self.setRowCount(len(names))
        self.setColumnCount(len(names))
        self.setHorizontalHeaderLabels(labels)
        self.setVerticalHeaderLabels(labels)
        for i, name in enumerate(names):
            self.horizontalHeaderItem(i).setToolTip(name)
            self.verticalHeaderItem(i).setToolTip(name)
        for i, a in enumerate(names):
            for j, b in enumerate(names):
                item = QTableWidgetItem("–" if a == b else f"{100 * boot.beats[(a, b)]:.1f} %")
                if a != b:
                    item.setData(SORT_ROLE, boot.beats[(a, b)])
                    item.setBackground(heat(boot.beats[(a, b)], 0.0, 1.0))
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.setItem(i, j, item)
