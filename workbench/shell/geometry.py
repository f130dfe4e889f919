"""Where the main window goes: a size that fits the screen it opens on, from 1280x800 laptops to 4K."""
from __future__ import annotations

from PySide6.QtCore import QRect, QSettings, QSize
from PySide6.QtWidgets import QApplication, QMainWindow, QSplitter, QWidget

MINIMUM_SIZE = QSize(960, 600)  # fits a 1280x800 screen with room for a panel and a dock
DEFAULT_SIZE = QSize(2400, 1500)  # the most on first open; smaller screens get 92 % of their area
RUNS_WIDTH = (300, 400, 460)  # the runs tree: least, default share of 1280 px, most by default


def fitted(wanted: QRect, available: QRect) -> QRect:
    """`wanted` moved and shrunk so it lies within `available` (never below the minimum size)."""
    width = max(min(wanted.width(), available.width()), min(MINIMUM_SIZE.width(), available.width()))
    height = max(min(wanted.height(), available.height()), min(MINIMUM_SIZE.height(), available.height()))
    x = min(max(wanted.x(), available.x()), available.right() + 1 - width)
    y = min(max(wanted.y(), available.y()), available.bottom() + 1 - height)
    return QRect(x, y, width, height)


def default_geometry(available: QRect) -> QRect:
    """The window on first open: DEFAULT_SIZE or 92 % of the screen, centred."""
    width = min(DEFAULT_SIZE.width(), int(available.width() * 0.92))
    height = min(DEFAULT_SIZE.height(), int(available.height() * 0.92))
    rect = QRect(0, 0, width, height)
    rect.moveCenter(available.center())
    return fitted(rect, available)


def default_side_width(window: QWidget) -> int:
    least, share, most = RUNS_WIDTH
    return max(least, min(most, int(window.width() * share / 1280)))


def toggle_side(splitter: QSplitter, window: QWidget) -> None:
    """Collapse the splitter's first widget, or bring it back at its last (else the default) width."""
    sizes = splitter.sizes()
    if sizes[0] > 0:
        splitter.setProperty("side_width", sizes[0])
        splitter.setSizes([0, sum(sizes)])
    else:
        width = int(splitter.property("side_width") or 0) or default_side_width(window)
        splitter.setSizes([width, max(1, sum(sizes) - width)])


def restore_layout(window: QMainWindow, settings: QSettings) -> None:
    """Geometry (fitted to the current screen), window state, runs splitter and runs-tree columns."""
    screen = window.screen() or QApplication.primaryScreen()
    available = screen.availableGeometry() if screen is not None else QRect(0, 0, 1280, 800)
    geometry = settings.value("geometry")
    if geometry is None or not window.restoreGeometry(geometry):
        window.setGeometry(default_geometry(available))
    else:
        window.setGeometry(fitted(window.geometry(), available))  # the screen may be smaller than last time
    state = settings.value("window_state")
    if state is not None:
        window.restoreState(state)
    splitter = settings.value("splitter")
    if splitter is None or not window.splitter.restoreState(splitter):
        width = default_side_width(window)
        window.splitter.setSizes([width, max(1, window.width() - width)])
    header = settings.value("runs_header")
    if header is not None:
        window.runs_view.header().restoreState(header)


def save_layout(window: QMainWindow, settings: QSettings) -> None:
    settings.setValue("geometry", window.saveGeometry())
    settings.setValue("window_state", window.saveState())
    settings.setValue("splitter", window.splitter.saveState())
    settings.setValue("runs_header", window.runs_view.header().saveState())
