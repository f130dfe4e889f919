"""Downstream scores of the selected runs: a per-tag ROC-AUC / PR-AUC table (heat-coloured,
sortable, filterable), the bootstrap dot plot of the poster's Fig. 1, the limited-data curves
of Fig. 2, the paired "row beats column in x % of resamples" matrix, and per method its mean and
spread over seeds with "A beats B" over tracks, seeds and both; PNG and CSV export.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QComboBox, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPushButton, QSplitter, QTableView,
    QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)

from engine.metrics import PairedBootstrap
from engine.seeds import MethodComparison
from workbench import scores_model as sm
from workbench.background import Background
from workbench.panels.seed_matrix import SeedMatrix
from workbench.runs import METHOD_COLOURS
from workbench.selection import RunSelection

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
        self.setHorizontalHeaderLabels(["tag"] + [f"{run}\n{sm.METRIC_LABELS[m]}" for run, m in table.columns])
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


class ScoresPanel(QWidget):
    """Scores of every selected run that has probes of the chosen task."""

    def __init__(self, selection: RunSelection, parent: QWidget | None = None, n_resamples: int = sm.N_RESAMPLES) -> None:
        super().__init__(parent)
        self.selection = selection
        self.n_resamples = n_resamples
        self.runs: list[sm.RunScores] = []
        self.boot: PairedBootstrap | None = None
        self.seeds: MethodComparison | None = None
        self._worker = Background(self)
        self._build()
        self.selection.changed.connect(self._on_selection_changed)
        self._on_selection_changed(self.selection.runs())

    def _build(self) -> None:
        self.task_box, self.metric_box = QComboBox(), QComboBox()
        for metric, label in sm.METRIC_LABELS.items():
            self.metric_box.addItem(label, metric)
        self.filter_edit = QLineEdit(placeholderText="filter tags…", clearButtonEnabled=True)
        png, csv_button = QPushButton("Export PNG…"), QPushButton("Export CSV…")
        bar = QHBoxLayout()
        for widget in (QLabel("Task"), self.task_box, QLabel("Figures"), self.metric_box, self.filter_edit, png,
                       csv_button):
            bar.addWidget(widget)
        self.summary = QLabel(wordWrap=True)
        self.model = ScoresTableModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.proxy.setFilterKeyColumn(0)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.dots_plot = pg.PlotWidget(title="bootstrap of the test set (Fig. 1)", background="w")
        self.dots = pg.ScatterPlotItem(size=4, pen=None)
        self.means = pg.ScatterPlotItem(size=14, symbol="d", pen=pg.mkPen("k", width=1.5))
        self.intervals = pg.ErrorBarItem(x=np.zeros(0), y=np.zeros(0), height=np.zeros(0), beam=0.25, pen="k")
        for item in (self.dots, self.intervals, self.means):
            self.dots_plot.addItem(item)
        self.curves_plot = pg.PlotWidget(title="limited training data (Fig. 2)", background="w",
                                       labels={"bottom": "% of training tracks"})
        self.curves_plot.setLogMode(x=True)
        for plot in (self.dots_plot, self.curves_plot):
            plot.getAxis("left").enableAutoSIPrefix(False)
        self.curves_plot.addLegend(offset=(5, 5))
        self.curves: list[pg.PlotDataItem] = []
        self.draw_dots = self.curves_plot.plot(pen=None, symbol="o", symbolSize=5, symbolPen=None)
        self.matrix = QTableWidget(0, 0)
        self.matrix.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.matrix_label = QLabel("Row beats column in x % of paired resamples of the test tracks")
        self.seed_matrix = SeedMatrix()
        right = QSplitter(Qt.Orientation.Vertical)
        matrix_box = QWidget()
        matrix_layout = QVBoxLayout(matrix_box)
        matrix_layout.addWidget(self.matrix_label)
        matrix_layout.addWidget(self.matrix)
        matrix_layout.addWidget(self.seed_matrix)
        for widget in (self.dots_plot, self.curves_plot, matrix_box):
            right.addWidget(widget)
        split = QSplitter()
        split.addWidget(self.table)
        split.addWidget(right)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.summary)
        layout.addWidget(split, 1)
        self.task_box.currentIndexChanged.connect(self._on_task_changed)
        self.metric_box.currentIndexChanged.connect(self._on_metric_changed)
        self.filter_edit.textChanged.connect(self.proxy.setFilterFixedString)
        png.clicked.connect(self._on_export_png)
        csv_button.clicked.connect(self._on_export_csv)

    # ------------------------------------------------------------------ data
    def _on_selection_changed(self, runs: list[Path]) -> None:
        current = self.task_box.currentText()
        self.task_box.blockSignals(True)
        self.task_box.clear()
        self.task_box.addItems(sm.tasks_of(runs))
        self.task_box.setCurrentIndex(max(0, self.task_box.findText(current)))
        self.task_box.blockSignals(False)
        self._on_task_changed()

    def _on_task_changed(self, *_: object) -> None:
        task = self.task_box.currentText()
        self.runs = []
        problems = []
        for run in self.selection.runs() if task else []:
            try:
                found = sm.load_scores(run, task)
            except (ValueError, OSError) as err:
                problems.append(f"{run.name}: {err}")
                continue
            if found is not None:
                self.runs.append(found)
        self.model.set_table(sm.score_table(self.runs))
        self.table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)
        self._show_summary(problems)
        self._show_curves()
        self._start_bootstrap()

    def current_metric(self) -> str:
        return self.metric_box.currentData()

    def _on_metric_changed(self, *_: object) -> None:
        self._show_curves()
        self._start_bootstrap()

    def _show_summary(self, problems: list[str]) -> None:
        if not self.runs:
            self.summary.setText("No probe scores in the selected runs yet (run a probe job).")
            return
        parts = [f'<span style="color:{self._colour(r)}">■</span> <b>{r.name}</b> ROC-AUC {r.macro["roc_auc"]:.3f}, '
                 f'PR-AUC {r.macro["pr_auc"]:.3f}' for r in self.runs]
        protocols = sorted({r.protocol for r in self.runs})
        probe = (f"probe protocol: {protocols[0]}" if len(protocols) == 1 else
                 f'<span style="color:#d62728">mixed probe protocols ({", ".join(protocols)}): differences mix '
                 "the probe with the embedding</span>")
        self.summary.setText("macro: " + "&nbsp;&nbsp; ".join(parts) + f"<br>{probe}"
                             + "".join(f"<br>{p}" for p in problems))

    @staticmethod
    def _colour(run: sm.RunScores) -> str:
        return METHOD_COLOURS.get(run.method, "#444444")

    def _start_bootstrap(self) -> None:
        self.boot, self.seeds = None, None
        self._show_bootstrap()
        if not self.runs:
            return
        runs, metric, n = list(self.runs), self.current_metric(), self.n_resamples
        self.matrix_label.setText(f"Computing {n} paired resamples…")
        self._worker.submit(lambda: sm.bootstrap_with_seeds(runs, metric, n), self._on_bootstrap,
                            self.matrix_label.setText)

    def _on_bootstrap(self, result: tuple[PairedBootstrap, MethodComparison]) -> None:
        self.boot, self.seeds = result
        self.matrix_label.setText(f"Runs: row beats column in x % of {len(self.boot.indices)} paired resamples of "
                                  f"the test tracks (over tracks; {sm.METRIC_LABELS[self.boot.metric]}, macro)")
        self._show_bootstrap()

    # ------------------------------------------------------------------ figures
    def _show_bootstrap(self) -> None:
        boot = self.boot
        names = list(boot.runs) if boot is not None else []
        colours = {r.name: self._colour(r) for r in self.runs}
        rng = np.random.default_rng(0)
        xs, ys, brushes = [], [], []
        for i, name in enumerate(names):
            values = boot.runs[name].values
            values = values[np.isfinite(values)]  # a resample with no evaluable tag scores NaN
            xs.append(i + rng.uniform(-0.2, 0.2, len(values)))
            ys.append(values)
            brushes += [pg.mkBrush(QColor(colours[name]).lighter(130))] * len(values)
        self.dots.setData(x=np.concatenate(xs) if xs else [], y=np.concatenate(ys) if ys else [], brush=brushes)
        means = np.array([boot.runs[n].mean for n in names])
        low = np.array([boot.runs[n].low for n in names])
        high = np.array([boot.runs[n].high for n in names])
        keep = np.isfinite(means)
        x = np.arange(len(names), dtype=float)[keep]
        self.means.setData(x=x, y=means[keep], brush=[pg.mkBrush(colours[n]) for n, k in zip(names, keep) if k])
        self.intervals.setData(x=x, y=(low[keep] + high[keep]) / 2, height=high[keep] - low[keep])
        self.dots_plot.getAxis("bottom").setTicks([[(i, n) for i, n in enumerate(names)]])
        self.dots_plot.setXRange(-0.6, max(len(names), 1) - 0.4, padding=0)
        self.dots_plot.setLabel("left", f"{sm.METRIC_LABELS[self.current_metric()]} (macro)")
        self._show_matrix(names)
        self._show_seeds()

    def _show_seeds(self) -> None:
        self.seed_matrix.show_comparison(self.seeds)

    def _show_matrix(self, names: list[str]) -> None:
        self.matrix.clear()
        self.matrix.setRowCount(len(names))
        self.matrix.setColumnCount(len(names))
        self.matrix.setHorizontalHeaderLabels(names)
        self.matrix.setVerticalHeaderLabels(names)
        for i, a in enumerate(names):
            for j, b in enumerate(names):
                item = QTableWidgetItem("–" if a == b else f"{100 * self.boot.beats[(a, b)]:.1f} %")
                if a != b:
                    item.setData(SORT_ROLE, self.boot.beats[(a, b)])
                    item.setBackground(heat(self.boot.beats[(a, b)], 0.0, 1.0))
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.matrix.setItem(i, j, item)

    def _show_curves(self) -> None:
        metric = self.current_metric()
        while len(self.curves) < len(self.runs):
            self.curves.append(self.curves_plot.plot(symbol="o", symbolSize=8))
        legend = self.curves_plot.plotItem.legend
        legend.clear()
        points, brushes = [], []
        for curve, run in zip(self.curves, self.runs):
            percent, means, draws = sm.limited_data(run, metric)
            colour = self._colour(run)
            curve.setData(percent, means, pen=pg.mkPen(colour, width=2), symbolBrush=colour)
            legend.addItem(curve, run.name)
            points += draws
            brushes += [pg.mkBrush(QColor(colour).lighter(140))] * len(draws)
        for curve in self.curves[len(self.runs):]:
            curve.setData([], [])
        self.draw_dots.setData([p[0] for p in points], [p[1] for p in points], symbolBrush=brushes)
        self.curves_plot.setLabel("left", f"{sm.METRIC_LABELS[metric]} (macro, mean of draws)")

    # ------------------------------------------------------------------ export
    def export_png(self, path: Path) -> None:
        """Save the panel as it is shown (table, figures and matrix) as a PNG image."""
        if not self.grab().save(str(path), "PNG"):
            raise OSError(f"{path}: could not write the PNG image")

    def export_csv(self, path: Path) -> None:
        """Save every number shown, one tidy row each (see scores_model.export_rows)."""
        Path(path).write_text(sm.to_csv(sm.export_rows(self.runs, self.boot, self.seeds)))

    def _on_export_png(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export PNG", "scores.png", "PNG image (*.png)")
        if path:
            self.export_png(Path(path))

    def _on_export_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export CSV", "scores.csv", "CSV (*.csv)")
        if path:
            self.export_csv(Path(path))
