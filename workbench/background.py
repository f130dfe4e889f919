"""Run a plain function off the GUI thread and hand its result back on the GUI thread.

Only the newest submission of a `Background` delivers: a result that a later `submit` has
made stale is dropped, so a slow load never overwrites a newer one.
"""
from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot
from pyqtgraph.util.garbage_collector import GarbageCollector

_gui_thread_gc: GarbageCollector | None = None


def collect_garbage_on_gui_thread() -> None:
    """Python's cyclic GC runs from a GUI-thread timer from now on: run by a worker thread, it can destroy
    a Qt object there and deadlock (PySide6 waits for the GIL inside the object's destructor)."""
    global _gui_thread_gc
    if _gui_thread_gc is None:
        _gui_thread_gc = GarbageCollector(interval=1.0)


class _Relay(QObject):
    done = Signal(int, object)
    failed = Signal(int, str)


class _Job(QRunnable):
    def __init__(self, generation: int, fn: Callable[[], Any], relay: _Relay) -> None:
        super().__init__()
        self.generation, self.fn, self.relay = generation, fn, relay

    def run(self) -> None:
        try:
            result = self.fn()
        except Exception as err:  # reported to the view, which shows it
            self.relay.failed.emit(self.generation, f"{type(err).__name__}: {err}")
        else:
            self.relay.done.emit(self.generation, result)


class Background(QObject):
    """One background slot: `submit(fn, on_done, on_error)`; callbacks run on the GUI thread."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        collect_garbage_on_gui_thread()
        self._relay = _Relay()  # no Qt parent: it outlives this object while a job still holds it
        self._relay.done.connect(self._on_done)
        self._relay.failed.connect(self._on_failed)
        self._generation = 0
        self._running = 0
        self._callbacks: tuple[Callable[[Any], None], Callable[[str], None] | None] | None = None

    @property
    def busy(self) -> bool:
        return self._running > 0

    def submit(self, fn: Callable[[], Any], on_done: Callable[[Any], None],
               on_error: Callable[[str], None] | None = None) -> None:
        self._generation += 1
        self._running += 1
        self._callbacks = (on_done, on_error)
        QThreadPool.globalInstance().start(_Job(self._generation, fn, self._relay))

    def cancel(self) -> None:
        """Drop the result of what is running (the function itself runs to its end)."""
        self._generation += 1

    @Slot(int, object)
    def _on_done(self, generation: int, result: object) -> None:
        self._running -= 1
        if generation == self._generation and self._callbacks is not None:
            self._callbacks[0](result)

    @Slot(int, str)
    def _on_failed(self, generation: int, message: str) -> None:
        self._running -= 1
        if generation == self._generation and self._callbacks is not None and self._callbacks[1] is not None:
            self._callbacks[1](message)
