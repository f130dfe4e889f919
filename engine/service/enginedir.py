"""The engine's private folder `RUNS_DIR/.engine/`: its paths, its single-instance lock, its socket address."""
from __future__ import annotations

import contextlib
import fcntl
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import platformdirs

from engine.rundir.disk import private_dir

# AF_UNIX paths longer than this do not fit sockaddr_un (108 bytes with the NUL).
_MAX_SOCKET_PATH = 100


def default_runs_dir() -> Path:
    """`$MVSSL_RUNS_DIR`, else the runs folder under the user data directory (the GUI's default too)."""
    env = os.environ.get("MVSSL_RUNS_DIR")
    return Path(env) if env else Path(platformdirs.user_data_dir("mvssl-workbench")) / "runs"


@dataclass(frozen=True)
class EnginePaths:
    """Where the engine of one runs directory keeps its socket, lock, log and queue (and the studies)."""

    runs_dir: Path
    dir: Path
    socket: Path
    lock: Path
    log: Path
    queue: Path
    studies: Path


def engine_paths(runs_dir: Path | str) -> EnginePaths:
    runs = Path(runs_dir).expanduser().resolve()
    folder = runs / ".engine"
    return EnginePaths(runs_dir=runs, dir=folder, socket=folder / "engine.sock", lock=folder / "engine.lock",
                       log=folder / "engine.log", queue=folder / "queue.json", studies=runs / ".studies")


def make_private_dir(path: Path) -> None:
    """Create `path` (and parents) and make it 0700: only this user may reach the socket inside."""
    private_dir(path)
    if stat.S_IMODE(path.stat().st_mode) != 0o700:
        path.chmod(0o700)


class EngineRunning(RuntimeError):
    """Another engine holds the lock of this runs directory."""

    def __init__(self, runs_dir: Path, pid: int | None) -> None:
        who = f"pid {pid}" if pid else "another process"
        super().__init__(f"an engine is already running for {runs_dir} ({who} holds {engine_paths(runs_dir).lock})")
        self.pid = pid


def acquire_lock(paths: EnginePaths) -> int:
    """Take the engine lock (fcntl.flock) and write our pid into it; returns the fd to keep open.

    Raises EngineRunning naming the holder's pid when another engine has it.
    """
    make_private_dir(paths.dir)
    fd = os.open(paths.lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise EngineRunning(paths.runs_dir, lock_holder(paths)) from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def lock_holder(paths: EnginePaths) -> int | None:
    """The pid written in the lock file while the lock is held; None when no engine holds it."""
    try:
        fd = os.open(paths.lock, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            text = Path(paths.lock).read_text().strip()
            return int(text) if text.isdigit() else 0
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def socket_fits(path: Path) -> bool:
    """Whether bind/connect takes the socket path itself: it fits sockaddr_un, or there is no /proc to shorten it."""
    return len(str(path)) <= _MAX_SOCKET_PATH or not Path("/proc/self/fd").is_dir()


def address_through(dir_fd: int, path: Path) -> str:
    """The short address `/proc/self/fd/N/NAME` of the socket `path`, through an open fd of its folder (Linux)."""
    return f"/proc/self/fd/{dir_fd}/{path.name}"


@contextlib.contextmanager
def socket_address(path: Path) -> Iterator[str]:
    """An address for bind/connect: the path itself, or for a long path one through its folder's fd."""
    if socket_fits(path):
        yield str(path)
        return
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield address_through(fd, path)
    finally:
        os.close(fd)
