"""Job processes: started in their own session, known by pid + start time, signalled as a group.

A pid alone is not an identity (pids are reused); pid plus the kernel's start time of the
process (field 22 of /proc/<pid>/stat) is. Zombies count as gone.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import engine
from engine.rundir.disk import open_private, private_dir

_HAS_PROC = Path("/proc/self/stat").exists()


def start_ticks(pid: int) -> int | None:
    """Start time of `pid` in clock ticks since boot; None when it is gone or a zombie."""
    if pid <= 0:
        return None
    if not _HAS_PROC:  # no /proc (macOS): liveness only
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return 0
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2:].split()  # fields[0] is field 3 (state); comm may hold spaces
    if not fields or fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


def is_alive(pid: int | None, ticks: int | None) -> bool:
    """Whether the process `pid` that started at `ticks` still runs (a reused pid does not match)."""
    return pid is not None and ticks is not None and start_ticks(pid) == ticks


def signal_group(pid: int | None, ticks: int | None, sig: int) -> bool:
    """Send `sig` to the process group led by `pid` if that process is still the one we started."""
    if not is_alive(pid, ticks):
        return False
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def cmdline(pid: int) -> list[str]:
    """The argv of a live process ([] when unknown)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment with the project importable from any working directory."""
    env = dict(os.environ)
    root = str(Path(engine.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([root] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.update(extra or {})
    return env


def spawn_detached(argv: list[str], log_path: Path, env: dict[str, str] | None = None,
                   handshake: bool = False) -> subprocess.Popen:
    """Start `argv` in its own session with stdout+stderr appended to `log_path`.

    With `handshake`, its stdin is a pipe: the process waits for `release()` before doing any work,
    so the caller can record its pid first (an engine killed in between leaves an idle orphan that
    exits on EOF, never an unrecorded job).
    """
    private_dir(log_path.parent)
    with open_private(log_path, "ab") as log:
        return subprocess.Popen(argv, stdin=subprocess.PIPE if handshake else subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
                                env=child_env(env))


def release(proc: subprocess.Popen) -> None:
    """Let a handshake process start its work."""
    try:
        proc.stdin.write(b"go\n")
        proc.stdin.close()
    except (BrokenPipeError, OSError):
        pass  # it already died; the next poll sees it


def wait_for_release() -> bool:
    """The job side of the handshake: True once the engine says go, False on EOF (engine gone)."""
    line = sys.stdin.readline()
    sys.stdin.close()
    return line.strip() == "go"

