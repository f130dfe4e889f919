"""The workbench application: main window with the runs list; settings remembered between sessions."""
from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QApplication, QFileDialog, QHeaderView, QLabel, QMainWindow, QTableView, QVBoxLayout, QWidget,
)

from workbench.runs import default_runs_dir
from workbench.runs_model import RunsModel

ORG, APP = "mvssl-workbench", "workbench"


class MainWindow(QMainWindow):
    """Runs list of one runs directory, refreshed from disk."""

    def __init__(self, runs_dir: Path, refresh_ms: int = 2000) -> None:
        super().__init__()
        self.setWindowTitle(f"mvssl workbench — {runs_dir}")
        self.model = RunsModel(runs_dir, self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.empty_label = QLabel("No runs yet in this runs directory.")
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addWidget(self.empty_label)
        layout.addWidget(self.table)
        self.setCentralWidget(central)
        self._build_menus()
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.refresh)
        self._timer.start(refresh_ms)
        self.refresh()

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        open_dir = QAction("&Open runs directory…", self, shortcut=QKeySequence.StandardKey.Open)
        open_dir.triggered.connect(self._on_open_runs_dir)
        file_menu.addAction(open_dir)
        reload = QAction("&Reload", self, shortcut=QKeySequence.StandardKey.Refresh)
        reload.triggered.connect(self.refresh)
        file_menu.addAction(reload)
        quit_action = QAction("&Quit", self, shortcut=QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)

    def refresh(self) -> None:
        self.model.reload()
        self.empty_label.setVisible(self.model.rowCount() == 0)

    def set_runs_dir(self, runs_dir: Path) -> None:
        self.model.set_runs_dir(runs_dir)
        self.setWindowTitle(f"mvssl workbench — {runs_dir}")
        QSettings(ORG, APP).setValue("runs_dir", str(runs_dir))
        self.refresh()

    def _on_open_runs_dir(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Runs directory", str(self.model.runs_dir))
        if chosen:
            self.set_runs_dir(Path(chosen))

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        settings = QSettings(ORG, APP)
        settings.setValue("geometry", self.saveGeometry())
        settings.setValue("runs_dir", str(self.model.runs_dir))
        super().closeEvent(event)


def resolve_runs_dir(explicit: Path | None) -> Path:
    """Explicit flag, else the last one used, else the default under the user data dir."""
    if explicit is not None:
        return explicit
    remembered = QSettings(ORG, APP).value("runs_dir")
    return Path(str(remembered)) if remembered else default_runs_dir()


def main(runs_dir: Path | None = None) -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName(ORG)
    app.setApplicationName(APP)
    chosen = resolve_runs_dir(runs_dir)
    chosen.mkdir(parents=True, exist_ok=True)
    window = MainWindow(chosen)
    geometry = QSettings(ORG, APP).value("geometry")
    if geometry is not None:
        window.restoreGeometry(geometry)
    else:
        window.resize(1000, 600)
    window.show()
    return app.exec()
