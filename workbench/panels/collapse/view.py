"""Collapse diagnostics of two runs side by side: singular spectrum per checkpoint, RankMe over
training, per-dimension std, alignment/uniformity, and for clustering runs the prototype
usage, effective prototypes, teacher entropy and KL, under an alarm naming the collapse kind.

By default a clustering run stands next to a clustering-collapse run when both are selected
(or in the runs directory); otherwise the first two selected runs.
"""
from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSplitter, QVBoxLayout, QWidget

from engine.collapse.guidance import DOCS_PAGE, advice
from workbench.panels.collapse.model import RunCollapse, default_pair
from workbench.plots import PlotGrid, coloured_title, new_plot
from workbench.runs.watch import FileChange, Subscription
from workbench.runs.watch_qt import RunWatchHub
from workbench.runs.model import METHOD_COLOURS, scan_runs
from workbench.runs.selection import RunSelection

POLL_MS = 2000  # how often a panel shown alone, with its own watchers, looks at the files
ALARM_STYLE = "background:#d62728;color:white;font-weight:bold;padding:4px"
WARNING_STYLE = "background:#fff3e0;color:#e65100;font-weight:bold;padding:4px"
UNTRAINED_STYLE = "background:#eeeeee;color:#333;padding:4px"
HEALTHY_STYLE = "background:#e8f5e9;color:#1b5e20;padding:4px"
DASH = pg.mkPen("#888", width=1, style=Qt.PenStyle.DashLine)


def _linked(text: str, kind: str) -> str:
    """The advice with its help page as a link to the page in this checkout."""
    page = f"{DOCS_PAGE}#{kind}"
    url = (Path(__file__).resolve().parents[2] / DOCS_PAGE).as_uri() + f"#{kind}"
    return text.replace(page, f"<a href='{url}' style='color:white'>{page}</a>")


def banner(model: RunCollapse | None) -> tuple[str, str]:
    """(rich text, style) of a run's banner: the alarm with its guidance, else the forecast, else the state."""
    if model is None:
        return "", HEALTHY_STYLE
    alarms = model.alarms()
    if alarms:
        return "<br>".join(f"⚠ {html.escape(a.message)}<br><span style='font-weight:normal'>"
                           f"{_linked(html.escape(a.advice), a.kind)}</span>" for a in alarms), ALARM_STYLE
    warning = model.forecast()
    if warning is not None:
        return f"⚠ {html.escape(warning.message)} ({html.escape(warning.signal)} falling)", WARNING_STYLE
    verdict = model.verdict()
    if verdict is not None and verdict.kind == "untrained":
        return html.escape(advice("untrained")), UNTRAINED_STYLE
    return "no collapse at the latest measurement", HEALTHY_STYLE


