"""When the GUI finds no engine answering: start one (unless one holds the lock), back off, report its exits."""
from __future__ import annotations

import time
import subprocess
from pathlib import Path
from typing import Callable

from engine.service.enginedir import EnginePaths, lock_holder


class EngineStarter:
    """Decides, at each failed connection, whether to start an engine; `report(message, details)` tells why not."""

    def __init__(self, paths: EnginePaths, autostart: bool, report: Callable[[str, str], None]) -> None:
        self.paths, self.autostart, self.report = paths, autostart, report
        self.proc: subprocess.Popen | None = None
        self._reported_exit: int | None = None
        self._restart_after = 0.0  # monotonic time before which no new engine is started
        self._backoff = 1.0

    def connected(self) -> None:
        """An engine answered: the next failure starts again with a short back-off."""
        self._backoff = 1.0
        self._reported_exit = None

    def after_failure(self, state: str) -> str:
        """Start an engine when none runs or starts; returns the client's state afterwards."""
        ours_starting = self.proc is not None and self.proc.poll() is None
        if lock_holder(self.paths) is not None or ours_starting:
            return state if state == "lost" else "starting"
        if self.proc is not None:
            self._report_exit(self.proc.returncode)
            self.proc = None
        if self.autostart and time.monotonic() >= self._restart_after:
            return "starting" if self._start() else state
        if not self.autostart and state != "lost":
            return "offline"
        return state

    def _start(self) -> bool:
        from engine.service.client import start_engine

        self._restart_after = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, 30.0)
        try:
            self.proc = start_engine(self.paths.runs_dir)
        except OSError as err:
            self.report(f"could not start the engine: {err}", "")
            return False
        return True

    def _report_exit(self, code: int | None) -> None:
        if code == self._reported_exit or code == 0:
            return
        self._reported_exit = code
        self.report(f"the engine exited with status {code}; see {self.paths.log}", tail(self.paths.log))


def tail(path: Path, lines: int = 40) -> str:
    """The last `lines` lines of a log file (empty when unreadable)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
