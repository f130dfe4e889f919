"""2-D maps of a run's track embeddings (PCA preview, UMAP; cached in analysis.h5) and cosine
nearest neighbours.

A cached map is reused while its method, params, seed, checkpoint step and the `store_id` of
embeddings.h5 (new for every file written) are unchanged; anything else recomputes it. Neighbour
queries use the run's rows normalised once and kept in memory until embeddings.h5 changes.
"""
from __future__ import annotations

import functools
import os
import time
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np

from engine.collapse.neighbours import DEFAULT_METRIC, Metric, nearest, search_rows, unit_rows
from engine.rundir import analysis_store, embeddings_store, layout

PROJECTIONS = ("pca", "umap")


def pca_preview(x: np.ndarray, seed: int = 0) -> np.ndarray:
    """(N, D) embeddings -> (N, 2) float32 first two principal components of the L2-normalised rows."""
    from sklearn.decomposition import PCA

    x = unit_rows(x)
    if len(x) < 2:
        return np.zeros((len(x), 2), np.float32)
    xy = PCA(n_components=min(2, x.shape[1]), random_state=seed).fit_transform(x)
    return np.pad(xy, ((0, 0), (0, 2 - xy.shape[1]))).astype(np.float32)


def _numba_cache_dir() -> None:
    """Let numba keep UMAP's compiled functions between processes (set before umap is imported)."""
    if "NUMBA_CACHE_DIR" not in os.environ:
        import platformdirs

        os.environ["NUMBA_CACHE_DIR"] = str(Path(platformdirs.user_cache_dir("mvssl-workbench")) / "numba")


def umap_2d(x: np.ndarray, seed: int = 0, n_neighbors: int = 15, min_dist: float = 0.1) -> np.ndarray:
    """(N, D) embeddings -> (N, 2) float32 UMAP with cosine metric, reproducible for a given seed."""
    if len(x) < 4:
        raise ValueError(f"UMAP needs at least 4 tracks, got {len(x)}")
    _numba_cache_dir()
    import umap

    reducer = umap.UMAP(n_components=2, n_neighbors=min(n_neighbors, len(x) - 1), min_dist=min_dist,
                        metric="cosine", random_state=seed, n_jobs=1)
    return reducer.fit_transform(np.asarray(x, np.float32)).astype(np.float32)


def _methods(seed: int, n_neighbors: int, min_dist: float) -> dict[str, tuple[dict[str, Any], Callable]]:
    return {
        "pca": ({"normalise": "l2"}, lambda x: pca_preview(x, seed)),
        "umap": ({"n_neighbors": n_neighbors, "min_dist": min_dist, "metric": "cosine"},
                 lambda x: umap_2d(x, seed, n_neighbors, min_dist)),
    }


def project(run_dir: Path, methods: tuple[str, ...] = PROJECTIONS, seed: int = 0, n_neighbors: int = 15,
            min_dist: float = 0.1, force: bool = False) -> dict[str, np.ndarray]:
    """{method: (N, 2) map} of the run's track embeddings, from the cache when still valid."""
    known = _methods(seed, n_neighbors, min_dist)
    for name in methods:
        if name not in known:
            raise ValueError(f"unknown projection '{name}' (valid: {', '.join(sorted(known))})")
    with embeddings_store.open_embeddings(run_dir) as emb:
        x = emb.track_embeddings()
        key = {"seed": seed, "checkpoint_step": emb.attrs.get("checkpoint_step"),
               "store_id": emb.attrs.get("store_id"), "n_tracks": len(x)}
    out = {}
    for name in methods:
        params, compute = known[name]
        wanted = {"method": name, "params": params, **key}
        cached = None if force else analysis_store.read_projection(run_dir, name)
        if cached is not None and all(cached[1].get(k) == v for k, v in wanted.items()):
            out[name] = cached[0]
            continue
        out[name] = compute(x)
        analysis_store.write_projection(run_dir, name, out[name], {**wanted, "computed_at": time.time()})
    return out


class Neighbour(NamedTuple):
    """A nearest track: its id, cosine similarity to the query and its tag names."""

    id: str
    similarity: float
    tags: list[str]


class NeighbourIndex:
    """Track embeddings as unit rows, normalised once, for repeated cosine queries.

    Normalising 50,000 x 1024 rows costs about ten times a query on unit rows, so a run's index is
    built once (`neighbour_index`) and every later query is one matrix-vector product.
    """

    def __init__(self, x: np.ndarray, tracks: embeddings_store.TrackTable | None = None,
                 metric: Metric = DEFAULT_METRIC) -> None:
        self.metric = metric
        self.unit = search_rows(x, metric)  # (N, D) float32
        self.tracks = tracks
        self._rows = {track_id: i for i, track_id in enumerate(tracks.ids)} if tracks is not None else {}

    def row_of(self, track_id: str) -> int | None:
        """Row of `track_id`, or None when the run has no such track."""
        return self._rows.get(track_id)

    def query(self, index: int, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """Rows of the k most cosine-similar rows to row `index` (itself excluded), most similar first
        (ties by row, NaN last), and their similarities (engine.collapse.neighbours)."""
        return nearest(self.unit, index, k)


def cosine_neighbours(x: np.ndarray, index: int, k: int = 10,
                      metric: Metric = DEFAULT_METRIC) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the k most cosine-similar rows of x (N, D) to row `index` (itself excluded), and their
    similarities. Normalises all of x: for repeated queries keep a `NeighbourIndex`."""
    return NeighbourIndex(x, metric=metric).query(index, k)


def neighbour_index(run_dir: Path, metric: Metric = DEFAULT_METRIC) -> NeighbourIndex:
    """The run's index, built on first use and again whenever embeddings.h5 is replaced or rewritten."""
    path = (Path(run_dir) / layout.EMBEDDINGS).resolve()
    try:
        st = path.stat()
        version = (st.st_ino, st.st_size, st.st_mtime_ns)  # the writer renames a new file into place
    except FileNotFoundError:
        version = None  # opening it below raises the store's "no embeddings yet"
    return _cached_index(path, version, metric)


@functools.lru_cache(maxsize=2)  # a 50,000-track index holds 200 MB
def _cached_index(path: Path, version: tuple[int, int, int] | None, metric: Metric) -> NeighbourIndex:
    with embeddings_store.open_embeddings(path.parent) as emb:
        return NeighbourIndex(emb.track_embeddings(), emb.tracks, metric)


def neighbours(run_dir: Path, track_id: str, k: int = 10, metric: Metric = DEFAULT_METRIC) -> list[Neighbour]:
    """The k tracks nearest to `track_id` by cosine similarity of (centred, by default) track embeddings,
    most similar first."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    index = neighbour_index(run_dir, metric)
    tracks = index.tracks
    row = index.row_of(track_id)
    if row is None:
        path = Path(run_dir) / layout.EMBEDDINGS
        raise ValueError(f"{path}: unknown track id '{track_id}' ({len(tracks)} tracks)")
    rows, sims = index.query(row, k)
    return [Neighbour(tracks.ids[r], float(s), [t for t, on in zip(tracks.tag_names, tracks.tags[r]) if on])
            for r, s in zip(rows, sims)]
