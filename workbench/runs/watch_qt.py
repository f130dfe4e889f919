"""The Qt side of the run watchers: one timer for the fallback, and the engine client's pushes routed in.

While the client is connected the engine feeds every watched run; when it is gone (or there is none)
the watchers poll the run files, from where the engine's pushes stopped, and hand the client back
the offset they reached so that it resubscribes from there once the engine is back.
"""
from __future__ import annotations

from pathlib import Path
from PySide6.QtCore import QObject, QTimer, Signal

from engine.service.contract import Job
from workbench.link.client import EngineClient
from workbench.runs.watch import FileChange, RunWatcher, RunWatchers, Subscription

POLL_MS = 1000


class RunWatchHub(QObject):
    """Owns the RunWatchers of a window (or of a panel shown alone) and drives them."""

    def __init__(self, poll_ms: int = POLL_MS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.watchers = RunWatchers()
        self.watchers.on_new = self._on_new_watcher
        self.client: EngineClient | None = None
        self._timer = QTimer(self, interval=poll_ms)
        self._timer.timeout.connect(self.poll)
        self._timer.start()

    def watch(self, run_dir: Path, sub: Subscription) -> Subscription:
        if self.client is not None:
            self.client.flush()  # a new watcher reads the file up to the events emitted, then takes pushes
        return self.watchers.watch(run_dir, sub)

    def unwatch(self, run_dir: Path, sub: Subscription) -> None:
        self.watchers.unwatch(run_dir, sub)

    def drop_on_destroyed(self, owner: QObject, sub: Subscription) -> None:
        """Stop calling `sub` once `owner`, whose methods it calls, is destroyed."""
        owner.destroyed.connect(lambda *_: self.watchers.drop(sub))

    def watcher(self, run_dir: Path) -> RunWatcher | None:
        return self.watchers.watchers.get(Path(run_dir))

    def attach(self, client: EngineClient | None) -> None:
        """Take pushes from `client` (None: follow the files only)."""
        if self.client is not None:
            try:
                self.client.state_changed.disconnect(self._on_state)
            except (RuntimeError, TypeError):  # already deleted
                pass
        self.client = client
        self._on_state(client.state if client is not None else "offline")
        if client is None:
            return
        client.state_changed.connect(self._on_state)
        client.status.connect(self.watchers.push_status)
        client.events.connect(self.watchers.push_events)
        client.reset.connect(self.watchers.push_reset)
        client.job.connect(self._on_job)
        for watcher in self.watchers.watchers.values():
            self._subscribe(watcher)

    def poll(self) -> None:
        self.watchers.poll()
        if self.client is not None and not self.watchers.fed:
            for watcher in self.watchers.watchers.values():
                self.client.set_offset(watcher.name, watcher.offset)

    def _on_state(self, state: str) -> None:
        fed = state == "connected"
        if self.watchers.fed and not fed and self.client is not None:
            for watcher in self.watchers.watchers.values():
                watcher.resume_from(self.client.offset(watcher.name) or 0)
        self.watchers.fed = fed

    def _on_new_watcher(self, watcher: RunWatcher) -> None:
        if not self.watchers.fed:
            watcher.read_until(None)
        if self.client is not None:
            self._subscribe(watcher)

    def _subscribe(self, watcher: RunWatcher) -> None:
        """Have the engine push this run; what it pushed before the watcher existed is read from the file."""
        offset = self.client.offset(watcher.name)
        if offset is None:
            self.client.subscribe(watcher.name, watcher.offset)
        elif self.watchers.fed:
            watcher.read_until(offset)
        else:
            self.client.set_offset(watcher.name, watcher.offset)

    def _on_job(self, job: Job) -> None:
        self.watchers.files_may_have_changed(job.run)


class StoreFollower(QObject):
    """Follows the stores of some runs through their watchers: `changed` once after a burst of changes
    (a probe rewrites analysis.h5 at every draw)."""

    changed = Signal()

    def __init__(self, watch: RunWatchHub, parent: QObject | None = None, settle_ms: int = 200) -> None:
        super().__init__(parent)
        self.watch = watch
        self.runs: list[Path] = []
        self._subscription = Subscription(files=self._on_files)
        watch.drop_on_destroyed(self, self._subscription)
        self._settle = QTimer(self, singleShot=True, interval=settle_ms)
        self._settle.timeout.connect(self.changed)

    def follow(self, runs: list[Path]) -> None:
        """Follow exactly `runs`."""
        for run in [r for r in self.runs if r not in runs]:
            self.watch.unwatch(run, self._subscription)
        for run in [r for r in runs if r not in self.runs]:
            self.watch.watch(run, self._subscription)
        self.runs = list(runs)

    def _on_files(self, change: FileChange) -> None:
        if change.analysis or change.embeddings:
            self._settle.start()
