"""A walk through the main window for tools that look at it (screenshots, the layout probe): every panel in
turn, then the New run dialog, each given time to load before a visitor sees it."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication, QWidget

from workbench.shell.app import MainWindow
from workbench.shell.tabs import PANELS, PanelSpec


def settle(app: QApplication, seconds: float) -> None:
    """Let timers, background loads and paints run for `seconds`."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def open_window(runs_dir: Path, settings_file: Path, connect: bool = False) -> MainWindow:
    """The main window on `runs_dir` with settings of its own (as on a first start), shown."""
    settings = QSettings(str(settings_file), QSettings.Format.IniFormat)
    window = MainWindow(runs_dir, connect_engine=connect, settings=settings)
    window.show()
    return window


def visit_panels(window: MainWindow, app: QApplication, settle_s: float,
                 visit: Callable[[PanelSpec, QWidget], None]) -> None:
    """Show each panel in turn, let it settle, then call `visit(spec, panel)`."""
    for index, spec in enumerate(PANELS):
        window.tabs.setCurrentIndex(index)
        settle(app, settle_s)
        visit(spec, window.tabs.tabs[spec.title].panel)


def visit_dialog(window: MainWindow, app: QApplication, settle_s: float, visit: Callable[[QWidget], None]) -> None:
    """Open the New run dialog, let it settle, call `visit(dialog)`, then close it."""
    dialog = window.open_launch_dialog()
    settle(app, settle_s)
    visit(dialog)
    dialog.reject()
