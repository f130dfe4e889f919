"""DataLoader workers leave stopping to the main process.

A signal to the whole process group (`timeout`, a closed terminal, a batch system, Ctrl-C) also reaches
every worker; a worker that died of it would turn the main process's orderly cancel into "DataLoader worker
is killed by signal". Workers ignore SIGTERM and SIGINT; the main process stops and shuts them down.
"""
from __future__ import annotations

import signal


def ignore_stop_signals(worker_id: int) -> None:
    """`worker_init_fn` of every DataLoader of the engine."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
