"""Downstream scores of the selected runs: a per-tag ROC-AUC / PR-AUC table (heat-coloured,
sortable, filterable), the bootstrap dot plot of the poster's Fig. 1 (dots and a mean marker per run,
each group named under its dots), the limited-data curves of Fig. 2 (one line per run over the measured
fractions), the paired "row beats column in x % of resamples" matrix, and per method its mean and
spread over seeds with "A beats B" over tracks, seeds and both; PNG and CSV export.
The coloured line of run names above the figures is their legend; nothing is drawn over the data.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor, QFontMetrics
from PySide6.QtWidgets import (
    QComboBox, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPushButton, QSplitter, QTableView,
    QVBoxLayout, QWidget,
)

from engine.evaluation.metrics import PairedBootstrap
from engine.evaluation.seeds import MethodComparison
from workbench.panels.scores import model as sm
from workbench.background import Background
from workbench.panels.scores.paper_view import PaperView
from workbench.panels.scores.table import SORT_ROLE, BeatsMatrix, ScoresTableModel
from workbench.panels.scores.seed_matrix import SeedMatrix
from workbench.plots import abbreviated, legible_axes, one_line, score_axes, short_form, short_names
from workbench.runs.model import METHOD_COLOURS
from workbench.runs.watch_qt import RunWatchHub, StoreFollower
from workbench.runs.selection import RunSelection

POLL_MS = 2000  # how often a panel shown alone, with its own watchers, looks at the files


class ScoresPanel(QWidget):
    """Scores of every selected run that has probes of the chosen task."""

    def __init__(self, selection: RunSelection, parent: QWidget | None = None, n_resamples: int = sm.N_RESAMPLES,
                 watch: RunWatchHub | None = None, poll_ms: int = POLL_MS) -> None:
        super().__init__(parent)
        self.selection = selection
        self.n_resamples = n_resamples
        self.runs: list[sm.RunScores] = []
        self.boot: PairedBootstrap | None = None
        self.seeds: MethodComparison | None = None
        self._worker = Background(self)
        self.stores = StoreFollower(watch if watch is not None else RunWatchHub(poll_ms, parent=self), self)
        self.stores.changed.connect(self.reload)  # a probe ended or wrote a draw: read the scores again
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
        self.paper = PaperView(self)
        for widget in (QLabel("Task"), self.task_box, QLabel("Figures"), self.metric_box, self.filter_edit,
                       self.paper.toggle, png, csv_button):
            bar.addWidget(widget)
        self.summary = QLabel(wordWrap=True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
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
        self.dots_plot = pg.PlotWidget(title="bootstrap of the test set (Fig. 1)", background="w",
                                       axisItems=legible_axes())
        self.dots = pg.ScatterPlotItem(size=4, pen=None)
        self.means = pg.ScatterPlotItem(size=14, symbol="d", pen=pg.mkPen("k", width=1.5))
        self.intervals = pg.ErrorBarItem(x=np.zeros(0), y=np.zeros(0), height=np.zeros(0), beam=0.25, pen="k")
        for item in (self.dots, self.intervals, self.means):
            self.dots_plot.addItem(item)
        self.dots_plot.getViewBox().sigResized.connect(self._name_groups)
        self.dots_plot.setMouseEnabled(x=False, y=True)
        self.curves_plot = pg.PlotWidget(title="limited training data (Fig. 2)", background="w",
                                         axisItems=legible_axes(), labels={"bottom": "% of training tracks (log scale)"})
        self.curves_plot.setLogMode(x=True)
        for plot in (self.dots_plot, self.curves_plot):
            plot.getAxis("left").enableAutoSIPrefix(False)
        self.curves: list[pg.PlotDataItem] = []
        self.draw_dots = self.curves_plot.plot(pen=None, symbol="o", symbolSize=5, symbolPen=None)
        self.matrix = BeatsMatrix()
        self.matrix_label = QLabel("Row beats column in x % of paired resamples", wordWrap=True)
        self.seed_matrix = SeedMatrix()
        matrix_box = QWidget()
        matrix_layout = QVBoxLayout(matrix_box)
        matrix_layout.setContentsMargins(0, 0, 0, 0)
        matrix_layout.addWidget(self.matrix_label)
        matrix_layout.addWidget(self.matrix)
        matrix_layout.addWidget(self.seed_matrix)
        self.figures = QSplitter()
        self.figures.addWidget(self.dots_plot)
        self.figures.addWidget(self.curves_plot)
        tables = QSplitter()
        tables.addWidget(self.table)
        tables.addWidget(matrix_box)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.figures)
        split.addWidget(tables)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        for splitter in (self.figures, tables, split):
            splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.summary)
        layout.addWidget(self.paper.view)
        layout.addWidget(split, 1)
        self.task_box.currentIndexChanged.connect(self._on_task_changed)
        self.metric_box.currentIndexChanged.connect(self._on_metric_changed)
        self.filter_edit.textChanged.connect(self.proxy.setFilterFixedString)
        png.clicked.connect(self._on_export_png)
        csv_button.clicked.connect(self._on_export_csv)

    # ------------------------------------------------------------------ data
    def _on_selection_changed(self, runs: list[Path]) -> None:
        self.stores.follow(runs)
        self.reload()

    def reload(self) -> None:
        """Read the selected runs' probe tasks and scores again, keeping the chosen task."""
        runs = self.selection.runs()
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
        self.paper.show_runs(self.runs)
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
        labels = short_names([r.name for r in self.runs], [r.method for r in self.runs])
        parts = [f'<span style="color:{self._colour(r)}">■</span>&nbsp;<b title="{r.name}">{one_line(label)}</b>'
                 f'{short_form(label, r.method)} ROC-AUC {r.macro["roc_auc"]:.3f}, PR-AUC {r.macro["pr_auc"]:.3f}'
                 for r, label in zip(self.runs, labels)]
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
        self._worker.cancel()  # a resampling of the runs shown before must not draw over these
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
        self.paper.show_runs(self.runs, self.boot, self.seeds)

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
        self._group_names = names
        self._name_groups()
        self.dots_plot.setXRange(-0.6, max(len(names), 1) - 0.4, padding=0)
        score_axes(self.dots_plot, bool(names))
        self.dots_plot.setLabel("left", f"{sm.METRIC_LABELS[self.current_metric()]} (macro)")
        self._show_matrix(names)
        self._show_seeds()

    def _show_seeds(self) -> None:
        self.seed_matrix.show_comparison(self.seeds)

    def _labels(self, names: list[str]) -> list[str]:
        methods = {r.name: r.method for r in self.runs}
        return short_names(names, [methods.get(n, n) for n in names])

    def _name_groups(self, *_: object) -> None:
        """Fig. 1's x ticks: each group's short name under its dots, abbreviated when the full names would
        not fit side by side at the current width."""
        names = getattr(self, "_group_names", [])
        methods = {r.name: r.method for r in self.runs}
        labels = self._labels(names)
        axis = self.dots_plot.getAxis("bottom")
        width = self.dots_plot.getViewBox().width()
        per_group = width / max(1, len(names)) - 8
        metrics = QFontMetrics(axis.style["tickFont"] or axis.font())
        if any(max(metrics.horizontalAdvance(line) for line in label.split("\n")) > per_group for label in labels):
            labels = [abbreviated(label, methods.get(n, n)) for label, n in zip(labels, names)]
        axis.setTicks([[(i, label) for i, label in enumerate(labels)], []])
        lines = max((label.count("\n") + 1 for label in labels), default=1)
        axis.setHeight(int(metrics.lineSpacing() * lines + 14))  # room for two-line names

    def _show_matrix(self, names: list[str]) -> None:
        self.matrix.show_beats(names, [one_line(label) for label in self._labels(names)], self.boot)

    def _show_curves(self) -> None:
        metric = self.current_metric()
        while len(self.curves) < len(self.runs):
            self.curves.append(self.curves_plot.plot(symbol="o", symbolSize=8))
        points, brushes, fractions = [], [], set()
        for curve, run in zip(self.curves, self.runs):
            percent, means, draws = sm.limited_data(run, metric)
            colour = self._colour(run)
            curve.setData(percent, means, pen=pg.mkPen(colour, width=2), symbolBrush=colour)
            fractions |= {p for p, _ in draws} | set(percent.tolist())
            points += draws
            brushes += [pg.mkBrush(QColor(colour).lighter(140))] * len(draws)
        for curve in self.curves[len(self.runs):]:
            curve.setData([], [])
        self.draw_dots.setData([p[0] for p in points], [p[1] for p in points], symbolBrush=brushes)
        self.curves_plot.setLabel("left", f"{sm.METRIC_LABELS[metric]} (macro, mean of draws)")
        score_axes(self.curves_plot, bool(self.runs), x_range=(0, 2))  # 1 to 100 % on a log scale
        ticks = [(math.log10(p), f"{p:g}") for p in sorted(fractions) if p > 0]
        self.curves_plot.getAxis("bottom").setTicks([ticks, []] if ticks else None)

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
