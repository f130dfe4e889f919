"""Plot pieces every panel shares so each figure reads at a glance: axes that never draw two tick
labels on top of each other, legends as coloured text outside the data, short run names, and a grid
of plots that reflows its columns with the width and scrolls instead of squeezing plots to nothing.
"""
from __future__ import annotations

from html import escape

import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtWidgets import QFrame, QScrollArea, QWidget

LABEL_GAP_PX = 4  # the least room between two tick labels of one axis


class LegibleAxis(pg.AxisItem):
    """An axis whose tick labels never overlap: a label that would touch one already placed (labels of
    the coarser tick level come first) is left out, so log axes and dense custom ticks stay readable."""

    def generateDrawSpecs(self, p):  # noqa: N802 (pyqtgraph name)
        specs = super().generateDrawSpecs(p)
        if specs is None:
            return None
        axis, ticks, texts = specs
        return axis, ticks, without_overlaps(texts)


def without_overlaps(texts: list[tuple[QRectF, int, str]], gap: float = LABEL_GAP_PX) -> list:
    """The text specs in order, skipping each one whose rect (grown by `gap`) meets a kept one."""
    kept: list[tuple[QRectF, int, str]] = []
    for rect, flags, text in texts:
        grown = rect.adjusted(-gap / 2, -gap / 2, gap / 2, gap / 2)
        if not any(grown.intersects(other.adjusted(-gap / 2, -gap / 2, gap / 2, gap / 2)) for other, _, _ in kept):
            kept.append((rect, flags, text))
    return kept


def legible_axes(*sides: str) -> dict[str, LegibleAxis]:
    """`axisItems` for a PlotItem / PlotWidget: a LegibleAxis on each side (default left and bottom)."""
    return {side: LegibleAxis(side) for side in (sides or ("left", "bottom"))}


def new_plot(title: str = "", x: str = "", y: str = "", **kwargs) -> pg.PlotItem:
    """A PlotItem with legible axes, axis names (with units) and no SI prefixes that would rename the unit."""
    plot = pg.PlotItem(title=title, axisItems=legible_axes(), **kwargs)
    for side, label in (("bottom", x), ("left", y)):
        axis = plot.getAxis(side)
        axis.enableAutoSIPrefix(False)
        if label:
            plot.setLabel(side, label)
    return plot


def coloured_title(parts: list[tuple[str, str]], joiner: str = " · ") -> str:
    """Rich-text plot title naming each curve in its own colour: the legend, kept off the data."""
    return joiner.join(f'<span style="color:{colour}">{escape(text)}</span>' for text, colour in parts)


# ---- short run names ----------------------------------------------------------------------------------
METHOD_LABELS = {"contrastive": ("contrastive", "contr."), "byol": ("BYOL", "BYOL"),
                 "clustering": ("clustering", "clust."), "clustering-collapse": ("clustering\ncollapse", "coll."),
                 "barlow_twins": ("Barlow\nTwins", "BT"), "vicreg": ("VICReg", "VICReg"),
                 "random": ("random", "rand."), "logmel": ("log-mel", "mel")}


def short_names(names: list[str], methods: list[str]) -> list[str]:
    """Names to show for runs: the method's label, with the part of the run id that tells two runs of one
    method apart (e.g. the seed) when the method occurs more than once."""
    out = []
    for name, method in zip(names, methods):
        label = METHOD_LABELS.get(method, (method, method))[0]
        if methods.count(method) > 1:
            tail = name.rsplit("-", 1)[-1] if "-" in name else name
            label = f"{label}\n{tail}"
        out.append(label)
    return out


def abbreviated(label: str, method: str) -> str:
    """The shortest form of a run label (method abbreviation, keeping a second line such as the seed)."""
    full, short = METHOD_LABELS.get(method, (method, method[:5]))
    extra = label.split("\n")[len(full.split("\n")):]
    return "\n".join([short, *extra])


def one_line(label: str) -> str:
    return label.replace("\n", " ")


def score_axes(plot: pg.PlotWidget, has_data: bool, x_range: tuple[float, float] | None = None) -> None:
    """Range over the data, else over a score (0 to 1, and `x_range`) rather than pyqtgraph's -0.5…0.5."""
    if has_data:
        plot.enableAutoRange(axis="y" if x_range is None else None)
    else:
        plot.setRange(xRange=x_range, yRange=(0, 1), padding=0)


def short_form(label: str, method: str) -> str:
    """" (BT)": the abbreviation a figure may show for a run, when it differs from its name."""
    short = one_line(abbreviated(label, method))
    return f" ({short})" if short != one_line(label) else ""


# ---- a grid of plots that reflows ---------------------------------------------------------------------
class PlotGrid(QScrollArea):
    """Plots in as many columns as fit (each at least `min_width` px wide, at most `max_columns`), rows at
    least `min_height` px high; a vertical scroll bar when the rows do not fit."""

    def __init__(self, min_width: int = 280, min_height: int = 170, max_columns: int = 3,
                 parent: QWidget | None = None, background: str | None = None) -> None:
        super().__init__(parent)
        self.min_width, self.min_height, self.max_columns = min_width, min_height, max_columns
        self.view = pg.GraphicsLayoutWidget()
        if background is not None:
            self.view.setBackground(background)
        self.setWidget(self.view)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.items: list[tuple[pg.GraphicsItem, int]] = []  # (plot, column span)
        self.columns = 0
        self._placed: list[pg.GraphicsItem] = []

    def set_items(self, items: list[pg.GraphicsItem | tuple[pg.GraphicsItem, int]]) -> None:
        """Show these plots in this order (an item may be given as (plot, span) to span columns)."""
        self.items = [item if isinstance(item, tuple) else (item, 1) for item in items]
        self.columns = 0
        self.reflow()

    def visible_items(self) -> list[tuple[pg.GraphicsItem, int]]:
        return [(item, span) for item, span in self.items if item.isVisible()]

    def column_count(self, width: int | None = None) -> int:
        """Columns that fit `width` (default: the viewport's), each as wide as the widest plot needs for its title."""
        width = self.viewport().width() if width is None else width
        needed = [item.effectiveSizeHint(Qt.SizeHint.MinimumSize).width() for item, span in self.visible_items()
                  if span == 1]
        return max(1, min(self.max_columns, int(width // max([self.min_width, *needed]))))

    def reflow(self, force: bool = False) -> None:
        """Place the visible plots row by row in the columns that fit the current width (a plot with a span
        above 1 takes a whole row)."""
        columns = self.column_count()
        shown = self.visible_items()
        if not force and columns == self.columns and self._placed == [item for item, _ in shown]:
            return
        self.columns, self._placed = columns, [item for item, _ in shown]
        layout = self.view.ci
        for item, _ in self.items:
            if item in layout.items:
                layout.removeItem(item)
        row = col = 0
        for item, span in shown:
            if span > 1 and col:
                row, col = row + 1, 0
            layout.addItem(item, row=row, col=col, colspan=columns if span > 1 else 1)
            col = columns if span > 1 else col + 1
            if col >= columns:
                row, col = row + 1, 0
        rows = row + (1 if col else 0)
        self.view.setMinimumHeight(max(1, rows) * self.min_height)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        super().resizeEvent(event)
        if self.column_count() != self.columns:
            self.reflow()

