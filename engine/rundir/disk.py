"""How run files meet the disk: private modes, temp files named by their writer's pid, one-line write errors.

Every folder of a run is created 0700 and every file 0600 (a run may hold a private catalogue). A writer
writes `.<name>.<pid>.tmp` (or `.partial`) beside the final file and renames it into place; when the write
fails (a full disk), the temp file is removed, the previous file stays and the error is one line naming
the path and the free space. Temp files of writers that died (kill -9) are removed by the next run or resume.
"""
from __future__ import annotations

import contextlib
import errno
import os
import re
import resource
import shutil
from pathlib import Path
from typing import Iterator

DIR_MODE = 0o700
FILE_MODE = 0o600
_TEMP = re.compile(r"^\..+\.(\d+)\.(tmp|partial)$")
_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
ROOM_MARGIN = 8 << 20  # what an HDF5 store may add beyond its data (metadata, a chunk in flight)


class WriteFailed(OSError):
    """A run file could not be written; str() is the one line for the user (path, cause, free space)."""

    def __str__(self) -> str:
        return str(self.strerror)


def private_dir(path: Path) -> Path:
    """Create `path` and its missing parents 0700; an existing folder is left as it is."""
    path = Path(path)
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=DIR_MODE)
        os.chmod(folder, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Create (or empty) `path` as a 0600 file, so that a library writing into it keeps that mode."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE))
    os.chmod(path, FILE_MODE)
    return Path(path)


def open_private(path: Path, mode: str = "ab"):
    """open() for appending or writing, creating the file 0600."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if "a" in mode else os.O_TRUNC)
    return os.fdopen(os.open(path, flags, FILE_MODE), mode, **({} if "b" in mode else {"encoding": "utf-8"}))


def temp_path(path: Path, suffix: str = "tmp") -> Path:
    """`.<name>.<pid>.<suffix>` beside `path`: the pid says whether its writer is still alive."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.{suffix}")


def free_space(path: Path) -> str:
    """Free space on the filesystem of `path` (or its nearest existing parent), e.g. `1.4 MB`."""
    probe = Path(path)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        free = shutil.disk_usage(probe).free
    except OSError:
        return "unknown"
    for unit in ("B", "kB", "MB", "GB"):
        if free < 1000 or unit == "GB":
            return f"{free:.0f} {unit}" if unit == "B" else f"{free:.1f} {unit}"
        free /= 1000
    return "unknown"


def is_disk_full(err: BaseException) -> bool:
    """ENOSPC and its kin, also when HDF5 only says it in its message (`errno = 28`)."""
    if isinstance(err, OSError) and err.errno in _FULL:
        return True
    return any(f"errno = {code}," in str(err) for code in _FULL)


def write_error(path: Path, err: BaseException) -> WriteFailed:
    """The one-line error of a failed write of `path`: a full disk says how much is free."""
    if isinstance(err, WriteFailed):
        return err
    if is_disk_full(err):
        code = getattr(err, "errno", None)
        code = code if code in _FULL else next((c for c in _FULL if f"errno = {c}," in str(err)), errno.ENOSPC)
        reason = {errno.EDQUOT: "disk quota exceeded", errno.EFBIG: "file size limit reached"}.get(code, "disk full")
        return WriteFailed(code, f"{path}: {reason} ({free_space(path)} free); previous file kept")
    cause = err.strerror if isinstance(err, OSError) and err.strerror else str(err).splitlines()[0][:200]
    return WriteFailed(getattr(err, "errno", None) or errno.EIO, f"{path}: cannot write ({cause})")


def room_for(path: Path, nbytes: int, shown: Path | None = None, margin: int = ROOM_MARGIN) -> None:
    """Raise WriteFailed (naming `shown`, default `path`) before writing `nbytes` more into `path` where the
    disk (or this process's file size limit) lacks that room plus `margin`: HDF5 must never meet a failed
    write itself (see engine.rundir.h5files.discard)."""
    path = Path(path)
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        room = shutil.disk_usage(probe).free
    except OSError:
        return
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    code = errno.ENOSPC
    if limit != resource.RLIM_INFINITY:
        left = limit - (path.stat().st_size if path.exists() else 0)
        if left < room:
            room, code = left, errno.EFBIG
    if room < nbytes + margin:
        raise write_error(shown or path, OSError(code, os.strerror(code)))


@contextlib.contextmanager
def writing(path: Path, tmp: Path) -> Iterator[Path]:
    """Around a write of `tmp` that ends in a rename onto `path`: any failure removes `tmp` and raises
    the one-line WriteFailed."""
    try:
        yield tmp
    except (OSError, RuntimeError) as err:
        with contextlib.suppress(OSError):
            Path(tmp).unlink()
        raise write_error(path, err) from None
    except BaseException:
        with contextlib.suppress(OSError):
            Path(tmp).unlink()
        raise


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_temps(folder: Path) -> list[Path]:
    """Temp files in `folder` whose writer (the pid in the name) is gone."""
    if not Path(folder).is_dir():
        return []
    found = []
    for path in Path(folder).iterdir():
        match = _TEMP.match(path.name)
        if match and int(match.group(1)) != os.getpid() and not pid_alive(int(match.group(1))):
            found.append(path)
    return found


def remove_stale_temps(*folders: Path) -> list[Path]:
    """Remove the temp files of dead writers in `folders`; returns what was removed."""
    removed = []
    for folder in folders:
        for path in stale_temps(folder):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    return removed
