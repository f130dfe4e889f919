"""Measure the real main window under an X server (Xvfb): for every panel, whether the window lies within
the screen, whether a visible plot or table is clipped by a parent (a scroll area that can scroll to it is
fine), whether a plot is squeezed too small to read, whether two tick labels of one axis intersect or one
is cut off by the edge of its view, and
whether a legend lies on a plot's data area. The geometry comes from the widgets and from the scene
bounding rects of the plot items and of each axis's tick-label draw specs (what the axis paints).

`python -m tests.workbench.layout_probe --runs-dir DIR` prints one problem per line and exits 1 when
there is any; run it with `xvfb-run -a -s "-screen 0 1280x800x24"`.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QPoint, QRect, QRectF
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView, QAbstractScrollArea, QApplication, QHeaderView, QScrollArea, QWidget,
)

MIN_PLOT_PX = (80, 50)  # the least data area (width, height) a plot can be read at


def _name(widget: QWidget) -> str:
    return f"{type(widget).__name__}({widget.objectName() or hex(id(widget))})"


def _in_window(widget: QWidget) -> QRect:
    return QRect(widget.mapTo(widget.window(), QPoint(0, 0)), widget.size())


def clipped(widget: QWidget) -> str | None:
    """Why `widget` is cut off by one of its parents, or None. Inside a scroll area, overflow in a direction
    the scroll area can scroll is not clipping."""
    rect = _in_window(widget)
    child, parent = widget, widget.parentWidget()
    while parent is not None and not child.isWindow():
        area = parent.parentWidget() if parent.parentWidget() is not None else None
        scrolls = isinstance(area, QScrollArea) and parent is area.viewport()
        outer = _in_window(parent)
        if not outer.contains(rect):
            wide = rect.left() < outer.left() or rect.right() > outer.right()
            tall = rect.top() < outer.top() or rect.bottom() > outer.bottom()
            if not scrolls or (wide and not area.horizontalScrollBar().isVisible()) or \
                    (tall and not area.verticalScrollBar().isVisible()):
                return (f"{_name(widget)} {rect.width()}x{rect.height()} at ({rect.x()},{rect.y()}) is clipped by "
                        f"{_name(parent)} {outer.width()}x{outer.height()} at ({outer.x()},{outer.y()})")
            rect = rect.intersected(outer)  # what shows through the scroll area
        child, parent = parent, parent.parentWidget()
    return None


def tick_labels(axis: pg.AxisItem) -> list[tuple[QRectF, str]]:
    """Scene rects and texts of the tick labels the axis paints."""
    image = QImage(8, 8, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        specs = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    if specs is None:
        return []
    return [(axis.mapRectToScene(rect), text) for rect, _flags, text in specs[2] if text]


def plot_problems(view: pg.GraphicsView, where: str) -> list[str]:
    problems = []
    viewport = QRectF(view.viewport().rect())
    for item in view.scene().items():
        if not isinstance(item, pg.PlotItem) or not item.isVisible():
            continue
        title = item.titleLabel.text if item.titleLabel.isVisible() else "untitled plot"
        name = f"{where}: plot '{title[:60]}'"
        scene_rect = item.sceneBoundingRect()
        in_view = view.mapFromScene(scene_rect).boundingRect()
        if not viewport.adjusted(-1, -1, 1, 1).contains(QRectF(in_view)):
            problems.append(f"{name} {in_view.width()}x{in_view.height()} at ({in_view.x()},{in_view.y()}) lies outside its view "
                            f"{viewport.width():.0f}x{viewport.height():.0f}")
        box = item.getViewBox().sceneBoundingRect()
        if box.width() < MIN_PLOT_PX[0] or box.height() < MIN_PLOT_PX[1]:
            problems.append(f"{name}: data area {box.width():.0f}x{box.height():.0f} px is too small to read")
        for side in ("left", "bottom", "right", "top"):
            axis = item.getAxis(side)
            if not axis.isVisible():
                continue
            labels = tick_labels(axis)
            for rect, text in labels:
                shown = QRectF(view.mapFromScene(rect).boundingRect())
                if not viewport.adjusted(-1, -1, 1, 1).contains(shown):
                    problems.append(f"{name}: {side} tick label '{text}' is cut off by the edge of its view")
            for i, (a, text_a) in enumerate(labels):
                for b, text_b in labels[i + 1:]:
                    if a.intersects(b):
                        problems.append(f"{name}: {side} tick labels '{text_a}' and '{text_b}' intersect")
        legend = item.legend
        if legend is not None and legend.isVisible() and legend.items and legend.sceneBoundingRect().intersects(box):
            problems.append(f"{name}: the legend lies on the data area")
    return problems


def window_problems(window: QWidget, where: str) -> list[str]:
    problems = []
    screen = window.screen().geometry()
    frame = window.frameGeometry()
    if not screen.contains(frame):
        problems.append(f"{where}: window {frame.width()}x{frame.height()} at ({frame.x()},{frame.y()}) "
                        f"is not within the screen {screen.width()}x{screen.height()}")
    for widget in window.findChildren(QWidget):
        if not widget.isVisible():
            continue
        if isinstance(widget, (pg.GraphicsView, QAbstractItemView)):
            reason = clipped(widget)
            if reason:
                problems.append(f"{where}: {reason}")
        if isinstance(widget, pg.GraphicsView):
            problems += plot_problems(widget, where)
        if isinstance(widget, QAbstractScrollArea) and not isinstance(widget, (pg.GraphicsView, QScrollArea,
                                                                              QHeaderView)):
            if widget.viewport().width() < 40 or widget.viewport().height() < 20:
                problems.append(f"{where}: {_name(widget)} shows only {widget.viewport().width()}x"
                                f"{widget.viewport().height()} px")
    return problems


def probe(runs_dir: Path, settle_s: float = 3.0) -> list[str]:
    """Open the window as a user would (fresh settings), visit every panel and collect the problems."""
    from workbench.shell.tour import open_window, settle, visit_dialog, visit_panels

    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as tmp:
        window = open_window(runs_dir, Path(tmp) / "layout.ini")
        settle(app, settle_s)
        problems = []
        if not window.selection.runs():
            problems.append("nothing is selected on open")
            window.selection.set_runs([r.path for r in window.model.runs()])  # measure the panels with data
        visit_panels(window, app, settle_s, lambda spec, _panel: problems.extend(window_problems(window, spec.title)))
        visit_dialog(window, app, settle_s / 3, lambda dialog: problems.extend(window_problems(dialog, "New run dialog")))
        window.close()
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.workbench.layout_probe")
    parser.add_argument("--runs-dir", required=True)
    parser.add_argument("--settle", type=float, default=3.0)
    args = parser.parse_args()
    app = QApplication(sys.argv[:1])
    screen = app.primaryScreen().geometry()
    problems = probe(Path(args.runs_dir), args.settle)
    print(f"screen {screen.width()}x{screen.height()}: {len(problems)} problem(s)")
    for line in problems:
        print(line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
