"""One client of the engine: reads JSON-line requests, writes replies and pushes from its own task.

Nothing a client does can stall the engine or other clients: requests are served without waiting
on any socket; each client has a bounded outbox drained by its own writer task, and reads the
events of its subscriptions from the files at its own pace. A client whose outbox overflows
(it stopped reading) is disconnected.
"""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from pathlib import Path
from typing import Any, Callable

from engine.service import protocol
from engine.service.contract import StatusPush
from engine.rundir.follow import EventCursor
from engine.rundir.status import RunStatus

log = logging.getLogger("engine.service.connection")

MAX_PENDING = 10_000  # queued replies and pushes before a client counts as stuck

Dispatch = Callable[["Connection", protocol.Request], dict[str, Any]]


async def read_line(reader: asyncio.StreamReader) -> bytes | None:
    """The next line, or None for a line over the size limit (discarded up to its newline).

    Raises asyncio.IncompleteReadError at end of stream.
    """
    try:
        line = await reader.readuntil(b"\n")
        return None if len(line) - 1 > protocol.MAX_LINE else line
    except asyncio.LimitOverrunError as err:
        consumed = err.consumed
    while True:  # drop the over-long line: what the buffer holds, until its newline
        await reader.readexactly(consumed)
        try:
            await reader.readuntil(b"\n")
            return None
        except asyncio.LimitOverrunError as err:
            consumed = err.consumed


class Connection:
    """A connected client: its subscriptions, its outbox and its writer task."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, dispatch: Dispatch) -> None:
        self.reader, self.writer, self.dispatch = reader, writer, dispatch
        self.greeted = False  # said hello: receives job and study pushes
        self.cursors: dict[str, EventCursor] = {}
        self.outbox: deque[dict[str, Any]] = deque()
        self._pending_status: dict[str, dict[str, Any]] = {}
        self._wake = asyncio.Event()
        self.closed = False

    # ---- outgoing ------------------------------------------------------------------------------------
    def send(self, message: dict[str, Any]) -> None:
        if self.closed:
            return
        if len(self.outbox) >= MAX_PENDING:
            log.warning("client stopped reading (%d messages pending): disconnecting it", len(self.outbox))
            self.close()
            return
        self.outbox.append(message)
        self._wake.set()

    def push_status(self, run: str, status: RunStatus) -> None:
        """Queue a status push; a pending one of the same run and state is replaced by the newer one."""
        pending = self._pending_status.get(run)
        if pending is not None and pending["status"]["state"] == status.state:
            pending["status"] = status.model_dump()
            return
        message = StatusPush(type="status", run=run, status=status).model_dump()
        self._pending_status[run] = message
        self.send(message)

    def events_changed(self) -> None:
        self._wake.set()

    def subscribe(self, run: str, events_path: Path, from_offset: int) -> int:
        """Follow `run` from `from_offset`; returns the offset the replay starts at (0 if it was stale)."""
        cursor = EventCursor(run, events_path, from_offset)
        try:
            size = events_path.stat().st_size
        except OSError:
            size = 0
        if from_offset > size:
            cursor.offset = 0
        self.cursors[run] = cursor
        self._wake.set()
        return cursor.offset

    def unsubscribe(self, run: str) -> None:
        self.cursors.pop(run, None)

    async def _write_loop(self) -> None:
        while not self.closed:
            await self._wake.wait()
            self._wake.clear()
            busy = True
            while busy and not self.closed:
                busy = False
                while self.outbox:
                    message = self.outbox.popleft()
                    if message.get("type") == "status" and self._pending_status.get(message["run"]) is message:
                        del self._pending_status[message["run"]]
                    self.writer.write(protocol.encode(message))
                for cursor in list(self.cursors.values()):
                    events, reset = cursor.read()
                    if reset:
                        self.writer.write(protocol.encode({"type": "reset", "run": cursor.run}))
                    for offset, event in events:
                        self.writer.write(protocol.encode({"type": "event", "run": cursor.run, "offset": offset,
                                                           "event": event}))
                    busy = busy or bool(events)
                await self.writer.drain()

    # ---- incoming ------------------------------------------------------------------------------------
    def _serve_line(self, line: bytes | None) -> None:
        if line is None:
            self.send(protocol.error(None, f"message longer than {protocol.MAX_LINE} bytes; discarded"))
            return
        line = line.rstrip(b"\r\n")
        if not line.strip():
            self.send(protocol.error(None, "empty message"))
            return
        try:
            request = protocol.parse_request(line)
        except protocol.ProtocolError as err:
            self.send(protocol.error(err.request_id, str(err)))
            return
        try:
            self.send(protocol.reply(request.id, self.dispatch(self, request)))
        except (ValueError, OSError) as err:
            self.send(protocol.error(request.id, f"{request.type}: {err}"))
        except Exception as err:  # a bug must not take the engine down with it
            log.exception("request %s failed", request.type)
            self.send(protocol.error(request.id, f"{request.type}: internal error {type(err).__name__}: {err}"))

    async def serve(self) -> None:
        """Serve requests until the client goes away or the connection is closed."""
        writer_task = asyncio.create_task(self._write_loop())
        try:
            while not self.closed:
                try:
                    line = await read_line(self.reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    break
                self._serve_line(line)
                if writer_task.done():
                    break
        finally:
            self.closed = True
            writer_task.cancel()
            try:
                await writer_task
            except (asyncio.CancelledError, ConnectionError):
                pass
            self.writer.close()

    async def flush(self, timeout: float = 2.0) -> None:
        """Give the writer a moment to send what is queued (before the engine stops)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self.outbox and not self.closed and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        try:
            await asyncio.wait_for(self.writer.drain(), max(0.0, deadline - asyncio.get_running_loop().time()))
        except (asyncio.TimeoutError, ConnectionError):
            pass

    def close(self) -> None:
        """Drop the client now, discarding what it has not read (it may never read it)."""
        self.closed = True
        self._wake.set()
        self.writer.transport.abort()
