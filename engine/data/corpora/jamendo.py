"""MTG-Jamendo split-0 for the four tagging tasks: top50, genre, instrument, moodtheme."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from engine.data.corpora.base import SPLITS, Corpus, Split, Track

Task = Literal["top50", "genre", "instrument", "moodtheme"]
TASKS: tuple[Task, ...] = ("top50", "genre", "instrument", "moodtheme")
FILE_TASK: dict[str, str] = {"top50": "top50tags", "genre": "genre", "instrument": "instrument",
                              "moodtheme": "moodtheme"}
FILE_SPLIT: dict[Split, str] = {"train": "train", "valid": "validation", "test": "test"}
# Tag column order: the upstream list where one exists, else the sorted union over the three TSVs.
TAG_LISTS: dict[str, str] = {"top50": "top50.txt", "moodtheme": "moodtheme_split.txt"}
HEADER = ("TRACK_ID", "ARTIST_ID", "ALBUM_ID", "PATH", "DURATION", "TAGS")
LOW_QUALITY_SUFFIX = ".low.mp3"


@dataclass(frozen=True)
class Row:
    """One data row of a split TSV."""

    track_id: str
    path: str  # relative to the audio root, e.g. `14/214.mp3`
    duration: float
    tags: tuple[str, ...]


def find_dirs(split_dir: Path) -> tuple[Path, Path]:
    """(split-0 folder, tags folder) from the dataset metadata folder or its split-0 folder."""
    split_dir = Path(split_dir)
    for split0 in (split_dir / "split-0", split_dir):
        if (split0 / f"autotagging_{FILE_TASK['top50']}-train.tsv").is_file():
            return split0, split0.parent / "tags"
    raise ValueError(f"jamendo: no split-0 TSVs in {split_dir} (expected split-0/autotagging_*-train.tsv)")


def tsv_path(split0: Path, task: str, split: Split) -> Path:
    return Path(split0) / f"autotagging_{FILE_TASK[task]}-{FILE_SPLIT[split]}.tsv"


def read_tsv(path: Path) -> list[Row]:
    """Rows of one split TSV: tab-split lines, tags are fields [5:], first line is the header."""
    if not path.is_file():
        raise ValueError(f"jamendo: file not found: {path}")
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or tuple(lines[0].strip().split("\t")[: len(HEADER)]) != HEADER:
        raise ValueError(f"{path}:1: header must start with {' '.join(HEADER)}")
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        fields = line.rstrip("\r\n").split("\t")
        if fields == [""]:
            continue
        if len(fields) < len(HEADER):
            raise ValueError(f"{path}:{number}: {len(fields)} fields, need at least {len(HEADER)}")
        try:
            duration = float(fields[4])
        except ValueError:
            raise ValueError(f"{path}:{number}: DURATION: '{fields[4]}' is not a number") from None
        tags = tuple(t.strip() for t in fields[5:] if t.strip())
        rows.append(Row(track_id=fields[0].strip(), path=fields[3].strip(), duration=duration, tags=tags))
    return rows


def read_tag_list(path: Path) -> list[str]:
    if not path.is_file():
        raise ValueError(f"jamendo: file not found: {path}")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _audio_path(audio_root: Path, rel: str, root_exists: bool) -> Path:
    """The PATH file, or its `.low.mp3` twin when only the low-quality download is there."""
    path = audio_root / rel
    if root_exists and rel.endswith(".mp3") and not path.is_file():
        low = audio_root / (rel[: -len(".mp3")] + LOW_QUALITY_SUFFIX)
        if low.is_file():
            return low
    return path


def catalog(split_dir: Path, audio_root: Path, task: str) -> Corpus:
    """All split-0 tracks of one task; train/validation/test map to train/valid/test."""
    if task not in TASKS:
        raise ValueError(f"jamendo: unknown task '{task}'; valid tasks: {', '.join(TASKS)}")
    split0, tags_dir = find_dirs(split_dir)
    audio_root = Path(audio_root)
    rows = {split: read_tsv(tsv_path(split0, task, split)) for split in SPLITS}
    seen = sorted({tag for split_rows in rows.values() for row in split_rows for tag in row.tags})
    if task in TAG_LISTS:
        list_path = tags_dir / TAG_LISTS[task]
        tag_names = read_tag_list(list_path)
        unknown = sorted(set(seen) - set(tag_names))
        if unknown:
            raise ValueError(f"jamendo: {len(unknown)} tag(s) of the TSVs not in {list_path}, e.g. '{unknown[0]}'")
    else:
        tag_names = seen
    root_exists = audio_root.is_dir()
    tracks = [
        Track(id=row.track_id, path=_audio_path(audio_root, row.path, root_exists), split=split,
              tags=row.tags, duration=row.duration)
        for split, split_rows in rows.items()
        for row in split_rows
    ]
    return Corpus(name=f"jamendo-{task}", tracks=tracks, tag_names=tag_names)