class CollapseColumn(QWidget):
    """Every collapse plot of one run; items are created once and fed with setData.

    The run's watcher feeds the model its events, resets and store changes; each redraws the column.
    `run_box` picks the run; the panel places it in its header, beside its label."""

    def __init__(self, watch: RunWatchHub, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.watch = watch
        self.model: RunCollapse | None = None
        self._subscription = Subscription(events=self._on_events, reset=self._on_reset, files=self._on_files)
        watch.drop_on_destroyed(self, self._subscription)
        self.run_box = QComboBox()
        self.alarm_label = QLabel(wordWrap=True)
        self.alarm_label.setOpenExternalLinks(True)
        self.alarm_label.hide()
        self.plots = PlotGrid(min_width=260, min_height=190, max_columns=2, background="w")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.alarm_label)
        layout.addWidget(self.plots, 1)
        self.spectrum_plot = new_plot("covariance spectrum", x="rank", y="eigenvalue")
        self.spectrum_plot.setLogMode(y=True)
        self.spectrum_curves: list[pg.PlotDataItem] = []
        self.rankme_plot = new_plot(coloured_title([("RankMe: snapshots", "#1f77b4"),
                                                    ("checkpoints", "#ff7f0e")]), x="step", y="RankMe")
        self.rankme_curve = self.rankme_plot.plot(pen=pg.mkPen("#1f77b4", width=2))
        self.rankme_points = self.rankme_plot.plot(pen=None, symbol="o", symbolSize=7, symbolBrush="#ff7f0e")
        self.std_plot = new_plot("std per dimension", x="std of L2-normalised embedding", y="dimensions")
        self.std_hist = self.std_plot.plot(stepMode="center", fillLevel=0, brush="#1f77b480", pen="#1f77b4")
        self.std_healthy = pg.InfiniteLine(angle=90, pen=DASH, label="1/√D", labelOpts={"position": 0.9})
        self.std_plot.addItem(self.std_healthy)
        self.geometry_plot = new_plot(coloured_title([("alignment", "#2ca02c"), ("uniformity", "#9467bd")], " / "),
                                      x="checkpoint step", y="lower is better")
        self.alignment_curve = self.geometry_plot.plot(pen="#2ca02c", symbol="o", symbolSize=6, symbolBrush="#2ca02c")
        self.uniformity_curve = self.geometry_plot.plot(pen="#9467bd", symbol="s", symbolSize=6,
                                                        symbolBrush="#9467bd")
        self.usage_plot = new_plot("prototype usage", x="prototype (by use)", y="samples")
        self.usage_bars = pg.BarGraphItem(x=[], height=[], width=0.8, brush="#d62728")
        self.usage_plot.addItem(self.usage_bars)
        self.effective_plot = new_plot("effective prototypes", x="step", y="prototypes")
        self.effective_plot.setLogMode(y=True)
        self.effective_curve = self.effective_plot.plot(pen=pg.mkPen("#d62728", width=2))
        self.entropy_plot = new_plot(coloured_title([("teacher entropy", "#8c564b"), ("KL(teacher‖student)", "#17becf")]), x="step", y="nats")
        self.entropy_curve = self.entropy_plot.plot(pen=pg.mkPen("#8c564b", width=2))
        self.kl_curve = self.entropy_plot.plot(pen=pg.mkPen("#17becf", width=2))
        self.max_entropy_line = pg.InfiniteLine(angle=0, pen=DASH, label="ln K", labelOpts={"position": 0.03})
        self.entropy_plot.addItem(self.max_entropy_line)
        self.clustering_plots = (self.usage_plot, self.effective_plot, self.entropy_plot)
        self.plots.set_items([self.spectrum_plot, self.rankme_plot, self.std_plot, self.geometry_plot,
                              self.usage_plot, self.effective_plot, (self.entropy_plot, 2)])

    def set_run(self, run: Path | None) -> None:
        if self.model is not None:
            self.watch.unwatch(self.model.run_dir, self._subscription)
        self.model = RunCollapse(run) if run is not None else None
        self.update_view()
        if self.model is not None:
            self.watch.watch(self.model.run_dir, self._subscription)

    def _on_events(self, events: list[dict]) -> None:
        if self.model is not None and self.model.add_events(events):
            self.update_view()

    def _on_reset(self) -> None:
        if self.model is not None:
            self.model.reset()
            self.update_view()

    def _on_files(self, change: FileChange) -> None:
        if self.model is not None:
            self.model.files_changed(change)
            self.update_view()

    def update_view(self) -> None:
        m = self.model
        colour = METHOD_COLOURS.get(m.method, "#444") if m is not None else "#444"
        self.run_box.setStyleSheet(f"color:{colour};font-weight:bold")
        self._show_alarm()
        self.plots.setVisible(m is not None)
        if m is None:
            return
        self._show_spectra(m.spectra())
        rankme, checkpoints = m.curve("collapse", "rankme"), m.curve("diagnostics", "rankme")
        self.rankme_curve.setData(rankme.steps, rankme.values)
        self.rankme_points.setData(checkpoints.steps, checkpoints.values)
        self._show_std()
        align, uniform = m.curve("diagnostics", "alignment"), m.curve("diagnostics", "uniformity")
        self.alignment_curve.setData(align.steps, align.values)
        self.uniformity_curve.setData(uniform.steps, uniform.values)
        for plot in self.clustering_plots:
            plot.setVisible(m.is_clustering)
        if m.is_clustering:
            self._show_clustering(m)
        self.plots.reflow()  # after the titles are set: a column is as wide as the widest title needs

    def _show_alarm(self) -> None:
        text, style = banner(self.model)
        self.alarm_label.setText(text)
        self.alarm_label.setStyleSheet(style)
        self.alarm_label.setVisible(self.model is not None)

    def _show_spectra(self, spectra: dict[int, np.ndarray]) -> None:
        while len(self.spectrum_curves) < len(spectra):
            self.spectrum_curves.append(self.spectrum_plot.plot())
        n = len(spectra)
        for i, (curve, (step, values)) in enumerate(zip(self.spectrum_curves, spectra.items())):
            positive = values[values > 0]
            shade = int(200 - 170 * (i + 1) / n)  # light = early checkpoint, dark = late
            curve.setData(np.arange(1, len(positive) + 1), positive,
                          pen=pg.mkPen((shade, shade, 255 if i == n - 1 else shade), width=3 if i == n - 1 else 1))
        for curve in self.spectrum_curves[n:]:
            curve.setData([], [])

    def _show_std(self) -> None:
        found = self.model.dimension_std()
        if found is None:
            self.std_hist.setData([], [])
            return
        values, healthy = found
        top = max(float(values.max()), 2 * healthy)
        counts, edges = np.histogram(values, bins=50, range=(0.0, top))
        self.std_hist.setData(edges, counts)
        self.std_healthy.setValue(healthy)

    def _show_clustering(self, m: RunCollapse) -> None:
        usage = m.usage()
        counts = usage[1] if usage is not None else np.zeros(0)
        self.usage_bars.setOpts(x=np.arange(len(counts)), height=counts, width=0.8)
        self.usage_plot.setTitle(f"prototypes at step {usage[0]}: {len(counts)} used" if usage else
                                 "prototype usage")
        effective = m.curve("collapse", "effective_prototypes")
        self.effective_curve.setData(effective.steps, effective.values)
        entropy = m.curve("collapse", "teacher_entropy")
        if len(entropy.steps) == 0:
            entropy = m.curve("train", "teacher_entropy")
        kl = m.curve("train", "kl")
        self.entropy_curve.setData(entropy.steps, entropy.values)
        self.kl_curve.setData(kl.steps, kl.values)
        max_entropy = m.max_entropy()
        self.max_entropy_line.setVisible(not np.isnan(max_entropy))
        if not np.isnan(max_entropy):
            self.max_entropy_line.setValue(max_entropy)


