"""The built-in demo corpus: a few hundred synthetic songs with genre, instrument and mood tags.

Each track is planned from its own seed (corpus seed, track index), so generation is byte-for-byte
reproducible and independent of how tracks are spread over worker processes. Output:
`audio/<id>.flac` (16 kHz mono PCM_16), `meta.json`, then `tags.csv` (`path,tags,split`), written
last so a folder without it is never taken for a finished corpus.
"""
from __future__ import annotations

import csv
import json
import multiprocessing
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import platformdirs
import soundfile as sf
from tqdm import tqdm

from engine.data.corpora.songs import plan_song, render
from engine.data.corpora.styles import GENRES, INSTRUMENTS, MOODS, TAG_DESCRIPTIONS
from engine.data.corpora.synth import SR

__all__ = ["DEMO_VERSION", "GENRES", "INSTRUMENTS", "MOODS", "TAG_DESCRIPTIONS", "default_demo_dir",
           "ensure_demo", "make_demo", "make_track"]

DEMO_VERSION = "3"
ENV_DIR = "MVSSL_DEMO_DIR"
TAGS_CSV = "tags.csv"
META_JSON = "meta.json"
TARGET_RMS = 0.1  # -20 dBFS for every track: loudness carries no track identity


def default_demo_dir() -> Path:
    """`$MVSSL_DEMO_DIR` if set, else the user cache dir / demo-v<version>."""
    env = os.environ.get(ENV_DIR)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_cache_dir("mvssl-workbench")) / f"demo-v{DEMO_VERSION}"


def track_id(index: int) -> str:
    return f"demo{index:04d}"


def make_track(index: int, genre: str, seed: int = 0, seconds: float = 30.0) -> tuple[np.ndarray, list[str]]:
    """One track's audio (float32, 16 kHz mono, in [-1, 1]) and its tags."""
    song = plan_song(genre, seconds, np.random.default_rng([seed, index]))
    audio = render(song, seconds)
    rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
    audio = np.tanh(audio * (TARGET_RMS / max(rms, 1e-9)))  # soft limit of the rare peaks
    return audio.astype(np.float32), song.tags()


def _genres(tracks: int, seed: int) -> list[str]:
    """Balanced genres in a seeded random order."""
    order = np.random.default_rng([seed, 1_000_003]).permutation(tracks)
    return [GENRES[i % len(GENRES)] for i in order]


def _splits(genres: list[str], seed: int) -> list[str]:
    """80/10/10 train/valid/test stratified by genre: genre by genre, places 8 and 9 of every 10 are valid, test."""
    rng = np.random.default_rng([seed, 1_000_033])
    order = sorted(range(len(genres)), key=lambda i: (GENRES.index(genres[i]), rng.random()))
    splits = [""] * len(genres)
    for pos, i in enumerate(order):
        splits[i] = {8: "valid", 9: "test"}.get(pos % 10, "train")
    return splits


def _write_track(job: tuple[str, int, str, int, float]) -> list[str]:
    """Render one track and write it atomically; returns its tags (runs in a worker process)."""
    out, index, genre, seed, seconds = job
    audio, tags = make_track(index, genre, seed, seconds)
    final = Path(out) / "audio" / f"{track_id(index)}.flac"
    tmp = final.with_name(f"{final.name}.{os.getpid()}.tmp")
    sf.write(tmp, audio, SR, format="FLAC", subtype="PCM_16")
    os.replace(tmp, final)
    return tags


def _pool_context() -> multiprocessing.context.BaseContext:
    """fork on Linux (workers need no re-import of `__main__`), spawn where fork is unsafe (macOS, Windows)."""
    return multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def make_demo(out: Path, tracks: int = 300, seed: int = 0, seconds: float = 30.0, workers: int | None = None,
              progress: bool = True) -> Path:
    """Generate the corpus into `out` (overwriting it) with a process pool; returns `out`."""
    if tracks < 1:
        raise ValueError(f"tracks: must be at least 1, got {tracks}")
    if not 1.0 <= seconds <= 600.0:
        raise ValueError(f"seconds: must be between 1 and 600, got {seconds}")
    out = Path(out)
    (out / "audio").mkdir(parents=True, exist_ok=True)
    for stale in (TAGS_CSV, META_JSON):
        (out / stale).unlink(missing_ok=True)
    keep = {f"{track_id(i)}.flac" for i in range(tracks)}
    for old in (out / "audio").glob("demo*.flac*"):  # a bigger or interrupted earlier corpus
        if old.name not in keep:
            old.unlink()
    genres = _genres(tracks, seed)
    jobs = [(str(out), i, genres[i], seed, float(seconds)) for i in range(tracks)]
    workers = max(1, min(workers or os.cpu_count() or 1, tracks))
    bar = dict(total=tracks, desc="demo corpus", unit="track", disable=not progress)
    if workers == 1:
        tags = list(tqdm(map(_write_track, jobs), **bar))
    else:
        with _pool_context().Pool(workers) as pool:
            results: Iterator[list[str]] = pool.imap(_write_track, jobs, chunksize=4)
            tags = list(tqdm(results, **bar))

    meta = {"version": DEMO_VERSION, "seed": seed, "tracks": tracks, "seconds": seconds, "sample_rate": SR}
    _atomic_text(out / META_JSON, json.dumps(meta, indent=2) + "\n")
    splits = _splits(genres, seed)
    lines = [f"audio/{track_id(i)}.flac,{';'.join(tags[i])},{splits[i]}" for i in range(tracks)]
    _atomic_text(out / TAGS_CSV, "\n".join(["path,tags,split", *lines]) + "\n")  # last: marks the corpus complete
    return out


def is_complete(out: Path, tracks: int, seed: int) -> bool:
    """Whether `out` holds a finished corpus of this version, seed and size."""
    try:
        meta = json.loads((Path(out) / META_JSON).read_text(encoding="utf-8"))
        with open(Path(out) / TAGS_CSV, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, ValueError):
        return False
    if (meta.get("version"), meta.get("seed"), meta.get("tracks")) != (DEMO_VERSION, seed, tracks):
        return False
    return len(rows) == tracks and all((Path(out) / r["path"]).is_file() for r in rows)


def ensure_demo(out: Path | None = None, tracks: int = 300, seed: int = 0, progress: bool = True) -> Path:
    """Return the corpus folder, generating it first unless a complete one is already there."""
    out = Path(out) if out is not None else default_demo_dir()
    if is_complete(out, tracks, seed):
        return out
    with _exclusive(out):  # a second caller waits, then finds the corpus complete
        if is_complete(out, tracks, seed):
            return out
        return make_demo(out, tracks=tracks, seed=seed, progress=progress)


@contextmanager
def _exclusive(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on `out/.lock` (POSIX; no lock where fcntl is missing)."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".lock", "a+b") as handle:
        try:
            import fcntl
        except ImportError:
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
