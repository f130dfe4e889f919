"""Following a run's files by polling (no inotify): status.json changes, events.jsonl growth and
changes of the two HDF5 stores.

events.jsonl is append-only, except that a resumed run rewrites it without the steps after its
checkpoint (a new file, so a new inode): readers that see the inode change start again from 0.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.rundir.events import json_lines
from engine.rundir.layout import RunDir
from engine.rundir.status import RunStatus, read_run_status

CHUNK = 256 << 10  # bytes of events read per client per turn


def _stat_key(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


class RunWatch:
    """Polls one run directory; `poll()` says what changed since the last call."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self._run = RunDir(self.run_dir)
        self.status: RunStatus | None = read_run_status(self.run_dir)
        self._status_key = _stat_key(self._run.status)
        self._events_key = _stat_key(self._run.events)
        self._store_keys = self._stores()

    def poll(self) -> tuple[RunStatus | None, bool]:
        """(the new status when its content changed, whether events.jsonl changed)."""
        new_status = None
        key = _stat_key(self._run.status)
        if key != self._status_key:
            self._status_key = key
            status = read_run_status(self.run_dir)
            if status is not None and status != self.status:
                self.status = new_status = status
        key = _stat_key(self._run.events)
        events_changed = key != self._events_key
        self._events_key = key
        return new_status, events_changed

    def poll_stores(self) -> tuple[bool, bool]:
        """(embeddings store changed, analysis store changed) since the last call."""
        keys = self._stores()
        changed = keys[0] != self._store_keys[0], keys[1] != self._store_keys[1]
        self._store_keys = keys
        return changed

    def _stores(self) -> tuple[tuple[int, int, int] | None, tuple[int, int, int] | None]:
        return _stat_key(self._run.embeddings), _stat_key(self._run.analysis)


@dataclass
class EventCursor:
    """Where one client is in one run's events.jsonl."""

    run: str
    path: Path
    offset: int = 0
    inode: int | None = None

    def read(self, limit: int = CHUNK) -> tuple[list[tuple[int, dict[str, Any]]], bool]:
        """Complete lines from `offset` (at most about `limit` bytes) as (end offset, event).

        Returns (events, reset): `reset` when the file was replaced or shrank; reading then restarts
        at 0. A torn last line stays unread until its newline arrives; malformed lines are skipped.
        """
        try:
            f = open(self.path, "rb")
        except OSError:
            return [], False
        with f:
            st = os.fstat(f.fileno())
            reset = (self.inode is not None and st.st_ino != self.inode) or st.st_size < self.offset
            if reset:
                self.offset = 0
            self.inode = st.st_ino
            f.seek(self.offset)
            data = f.read(limit)
            if b"\n" not in data and len(data) == limit:  # one line longer than `limit`: take it whole
                data += f.readline()
        events, self.offset = json_lines(data, self.offset)
        return events, reset
