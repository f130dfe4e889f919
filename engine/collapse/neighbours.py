"""Cosine nearest neighbours of track embeddings, in numpy with no torch so the GUI can import it.

One ranking for every user (the k-NN tag precision of `mvssl diagnose` and `mvssl compare`, `mvssl
neighbours`, the map panel): most similar first, ties by row, NaN similarities last, never the query.
By default the cosine is of centred embeddings (the mean track subtracted): post-ReLU backbone
embeddings share a large mean, so their raw cosines are all near 1 (`metric="raw"` keeps them).
"""
from __future__ import annotations

import math
from typing import Literal

import numpy as np

Metric = Literal["centred", "raw"]
METRICS: tuple[Metric, ...] = ("centred", "raw")
DEFAULT_METRIC: Metric = "centred"  # the better k-NN tag precision on the reference runs (docs/collapse-calibration.md)

NAN_RANK = -2.0  # where a NaN similarity ranks: below every cosine, above the query itself (-inf)


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (all-zero rows stay zero); (N, D) float32."""
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def search_rows(x: np.ndarray, metric: Metric = DEFAULT_METRIC) -> np.ndarray:
    """Unit rows (N, D) float32 to rank by cosine: of x itself ("raw") or of x minus its mean row over the
    finite rows ("centred")."""
    if metric not in METRICS:
        raise ValueError(f"unknown neighbour metric {metric!r} (valid: {', '.join(METRICS)})")
    x = np.asarray(x, np.float32)
    finite = np.isfinite(x).all(axis=1)
    if metric == "centred" and finite.any():
        x = x - x[finite].mean(axis=0, dtype=np.float64).astype(np.float32)
    return unit_rows(x)


def nearest_rows(unit: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(Q, k) rows of the k nearest other rows of unit rows (N, D) to each query row, best first, and
    their (Q, k) cosine similarities (NaN stays NaN); k is capped at N - 1. O(N) per query."""
    queries = np.asarray(queries, np.int64).reshape(-1)
    k = min(k, len(unit) - 1)
    if k <= 0 or len(queries) == 0:
        return np.zeros((len(queries), 0), np.int64), np.zeros((len(queries), 0), np.float32)
    sims = unit[queries] @ unit.T  # (Q, N)
    key = np.where(np.isnan(sims), NAN_RANK, sims)
    key[np.arange(len(queries)), queries] = -np.inf
    n = key.shape[1]
    kth = np.partition(key, n - k, axis=1)[:, n - k, None]  # (Q, 1) the k-th largest key
    above = key > kth
    ties = key == kth
    wanted_ties = k - above.sum(axis=1, keepdims=True)  # (Q, 1) the first ties by row fill up to k
    chosen = above | (ties & (np.cumsum(ties, axis=1) <= wanted_ties))
    rows = np.nonzero(chosen)[1].reshape(len(queries), k)  # (Q, k) in row order
    order = np.argsort(-np.take_along_axis(key, rows, axis=1), axis=1, kind="stable")
    rows = np.take_along_axis(rows, order, axis=1)
    return rows, np.take_along_axis(sims, rows, axis=1)


def nearest(unit: np.ndarray, index: int, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the k nearest other rows of unit rows (N, D) to row `index`, best first, and their similarities."""
    rows, sims = nearest_rows(unit, np.array([index]), k)
    return rows[0], sims[0]


def knn_tag_hits(unit: np.ndarray, tags: np.ndarray, queries: np.ndarray, k: int,
                 chunk: int = 256) -> np.ndarray:
    """(Q,) share of each query's k nearest other rows that share at least one tag with it.

    Args:
        unit: (N, D) unit-norm track embeddings.
        tags: (N, T) multi-hot tags (any value > 0 is a tag).
        queries: (Q,) query rows.
    """
    if not 1 <= k < len(unit):
        raise ValueError(f"k-NN precision: k = {k} needs 1 <= k < {len(unit)} tracks")
    positive = np.asarray(tags) > 0
    queries = np.asarray(queries, np.int64)
    out = []
    for rows in np.array_split(queries, max(1, math.ceil(len(queries) / chunk))):
        neighbours, _ = nearest_rows(unit, rows, k)  # (C, k)
        shared = (positive[neighbours] & positive[rows][:, None, :]).any(axis=2)  # (C, k)
        out.append(shared.mean(axis=1))
    return np.concatenate(out) if out else np.zeros(0)
