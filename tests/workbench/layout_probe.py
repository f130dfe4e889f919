"""Measure the real main window under an X server (Xvfb): for every panel, whether the window lies within
the screen, whether a visible plot or table is clipped by a parent (a scroll area that can scroll to it is
fine), whether a plot is squeezed too small to read, whether two tick labels of one axis intersect or one
is cut off by the edge of its view, and
whether a legend lies on a plot's data area. On the Collapse tab, with two runs and with one, also whether a
plot title is cut, whether the plots use the panel's width (and half the window's) and whether every RankMe checkpoint
point lies in its view range. The geometry comes from the widgets and from the scene
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


def collapse_problems(panel: QWidget, where: str, measured: list[str]) -> list[str]:
    """The Collapse tab: plot titles read whole, the plots take a fair share of the window, and every RankMe
    checkpoint point lies inside its plot's view range; `measured` gets one line of what was looked at."""
    problems, points = [], 0
    columns = [c for c in panel.columns if c.isVisible() and c.plots.isVisible()]
    if not columns:
        return [f"{where}: no run is shown"]
    width = sum(c.plots.width() for c in columns)
    if width < 0.9 * panel.width() or width < 0.5 * panel.window().width():
        problems.append(f"{where}: the plots use {width} px of the panel's {panel.width()} and the window's "
                        f"{panel.window().width()}")
    for column in columns:
        view = column.plots.view
        shown = view.mapToScene(view.viewport().rect()).boundingRect().adjusted(-1, -1, 1, 1)
        for plot, _span in column.plots.visible_items():
            title = plot.titleLabel
            text = title.item.sceneBoundingRect()
            if title.isVisible() and not (shown.contains(text) and
                                          plot.sceneBoundingRect().adjusted(-1, -1, 1, 1).contains(text)):
                problems.append(f"{where}: title '{title.text[:60]}' ({text.width():.0f} px) is cut by its plot "
                                f"({plot.sceneBoundingRect().width():.0f} px) or its view")
        (x0, x1), (y0, y1) = column.rankme_plot.getViewBox().viewRange()
        steps, values = column.rankme_points.getData()
        for x, y in zip([] if steps is None else steps, [] if values is None else values):
            points += 1
            if not (x0 <= x <= x1 and y0 <= y <= y1):
                problems.append(f"{where}: RankMe checkpoint ({x:g}, {y:.3g}) lies outside the view range")
    measured.append(f"measured {where}: {len(columns)} run(s), plots {width} px of {panel.width()}, "
                    f"{points} checkpoint point(s)")
    return problems


def visit_collapse(panel: QWidget, app: QApplication, settle_s: float, where: str, measured: list[str]) -> list[str]:
    """Measure the Collapse tab as opened, then with one run (nothing to compare with)."""
    from workbench.shell.tour import settle

    problems = collapse_problems(panel, where, measured)
    compare = panel.columns[1].run_box
    compare.setCurrentIndex(compare.findData(""))
    compare.activated.emit(compare.currentIndex())
    settle(app, settle_s)
    one = f"{where} (one run)"
    return problems + collapse_problems(panel, one, measured) + window_problems(panel.window(), one)


def probe(runs_dir: Path, settle_s: float = 3.0, measured: list[str] | None = None) -> list[str]:
    """Open the window as a user would (fresh settings), visit every panel and collect the problems
    (and in `measured` what the panel-specific checks looked at)."""
    measured = [] if measured is None else measured
    from workbench.shell.tour import open_window, settle, visit_dialog, visit_panels

    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as tmp:
        window = open_window(runs_dir, Path(tmp) / "layout.ini")
        settle(app, settle_s)
        problems = []
        if not window.selection.runs():
            problems.append("nothing is selected on open")
            window.selection.set_runs([r.path for r in window.model.runs()])  # measure the panels with data

        def visit(spec, panel: QWidget) -> None:
            problems.extend(window_problems(window, spec.title))
            if spec.title == "Collapse":
                problems.extend(visit_collapse(panel, app, settle_s, spec.title, measured))

        visit_panels(window, app, settle_s, visit)
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
    measured: list[str] = []
    problems = probe(Path(args.runs_dir), args.settle, measured)
    print(f"screen {screen.width()}x{screen.height()}: {len(problems)} problem(s)")
    for line in problems + measured:
        print(line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
