"""The warm job server: one process that has imported torch, the evaluation modules and UMAP's compiled code,
and forks each evaluation job from there, so a job starts in milliseconds instead of paying seconds of imports
and numba's JIT per process (docs/performance.md, "Evaluation jobs").

`python -m engine.service.jobs.warm_server` speaks JSON lines: it prints `{"ready": true}` once warm; then
`{"start": [job argv after the module], "log": path, "env": {...}}` forks a job in its own process group and
replies `{"pid": N}` (or `{"error": "..."}`), and `{"go": N}` lets that job begin, once the engine has its pid
on record. EOF on stdin (the engine gone) ends the server: a job never released exits 5, released ones go on.

The warm-up runs in a thread at the lowest priority, so a training running beside it keeps its CPU; jobs are
forked from the main thread only after the warm-up thread has ended (forking beside a running thread is unsafe).
Nothing here runs a torch operation: a child must not inherit a used OpenMP pool. Numba uses its `workqueue`
threading layer, the one that survives a fork (set by the engine in this process's environment).
"""
from __future__ import annotations

import json
import os
import random
import select
import signal
import sys
import threading
from typing import Any

WARM_ENV = {"NUMBA_THREADING_LAYER": "workqueue"}  # GNU OpenMP refuses to run in a forked child
_MAX_FD = os.sysconf("SC_OPEN_MAX") if hasattr(os, "sysconf") else 1024


def warm_up() -> None:
    """Import what evaluation jobs import and fit one tiny UMAP, so its numba functions are compiled here."""
    import numpy as np

    import engine.collapse.diagnose  # noqa: F401  (torch, the model, the data pipeline)
    import engine.evaluation.embed  # noqa: F401
    import engine.evaluation.probe  # noqa: F401
    import torch._dynamo  # noqa: F401  (torch.optim imports it on the first optimiser: 1-2.5 s per process)
    from engine.evaluation.projection import pca_preview, umap_2d

    x = np.random.default_rng(0).standard_normal((32, 8)).astype(np.float32)
    pca_preview(x)
    umap_2d(x, n_neighbors=5)


def _warm_in_background() -> threading.Thread:
    def run() -> None:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)  # this thread only (Linux)
        warm_up()
    thread = threading.Thread(target=run, name="warm-up", daemon=True)
    thread.start()
    return thread


def _child(argv: list[str], log: str, env: dict[str, str], go: int) -> None:
    """In the forked job: own process group, log as stdout and stderr, wait for go, run the job, exit with its status."""
    try:
        os.setpgid(0, 0)
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.closerange(3, go)  # the engine's pipes and other jobs' go pipes stay the server's
        os.closerange(go + 1, _MAX_FD)
    except OSError:
        os._exit(1)  # no log to say it in; the engine finds the job gone without a result
    code = 1
    try:
        sys.stdin = open(0, closefd=False)
        sys.stdout = open(1, "w", buffering=1, closefd=False)
        sys.stderr = open(2, "w", buffering=1, closefd=False)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.environ.update(env)
        random.seed()
        said = os.read(go, 16)
        os.close(go)
        if said.strip() != b"go":
            print("engine gone before the job started; nothing done", file=sys.stderr, flush=True)
            code = 5
        else:
            from engine.service.jobs.process import main

            sys.argv = [sys.argv[0], *argv]
            code = main(argv)
    except SystemExit as err:
        code = err.code if isinstance(err.code, int) else 1
    except BaseException:  # the job's own outcome file is written by main; this is a failure around it
        import traceback

        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)


class Server:
    """The server's state: the jobs forked and not yet released (pid -> write end of their go pipe)."""

    def __init__(self) -> None:
        self.waiting: dict[int, int] = {}

    def start(self, request: dict[str, Any]) -> dict[str, Any]:
        argv, log, env = request["start"], request["log"], request.get("env") or {}
        if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv) or not isinstance(log, str):
            return {"error": "start: expects a list of arguments and a log path"}
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(write)
            _child(argv, log, {str(k): str(v) for k, v in env.items()}, read)
        os.close(read)
        try:
            os.setpgid(pid, pid)  # also here, so the group exists before the engine may signal it
        except OSError:
            pass  # the child did it first (or has exec'd / died): either way it is settled
        self.waiting[pid] = write
        return {"pid": pid}

    def go(self, pid: int) -> None:
        write = self.waiting.pop(pid, None)
        if write is not None:
            try:
                os.write(write, b"go\n")
            except OSError:
                pass  # it died already; the engine sees it gone
            os.close(write)

    def answer(self, line: bytes) -> dict[str, Any] | None:
        try:
            request = json.loads(line)
        except ValueError:
            return {"error": "not a JSON line"}
        if isinstance(request, dict) and "start" in request:
            return self.start(request)
        if isinstance(request, dict) and isinstance(request.get("go"), int):
            self.go(request["go"])
            return None
        return {"error": f"unknown request {str(request)[:80]!r}"}


def _reap() -> None:
    """Collect the jobs that ended, so none stays a zombie (the engine judges them by their result files)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


_REPLIES = 1  # the file descriptor of the replies to the engine


def _say(obj: dict[str, Any]) -> None:
    os.write(_REPLIES, (json.dumps(obj) + "\n").encode())


def serve() -> int:
    global _REPLIES
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C meant for a terminal's engine is the engine's to handle
    _REPLIES = os.dup(1)
    os.dup2(2, 1)  # whatever a library prints goes to the log, never into the replies
    sys.stdout = sys.stderr
    thread = _warm_in_background()
    server, pending = Server(), b""
    while True:
        if thread is not None and not thread.is_alive():
            thread = None
            _say({"ready": True})
        readable, _, _ = select.select([0], [], [], 0.2)
        _reap()
        if not readable:
            continue
        chunk = os.read(0, 65536)
        if not chunk:
            break  # the engine is gone
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            if thread is not None:  # not warm yet: the engine starts that job as a process of its own
                _say({"error": "warming up"})
                continue
            reply = server.answer(line)
            if reply is not None:
                _say(reply)
    for pid in list(server.waiting):
        os.close(server.waiting.pop(pid))  # EOF: the job exits without doing anything
    return 0


if __name__ == "__main__":
    sys.exit(serve())
