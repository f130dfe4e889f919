"""Keeps the runs model, the study flag and the event series in step with the engine, or with the disk.

With an engine: the runs list comes from `list_runs`, statuses and job states from pushes, events
from subscriptions (every active run and every selected run). Without one: the runs directory is
scanned and the selected runs' events.jsonl files are read from where the last look stopped.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from workbench.client import EngineClient
from workbench.runs import from_engine, has_study, scan_runs
from workbench.runs_model import RunsModel
from workbench.selection import RunSelection
from workbench.series import SeriesStore

ACTIVE = ("queued", "running")


class RunsSync(QObject):
    """Feeds `model` and `store` for one runs directory at a time."""

    has_study_changed = Signal(bool)
    listed = Signal()  # the runs list was refreshed

    def __init__(self, model: RunsModel, store: SeriesStore, selection: RunSelection,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.model, self.store, self.selection = model, store, selection
        self.runs_dir = Path()
        self.client: EngineClient | None = None
        self.has_study = False
        self._listing = False
        self._file_offsets: dict[str, int] = {}
        selection.changed.connect(self._on_selection_changed)

    def attach(self, runs_dir: Path, connect_engine: bool) -> EngineClient | None:
        """Follow `runs_dir` (through its engine, started when needed, if `connect_engine`)."""
        if self.client is not None:
            self.client.stop()
            self.client.deleteLater()
            self.client = None
        self.runs_dir = runs_dir
        self._listing = False
        self._file_offsets.clear()
        self.store.clear_all()
        self.model.set_runs([])
        self._set_has_study(has_study(runs_dir))
        if connect_engine:
            client = self.client = EngineClient(runs_dir, parent=self)
            client.hello.connect(self._on_hello)
            client.status.connect(self._on_status)
            client.job.connect(self._on_job)
            client.study.connect(self._on_study)
            client.events.connect(self.store.add_batch)
            client.reset.connect(self.store.clear)
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
            self._tail_files()
        self.listed.emit()

    # ---- engine pushes and replies -------------------------------------------------------------------
    def _on_hello(self, info: dict[str, Any]) -> None:
        self.refresh()
        self.client.request("list_studies", on_reply=lambda r: self._set_studies(r.get("studies", [])))

    def _on_runs_listed(self, result: dict[str, Any]) -> None:
        self._listing = False
        items = result.get("runs", [])
        self.model.set_runs([from_engine(item, self.runs_dir) for item in items])
        for item in items:
            if item.get("state") in ACTIVE or item.get("job"):
                self.client.subscribe(item["run"])  # for its status pushes
        self.listed.emit()

    def _on_list_error(self, message: str) -> None:
        self._listing = False

    def _on_status(self, run: str, status: dict[str, Any]) -> None:
        if not self.model.update_status(run, status):
            self.refresh()

    def _on_job(self, job: dict[str, Any]) -> None:
        if job.get("state") in ACTIVE and job.get("run"):
            self.client.subscribe(job["run"])
        if not self.model.update_job(job):
            self.refresh()

    def _on_study(self, study: dict[str, Any]) -> None:
        self._set_has_study(True)
        self.model.set_study_state(study.get("id", ""), study.get("state", ""))
        if any(self.model.run(b.get("run", "")) is None for b in study.get("branches", [])):
            self.refresh()

    def _set_studies(self, studies: list[dict[str, Any]]) -> None:
        self._set_has_study(bool(studies))
        for study in studies:
            self.model.set_study_state(study.get("id", ""), study.get("state", ""))

    def _set_has_study(self, value: bool) -> None:
        if value != self.has_study:
            self.has_study = value
            self.has_study_changed.emit(value)

    # ---- event data of the selected runs -------------------------------------------------------------
    def _on_selection_changed(self, paths: list[Path]) -> None:
        if self.client is not None:
            for path in paths:
                self.client.subscribe(path.name)
        else:
            self._tail_files()

    def _tail_files(self) -> None:
        """Without an engine: read what the selected runs' events.jsonl gained since the last look."""
        from engine.rundir.events import read_events

        for path in self.selection.runs():
            offset = self._file_offsets.get(path.name, 0)
            events, end = read_events(path / "events.jsonl", offset)
            self._file_offsets[path.name] = end
            if events:
                self.store.add(path.name, events)
