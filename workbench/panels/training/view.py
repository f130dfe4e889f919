"""Live training curves of the selected runs: total loss, each loss component, schedules and throughput.

Runs are overlaid in their method colours (a second run of the same method is dashed), named in a legend
line above the plots, never on them. The plots (losses first, then schedules and throughput) reflow
their columns with the width and scroll when they do not fit. Curves are
created when a run is selected and then only get `setData`, with automatic peak downsampling and
clip-to-view so long runs stay smooth; the data lives in a SeriesStore fed with batched events.
"""
from __future__ import annotations

from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from workbench.plots import PlotGrid, new_plot
from workbench.runs.model import colour_of, read_run
from workbench.runs.selection import RunSelection
from workbench.runs.series import SeriesStore

LOSS = "loss"
SCHEDULES: dict[str, str] = {"lr": "learning rate", "wd": "weight decay", "momentum": "EMA momentum",
                             "teacher_temp": "teacher temperature", "views_per_s": "throughput",
                             "grad_norm": "gradient norm"}
UNITS = {"views_per_s": "views / s", "grad_norm": "L2 norm", "teacher_temp": "τ"}
NOT_PLOTTED = frozenset({"epoch", "data_wait"})
LOG_PLOTS = frozenset({"grad_norm"})  # besides the loss and its components
COMPONENT_COLUMNS = 3
DASHES = (Qt.PenStyle.SolidLine, Qt.PenStyle.DashLine, Qt.PenStyle.DotLine, Qt.PenStyle.DashDotLine)
DASH_TEXT = ("━━", "╍╍", "┅┅", "━╍")  # the legend's picture of each dash style


def _new_plot(title: str, y: str = "") -> pg.PlotItem:
    plot = new_plot(title, x="step", y=y)
    plot.setDownsampling(auto=True, mode="peak")
    plot.setClipToView(True)
    plot.showGrid(x=True, y=True, alpha=0.2)
    return plot


