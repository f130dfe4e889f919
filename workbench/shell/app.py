"""The workbench application: the main window (runs tree, panel tabs, engine indicator, error banner).

The window drives the engine through an EngineClient: run status and progress come from its
pushes, new runs and studies are submitted through it. Without an engine (`connect_engine=False`)
it reads the runs directory from disk. The window fits the screen it opens on (1280x800 and up), the
runs tree is a narrow, collapsible side bar, and the newest study is selected on open so no panel
starts empty. Geometry, splitter, columns, tab and the last runs directory are kept in QSettings.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtWidgets import (
    QApplication, QFileDialog, QLabel, QMainWindow, QMessageBox, QSizePolicy, QSplitter, QVBoxLayout, QWidget,
)

from engine.service import contract
from workbench.shell.banner import EngineIndicator, ErrorBanner, show_engine_log
from workbench.link.client import EngineClient
from workbench.shell.geometry import MINIMUM_SIZE, restore_layout, save_layout, toggle_side
from workbench.shell.menus import build_menus
from workbench.runs.model import default_runs_dir
from workbench.runs.tree import RunsTreeModel
from workbench.runs.watch_qt import RunWatchHub
from workbench.runs.side import RunsSide
from workbench.runs.selection import RunSelection
from workbench.runs.series import SeriesStore
from workbench.runs.sync import RunsSync
from workbench.shell.tabs import PanelContext, PanelTabs

ORG, APP = "mvssl-workbench", "workbench"


def demo_study_request(methods: list[str], now: float | None = None) -> dict[str, Any]:
    """The `submit_study` fields of the demo: every method the engine offers, demo corpus, demo preset,
    the demo's seeds per method."""
    from engine.evaluation.seeds import DEMO_SEEDS, seed_values

    name = time.strftime("demo-%Y%m%d-%H%M%S", time.localtime(now))
    return {"methods": list(methods), "corpus": "demo", "preset": "demo", "name": name,
            "seeds": seed_values(DEMO_SEEDS)}


