"""The tracks of a run's embeddings (ids, paths, splits, tags) and their clustering prototypes, in HDF5."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np

from engine.rundir.h5files import STR, StoreError


@dataclass(frozen=True, eq=False)
class TrackTable:
    """The tracks of an embeddings file, in row order; tags is (N, T) uint8 in tag_names order."""

    ids: list[str]
    paths: list[str]
    splits: list[str]
    tags: np.ndarray
    tag_names: list[str]

    def __post_init__(self) -> None:
        n = len(self.ids)
        if not (len(self.paths) == len(self.splits) == n and self.tags.shape == (n, len(self.tag_names))):
            raise ValueError(f"TrackTable: {n} ids, {len(self.paths)} paths, {len(self.splits)} splits, "
                             f"tags {self.tags.shape} for {len(self.tag_names)} tag names")

    def __len__(self) -> int:
        return len(self.ids)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, TrackTable) and (self.ids, self.paths, self.splits, self.tag_names)
                == (other.ids, other.paths, other.splits, other.tag_names) and np.array_equal(self.tags, other.tags))

    __hash__ = None  # type: ignore[assignment]

    def take(self, rows: np.ndarray) -> TrackTable:
        """The table restricted to `rows` (in that order)."""
        return TrackTable([self.ids[i] for i in rows], [self.paths[i] for i in rows],
                          [self.splits[i] for i in rows], self.tags[rows], list(self.tag_names))

    def index_of(self, track_id: str) -> int:
        try:
            return self.ids.index(track_id)
        except ValueError:
            raise StoreError(f"unknown track id '{track_id}'") from None

    def split_index(self, split: str) -> np.ndarray:
        """Row indices (int64) of the tracks of one split."""
        return np.array([i for i, s in enumerate(self.splits) if s == split], dtype=np.int64)


def write_tracks(group: h5py.Group, tracks: TrackTable) -> None:
    for name, values in (("id", tracks.ids), ("split", tracks.splits), ("path", tracks.paths)):
        group.create_dataset(name, data=np.array(values, dtype=object), dtype=STR)
    group.create_dataset("tags", data=np.asarray(tracks.tags, np.uint8).reshape(len(tracks), len(tracks.tag_names)))
    group["tags"].attrs.create("tag_names", np.array(tracks.tag_names, dtype=object), dtype=STR)


@dataclass(frozen=True, eq=False)
class TrackPrototypes:
    """The clustering prototype of each track (N,) int32 (-1: none) and how it was assigned."""

    prototype: np.ndarray
    n_prototypes: int
    head: str  # "teacher" or "student": whose clustering head gave the probabilities
    temperature: float  # of the softmax over the head's logits
    centered: bool  # teacher center subtracted from the logits first

    def attrs(self) -> dict[str, Any]:
        return {"n_prototypes": int(self.n_prototypes), "head": self.head, "temperature": float(self.temperature),
                "centered": bool(self.centered)}


def decode(values: np.ndarray) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def read_tracks(group: h5py.Group) -> TrackTable:
    return TrackTable(decode(group["id"][:]), decode(group["path"][:]), decode(group["split"][:]),
                      group["tags"][:], decode(group["tags"].attrs["tag_names"]))
