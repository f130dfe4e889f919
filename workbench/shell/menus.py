"""The main window's menus."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence


def _action(window, menu, text: str, slot, shortcut=None) -> QAction:
    action = QAction(text, window)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    action.triggered.connect(slot)
    menu.addAction(action)
    return action


def build_menus(window) -> None:
    """File, Run, View and Engine menus of the main window, with their shortcuts."""
    bar = window.menuBar()
    file_menu = bar.addMenu("&File")
    _action(window, file_menu, "&New run or study…", window.open_launch_dialog, QKeySequence.StandardKey.New)
    window.demo_action = _action(window, file_menu, "Start the &demo study", window.start_demo_study, "Ctrl+Shift+D")
    file_menu.addSeparator()
    _action(window, file_menu, "&Open runs directory…", window._on_open_runs_dir, QKeySequence.StandardKey.Open)
    _action(window, file_menu, "&Reload", window.reload, QKeySequence.StandardKey.Refresh)
    file_menu.addSeparator()
    _action(window, file_menu, "&Quit", window.close, QKeySequence.StandardKey.Quit)
    run_menu = bar.addMenu("&Run")
    _action(window, run_menu, "&Cancel", lambda: window._on_run_command("cancel"), "Ctrl+Shift+C")
    _action(window, run_menu, "&Resume", lambda: window._on_run_command("resume"), "Ctrl+Shift+R")
    delete = _action(window, run_menu, "&Delete…", lambda: window._on_run_command("delete"),
                     QKeySequence.StandardKey.Delete)
    delete.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)  # Delete in a panel's field deletes no run
    window.runs_view.addAction(delete)
    view_menu = bar.addMenu("&View")
    for i, title in enumerate(window.tabs.tabs):
        _action(window, view_menu, f"&{title}", lambda _=False, i=i: window.tabs.setCurrentIndex(i), f"Ctrl+{i + 1}")
    view_menu.addSeparator()
    window.runs_action = _action(window, view_menu, "Runs &list", window.toggle_runs_list, "Ctrl+B")
    window.runs_action.setCheckable(True)
    window.runs_action.setChecked(True)
    _action(window, view_menu, "Training curves in &log scale", window._toggle_log, "Ctrl+L")
    engine_menu = bar.addMenu("&Engine")
    _action(window, engine_menu, "&Restart engine", window._restart_engine)
    _action(window, engine_menu, "Show engine &log", window._show_engine_log)
