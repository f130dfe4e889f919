"""Audition a clustering prototype, with no Qt: the prototypes with their track counts, and the play queue of one.

A collapsed clustering run shows one prototype taking every track; playing its tracks one after
another lets you hear what it stands for (audition_view is the view).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class PrototypeTracks(NamedTuple):
    """One prototype and the map rows of the tracks whose argmax it is."""

    prototype: int
    rows: np.ndarray  # (n,) int64, in map order

    @property
    def label(self) -> str:
        n = len(self.rows)
        return f"prototype {self.prototype}: {n} track" + ("s" if n != 1 else "")


def prototype_tracks(prototypes: np.ndarray) -> list[PrototypeTracks]:
    """Every used prototype of (N,) per-track prototypes (-1: none), most tracks first, ties by number."""
    prototypes = np.asarray(prototypes, np.int64)
    used, counts = np.unique(prototypes[prototypes >= 0], return_counts=True)
    order = sorted(range(len(used)), key=lambda i: (-counts[i], used[i]))
    return [PrototypeTracks(int(used[i]), np.flatnonzero(prototypes == used[i])) for i in order]


class PlayQueue:
    """The rows to play one after another; `next` gives the following row (None at the end)."""

    def __init__(self, rows: np.ndarray | list[int] = ()) -> None:
        self.rows = [int(r) for r in rows]
        self.position = -1  # index of the row playing now

    def next(self) -> int | None:
        if self.position + 1 >= len(self.rows):
            self.position = len(self.rows)
            return None
        self.position += 1
        return self.rows[self.position]

    @property
    def current(self) -> int | None:
        return self.rows[self.position] if 0 <= self.position < len(self.rows) else None
