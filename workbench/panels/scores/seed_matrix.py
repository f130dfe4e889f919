"""Methods trained with several seeds, for the Scores panel: each method's mean ± sd over its seeds
beside the bootstrap over tracks, and "row beats column" over tracks · seeds · both."""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from engine.evaluation.seeds import OVER, MethodComparison

HEAT = pg.ColorMap([0.0, 0.5, 1.0], ["#ffffcc", "#fd8d3c", "#bd0026"])


class SeedMatrix(QWidget):
    """A caption with each method's spread over seeds and a method × method table of win shares."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel(wordWrap=True)
        self.table = QTableWidget(0, 0)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.table)
        self.table.setMinimumHeight(110)  # when shown, never squeezed to a sliver by the tables beside it
        self.hide()  # shown only once some method has several seeds

    def show_comparison(self, seeds: MethodComparison | None) -> None:
        methods = list(seeds.groups) if seeds is not None else []
        self.setVisible(any(len(seeds.spread[m].values) > 1 for m in methods))
        lines = []
        for m in methods:
            spread, tracks = seeds.spread[m], seeds.tracks[m]
            over_seeds = (f"{spread.mean:.3f} ± {spread.std:.3f} [{spread.low:.3f}, {spread.high:.3f}] over "
                          f"{len(spread.values)} seeds" if len(spread.values) > 1 else f"{spread.mean:.3f} (1 seed)")
            lines.append(f"<b>{m}</b>: {over_seeds}; seed mean [{tracks['low']:.3f}, {tracks['high']:.3f}] over tracks")
        self.label.setText(
            "Methods (runs grouped by method): " + "; ".join(lines) + "<br>Row method beats column method in "
            "x % over tracks (resamples, seed means) · over seeds (seed pairs, full test set) · over both"
            if methods else "")
        self.table.clear()
        self.table.setRowCount(len(methods))
        self.table.setColumnCount(len(methods))
        self.table.setHorizontalHeaderLabels(methods)
        self.table.setVerticalHeaderLabels(methods)
        for i, a in enumerate(methods):
            for j, b in enumerate(methods):
                shares = seeds.beats.get((a, b))
                item = QTableWidgetItem("–" if shares is None else " · ".join(f"{100 * shares[o]:.0f} %" for o in OVER))
                if shares is not None:
                    item.setToolTip(" / ".join(f"over {o}: {100 * shares[o]:.1f} %" for o in OVER))
                    item.setBackground(HEAT.map(shares["both"], mode="qcolor"))
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.table.setItem(i, j, item)
