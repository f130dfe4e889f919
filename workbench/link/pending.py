"""Requests sent to the engine and not answered yet: each answer goes to the callbacks given with its request."""
from __future__ import annotations

import itertools
from typing import Any, Callable

OnReply = Callable[[dict[str, Any]], None]
OnError = Callable[[str], None]


class PendingRequests:
    """Request ids and their callbacks; an error with no `on_error` goes to `report(message)`."""

    def __init__(self, report: Callable[[str], None]) -> None:
        self.report = report
        self._ids = itertools.count(1)
        self._pending: dict[int, tuple[str, OnReply | None, OnError | None]] = {}

    def track(self, type: str, on_reply: OnReply | None, on_error: OnError | None) -> int:
        """A new request id whose answer goes to these callbacks."""
        request_id = next(self._ids)
        self._pending[request_id] = (type, on_reply, on_error)
        return request_id

    def answer(self, message: dict[str, Any]) -> None:
        """Route a reply or error message to its request's callbacks."""
        entry = self._pending.pop(message.get("id"), None)
        if entry is None:
            if not message.get("ok"):
                self.report(f"engine: {message.get('error', 'unknown error')}")
            return
        type, on_reply, on_error = entry
        if message.get("ok"):
            if on_reply is not None:
                on_reply(message.get("result") or {})
        elif on_error is not None:
            on_error(str(message.get("error", "unknown error")))
        else:
            self.report(str(message.get("error", f"{type}: unknown error")))

    def fail(self, reason: str, still_queued: set[int]) -> None:
        """The connection is gone: every request sent (not `still_queued`) fails with `reason`."""
        for request_id in [i for i in self._pending if i not in still_queued]:
            type, _, on_error = self._pending.pop(request_id)
            if type in ("hello", "subscribe"):
                continue  # subscriptions are renewed after the reconnection
            if on_error is not None:
                on_error(reason)
            elif type != "shutdown":
                self.report(f"{type}: {reason}")
