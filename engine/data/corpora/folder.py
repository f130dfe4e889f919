"""Any folder of audio files, with an optional tags CSV (`path,tags[,split]`)."""
from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from engine.data.corpora.base import SPLITS, Corpus, Problem, Split, Track

AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".ogg", ".mp3"})
DEFAULT_CSV = "tags.csv"
TAG_SEPARATOR = ";"


@dataclass(frozen=True)
class CsvRow:
    """One row of a tags CSV: its tags, its split if the CSV has one, and its line for errors."""

    tags: tuple[str, ...]
    split: Split | None
    line: int


def hash_split(rel_path: str) -> Split:
    """Deterministic 80/10/10 train/valid/test split from the SHA-1 of a relative path."""
    bucket = int.from_bytes(hashlib.sha1(rel_path.encode("utf-8")).digest()[:8], "big") % 100
    if bucket < 80:
        return "train"
    return "valid" if bucket < 90 else "test"


def track_id(rel_path: str) -> str:
    """Track id = relative POSIX path without its extension (`rock/song.flac` -> `rock/song`)."""
    return str(PurePosixPath(rel_path).with_suffix(""))


def find_audio(folder: Path) -> list[str]:
    """Relative POSIX paths of the audio files under `folder` (recursive, sorted)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in filenames:
            if Path(name).suffix.lower() in AUDIO_EXTENSIONS:
                found.append((Path(dirpath) / name).relative_to(folder).as_posix())
    return sorted(found)


def _normalise(rel_path: str) -> str:
    return PurePosixPath(rel_path.strip()).as_posix()


def read_tags_csv(csv_path: Path) -> dict[str, CsvRow]:
    """Rows of a tags CSV keyed by normalised relative path; bad rows raise a one-line ValueError."""
    rows: dict[str, CsvRow] = {}
    with open(csv_path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        header = [h.strip() for h in reader.fieldnames or []]
        for needed in ("path", "tags"):
            if needed not in header:
                raise ValueError(f"{csv_path}:1: missing column '{needed}' (header must be path,tags[,split])")
        reader.fieldnames = header
        has_split = "split" in header
        for record in reader:
            line = reader.line_num
            rel = _normalise(record["path"] or "")
            if rel in ("", "."):
                raise ValueError(f"{csv_path}:{line}: path: empty")
            if rel in rows:
                raise ValueError(f"{csv_path}:{line}: path: '{rel}' already listed on line {rows[rel].line}")
            tags = tuple(t.strip() for t in (record["tags"] or "").split(TAG_SEPARATOR) if t.strip())
            split = (record.get("split") or "").strip() if has_split else ""
            if split and split not in SPLITS:
                raise ValueError(f"{csv_path}:{line}: split: '{split}' is not one of {', '.join(SPLITS)}")
            rows[rel] = CsvRow(tags=tags, split=split or None, line=line)  # type: ignore[arg-type]
    return rows


def catalog(folder: Path, tags_csv: Path | None = None, name: str | None = None) -> Corpus:
    """Tracks of a folder: every audio file on disk plus every file the CSV names.

    Files the CSV names but the disk lacks stay in the catalog; `sources.keep_present`
    reports them as missing. The CSV defaults to `<folder>/tags.csv` when present.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"folder not found: {folder}")
    if tags_csv is None and (folder / DEFAULT_CSV).is_file():
        tags_csv = folder / DEFAULT_CSV
    if tags_csv is not None and not Path(tags_csv).is_file():
        raise ValueError(f"tags CSV not found: {tags_csv}")
    rows = read_tags_csv(Path(tags_csv)) if tags_csv is not None else {}

    tracks: list[Track] = []
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for rel in sorted(set(find_audio(folder)) | set(rows)):
        tid = track_id(rel)
        if tid in seen:
            problems.append(Problem(folder / rel, f"same track id '{tid}' as {seen[tid]}; skipped"))
            continue
        seen[tid] = rel
        row = rows.get(rel)
        split = row.split if row is not None and row.split is not None else hash_split(rel)
        tags = row.tags if row is not None else ()
        tracks.append(Track(id=tid, path=folder / rel, split=split, tags=tags))
    tag_names = sorted({tag for row in rows.values() for tag in row.tags})
    return Corpus(name=name or folder.name, tracks=tracks, tag_names=tag_names, problems=problems)
