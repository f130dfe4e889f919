"""What the fault tests share: the command line in a child process, a limit on what it may write, a real
small tmpfs where this machine lets us mount one, and the temp files a run must not keep."""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Iterator

TEMP_MARKS = (".tmp", ".partial", ".final")


def temp_files(run_dir: Path) -> list[str]:
    """Every temp file left anywhere in the run folder."""
    return sorted(str(p.relative_to(run_dir)) for p in Path(run_dir).rglob(".*") if p.name.endswith(TEMP_MARKS))


# Sets the limit, then becomes `python -m engine.cli` (no preexec_fn: forking a threaded test process is unsafe).
_LIMITED = ("import os, resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
            "resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), resource.RLIM_INFINITY)); "
            "os.execv(sys.executable, [sys.executable, '-m', 'engine.cli', *sys.argv[2:]])")


def cli(*args: str, max_file_bytes: int | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -m engine.cli ARGS` in a child; `max_file_bytes` makes every write past that size fail in the
    kernel (RLIMIT_FSIZE, EFBIG): a full disk injected at the filesystem call, where no tmpfs can be mounted."""
    argv = ([sys.executable, "-c", _LIMITED, str(max_file_bytes)] if max_file_bytes
            else [sys.executable, "-m", "engine.cli"])
    return subprocess.run([*argv, *args], capture_output=True, text=True, timeout=timeout)


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def can_mount_tmpfs() -> bool:
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    with small_tmpfs(1 << 20) as folder:
        return folder is not None


@contextlib.contextmanager
def small_tmpfs(size: int) -> Iterator[Path | None]:
    """A real tmpfs of `size` bytes (None where mounting is not allowed); unmounted on exit."""
    folder = Path(f"/tmp/mvssl-fault-{uuid.uuid4().hex[:8]}")
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                             capture_output=True).returncode == 0
    try:
        yield folder if mounted else None
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def fill(folder: Path, leave: int) -> None:
    """Fill the filesystem of `folder` until `leave` bytes are free."""
    free = shutil.disk_usage(folder).free
    if free > leave:
        with open(folder / "filler", "wb") as f:
            os.posix_fallocate(f.fileno(), 0, free - leave)
