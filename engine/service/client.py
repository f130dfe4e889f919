"""A plain blocking client of the engine (for the CLI and tests), and `ensure_engine` to start one.

    sock = ensure_engine(runs_dir)               # start the engine unless one answers
    with BlockingClient(sock) as engine:
        runs = engine.request("list_runs")["runs"]
        engine.request("subscribe", run="r1", from_offset=0)
        push = engine.next_push(timeout=5)       # {"type": "event", ...}
"""
from __future__ import annotations

import itertools
import json
import socket
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

from engine.service import protocol
from engine.service.enginedir import engine_paths, lock_holder, make_private_dir, socket_address


class EngineError(RuntimeError):
    """The engine answered a request with an error."""


class EngineUnavailable(ConnectionError):
    """No engine answers on the socket."""


class BlockingClient:
    """One connection; `request` returns a reply's result, pushes wait in `next_push`."""

    def __init__(self, sock_path: Path | str, timeout: float = 60.0, hello: bool = True) -> None:
        self.sock_path = Path(sock_path)
        self.timeout = timeout
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with socket_address(self.sock_path) as address:
                self._sock.settimeout(min(timeout, 5.0))
                self._sock.connect(address)
        except OSError as err:
            self._sock.close()
            raise EngineUnavailable(f"no engine answers on {self.sock_path}: {err}") from None
        self._buffer = bytearray()
        self._ids = itertools.count(1)
        self.pushes: deque[dict[str, Any]] = deque()
        self.info: dict[str, Any] = {}
        if hello:
            self.info = self.request("hello", version=protocol.PROTOCOL_VERSION, client="engine.service.client")

    @classmethod
    def for_runs_dir(cls, runs_dir: Path | str, **kwargs: Any) -> "BlockingClient":
        return cls(engine_paths(runs_dir).socket, **kwargs)

    # ---- raw lines -----------------------------------------------------------------------------------
    def send_raw(self, data: bytes) -> None:
        self._sock.settimeout(self.timeout)
        self._sock.sendall(data)

    def read_message(self, timeout: float | None = None) -> dict[str, Any]:
        """The next message from the engine; TimeoutError when none comes in time."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no message from the engine within {timeout or self.timeout:g} s")
            self._sock.settimeout(left)
            try:
                chunk = self._sock.recv(1 << 16)
            except socket.timeout:
                continue
            if not chunk:
                raise EngineUnavailable("the engine closed the connection")
            self._buffer += chunk
        end = self._buffer.index(b"\n")
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 1]
        return json.loads(line)

    # ---- requests and pushes -------------------------------------------------------------------------
    def reply_to(self, request_id: Any, timeout: float | None = None) -> dict[str, Any]:
        """The reply (or error) to `request_id`; pushes met on the way are kept for `next_push`."""
        while True:
            message = self.read_message(timeout)
            if message.get("type") in ("reply", "error") and message.get("id") == request_id:
                return message
            if message.get("type") in ("reply", "error"):
                continue  # a reply to a raw line sent earlier
            self.pushes.append(message)

    def request(self, type: str, timeout: float | None = None, **fields: Any) -> dict[str, Any]:
        """Send one request and return its result; an error reply raises EngineError."""
        request_id = next(self._ids)
        self.send_raw(protocol.encode({"type": type, "id": request_id, **fields}))
        message = self.reply_to(request_id, timeout)
        if not message.get("ok"):
            raise EngineError(message.get("error", "unknown error"))
        return message["result"]

    def next_push(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The next push (event, reset, status, job, study), or None after `timeout` seconds."""
        if self.pushes:
            return self.pushes.popleft()
        try:
            while True:
                message = self.read_message(timeout)
                if message.get("type") not in ("reply", "error"):
                    return message
        except TimeoutError:
            return None

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> "BlockingClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def ping(runs_dir: Path | str, timeout: float = 5.0) -> dict[str, Any] | None:
    """The hello of the engine of `runs_dir`, or None when none answers."""
    try:
        with BlockingClient.for_runs_dir(runs_dir, timeout=timeout) as client:
            return client.info
    except (EngineUnavailable, TimeoutError, OSError, EngineError):
        return None


def start_engine(runs_dir: Path | str, extra_args: list[str] | tuple[str, ...] = ()) -> subprocess.Popen:
    """Start `python -m engine.service.server` detached: its own session, output appended to `.engine/engine.log`."""
    from engine.service.procs import spawn_detached

    paths = engine_paths(runs_dir)
    make_private_dir(paths.dir)
    argv = [sys.executable, "-m", "engine.service.server", "--runs-dir", str(paths.runs_dir), *extra_args]
    return spawn_detached(argv, paths.log)


def ensure_engine(runs_dir: Path | str, timeout: float = 60.0,
                  extra_args: list[str] | tuple[str, ...] = ()) -> Path:
    """The socket of the engine of `runs_dir`, starting one when none answers; waits for its hello."""
    paths = engine_paths(runs_dir)
    if ping(paths.runs_dir) is not None:
        return paths.socket
    proc = start_engine(paths.runs_dir, extra_args) if lock_holder(paths) is None else None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ping(paths.runs_dir) is not None:
            return paths.socket
        if proc is not None and proc.poll() is not None and lock_holder(paths) is None:
            raise EngineUnavailable(f"the engine exited with status {proc.returncode}; see {paths.log}")
        time.sleep(0.1)
    raise EngineUnavailable(f"no engine answered on {paths.socket} within {timeout:g} s; see {paths.log}")


def stop_engine(runs_dir: Path | str, timeout: float = 30.0) -> bool:
    """Ask the engine of `runs_dir` to stop and wait until it released its lock; False when none ran."""
    paths = engine_paths(runs_dir)
    try:
        with BlockingClient(paths.socket, timeout=timeout) as client:
            client.request("shutdown")
    except (EngineUnavailable, EngineError, OSError):
        if lock_holder(paths) is None:
            return False
    deadline = time.monotonic() + timeout
    while lock_holder(paths) is not None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the engine of {paths.runs_dir} did not stop within {timeout:g} s")
        time.sleep(0.05)
    return True
