"""The GUI's connection to the engine of a runs directory: QLocalSocket, JSON lines, Qt signals per push.

    client = EngineClient(runs_dir)          # starts the engine when none answers
    client.hello.connect(...)                # connected; `client.info` is the hello result
    client.request("list_runs", on_reply=lambda result: ...)
    client.subscribe("r1")                   # events arrive batched on `client.events`

The engine runs in its own process (`python -m engine.service.server`), so nothing here imports torch.
When the connection drops the client restarts the engine if none holds its lock, reconnects with
backoff and resubscribes every run from the last offset it received.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtNetwork import QLocalSocket

from pydantic import ValidationError

from engine.rundir.events import json_lines
from engine.service import contract, protocol
from engine.service.enginedir import address_through, engine_paths, make_private_dir, socket_fits
from workbench.link.engine_start import EngineStarter
from workbench.link.pending import OnError, OnReply, PendingRequests


STATES = ("offline", "starting", "connected", "lost")
_HELLO_TIMEOUT_MS = 10_000


class EngineClient(QObject):
    """One engine connection; requests route replies to callbacks, pushes become signals."""

    state_changed = Signal(str)  # one of STATES
    hello = Signal(object)  # the engine's contract.HelloResult, after each (re)connection
    events = Signal(dict)  # {run: [event, ...]}, flushed every `flush_ms`
    status = Signal(str, object)  # run, contract.RunStatus (status.json's content)
    job = Signal(object)  # contract.Job
    study = Signal(object)  # contract.Study
    reset = Signal(str)  # run whose events restart from the beginning
    error = Signal(str, str)  # one-line message, details

    def __init__(self, runs_dir: Path, autostart: bool = True, flush_ms: int = 150,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.paths = engine_paths(runs_dir)
        self.starter = EngineStarter(self.paths, autostart, lambda message, details: self.error.emit(message, details))
        self.info: contract.HelloResult | None = None
        self.state = "offline"
        self._socket: QLocalSocket | None = None
        self._buffer = bytearray()
        self._pending = PendingRequests(lambda message: self.error.emit(message, ""))
        self._queued: list[dict[str, Any]] = []  # requests waiting for a connection
        self._offsets: dict[str, int] = {}  # subscribed run -> byte offset after its last event
        self._batch: dict[str, list[dict[str, Any]]] = {}
        self._retry_ms = 100
        self._dir_fd: int | None = None
        self._stopped = True
        self._retry = QTimer(self, singleShot=True)
        self._retry.timeout.connect(self._connect)
        self._hello_timer = QTimer(self, singleShot=True, interval=_HELLO_TIMEOUT_MS)
        self._hello_timer.timeout.connect(self._on_hello_timeout)
        self._flush_timer = QTimer(self, interval=flush_ms)
        self._flush_timer.timeout.connect(self.flush)

    # ---- life ----------------------------------------------------------------------------------------
    def start(self) -> None:
        """Connect (starting the engine when needed) and keep reconnecting until `stop()`."""
        self._stopped = False
        self._connect()

    def stop(self) -> None:
        """Disconnect for good; the engine and its jobs keep running."""
        self._stopped = True
        self._retry.stop()
        self._hello_timer.stop()
        self._flush_timer.stop()
        self._drop_socket()
        self._fail_pending("the workbench disconnected from the engine")
        if self._dir_fd is not None:
            os.close(self._dir_fd)
            self._dir_fd = None
        self._set_state("offline")

    @property
    def connected(self) -> bool:
        return self.state == "connected"

    def restart_engine(self) -> None:
        """Ask the engine to stop; the client then starts a fresh one and reattaches."""
        if self.connected:
            self.request("shutdown")

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.state_changed.emit(state)

    def _socket_name(self) -> str:
        if socket_fits(self.paths.socket):
            return str(self.paths.socket)
        if self._dir_fd is None:  # kept open: QLocalSocket may connect after this call returns
            make_private_dir(self.paths.dir)
            self._dir_fd = os.open(self.paths.dir, os.O_RDONLY | os.O_DIRECTORY)
        return address_through(self._dir_fd, self.paths.socket)

    def _connect(self) -> None:
        if self._stopped:
            return
        self._drop_socket()
        sock = QLocalSocket(self)
        sock.connected.connect(self._on_connected)
        sock.readyRead.connect(self._on_ready_read)
        sock.disconnected.connect(self._on_disconnected)
        sock.errorOccurred.connect(self._on_socket_error)
        self._socket = sock
        sock.connectToServer(self._socket_name())

    def _drop_socket(self) -> None:
        if self._socket is not None:
            sock, self._socket = self._socket, None
            sock.blockSignals(True)
            sock.abort()
            sock.deleteLater()
        self._buffer.clear()

    def _on_connected(self) -> None:
        self._send({"type": "hello", "id": self._track("hello", self._on_hello, self._on_hello_error),
                    "version": protocol.PROTOCOL_VERSION, "client": "workbench"})
        self._hello_timer.start()

    def _on_hello(self, result: dict[str, Any]) -> None:
        self._hello_timer.stop()
        try:
            self.info = info = contract.HelloResult.model_validate(result)
        except ValidationError as err:
            self._on_hello_error(f"its hello does not match this workbench's contract ({err.errors()[0]['loc']})")
            return
        self._retry_ms = 100
        self.starter.connected()
        for run, offset in list(self._offsets.items()):
            self._send_subscribe(run, offset)
        queued, self._queued = self._queued, []
        for message in queued:
            self._send(message)
        self._set_state("connected")
        self.hello.emit(info)

    def _on_hello_error(self, message: str) -> None:
        self._hello_timer.stop()
        self.error.emit(f"the engine refused this workbench: {message}", "")
        self.stop()  # a version mismatch does not go away by retrying

    def _on_hello_timeout(self) -> None:
        self._on_disconnected()

    def _on_socket_error(self, _error: QLocalSocket.LocalSocketError) -> None:
        if self._socket is not None and self._socket.state() == QLocalSocket.LocalSocketState.ConnectedState:
            return  # a read or write error; `disconnected` follows
        self._on_disconnected()

    def _on_disconnected(self) -> None:
        was_connected = self.state == "connected"
        self._hello_timer.stop()
        self._drop_socket()
        self._fail_pending("the connection to the engine was lost before it answered")
        if self._stopped:
            return
        if was_connected:
            self._set_state("lost")
        self._schedule_retry()

    def _schedule_retry(self) -> None:
        """No engine answered: start one unless one holds the lock or ours is still starting; retry later."""
        self._set_state(self.starter.after_failure(self.state))
        self._retry.start(self._retry_ms)
        self._retry_ms = min(self._retry_ms * 2, 2000)

    # ---- requests ------------------------------------------------------------------------------------
    def request(self, type: str, on_reply: OnReply | None = None, on_error: OnError | None = None,
                **fields: Any) -> int:
        """Send a request (queued until connected); its reply goes to `on_reply(result)` or `on_error(msg)`.

        Without `on_error`, an error reply is shown through the `error` signal.
        """
        request_id = self._track(type, on_reply, on_error)
        message = {"type": type, "id": request_id, **fields}
        if self.connected:
            self._send(message)
        else:
            self._queued.append(message)
        return request_id

    def _track(self, type: str, on_reply: OnReply | None, on_error: OnError | None) -> int:
        return self._pending.track(type, on_reply, on_error)

    def _send(self, message: dict[str, Any]) -> None:
        if self._socket is not None:
            self._socket.write(protocol.encode(message))
            self._socket.flush()

    def _fail_pending(self, reason: str) -> None:
        self._pending.fail(reason, {m["id"] for m in self._queued})

    # ---- subscriptions -------------------------------------------------------------------------------
    def subscribe(self, run: str, from_offset: int = 0) -> None:
        """Follow `run`'s events and status (idempotent); kept across reconnections."""
        if run in self._offsets:
            return
        self._offsets[run] = from_offset
        if self.connected:
            self._send_subscribe(run, from_offset)

    def offset(self, run: str) -> int | None:
        """Byte offset after the last event received of a subscribed `run` (None: not subscribed)."""
        return self._offsets.get(run)

    def set_offset(self, run: str, offset: int) -> None:
        """Events up to `offset` were read elsewhere (from the file): resubscribe from there."""
        if run in self._offsets:
            self._offsets[run] = offset

    def _send_subscribe(self, run: str, offset: int) -> None:
        def on_reply(result: dict[str, Any]) -> None:
            reply = contract.SubscribeResult.model_validate(result)
            if reply.offset != offset:  # the file was replaced meanwhile: replay from its start
                self._batch.pop(run, None)
                self._offsets[run] = reply.offset
                self.reset.emit(run)
            if reply.status is not None:
                self.status.emit(run, reply.status)

        def on_error(message: str) -> None:
            self._offsets.pop(run, None)  # deleted meanwhile

        self._send({"type": "subscribe", "id": self._track("subscribe", on_reply, on_error), "run": run,
                    "from_offset": offset})

    # ---- incoming ------------------------------------------------------------------------------------
    def _on_ready_read(self) -> None:
        if self._socket is None:
            return
        sock = self._socket
        self._buffer += sock.readAll().data()
        messages, used = json_lines(bytes(self._buffer))
        del self._buffer[:used]
        for _, message in messages:
            if self._socket is not sock:  # a message dropped the connection: the rest were for it
                break
            self._dispatch(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind in ("reply", "error"):
            self._pending.answer(message)
            return
        try:
            push = contract.parse_push(message)
        except ValidationError as err:
            self.error.emit(f"the engine sent a {str(kind)[:40]!r} message this workbench cannot read "
                            f"(engine and workbench of different versions?)", str(err))
            return
        if isinstance(push, contract.EventPush):
            if push.run in self._offsets:
                self._offsets[push.run] = push.offset
                self._batch.setdefault(push.run, []).append(push.event)
                if not self._flush_timer.isActive():
                    self._flush_timer.start()
        elif isinstance(push, contract.ResetPush):
            self._batch.pop(push.run, None)
            self._offsets[push.run] = 0
            self.reset.emit(push.run)
        elif isinstance(push, contract.StatusPush):
            self.status.emit(push.run, push.status)
        elif isinstance(push, contract.JobPush):
            self.job.emit(push.job)
        else:
            self.study.emit(push.study)

    def flush(self) -> None:
        """Emit the events received so far (they are batched for `flush_ms`)."""
        if not self._batch:
            self._flush_timer.stop()
            return
        batch, self._batch = self._batch, {}
        self.events.emit(batch)

