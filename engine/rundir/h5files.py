"""What both HDF5 stores of a run share: their error, an advisory file lock and the durable rename."""
from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Iterator

import h5py

STR = h5py.string_dtype("utf-8")


class StoreError(ValueError):
    """A store file is missing, corrupt, incomplete or asked for something it does not hold."""


@contextlib.contextmanager
def locked(path: Path, writing: str, blocking: bool = True) -> Iterator[None]:
    """Hold an exclusive flock on `path`; non-blocking, a held lock raises StoreError naming `writing`."""
    with open(path, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            raise StoreError(f"{path.parent}: another process is writing {writing}") from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def fsync_rename(tmp: Path, final: Path) -> None:
    """fsync `tmp`, rename it onto `final`, then fsync the folder so the rename survives a crash."""
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, final)
    dir_fd = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
