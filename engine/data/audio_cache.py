"""A decoded, seekable audio cache of one corpus: every track once at 16 kHz mono int16, crops by memory map.

Decoding an MP3 costs far more than copying its samples, so a cache built once (`mvssl corpus cache
SOURCE`) lets a few CPU cores feed a GPU. Layout of a cache folder: `shard-NNNN.pcm` files of raw
int16 samples, appended track after track, and `index.jsonl`, one line per finished track (path,
shard, offset, length, source size and mtime). A track's samples are flushed before its index line,
so an interrupted build loses at most the track being written; building again truncates each shard
to its indexed end and continues. int16 halves the size of float32 and its rounding (1/65536 of full
scale, -96 dB) is below what 16-bit sources and MP3 carry; samples past full scale are clipped.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from engine.data.audio import SAMPLE_RATE, AudioError, load, probe, output_frames
from engine.data.corpora.base import Track

INDEX = "index.jsonl"
SHARD_BYTES = 1 << 30  # a new shard starts once one holds this much (about 9 h of audio)
_BLOCK_S = 60.0  # seconds decoded at a time while building: a long file is never whole in float32
_SCALE = 32768.0


@dataclass(frozen=True)
class Entry:
    """Where one track's samples are: shard number, first sample, sample count; and the file it came from."""

    shard: int
    offset: int
    length: int
    size: int
    mtime_ns: int


def default_root() -> Path:
    """`$MVSSL_CACHE_DIR` if set, else the user cache dir, / audio."""
    import platformdirs

    return Path(os.environ.get("MVSSL_CACHE_DIR") or platformdirs.user_cache_dir("mvssl-workbench")) / "audio"


def source_key(spec: str) -> str:
    """A folder name for a SOURCE: its kind and a hash of its fields, paths made absolute."""
    from engine.data.corpora.sources import parse_source

    kind, fields = parse_source(spec)
    canonical = [kind] + [str(Path(f).resolve()) if Path(f).exists() else f for f in fields]
    return f"{kind}-{hashlib.sha1(':'.join(canonical).encode()).hexdigest()[:16]}"


def cache_dir(spec: str, root: Path | None = None) -> Path:
    return (root or default_root()) / source_key(spec)


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def read_index(folder: Path) -> dict[str, Entry]:
    """Finished tracks by absolute path; a torn last line (an interrupted write) is ignored, later lines win."""
    entries: dict[str, Entry] = {}
    try:
        lines = (Path(folder) / INDEX).read_text().splitlines()
    except FileNotFoundError:
        return entries
    for line in lines:
        try:
            d = json.loads(line)
            entries[d["path"]] = Entry(int(d["shard"]), int(d["offset"]), int(d["length"]),
                                       int(d["size"]), int(d["mtime_ns"]))
        except (ValueError, KeyError, TypeError):
            continue
    return entries


def _shard_ends(entries: dict[str, Entry]) -> dict[int, int]:
    ends: dict[int, int] = {}
    for e in entries.values():
        ends[e.shard] = max(ends.get(e.shard, 0), e.offset + e.length)
    return ends


def _shard_path(folder: Path, shard: int) -> Path:
    return folder / f"shard-{shard:04d}.pcm"


class AudioCache:
    """Read side: the cached crop of a track whose source file is unchanged, else None (decode it instead)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.entries = read_index(self.folder)
        self._ends = _shard_ends(self.entries)
        self._maps: dict[int, np.memmap] = {}
        self._fresh: dict[str, bool] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_maps": {}}  # each DataLoader worker maps the shards itself

    def entry(self, path: Path) -> Entry | None:
        """The track's entry if its file still has the size and mtime it was decoded from (checked once)."""
        key = str(Path(path).absolute())
        e = self.entries.get(key)
        if e is None:
            return None
        if key not in self._fresh:
            self._fresh[key] = _stat(Path(key)) == (e.size, e.mtime_ns)
        return e if self._fresh[key] else None

    def length(self, path: Path) -> int | None:
        """Samples of the cached track (what `output_frames(check(path))` gives), or None when not cached."""
        e = self.entry(path)
        return None if e is None else e.length

    def crop(self, path: Path, start: int, n: int) -> np.ndarray | None:
        """Float32 samples start..start + n, zero-padded past the end, like `audio.load`; None when not cached."""
        e = self.entry(path)
        if e is None:
            return None
        if start >= e.length:
            raise AudioError(path, f"offset {start} samples is beyond the end ({e.length} samples)")
        if e.shard not in self._maps:
            try:
                self._maps[e.shard] = np.memmap(_shard_path(self.folder, e.shard), dtype=np.int16, mode="r",
                                                shape=(self._ends[e.shard],))
            except (OSError, ValueError):  # shard deleted or cut short since the index was read: decode
                self.entries = {k: v for k, v in self.entries.items() if v.shard != e.shard}
                return None
        stop = min(start + n, e.length)
        x = np.multiply(self._maps[e.shard][e.offset + start:e.offset + stop], np.float32(1 / _SCALE),
                        dtype=np.float32)
        return np.pad(x, (0, n - len(x))) if len(x) < n else x


