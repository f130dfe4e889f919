"""Background jobs: results come back on the GUI thread, and Python's cyclic GC never runs in a worker."""
from __future__ import annotations

import gc
import threading

from workbench.background import Background


class _Cycle:
    """A reference cycle that records the thread that collected it."""

    collected_on: list[str] = []

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        _Cycle.collected_on.append(threading.current_thread().name)


def test_results_arrive_on_the_gui_thread_and_cycles_are_collected_there(qtbot) -> None:
    background = Background()
    assert not gc.isenabled()  # a worker's allocations can no longer start a collection
    results = []
    background.submit(lambda: (threading.current_thread().name, sum(range(1000))),
                      lambda value: results.append((threading.current_thread().name, value)), results.append)
    qtbot.waitUntil(lambda: bool(results), timeout=5000)
    [(delivered_on, (worker, total))] = results
    assert total == 499500 and worker != delivered_on == threading.main_thread().name

    _Cycle.collected_on.clear()
    _Cycle()
    allocated = [[] for _ in range(2 * gc.get_threshold()[0])]  # enough new objects for a collection
    qtbot.waitUntil(lambda: bool(_Cycle.collected_on), timeout=5000)  # the GUI thread's timer collects it
    assert _Cycle.collected_on == [threading.main_thread().name] and len(allocated) > gc.get_threshold()[0]
