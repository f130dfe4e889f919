"""Keeps the runs model, the study flag and the event series in step with the engine, or with the disk.

With an engine: the runs list comes from `list_runs`, statuses and job states from pushes (every
active run is subscribed). Without one: the runs directory is scanned. Either way the selected runs'
events reach the series store through their run watchers (workbench.runs.watch).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from engine.service import contract
from workbench.link.client import EngineClient
from workbench.runs.watch import Subscription
from workbench.runs.watch_qt import RunWatchHub
from workbench.runs.model import from_engine, has_study, scan_runs
from workbench.runs.tree import RunsTreeModel
from workbench.runs.selection import RunSelection
from workbench.runs.series import SeriesStore


class RunsSync(QObject):
    """Feeds `model` and `store` for one runs directory at a time."""

    has_study_changed = Signal(bool)
    listed = Signal()  # the runs list was refreshed

    def __init__(self, model: RunsTreeModel, store: SeriesStore, selection: RunSelection, watch: RunWatchHub,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.model, self.store, self.selection, self.watch = model, store, selection, watch
        self.runs_dir = Path()
        self.client: EngineClient | None = None
        self.has_study = False
        self._listing = False
        self._followed: dict[Path, Subscription] = {}
        selection.changed.connect(self._on_selection_changed)

    def attach(self, runs_dir: Path, connect_engine: bool) -> EngineClient | None:
        """Follow `runs_dir` (through its engine, started when needed, if `connect_engine`)."""
        if self.client is not None:
            self.client.stop()
            self.client.deleteLater()
            self.client = None
        self.runs_dir = runs_dir
        self._listing = False
        self._follow([])
        self.store.clear_all()
        self.model.set_runs([])
        self._set_has_study(has_study(runs_dir))
        if connect_engine:
            client = self.client = EngineClient(runs_dir, parent=self)
            client.hello.connect(self._on_hello)
            client.status.connect(self._on_status)
            client.job.connect(self._on_job)
            client.study.connect(self._on_study)
        self.watch.attach(self.client)
        return self.client

    def refresh(self) -> None:
        """Reload the runs list: from the engine when connected, else from disk."""
        if self.client is not None and self.client.connected:
            if not self._listing:
                self._listing = True
                self.client.request("list_runs", on_reply=self._on_runs_listed, on_error=self._on_list_error)
            return
        self.model.set_runs(scan_runs(self.runs_dir))
        if self.client is None:
            self._set_has_study(has_study(self.runs_dir))
        self.listed.emit()

    # ---- engine pushes and replies -------------------------------------------------------------------
    def _on_hello(self, info: contract.HelloResult) -> None:
        self.refresh()
        self.client.request("list_studies", on_reply=lambda r: self._set_studies(
            contract.StudiesResult.model_validate(r).studies))

    def _on_runs_listed(self, result: dict[str, Any]) -> None:
        self._listing = False
        items = contract.RunsResult.model_validate(result).runs
        self.model.set_runs([from_engine(item, self.runs_dir) for item in items])
        for item in items:
            if item.state in contract.ACTIVE_STATES or item.job is not None:
                self.client.subscribe(item.run)  # for its status pushes
        self.listed.emit()

    def _on_list_error(self, message: str) -> None:
        self._listing = False

    def _on_status(self, run: str, status: contract.RunStatus) -> None:
        if not self.model.update_status(run, status):
            self.refresh()

    def _on_job(self, job: contract.Job) -> None:
        if job.active:
            self.client.subscribe(job.run)
        if not self.model.update_job(job):
            self.refresh()

    def _on_study(self, study: contract.Study) -> None:
        self._set_has_study(True)
        self.model.set_study_state(study.id, study.state)
        if any(self.model.run(b.run) is None for b in study.branches):
            self.refresh()

    def _set_studies(self, studies: list[contract.Study]) -> None:
        self._set_has_study(bool(studies))
        for study in studies:
            self.model.set_study_state(study.id, study.state)

    def _set_has_study(self, value: bool) -> None:
        if value != self.has_study:
            self.has_study = value
            self.has_study_changed.emit(value)

    # ---- event data of the selected runs -------------------------------------------------------------
    def _on_selection_changed(self, paths: list[Path]) -> None:
        self._follow(paths)

    def _follow(self, paths: list[Path]) -> None:
        """Feed the store with the events of `paths` (and stop feeding it those of the others)."""
        for path in [p for p in self._followed if p not in paths]:
            self.watch.unwatch(path, self._followed.pop(path))
        for path in [p for p in paths if p not in self._followed]:
            name = path.name
            self.store.clear(name)
            self._followed[path] = self.watch.watch(path, Subscription(
                events=lambda events, n=name: self.store.add(n, events), reset=lambda n=name: self.store.clear(n)))
