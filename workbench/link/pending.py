"""Requests sent to the engine and not answered yet: each answer goes to the callbacks given with its request."""
from __future__ import annotations

import itertools
from typing import Annotated, Any, Callable

from pydantic import Field, TypeAdapter, ValidationError

from engine.service.contract import ErrorMessage, ReplyMessage

OnReply = Callable[[dict[str, Any]], None]
OnError = Callable[[str], None]
_ANSWER = TypeAdapter(Annotated[ReplyMessage | ErrorMessage, Field(discriminator="type")])


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
        """Route a reply or error message (contract.ReplyMessage / ErrorMessage) to its request's callbacks."""
        try:
            answer = _ANSWER.validate_python(message)
        except ValidationError as err:
            self.report(f"engine: an answer this workbench cannot read ({err.errors()[0]['msg']})")
            return
        entry = self._pending.pop(answer.id, None) if isinstance(answer.id, int) else None
        if entry is None:
            if isinstance(answer, ErrorMessage):
                self.report(f"engine: {answer.error}")
            return
        type, on_reply, on_error = entry
        if isinstance(answer, ReplyMessage):
            if on_reply is not None:
                on_reply(answer.result)
        elif on_error is not None:
            on_error(answer.error)
        else:
            self.report(answer.error)

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
