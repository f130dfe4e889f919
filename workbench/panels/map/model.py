"""What the embedding map shows, with no Qt: tracks, maps, colourings, hover lookup, neighbours.

Everything comes from the run's store (engine.rundir.embeddings_store and analysis_store); the 2-D maps (PCA preview, UMAP) and the
clustering prototype of each track (clustering runs) are computed by the engine and only read here.
Neighbours are cosine similarities in the full embedding space, on rows normalised once at load so
a click costs one matrix-vector product.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
from scipy.spatial import cKDTree

from engine.collapse.neighbours import DEFAULT_METRIC, Metric, nearest, search_rows
from engine.rundir import analysis_store, embeddings_store
from workbench.runs.model import RunSummary

PROJECTION_ORDER = ("umap", "pca")  # the best stored map is shown first
GROUP_SEPARATORS = (":", "---")  # tag-name prefixes that form groups: "genre:rock", "genre---rock"
NO_TAG = "(none)"
TOP_PROTOTYPES = 10  # prototypes with a colour of their own; the tracks of every other one share one

ColourKind = Literal["split", "group", "tag", "kmeans", "prototype"]


class ColourBy(NamedTuple):
    """One way to colour the map: by split, a tag group (e.g. genre), one tag, k-means clusters, or the
    clustering prototype of each track."""

    kind: ColourKind
    name: str = ""

    @property
    def label(self) -> str:
        return {"split": "split", "kmeans": "k-means clusters",
                "prototype": "clustering prototype"}.get(self.kind, f"{self.kind}: {self.name}")


class TagCount(NamedTuple):
    """How many tracks of a selection carry a tag, against the whole map."""

    tag: str
    count: int
    share: float  # of the selection
    overall: float  # of every track


@dataclass(frozen=True, eq=False)
class MapData:
    """The tracks of one run as the map needs them."""

    run_dir: Path
    ids: list[str]
    paths: list[str]
    splits: list[str]
    tags: np.ndarray  # (N, T) bool
    tag_names: list[str]
    unit: np.ndarray  # (N, D) float32 L2-normalised track embeddings
    start_s: np.ndarray  # (N,) float32 start of the segment a click plays
    prototypes: np.ndarray | None = None  # (N,) int32 clustering prototype of each track (-1: none); None: no head
    n_prototypes: int = 0  # K of the clustering head

    def __len__(self) -> int:
        return len(self.ids)

    def tags_of(self, row: int) -> list[str]:
        return [self.tag_names[t] for t in np.flatnonzero(self.tags[row])]


def middle_segments(segment_track: np.ndarray, start_s: np.ndarray, n_tracks: int) -> np.ndarray:
    """(N,) start of each track's middle segment in time (intros are often quiet); 0 without segments."""
    order = np.lexsort((start_s, segment_track))  # by track, then time
    tracks = segment_track[order]
    first = np.searchsorted(tracks, np.arange(n_tracks), side="left")
    count = np.searchsorted(tracks, np.arange(n_tracks), side="right") - first
    out = np.zeros(n_tracks, np.float32)
    has = count > 0
    out[has] = start_s[order[first[has] + (count[has] - 1) // 2]]
    return out


def load_map(run_dir: Path, metric: Metric = DEFAULT_METRIC) -> MapData:
    """Tracks, the embeddings as unit rows to search (centred by default, engine.collapse.neighbours) and
    segment starts of a run (raises embeddings_store.StoreError without embeddings)."""
    with embeddings_store.open_embeddings(run_dir) as emb:
        tracks = emb.tracks
        x = emb.track_embeddings()
        starts = middle_segments(emb.segment_track(), emb.segment_start_s(), len(tracks))
        found = emb.track_prototypes()
    return MapData(Path(run_dir), tracks.ids, tracks.paths, tracks.splits, tracks.tags.astype(bool),
                   list(tracks.tag_names), search_rows(x, metric), starts,
                   found.prototype if found is not None else None, found.n_prototypes if found is not None else 0)


def read_maps(run_dir: Path, n_tracks: int) -> dict[str, np.ndarray]:
    """{name: (N, 2) xy} of the stored maps that match the tracks, best first (UMAP, then PCA)."""
    out = {}
    for name in PROJECTION_ORDER:
        found = analysis_store.read_projection(run_dir, name)
        if found is not None and found[0].shape == (n_tracks, 2):
            out[name] = found[0]
    return out


def neighbours(unit: np.ndarray, row: int, k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the k most cosine-similar tracks to `row` (itself excluded), most similar first, and their
    similarities: the engine's ranking (ties by row, NaN last), so the map lists what `mvssl neighbours` does."""
    return nearest(unit, row, k)


def tag_groups(tag_names: list[str]) -> list[str]:
    """Group prefixes in first-seen order: "genre" for "genre:rock" or "genre---rock"."""
    groups: list[str] = []
    for name in tag_names:
        for sep in GROUP_SEPARATORS:
            if sep in name:
                group = name.split(sep, 1)[0]
                if group not in groups:
                    groups.append(group)
                break
    return groups


def colour_options(tag_names: list[str], prototypes: bool = False) -> list[ColourBy]:
    """Every colouring the map offers for these tags (and prototypes, when the run stored them)."""
    return ([ColourBy("split")] + [ColourBy("group", g) for g in tag_groups(tag_names)] + [ColourBy("kmeans")]
            + ([ColourBy("prototype")] if prototypes else []) + [ColourBy("tag", t) for t in tag_names])


def prototype_categories(prototypes: np.ndarray, top: int = TOP_PROTOTYPES) -> tuple[np.ndarray, list[str]]:
    """(N,) category and names: 0..n-1 for the n <= `top` most used prototypes (most used first, ties by
    number), n for the tracks of every other prototype (and those without one)."""
    used, counts = np.unique(prototypes[prototypes >= 0], return_counts=True)
    shown = used[np.lexsort((used, -counts))[:top]]
    rank = {int(p): i for i, p in enumerate(shown)}
    codes = np.array([rank.get(int(p), len(shown)) for p in prototypes], np.int64)
    return codes, [f"prototype {p}" for p in shown] + [f"{len(used) - len(shown)} other prototypes"]


def prototype_summary(prototypes: np.ndarray, n_prototypes: int) -> str:
    """How many distinct prototypes the tracks use, and the share of the most used one."""
    assigned = prototypes[prototypes >= 0]
    if not len(assigned):
        return "no track has a prototype"
    counts = np.unique(assigned, return_counts=True)[1]
    return (f"{len(assigned)} tracks use {len(counts)} of {n_prototypes} prototypes; "
            f"the most used takes {100 * counts.max() / len(assigned):.0f} %")


def _in_group(name: str, group: str) -> bool:
    return any(name.startswith(group + sep) for sep in GROUP_SEPARATORS)


def categories(data: MapData, colour: ColourBy, clusters: np.ndarray | None = None) -> tuple[np.ndarray, list[str]]:
    """(N,) int category of each track and the category names, for one colouring.

    A group colours each track by its first tag of the group ("(none)" without one); a tag has
    two categories, without (0) and with (1); k-means needs the cluster labels; prototypes: see
    `prototype_categories`.
    """
    if colour.kind == "split":
        names = sorted(set(data.splits))
        lookup = {s: i for i, s in enumerate(names)}
        return np.array([lookup[s] for s in data.splits], np.int64), names
    if colour.kind == "tag":
        column = data.tag_names.index(colour.name)
        return data.tags[:, column].astype(np.int64), [f"not {colour.name}", colour.name]
    if colour.kind == "group":
        columns = np.array([i for i, t in enumerate(data.tag_names) if _in_group(t, colour.name)], np.int64)
        if len(columns) == 0:
            raise ValueError(f"no tag in group '{colour.name}'")
        sub = data.tags[:, columns]
        codes = np.where(sub.any(axis=1), sub.argmax(axis=1), len(columns))
        return codes.astype(np.int64), [data.tag_names[c] for c in columns] + [NO_TAG]
    if colour.kind == "kmeans":
        if clusters is None:
            raise ValueError("k-means colouring needs the cluster labels")
        k = int(clusters.max()) + 1 if len(clusters) else 0
        return clusters.astype(np.int64), [f"cluster {i}" for i in range(k)]
    if colour.kind == "prototype":
        if data.prototypes is None:
            raise ValueError("this run has no clustering prototypes")
        return prototype_categories(data.prototypes)
    raise ValueError(f"unknown colouring '{colour.kind}'")


MINIBATCH_FROM = 20_000  # tracks from which k-means runs on mini-batches (seconds instead of minutes)


def kmeans_clusters(unit: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """(N,) k-means labels of the normalised embeddings (cosine geometry); run it off the GUI thread."""
    from sklearn.cluster import KMeans, MiniBatchKMeans

    k = max(1, min(k, len(unit)))
    if len(unit) >= MINIBATCH_FROM:
        model = MiniBatchKMeans(n_clusters=k, n_init=3, batch_size=4096, random_state=seed)
    else:
        model = KMeans(n_clusters=k, n_init=3, random_state=seed)
    return model.fit_predict(unit).astype(np.int64)


def tag_makeup(tags: np.ndarray, tag_names: list[str], mask: np.ndarray) -> list[TagCount]:
    """Tag counts of the selected tracks (`mask` (N,) bool), most frequent first; tags absent from it left out."""
    n_sel = int(mask.sum())
    counts = tags[mask].sum(axis=0)
    overall = tags.mean(axis=0) if len(tags) else np.zeros(len(tag_names))
    order = np.lexsort((np.arange(len(tag_names)), -counts))
    return [TagCount(tag_names[t], int(counts[t]), counts[t] / n_sel, float(overall[t]))
            for t in order if counts[t] > 0]


class PointLookup:
    """Nearest map point to a cursor, in screen pixels, for any zoom (a k-d tree over the data coordinates)."""

    def __init__(self, xy: np.ndarray) -> None:
        self.xy = np.asarray(xy, np.float64)
        self._tree = cKDTree(self.xy) if len(self.xy) else None

    def nearest(self, x: float, y: float, pixel_w: float, pixel_h: float, radius_px: float = 6.0) -> int | None:
        """Row of the point nearest to (x, y) within `radius_px` screen pixels (pixel_w/h: data units per pixel)."""
        if self._tree is None:
            return None
        candidates = self._tree.query_ball_point((x, y), radius_px * max(pixel_w, pixel_h))
        if not candidates:
            return None
        rows = np.asarray(candidates)
        d2 = ((self.xy[rows, 0] - x) / pixel_w) ** 2 + ((self.xy[rows, 1] - y) / pixel_h) ** 2
        best = int(np.argmin(d2))
        return int(rows[best]) if d2[best] <= radius_px ** 2 else None

    def inside(self, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
        """(N,) bool: points inside the rectangle with corners (x0, y0), (x1, y1)."""
        lo_x, hi_x = sorted((x0, x1))
        lo_y, hi_y = sorted((y0, y1))
        px, py = self.xy[:, 0], self.xy[:, 1]
        return (px >= lo_x) & (px <= hi_x) & (py >= lo_y) & (py <= hi_y)


def waiting_for_embeddings(run: RunSummary) -> str:
    """What the map says of a run with no embeddings yet: who will write them, or how to."""
    if run.study and run.state in ("queued", "running"):
        return "No embeddings yet: the study embeds this run once it is trained."
    if run.job is not None and run.job.kind == "embed":
        return "No embeddings yet: the run is being embedded."
    if run.study and run.state == "done":
        return "No embeddings yet: the study's embed job writes them next."
    return "No embeddings yet: embed the run (mvssl embed, or a study's embed stage)."
