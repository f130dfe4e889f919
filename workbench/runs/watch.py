"""One watcher per run directory, with no Qt: what the panels subscribe to in order to follow a run.

A watcher is fed by the engine's pushes (status, events, reset) while an engine is attached; its one
fallback, when none is, polls the run's files through engine.rundir (status.json, events.jsonl). The
HDF5 stores are only ever polled here, because the engine does not push their changes.

    watchers = RunWatchers()
    sub = watchers.watch(run_dir, Subscription(events=on_events, files=on_files))
    watchers.poll()                # from a timer: the fallback, and the HDF5 stamps
    watchers.unwatch(run_dir, sub)
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, NamedTuple

from engine.rundir.follow import CHUNK, EventCursor, RunWatch
from engine.rundir.layout import RunDir
from engine.rundir.status import RunStatus

Event = dict[str, Any]


class FileChange(NamedTuple):
    """Which of a run's stores changed since the last look."""

    embeddings: bool
    analysis: bool


@dataclass(eq=False)
class Subscription:
    """Callbacks of one subscriber; any may be None. `events` first receives the run's history."""

    status: Callable[[RunStatus], None] | None = None
    events: Callable[[list[Event]], None] | None = None
    reset: Callable[[], None] | None = None
    files: Callable[[FileChange], None] | None = None


class RunWatcher:
    """Follows one run: keeps its status and event history and tells every subscriber what changed."""

    def __init__(self, run_dir: Path) -> None:
        self.run = RunDir(run_dir)
        self.events: list[Event] = []
        self.subscriptions: list[Subscription] = []
        self._follow = RunWatch(self.run.path)
        self.status: RunStatus | None = self._follow.status
        self._cursor = EventCursor(self.run.name, self.run.events)

    @property
    def name(self) -> str:
        return self.run.name

    @property
    def offset(self) -> int:
        """Byte offset in events.jsonl up to which the files were read."""
        return self._cursor.offset

    def subscribe(self, sub: Subscription) -> None:
        self.subscriptions.append(sub)
        if sub.events is not None and self.events:
            sub.events(list(self.events))

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self.subscriptions:
            self.subscriptions.remove(sub)

    # ---- fed by the engine -----------------------------------------------------------------------------
    def push_status(self, status: RunStatus) -> None:
        if status != self.status:
            self.status = status
            self._notify("status", status)

    def push_events(self, events: list[Event]) -> None:
        if events:
            self.events.extend(events)
            self._notify("events", list(events))

    def push_reset(self) -> None:
        """The events file was rewritten: forget the history; it is replayed from the start."""
        self.events.clear()
        self._cursor.offset = 0
        self._notify("reset")

    def resume_from(self, offset: int) -> None:
        """The engine fed the events up to `offset`: the fallback reads on from there."""
        self._cursor.offset = offset

    def read_until(self, offset: int | None = None) -> None:
        """Read events.jsonl from where the last read stopped, up to `offset` (None: its end)."""
        found: list[Event] = []
        while offset is None or self._cursor.offset < offset:
            limit = CHUNK if offset is None else min(CHUNK, offset - self._cursor.offset)
            events, reset = self._cursor.read(limit)
            if reset:
                self.events.clear()
                found.clear()
                self._notify("reset")
            if not events:
                break
            found += [event for _, event in events]
        self.push_events(found)

    # ---- the fallback: the files ----------------------------------------------------------------------
    def poll(self, follow_files: bool) -> None:
        """Look at the stores; with `follow_files` (no engine feeds this run) also at status and events."""
        if follow_files:
            status, events_changed = self._follow.poll()
            if status is not None:
                self.push_status(status)
            if events_changed:
                self.read_until(None)
        change = FileChange(*self._follow.poll_stores())
        if any(change):
            self._notify("files", change)

    def reload(self) -> None:
        """Have every subscriber read both stores again, changed or not."""
        self._follow.poll_stores()
        self._notify("files", FileChange(embeddings=True, analysis=True))

    def _notify(self, kind: str, *args: Any) -> None:
        for sub in list(self.subscriptions):
            callback = getattr(sub, kind)
            if callback is not None:
                callback(*args)


class RunWatchers:
    """The watchers of every run some panel follows: one per run directory, dropped with its last subscriber."""

    def __init__(self) -> None:
        self.watchers: dict[Path, RunWatcher] = {}
        self.fed = False  # an engine pushes the status and events of every watched run
        self.on_new: Callable[[RunWatcher], None] | None = None  # hook: subscribe the engine to the run

    def watch(self, run_dir: Path, sub: Subscription) -> Subscription:
        """Follow `run_dir` with `sub`'s callbacks; returns `sub` (for `unwatch`)."""
        path = Path(run_dir)
        watcher = self.watchers.get(path)
        if watcher is None:
            watcher = self.watchers[path] = RunWatcher(path)
            if self.on_new is not None:
                self.on_new(watcher)
            elif not self.fed:
                watcher.read_until(None)
        watcher.subscribe(sub)
        return sub

    def unwatch(self, run_dir: Path, sub: Subscription) -> None:
        path = Path(run_dir)
        watcher = self.watchers.get(path)
        if watcher is not None:
            watcher.unsubscribe(sub)
            if not watcher.subscriptions:
                del self.watchers[path]

    def drop(self, sub: Subscription) -> None:
        """Forget `sub` wherever it was watching (its subscriber is going away)."""
        for path, watcher in list(self.watchers.items()):
            if sub in watcher.subscriptions:
                self.unwatch(path, sub)

    def named(self, run: str) -> list[RunWatcher]:
        """The watchers of the run called `run` (engine pushes name runs, not paths)."""
        return [w for w in self.watchers.values() if w.name == run]

    def poll(self) -> None:
        for watcher in list(self.watchers.values()):
            watcher.poll(follow_files=not self.fed)

    def push_status(self, run: str, status: RunStatus) -> None:
        for watcher in self.named(run):
            watcher.push_status(status)

    def push_events(self, batch: dict[str, list[Event]]) -> None:
        for run, events in batch.items():
            for watcher in self.named(run):
                watcher.push_events(events)

    def push_reset(self, run: str) -> None:
        for watcher in self.named(run):
            watcher.push_reset()

    def reload(self) -> None:
        """Tell every subscriber that both stores changed (File → Reload): each panel reads its runs again."""
        for watcher in list(self.watchers.values()):
            watcher.reload()

    def files_may_have_changed(self, run: str) -> None:
        """A job of `run` changed state: look at its stores now rather than at the next tick."""
        for watcher in self.named(run):
            watcher.poll(follow_files=False)