class CollapsePanel(QWidget):
    """Two runs' collapse diagnostics side by side, refreshed as events and diagnostics arrive."""

    def __init__(self, selection: RunSelection, parent: QWidget | None = None, runs_dir: Path | None = None,
                 watch: RunWatchHub | None = None, poll_ms: int = POLL_MS) -> None:
        super().__init__(parent)
        self.selection = selection
        self.runs_dir = runs_dir
        self.watch = watch if watch is not None else RunWatchHub(poll_ms, parent=self)
        self.columns = (CollapseColumn(self.watch), CollapseColumn(self.watch))
        self.hint = QLabel("Select runs to compare their collapse diagnostics.")
        self.split = QSplitter()
        header = QHBoxLayout()
        for column, label in zip(self.columns, ("Run", "Compare with")):
            self.split.addWidget(column)
            column.run_box.activated.connect(lambda _=0, c=column: self._show(c, self._picked(c)))
            header.addWidget(QLabel(label, buddy=column.run_box))
            header.addWidget(column.run_box, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.hint)
        layout.addLayout(header)
        layout.addWidget(self.split, 1)
        self.selection.changed.connect(self._on_selection_changed)
        self._on_selection_changed(self.selection.runs())

    def set_runs_dir(self, runs_dir: Path | None) -> None:
        """Also offer (and pair by default) the runs of this directory."""
        self.runs_dir = runs_dir
        self._on_selection_changed(self.selection.runs())

    def _candidates(self) -> list[Path]:
        others = [r.path for r in scan_runs(self.runs_dir)] if self.runs_dir is not None else []
        return list(dict.fromkeys(self.selection.runs() + others))

    @staticmethod
    def _picked(column: CollapseColumn) -> Path | None:
        value = column.run_box.currentData()
        return Path(value) if value else None

    def _on_selection_changed(self, runs: list[Path]) -> None:
        candidates = self._candidates()
        others = [p for p in candidates if p not in runs]
        pair = default_pair(runs, others)
        for column, run in zip(self.columns, pair):
            column.run_box.blockSignals(True)
            column.run_box.clear()
            column.run_box.addItem("(none)", "")
            for path in candidates:
                column.run_box.addItem(f"{path.name}", str(path))
            column.run_box.setCurrentIndex(max(0, column.run_box.findData(str(run))) if run else 0)
            column.run_box.blockSignals(False)
            self._show(column, run)
        self.hint.setVisible(not runs and not candidates)

    def _show(self, column: CollapseColumn, run: Path | None) -> None:
        """Show `run` in `column`; a column with no run is hidden and the other takes the whole width."""
        column.set_run(run)
        column.setVisible(run is not None)
        shown = [c for c in self.columns if c.isVisibleTo(self)]
        if len(shown) == 2:
            self.split.setSizes([1, 1])  # side by side: equal halves

    def shown_runs(self) -> tuple[Path | None, Path | None]:
        return tuple(c.model.run_dir if c.model is not None else None for c in self.columns)
