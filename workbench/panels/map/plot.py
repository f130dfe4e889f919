"""The scatter of one 2-D map, fast at 50,000 points: one ScatterPlotItem (pxMode, cached
symbols, one shared QBrush per colour), hover and click resolved by a k-d tree in screen pixels
instead of per-item hover events, and a rectangle whose contents are reported as a row mask.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtWidgets import QWidget

from workbench.panels.map.model import PointLookup


class _DrawingViewBox(pg.ViewBox):
    """A view box whose left-button drag draws a rectangle (through `on_drag`) instead of panning, while set."""

    on_drag: Callable[[QPointF, QPointF], None] | None = None

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: N802 (pyqtgraph's name)
        if self.on_drag is None or ev.button() != Qt.MouseButton.LeftButton:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        self.on_drag(self.mapSceneToView(ev.buttonDownScenePos()), self.mapSceneToView(ev.scenePos()))


class MapPlot(pg.PlotWidget):
    """Points, the clicked track and its neighbours, a hover label and an optional rectangle."""

    row_clicked = Signal(int)
    region_changed = Signal(object)  # (N,) bool mask of the points inside the rectangle

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, background="w", viewBox=_DrawingViewBox())
        self.hideAxis("left")
        self.hideAxis("bottom")
        self.lookup: PointLookup | None = None
        self.describe: Callable[[int], str] = str  # hover text of a row
        self.scatter = pg.ScatterPlotItem(pxMode=True, useCache=True, size=6, pen=None)
        self.marks = pg.ScatterPlotItem(pxMode=True, size=12, brush=None, pen=pg.mkPen("#000", width=1.5))
        self.current_mark = pg.ScatterPlotItem(pxMode=True, size=16, brush=None, pen=pg.mkPen("#000", width=3))
        self.hover_label = pg.TextItem(anchor=(0, 1), fill=pg.mkBrush(255, 255, 255, 220), color="#000")
        self.hover_label.setZValue(10)
        self.hover_label.hide()
        self.roi = pg.RectROI((0, 0), (1, 1), pen=pg.mkPen("#444", width=2, style=Qt.PenStyle.DashLine))
        self.roi.hide()
        for item in (self.scatter, self.marks, self.current_mark, self.hover_label, self.roi):
            self.addItem(item)
        self.roi.sigRegionChanged.connect(self._on_region_changed)
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.scene().sigMouseClicked.connect(self._on_mouse_clicked)

    def set_points(self, xy: np.ndarray, brushes: list) -> None:
        """Draw a new map (N, 2) with one brush per point."""
        self.lookup = PointLookup(xy)
        self.scatter.setData(x=xy[:, 0], y=xy[:, 1], brush=brushes)
        if self.roi.isVisible():
            self._on_region_changed()

    def set_brushes(self, brushes: list) -> None:
        self.scatter.setBrush(brushes)

    def clear_points(self) -> None:
        self.lookup = None
        self.scatter.clear()
        self.mark(None, np.zeros(0, np.int64))

    def mark(self, current: int | None, neighbours: np.ndarray) -> None:
        """Ring the clicked track and its neighbours."""
        if current is None or self.lookup is None:
            self.marks.clear()
            self.current_mark.clear()
            return
        xy = self.lookup.xy
        self.marks.setData(x=xy[neighbours, 0], y=xy[neighbours, 1])
        self.current_mark.setData(x=[xy[current, 0]], y=[xy[current, 1]])

    def row_at(self, scene_pos: QPointF) -> int | None:
        """Row of the point under a scene position (within a few pixels), or None."""
        vb = self.getViewBox()
        if self.lookup is None or not vb.sceneBoundingRect().contains(scene_pos):
            return None
        p = vb.mapSceneToView(scene_pos)
        px, py = vb.viewPixelSize()
        return self.lookup.nearest(p.x(), p.y(), px, py)

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        row = self.row_at(scene_pos)
        if row is None:
            self.hover_label.hide()
            return
        self.hover_label.setText(self.describe(row))
        self.hover_label.setPos(*self.lookup.xy[row])
        self.hover_label.show()

    def _on_mouse_clicked(self, event) -> None:
        row = self.row_at(event.scenePos()) if event.button() == Qt.MouseButton.LeftButton else None
        if row is not None:
            self.row_clicked.emit(row)

    def show_region(self, on: bool) -> None:
        """Show a rectangle over the middle of the view (or hide it); while shown, a drag draws a new one."""
        self.roi.setVisible(on)
        self.getViewBox().on_drag = (lambda a, b: self.select_region(a.x(), a.y(), b.x(), b.y())) if on else None
        if on:
            (x0, x1), (y0, y1) = self.getViewBox().viewRange()
            self.roi.setPos((x0 + 0.35 * (x1 - x0), y0 + 0.35 * (y1 - y0)), update=False)
            self.roi.setSize((0.3 * (x1 - x0), 0.3 * (y1 - y0)))
        self._on_region_changed()

    def select_region(self, x0: float, y0: float, x1: float, y1: float) -> None:
        """Move the rectangle to these corners (map coordinates) and show it."""
        self.roi.show()
        self.roi.setPos((min(x0, x1), min(y0, y1)), update=False)
        self.roi.setSize((abs(x1 - x0), abs(y1 - y0)))
        self._on_region_changed()

    def region_mask(self) -> np.ndarray | None:
        if self.lookup is None or not self.roi.isVisible():
            return None
        (x, y), (w, h) = self.roi.pos(), self.roi.size()
        return self.lookup.inside(x, y, x + w, y + h)

    def _on_region_changed(self, *_: object) -> None:
        self.region_changed.emit(self.region_mask())