class TrainingPanel(QWidget):
    """Curves of every numeric field of the selected runs' `train` events."""

    def __init__(self, selection: RunSelection, store: SeriesStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.selection = selection
        self.store = store
        self.log_box = QCheckBox("Log scale (losses)")
        self.log_box.toggled.connect(self._on_log_toggled)
        self.hint = QLabel("Select runs in the list to see their training curves.")
        self.legend = QLabel(wordWrap=True)
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.grid = PlotGrid(max_columns=COMPONENT_COLUMNS)  # losses first, then schedules and throughput
        self.loss_plot = _new_plot("total loss", "loss")
        self.plots: dict[str, pg.PlotItem] = {LOSS: self.loss_plot}
        for key, title in SCHEDULES.items():
            plot = _new_plot(title, UNITS.get(key, ""))
            plot.setXLink(self.loss_plot)
            self.plots[key] = plot
        self.components: list[str] = []  # component keys in plot order
        self.curves: dict[tuple[str, str], pg.PlotDataItem] = {}  # (run, key) -> curve
        self.runs: list[tuple[str, str]] = []  # (run id, method) of the selection
        self._layout_losses()

        top = QHBoxLayout()
        top.addWidget(self.log_box)
        top.addWidget(self.hint, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.legend)
        layout.addWidget(self.grid, 1)

        selection.changed.connect(self._on_selection_changed)
        callback = self._on_store_changed
        store.subscribe(callback)
        self.destroyed.connect(lambda *_: store.unsubscribe(callback))
        self._on_selection_changed(selection.runs())

    # ---- selection -----------------------------------------------------------------------------------
    def _on_selection_changed(self, paths: list[Path]) -> None:
        for (_, key), curve in self.curves.items():
            self.plots[key].removeItem(curve)
        self.curves.clear()
        self.runs = [(p.name, read_run(p).method) for p in paths]
        self.components = []
        self._layout_losses()
        self._show_legend()
        for run, _ in self.runs:
            self._update_run(run)

    def _show_legend(self) -> None:
        """One entry per selected run: its line (colour and dash) and its name."""
        entries = []
        for run, method in self.runs:
            same_method = [r for r, m in self.runs if m == method]
            dash = DASH_TEXT[same_method.index(run) % len(DASH_TEXT)]
            name = run.replace("-", "\u2011")  # non-breaking hyphens: a name never wraps inside
            entries.append(f'<span style="color:{colour_of(method)}">{dash}</span>&nbsp;{name}')
        self.legend.setText("&nbsp;&nbsp;&nbsp; ".join(entries))
        self.legend.setVisible(bool(entries))

    def _layout_losses(self) -> None:
        """Total loss first, then one plot per loss component, then the schedules: only what the selected runs
        log (contrastive has no EMA momentum), and nothing before their first logged step."""
        for key in [k for k in self.plots if k not in SCHEDULES and k != LOSS and k not in self.components]:
            del self.plots[key]
        drawn = {key for _, key in self.curves}
        shown = [LOSS, *self.components, *SCHEDULES] if drawn else []
        self.grid.set_items([self.plots[key] for key in shown if key in drawn])
        self.hint.setText("Select runs in the list to see their training curves." if not self.runs else
                          "" if drawn else "Waiting for the first logged training step of the selected runs…")
        self.hint.setVisible(not drawn)

    def _component_plot(self, key: str) -> pg.PlotItem:
        if key not in self.plots:
            plot = _new_plot(key)
            plot.setXLink(self.loss_plot)
            plot.setLogMode(x=False, y=self.log_box.isChecked())
            self.plots[key] = plot
            self.components.append(key)
            self._layout_losses()
        return self.plots[key]

    # ---- data ----------------------------------------------------------------------------------------
    def _on_store_changed(self, runs: set[str]) -> None:
        for run, _ in self.runs:
            if run in runs:
                self._update_run(run)

    def _update_run(self, run: str) -> None:
        for key in self.store.keys(run, "train"):
            if key in NOT_PLOTTED:
                continue
            x, y = self.store.get(run, "train", key)
            curve = self._curve(run, key)
            curve.setData(x, y)
            curve.setSymbol("o" if len(x) == 1 else None)  # a first logged step shows before it is a line
        if not self.store.has(run):  # cleared: the events are replayed from the start
            for (r, _), curve in self.curves.items():
                if r == run:
                    curve.setData([], [])

    def _curve(self, run: str, key: str) -> pg.PlotDataItem:
        curve = self.curves.get((run, key))
        if curve is None:
            plot = self.plots[key] if key in self.plots else self._component_plot(key)
            method = dict(self.runs)[run]
            same_method = [r for r, m in self.runs if m == method]
            pen = pg.mkPen(colour_of(method), width=2 if key == LOSS else 1.5,
                           style=DASHES[same_method.index(run) % len(DASHES)])
            curve = pg.PlotDataItem(pen=pen, symbol=None, symbolSize=6, symbolPen=None,
                                    symbolBrush=colour_of(method))
            plot.addItem(curve)
            curve.setDownsampling(auto=True, method="peak")
            curve.opts["autoDownsampleFactor"] = 1.0  # peak keeps min and max per pixel: 2 points are exact
            curve.setClipToView(True)
            self.curves[(run, key)] = curve
            if not any(k == key for r, k in self.curves if r != run):
                self._layout_losses()  # the first curve of its plot: the plot shows from now on
        return curve

    def curve(self, run: str, key: str) -> pg.PlotDataItem | None:
        """The curve of one run and key (None when not drawn)."""
        return self.curves.get((run, key))

    # ---- view options --------------------------------------------------------------------------------
    def _on_log_toggled(self, on: bool) -> None:
        for key, plot in self.plots.items():
            if key == LOSS or key in LOG_PLOTS or key not in SCHEDULES:
                plot.setLogMode(x=False, y=on)
