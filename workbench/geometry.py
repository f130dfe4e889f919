"""Where the main window goes: a size that fits the screen it opens on, from 1280x800 laptops to 4K."""
from __future__ import annotations

from PySide6.QtCore import QRect, QSize

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
