"""Append-only JSON-lines events of a run, and a reader that tolerates a torn last line."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Iterator

from engine.rundir.disk import open_private, write_error
from engine.rundir.files import atomic_write_bytes


def finite(value: Any) -> Any:
    """JSON has no NaN/inf: write them as null so every line stays valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


class EventWriter:
    """Appends one JSON object per line; each line is written with one `write` and flushed."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._file = open_private(self.path, "a")

    def write(self, event: dict[str, Any]) -> None:
        """Append one line; a failed write (a full disk) raises a one-line WriteFailed naming the file."""
        try:
            self._file.write(json.dumps(finite(event), separators=(",", ":")) + "\n")
            self._file.flush()
        except OSError as err:
            raise write_error(self.path, err) from None

    def sync(self) -> None:
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as err:
            raise write_error(self.path, err) from None

    def close(self) -> None:
        try:
            self._file.close()
        except OSError:  # the buffered tail of a failed write: already reported by `write`
            pass

    def __enter__(self) -> "EventWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def json_lines(data: bytes, start: int = 0) -> tuple[list[tuple[int, dict[str, Any]]], int]:
    """The JSON objects of the complete lines of `data` (read from offset `start`) as (offset after the line,
    object), and the offset after the last complete line.

    A torn last line (no newline yet) is left for the next read; malformed lines and non-objects are skipped.
    """
    end = data.rfind(b"\n")
    if end < 0:
        return [], start
    found, position = [], start
    for line in data[: end + 1].splitlines(keepends=True):
        position += len(line)
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            found.append((position, value))
    return found, start + end + 1


def read_events(path: Path, from_offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Complete events from byte `from_offset`, and the offset after the last complete line (see json_lines)."""
    try:
        with open(path, "rb") as f:
            f.seek(from_offset)
            data = f.read()
    except FileNotFoundError:
        return [], from_offset
    found, end = json_lines(data, from_offset)
    return [event for _, event in found], end


def iter_events(path: Path) -> Iterator[dict[str, Any]]:
    events, _ = read_events(path)
    yield from events


def truncate_after(path: Path, step: int) -> None:
    """Drop events past `step` (used on resume so the curve has no duplicate steps), and a torn last line."""
    if not Path(path).exists():
        return
    kept = [e for e in iter_events(path) if not isinstance(e.get("step"), int) or e["step"] <= step]
    atomic_write_bytes(Path(path), "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in kept).encode())