class MainWindow(QMainWindow):
    """Runs tree on the left, panels on the right; status bar with the engine indicator."""

    def __init__(self, runs_dir: Path, connect_engine: bool = False, settings: QSettings | None = None,
                 refresh_ms: int = 2000, estimate=None) -> None:
        super().__init__()
        self.setMinimumSize(MINIMUM_SIZE)
        self.settings = settings if settings is not None else QSettings(ORG, APP)
        self.connect_engine = connect_engine
        self.selection = RunSelection(self)
        self.store = SeriesStore()
        self.model = RunsTreeModel(self)
        self.watch = RunWatchHub(parent=self)  # one watcher per followed run, shared by every panel
        self.sync = RunsSync(self.model, self.store, self.selection, self.watch, self)
        self._select_after: list[str] = []
        self._select_initial = True
        self._player: Any = None
        self.estimate = estimate  # a first_run.DemoEstimate, or None

        self.banner = ErrorBanner()
        self.indicator = EngineIndicator()
        self.runs_panel = side = RunsSide(self.model, self.selection)
        self.runs_view, self.empty_label, self.estimate_label = side.runs_view, side.empty_label, side.estimate_label
        self.demo_button, self.new_button = side.demo_button, side.new_button
        self.demo_button.clicked.connect(self.start_demo_study)
        self.new_button.clicked.connect(self.open_launch_dialog)
        self.tabs = PanelTabs(self._panel_context)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.runs_panel)
        self.splitter.addWidget(self.tabs)
        self.splitter.setCollapsible(0, True)
        self.splitter.setCollapsible(1, False)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addWidget(self.banner)
        layout.addWidget(self.splitter, 1)
        self.setCentralWidget(central)
        self.runs_label = QLabel()
        self.runs_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # a long path
        self.runs_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.statusBar().addPermanentWidget(self.runs_label, 1)
        self.statusBar().addPermanentWidget(self.indicator)
        build_menus(self)
        self.sync.listed.connect(self._after_listing)
        self.sync.has_study_changed.connect(self._on_has_study)

        self._refresh_timer = QTimer(self, interval=refresh_ms, timeout=self.refresh)
        self._clock = QTimer(self, interval=1000, timeout=self.model.tick)
        self._clock.start()
        self._restore_layout()
        if self.estimate is not None:
            self.estimate.changed.connect(self.estimate_label.setText)
        self.set_runs_dir(runs_dir)
        self._refresh_timer.start()
        QTimer.singleShot(0, self.tabs.ensure_current)

    # ---- runs directory and engine -------------------------------------------------------------------
    @property
    def client(self) -> EngineClient | None:
        return self.sync.client

    @property
    def runs_dir(self) -> Path:
        return self.sync.runs_dir

    def set_runs_dir(self, runs_dir: Path) -> None:
        """Show another runs directory (and attach to its engine)."""
        self.selection.set_runs([])
        self._select_initial = True
        client = self.sync.attach(runs_dir, self.connect_engine)
        self.setWindowTitle(f"mvssl workbench — {runs_dir}")
        self.runs_label.setText(str(runs_dir))
        self.runs_label.setToolTip(str(runs_dir))
        self.settings.setValue("runs_dir", str(runs_dir))
        self.tabs.set_runs_dir(runs_dir)
        if client is not None:
            socket = str(client.paths.socket)
            client.state_changed.connect(lambda state: self.indicator.set_state(state, socket))
            client.error.connect(self.banner.show_error)
            self.indicator.set_state("starting", socket)
            client.start()
        else:
            self.indicator.set_state("offline", "the workbench was started without an engine")
        self.refresh()
        self._on_has_study(self.sync.has_study)

    def refresh(self) -> None:
        self.sync.refresh()

    def reload(self) -> None:
        """File → Reload: the runs list, and every panel reads the runs it shows again."""
        self.sync.refresh()
        self.watch.watchers.reload()

    def _after_listing(self) -> None:
        self.empty_label.setVisible(self.model.rowCount() == 0)
        if self._select_after and all(self.model.run(r) for r in self._select_after):
            self.runs_view.select_runs(self._select_after)
            self._select_after = []
        elif self._select_initial and self.model.rowCount():
            self._select_initial = False
            if not self.selection.runs():
                self.runs_view.select_newest()

    def _on_has_study(self, value: bool) -> None:
        self.demo_button.setVisible(not value)
        self.estimate_label.setVisible(not value and self.estimate is not None)
        if not value and self.estimate is not None:
            self.estimate.start()

    def toggle_runs_list(self) -> None:
        """Collapse the runs tree to give the panels the whole width, or bring it back."""
        toggle_side(self.splitter, self)
        self.runs_action.setChecked(self.splitter.sizes()[0] > 0)

    # ---- commands ------------------------------------------------------------------------------------
    def _panel_context(self) -> PanelContext:
        if self._player is None:
            from workbench.player import Player
            self._player = Player()
        return PanelContext(self.selection, self.store, self.watch, self._player, self.runs_dir)

    def _send(self, type: str, fields: dict[str, Any], on_reply, on_error) -> None:
        self.client.request(type, on_reply=on_reply, on_error=on_error, **fields)

    def open_launch_dialog(self):
        """The New run / study dialog; returns it (it is window-modal but does not block)."""
        from workbench.launch.dialog import LaunchDialog

        connected = self.client is not None and self.client.connected
        dialog = LaunchDialog(self.client.info if connected else None, self._send if self.client else None, self,
                              slurm=_remembered_slurm(self.runs_dir))
        dialog.accepted.connect(lambda: self._on_submitted(dialog.result_))
        screen = self.screen() or QApplication.primaryScreen()
        if screen is not None:  # its hyper-parameters scroll: it can shrink to a small screen
            room = screen.availableGeometry()
            dialog.resize(dialog.size().boundedTo(room.size() * 0.92))
        dialog.open()
        return dialog

    def start_demo_study(self) -> None:
        """Submit the demo comparison study (every method on the demo corpus)."""
        if self.client is None:
            self.banner.show_error("no engine: start the workbench with an engine to run the demo study")
            return
        from engine.config import METHODS
        methods = self.client.info.methods if self.client.info is not None else list(METHODS)
        self.demo_button.setEnabled(False)

        def on_error(message: str) -> None:
            self.demo_button.setEnabled(True)
            self.banner.show_error(f"the demo study was not started: {message}")

        self.client.request("submit_study", on_reply=lambda r: self._on_submitted(("submit_study", r)),
                            on_error=on_error, **demo_study_request(methods))

    def _on_submitted(self, result: tuple[str, dict[str, Any]] | None) -> None:
        if result is None:
            return
        type, reply = result
        if type == "submit_study":
            self._on_has_study(True)
            self.tabs.setCurrentIndex(0)  # the live training curves
            self._select_after = [b.run for b in contract.StudyResult.model_validate(reply).study.branches]
        else:
            self._select_after = [contract.JobResult.model_validate(reply).job.run]
        self.demo_button.setEnabled(True)
        self.refresh()

    def _on_run_command(self, command: str) -> None:
        if self.client is None:
            self.banner.show_error(f"{command}: no engine connected")
            return
        targets = self.runs_view.selected_targets()
        if not targets:
            self.banner.show_error(f"{command}: select runs or a study first")
            return
        names = ", ".join(next(iter(t.values())) for t in targets)
        if command == "delete" and QMessageBox.question(self, "Delete", f"Delete {names} and all their files?") \
                != QMessageBox.StandardButton.Yes:
            return
        for target in targets:
            self.client.request(command, on_reply=lambda _r: self.refresh(),
                                on_error=lambda m, c=command: self.banner.show_error(f"{c}: {m}"), **target)

    def _toggle_log(self) -> None:
        panel = self.tabs.panel("Training")
        if panel is not None:
            panel.log_box.toggle()

    def _restart_engine(self) -> None:
        if self.client is not None:
            self.client.restart_engine()

    def _show_engine_log(self) -> None:
        show_engine_log(self.runs_dir, self)

    def _on_open_runs_dir(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Runs directory", str(self.runs_dir))
        if chosen:
            self.set_runs_dir(Path(chosen))

    # ---- settings ------------------------------------------------------------------------------------
    def _restore_layout(self) -> None:
        restore_layout(self, self.settings)
        self.runs_action.setChecked(self.splitter.sizes()[0] > 0)
        self.tabs.setCurrentIndex(int(self.settings.value("tab", 0) or 0))

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        save_layout(self, self.settings)
        self.settings.setValue("tab", self.tabs.currentIndex())
        self.settings.setValue("runs_dir", str(self.runs_dir))
        self.settings.sync()
        if self.estimate is not None:
            self.estimate.stop()
        if self.client is not None:
            self.client.stop()  # the engine and its jobs keep running
        super().closeEvent(event)


def _remembered_slurm(runs_dir: Path):
    """The Slurm options last used in this runs folder (the defaults when none, or when the file is bad)."""
    from engine.training.slurm_options import load_remembered

    try:
        return load_remembered(runs_dir)
    except (OSError, ValueError):
        return None


def resolve_runs_dir(explicit: Path | None, settings: QSettings | None = None) -> Path:
    """The --runs-dir flag, else $MVSSL_RUNS_DIR, else the last one used, else the default under the user data dir."""
    if explicit is not None:
        return explicit
    if os.environ.get("MVSSL_RUNS_DIR"):
        return default_runs_dir()
    remembered = (settings or QSettings(ORG, APP)).value("runs_dir")
    return Path(str(remembered)) if remembered else default_runs_dir()


def main(runs_dir: Path | None = None) -> int:
    from workbench import syslibs

    missing = syslibs.missing_for_gui()
    if missing:
        print(syslibs.message(missing), file=sys.stderr)
        return 1
    from engine.config import METHODS
    from workbench.background import collect_garbage_on_gui_thread
    from workbench.shell.first_run import DemoEstimate

    app = QApplication.instance() or QApplication(sys.argv[:1])
    collect_garbage_on_gui_thread()
    app.setOrganizationName(ORG)
    app.setApplicationName(APP)
    chosen = resolve_runs_dir(runs_dir)
    chosen.mkdir(parents=True, exist_ok=True)
    window = MainWindow(chosen, connect_engine=True, estimate=DemoEstimate(list(METHODS)))
    window.show()
    return app.exec()
