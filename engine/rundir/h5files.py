"""What both HDF5 stores of a run share: their error, an advisory file lock, the durable rename, and
writing a temporary HDF5 file that a full disk cannot turn into a crash."""
from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Any, Iterator

import h5py

from engine.rundir.disk import private_file, write_error

STR = h5py.string_dtype("utf-8")


class StoreError(ValueError):
    """A store file is missing, corrupt, incomplete or asked for something it does not hold."""


@contextlib.contextmanager
def locked(path: Path, writing: str, blocking: bool = True) -> Iterator[None]:
    """Hold an exclusive flock on `path`; non-blocking, a held lock raises StoreError naming `writing`."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a") as f:
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


def create_h5(path: Path, **kwargs: Any) -> h5py.File:
    """A new 0600 HDF5 file open for writing."""
    private_file(path)
    return h5py.File(path, "w", **kwargs)


def discard(f: h5py.File) -> None:
    """Close an HDF5 file that is being thrown away, even after a failed write.

    HDF5 cannot close a file whose cached data it fails to write (a full disk): the file stays open in the
    library, every freed h5py object prints a traceback and the process segfaults at exit. The file's own
    descriptor is pointed at /dev/null first, so the pending writes succeed into nothing and close completes.
    """
    with contextlib.suppress(Exception):
        if not f.id.valid:
            return
        fd = f.id.get_vfd_handle()
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, fd)
        finally:
            os.close(null)
    with contextlib.suppress(Exception):
        f.close()


@contextlib.contextmanager
def h5_written(final: Path, tmp: Path, **kwargs: Any) -> Iterator[h5py.File]:
    """Write the HDF5 file `tmp` meant to become `final`; a failure discards and removes `tmp` (the previous
    `final` stays) and, for a write error, raises the one-line WriteFailed naming `final`."""
    f = None
    try:  # the file is created inside: a signal between its creation and the yield removes it too
        f = create_h5(tmp, **kwargs)
        yield f
        f.close()
    except (OSError, RuntimeError) as err:
        if f is not None:
            discard(f)
        Path(tmp).unlink(missing_ok=True)
        raise write_error(final, err) from None
    except BaseException:
        if f is not None:
            discard(f)
        Path(tmp).unlink(missing_ok=True)
        raise