def find(spec: str, root: Path | None = None) -> AudioCache | None:
    """The cache of SOURCE if one with at least one finished track exists (complete or partial), else None."""
    folder = cache_dir(spec, root)
    if not (folder / INDEX).is_file():
        return None
    cache = AudioCache(folder)
    return cache if len(cache) else None


def _encode(x: np.ndarray) -> bytes:
    return np.clip(np.round(x * _SCALE), -32768, 32767).astype("<i2").tobytes()


def _decode_track(key: str) -> tuple[str, tuple[int, int] | None, bytes, str]:
    """(path, its size and mtime before decoding, int16 bytes at 16 kHz mono, error): decoded in blocks."""
    path, st = Path(key), _stat(Path(key))
    try:
        if st is None:
            raise AudioError(path, "file not found")
        total = output_frames(probe(path), SAMPLE_RATE)
        block = round(_BLOCK_S * SAMPLE_RATE)
        data = b"".join(_encode(load(path, i / SAMPLE_RATE, min(block, total - i) / SAMPLE_RATE, SAMPLE_RATE))
                        for i in range(0, total, block))
    except AudioError as err:
        return key, st, b"", str(err)
    return key, st, data, ""


@dataclass
class BuildResult:
    folder: Path
    cached: int  # tracks decoded in this build
    reused: int  # tracks already in the cache and unchanged
    failed: list[str]  # "path: reason" of files that could not be decoded


def build(tracks: list[Track], folder: Path, progress: bool = True,
          report: Callable[[str], None] | None = None, workers: int | None = None) -> BuildResult:
    """Decode every track not yet cached (or changed since) into `folder` with `workers` processes (default:
    all cores); resumable after any interruption."""
    folder.mkdir(parents=True, exist_ok=True)
    lock = open(folder / ".lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise OSError(f"{folder}: another process is building this cache") from None
    try:
        return _build_locked(tracks, folder, progress, report, workers or os.cpu_count() or 1)
    finally:
        lock.close()


def _drop_torn_line(index: Path) -> None:
    """Cut an index line that an interruption left without its newline, so the next line starts clean."""
    if not index.is_file():
        return
    data = index.read_bytes()
    if data and not data.endswith(b"\n"):
        os.truncate(index, data.rfind(b"\n") + 1)


def _build_locked(tracks: list[Track], folder: Path, progress: bool,
                  report: Callable[[str], None] | None, workers: int) -> BuildResult:
    import multiprocessing

    from tqdm import tqdm

    say = report or (lambda line: tqdm.write(line, file=sys.stderr))
    _drop_torn_line(folder / INDEX)
    entries = read_index(folder)
    ends = _shard_ends(entries)
    for shard_file in folder.glob("shard-*.pcm"):  # drop samples written after the last finished track
        shard = int(shard_file.stem.split("-")[1])
        if shard_file.stat().st_size > 2 * ends.get(shard, 0):
            os.truncate(shard_file, 2 * ends.get(shard, 0))
    keys = [str(Path(t.path).absolute()) for t in tracks]
    todo = [k for k in keys if k not in entries or _stat(Path(k)) != (entries[k].size, entries[k].mtime_ns)]
    shard = max(ends, default=0)
    end = ends.get(shard, 0)
    failed: list[str] = []
    # workers ignore Ctrl-C: the build stops in this process, which ends them
    # spawned, not forked: a fork of a process that already runs threads (torch's, a GUI's) can deadlock
    pool = (multiprocessing.get_context("spawn").Pool(min(workers, len(todo)), initializer=signal.signal,
                                                      initargs=(signal.SIGINT, signal.SIG_IGN))
            if workers > 1 and len(todo) > 1 else None)
    decoded = pool.imap(_decode_track, todo) if pool else map(_decode_track, todo)
    try:
        with open(folder / INDEX, "a") as index:
            for key, st, data, error in tqdm(decoded, total=len(todo), desc="decoding", unit="track",
                                             disable=not progress, dynamic_ncols=True):
                if error:
                    failed.append(error)
                    say(f"mvssl: skipped {error}")
                    continue
                if 2 * end >= SHARD_BYTES:
                    shard, end = shard + 1, 0
                with open(_shard_path(folder, shard), "ab") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
                line = {"path": key, "shard": shard, "offset": end, "length": len(data) // 2,
                        "size": st[0], "mtime_ns": st[1]}
                index.write(json.dumps(line) + "\n")
                index.flush()
                os.fsync(index.fileno())
                end += len(data) // 2
    finally:
        if pool:
            pool.terminate()
    return BuildResult(folder, len(todo) - len(failed), len(keys) - len(todo), failed)
