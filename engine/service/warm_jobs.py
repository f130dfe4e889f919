"""The engine's side of the warm job server (engine.service.jobs.warm_server): started when evaluation work is
coming, used once warm, and passed over whenever it is not (a job then starts as a process of its own).

Torch-free: the engine only talks to the server over its pipes. `MVSSL_WARM_JOBS=0` turns it off.
"""
from __future__ import annotations

import json
import logging
import os
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from engine.rundir.disk import open_private, private_dir
from engine.service import procs
from engine.service.jobs.warm_server import WARM_ENV

log = logging.getLogger("engine.warm")

WARM_KINDS = ("embed", "diagnose", "project", "probe")  # training starts on its own: its imports are noise there
REPLY_S = 10.0  # a fork takes milliseconds; a server this slow to answer is taken for dead
IDLE_S = 600.0  # a server unused this long is stopped (it holds torch and UMAP in memory)


def enabled() -> bool:
    return os.environ.get("MVSSL_WARM_JOBS", "1").strip().lower() not in ("0", "false", "no", "off")


class WarmJobs:
    """One warm server for the engine's lifetime (restarted on demand after it died or idled out)."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.ready = False
        self.used_at = 0.0
        self._pending = b""

    def prewarm(self) -> None:
        """Start the server (it warms up at low priority) unless it runs already or is turned off."""
        self.used_at = time.time()
        if not enabled() or (self.proc is not None and self.proc.poll() is None):
            return
        private_dir(self.log_path.parent)
        try:
            with open_private(self.log_path, "ab") as err:
                self.proc = subprocess.Popen([sys.executable, "-m", "engine.service.jobs.warm_server"],
                                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                                             start_new_session=True, close_fds=True, env=procs.child_env(WARM_ENV))
        except OSError as error:
            log.warning("warm job server could not start (%s); jobs start as processes of their own", error)
            self.proc = None
            return
        self.ready, self._pending = False, b""
        log.info("warm job server starting (pid %s)", self.proc.pid)

    def warming(self) -> bool:
        """Whether the server is alive but not warm yet."""
        return self._alive() and not self.is_ready()

    def spawn(self, argv: list[str], log_path: Path, env: dict[str, str]) -> int | None:
        """Fork one job (argv after `-m engine.service.jobs`, without --handshake) waiting for `release`;
        its pid, or None when the server is not warm or fails (the caller starts the job itself)."""
        if not self.is_ready():
            return None
        private_dir(log_path.parent)
        reply = self._ask({"start": argv, "log": str(log_path), "env": {**WARM_ENV, **env}})
        if reply is None or not isinstance(reply.get("pid"), int):
            if reply is not None:
                log.warning("warm job server refused a job: %s", reply.get("error"))
            return None
        self.used_at = time.time()
        return reply["pid"]

    def release(self, pid: int) -> None:
        """Let the forked job `pid` begin (its pid is on record)."""
        self._send({"go": pid})

    def close_if_idle(self, busy: bool) -> None:
        """Stop a server that served nothing for IDLE_S while no evaluation job is queued or running."""
        if busy:
            self.used_at = time.time()
        elif self.proc is not None and time.time() - self.used_at > IDLE_S:
            log.info("warm job server idle for %.0f s: stopped", time.time() - self.used_at)
            self.close()

    def close(self) -> None:
        """End the server (EOF on its stdin); released jobs go on, unreleased ones exit."""
        if self.proc is None:
            return
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
        self.proc, self.ready = None, False

    # ---- pipes ---------------------------------------------------------------------------------------
    def _alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def is_ready(self) -> bool:
        """Whether the server is warm and takes jobs (it says so once, on its first line)."""
        if not self._alive():
            if self.proc is not None:
                log.warning("warm job server ended (exit %s); jobs start as processes of their own",
                            self.proc.returncode)
                self.proc, self.ready = None, False
            return False
        if not self.ready:
            self.ready = (self._read_line(0.0) or {}).get("ready") is True
        return self.ready

    def _send(self, obj: dict[str, Any]) -> bool:
        try:
            self.proc.stdin.write((json.dumps(obj) + "\n").encode())
            self.proc.stdin.flush()
            return True
        except (OSError, AttributeError):
            return False

    def _ask(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        if not self._send(obj):
            return None
        reply = self._read_line(REPLY_S)
        if reply is None:
            log.warning("warm job server did not answer in %.0f s: stopped", REPLY_S)
            self.close()
        return reply

    def _read_line(self, timeout: float) -> dict[str, Any] | None:
        """The next JSON line from the server within `timeout` seconds, else None."""
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._pending:
            left = max(0.0, deadline - time.monotonic())
            if not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return None
            self._pending += chunk
        line, self._pending = self._pending.split(b"\n", 1)
        try:
            value = json.loads(line)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None
