"""The one record every corpus adapter yields, and the corpus that holds them."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Split = Literal["train", "valid", "test"]
SPLITS: tuple[Split, ...] = ("train", "valid", "test")


@dataclass(frozen=True)
class Track:
    """One audio track: where it is, which split it belongs to, and its tags."""

    id: str
    path: Path
    split: Split
    tags: tuple[str, ...]
    duration: float | None = None  # seconds; None until the file has been probed


@dataclass(frozen=True)
class Problem:
    """A file the adapter could not use, and why (missing, unreadable, ...)."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class Corpus:
    """Tracks of one source with the tag vocabulary in column order and the files it skipped."""

    name: str
    tracks: list[Track]
    tag_names: list[str]
    problems: list[Problem] = field(default_factory=list)

    def split(self, split: Split) -> list[Track]:
        return [t for t in self.tracks if t.split == split]
