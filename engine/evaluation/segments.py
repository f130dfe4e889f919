"""Where a track is cut for embedding: every non-overlapping 4 s segment, or K seeded random ones.

The training tracks may be cut otherwise (`train_per_track`): the paper trains its probes on 25
random segments per training track and scores the test tracks over the whole track.

"all" drops silent segments (unless all are silent); an integer K redraws a silent one up to `MAX_TRIES`
times; a track shorter than one segment gives one zero-padded segment.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from torch.utils.data import Dataset

from engine.data.audio import SAMPLE_RATE, AudioError, is_silent, load
from engine.data.corpora.base import Corpus
from engine.rundir import embeddings_store

SegmentsPerTrack = int | Literal["all"]
MAX_TRIES = 10  # random draws per segment before a silent one is kept
SILENCE_DB = -60.0

@dataclass(frozen=True)
class SegmentPlan:
    """Where segments are cut: length, "all" or K random ones per track, and the seed of K."""

    segment_s: float = 4.0
    per_track: SegmentsPerTrack = "all"
    seed: int = 0
    train_per_track: SegmentsPerTrack | None = None  # the training split's tracks; None = as `per_track`

    def __post_init__(self) -> None:
        for value in (self.per_track, self.train_per_track):
            if value not in ("all", None) and not (isinstance(value, int) and value >= 1):
                raise ValueError(f"segments per track must be 'all' or a positive integer, got {value!r}")

    def for_split(self, split: str) -> SegmentPlan:
        """The plan of one track of `split`."""
        if split != "train" or self.train_per_track is None:
            return self
        return SegmentPlan(self.segment_s, self.train_per_track, self.seed)

    @property
    def samples(self) -> int:
        return round(self.segment_s * SAMPLE_RATE)


def cut_segments(wave: np.ndarray, plan: SegmentPlan, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A decoded track (n,) -> (start seconds (k,) float32, segments (k, samples) float32)."""
    seg = plan.samples
    if len(wave) < seg:
        return np.zeros(1, np.float32), np.pad(wave, (0, seg - len(wave)))[None].astype(np.float32)
    if plan.per_track == "all":
        k = len(wave) // seg
        crops = wave[: k * seg].reshape(k, seg)
        starts = np.arange(k) * seg
        loud = np.array([not is_silent(c, SILENCE_DB) for c in crops])
        if loud.any():
            crops, starts = crops[loud], starts[loud]
    else:
        starts = np.empty(plan.per_track, np.int64)
        for i in range(plan.per_track):
            for _ in range(MAX_TRIES):
                starts[i] = rng.integers(0, len(wave) - seg + 1)
                if not is_silent(wave[starts[i] : starts[i] + seg], SILENCE_DB):
                    break
        crops = np.stack([wave[s : s + seg] for s in starts])
    return (starts / SAMPLE_RATE).astype(np.float32), crops.astype(np.float32, copy=False)


class TrackSegments(Dataset):
    """Item i: (i, start seconds (k,), segments (k, samples)), or (i, reason) for an unreadable file."""

    def __init__(self, paths: list[str], plan: SegmentPlan, splits: list[str] | None = None) -> None:
        self.paths, self.plan = paths, plan
        self.splits = splits or [""] * len(paths)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple:
        try:
            wave = load(self.paths[i])
        except AudioError as err:
            return i, err.reason
        return (i, *cut_segments(wave, self.plan.for_split(self.splits[i]), np.random.default_rng((self.plan.seed, i))))


def as_is(item: tuple) -> tuple:
    """The DataLoader's collate function: items are already whole tracks."""
    return item


def track_table(corpus: Corpus) -> embeddings_store.TrackTable:
    """The corpus's tracks with multi-hot tags (N, T) in `corpus.tag_names` order."""
    column = {name: j for j, name in enumerate(corpus.tag_names)}
    tags = np.zeros((len(corpus.tracks), len(corpus.tag_names)), np.uint8)
    for i, track in enumerate(corpus.tracks):
        tags[i, [column[t] for t in track.tags]] = 1
    return embeddings_store.TrackTable([t.id for t in corpus.tracks], [str(t.path) for t in corpus.tracks],
                            [t.split for t in corpus.tracks], tags, list(corpus.tag_names))


