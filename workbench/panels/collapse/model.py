"""What the collapse panel shows for one run, with no Qt: training curves from the run's events,
per-checkpoint diagnostics from its analysis store, and the collapse alarm.

The model reads no events file itself: the run's watcher (workbench.runs.watch) feeds it events,
resets and store changes, so the panel follows a run by the same route as every other panel.

The verdicts come from the engine: collapse events and diagnostics carry `clustering_state`,
diagnostics and collapse events carry `embedding_state` (events of older runs are judged by the
same torch-free engine.collapse.verdicts.snapshot_embedding_state).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np

from engine.rundir import analysis_store, embeddings_store
from engine.collapse.verdicts import snapshot_embedding_state
from engine.rundir.events import read_events
from engine.rundir.layout import RunDir
from workbench.runs.watch import FileChange
from workbench.runs.model import read_run

AlarmKind = Literal["dominant", "uniform", "dimensional", "full"]

COLLAPSED = ("dominant", "uniform", "dimensional", "full")
PAIR_METHODS = ("clustering", "clustering-collapse")

_EXPLAIN = {
    "dominant": "one prototype takes every sample",
    "uniform": "the teacher output is near uniform over the prototypes",
    "dimensional": "the embeddings span only a few directions",
    "full": "every embedding points the same way",
}


class Alarm(NamedTuple):
    """A run that is collapsed at its latest measurement: the kind, since when, and why."""

    kind: AlarmKind
    since_step: int
    step: int
    message: str


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


@dataclass
class Curve:
    """A scalar over training steps."""

    steps: np.ndarray  # (n,) int
    values: np.ndarray  # (n,) float, NaN where missing


class RunCollapse:
    """Collapse data of one run: the stores are read at once, the events arrive through `add_events`."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.method = read_run(self.run_dir).method
        self.collapse_events: list[dict[str, Any]] = []
        self.train_events: list[dict[str, Any]] = []
        self.diagnostics: dict[int, tuple[dict[str, Any], dict[str, np.ndarray]]] = {}
        self.dim_std: np.ndarray | None = None  # (D,) per-dimension std of L2-normalised track embeddings
        self.files_changed(FileChange(embeddings=True, analysis=True))

    @classmethod
    def load(cls, run_dir: Path) -> "RunCollapse":
        """The run as it is on disk now, for a one-off look (a panel follows it through a watcher)."""
        model = cls(run_dir)
        model.add_events(read_events(RunDir(run_dir).events)[0])
        return model

    @property
    def name(self) -> str:
        return self.run_dir.name

    def add_events(self, events: list[dict[str, Any]]) -> bool:
        """Take new events of the run; True when any of them is shown."""
        kept = False
        for event in events:
            if event.get("type") == "collapse":
                self.collapse_events.append(event)
            elif event.get("type") == "train":
                self.train_events.append(event)
            else:
                continue
            kept = True
        return kept

    def reset(self) -> None:
        """The events were rewritten (a resumed run drops later steps): they are replayed from the start."""
        self.collapse_events, self.train_events = [], []

    def files_changed(self, change: FileChange) -> None:
        """Re-read the stores that changed; a store being replaced or broken keeps what was read before."""
        if change.analysis:
            try:
                self.diagnostics = analysis_store.read_diagnostics(self.run_dir)
            except embeddings_store.StoreError:
                pass
        if change.embeddings:
            self.dim_std = self._read_dim_std()

    def _read_dim_std(self) -> np.ndarray | None:
        try:
            with embeddings_store.open_embeddings(self.run_dir) as emb:
                x = emb.track_embeddings()
        except embeddings_store.StoreError:
            return None
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        return x.std(axis=0) if len(x) > 1 else None

    # ------------------------------------------------------------------ series
    def curve(self, source: Literal["collapse", "train", "diagnostics"], key: str) -> Curve:
        """`key` over steps from collapse events, train events or the per-checkpoint diagnostics."""
        if source == "diagnostics":
            pairs = [(step, _number(s.get(key))) for step, (s, _) in self.diagnostics.items()]
        else:
            events = self.collapse_events if source == "collapse" else self.train_events
            pairs = [(int(e["step"]), _number(e.get(key))) for e in events if isinstance(e.get("step"), int)]
        pairs = [(s, v) for s, v in pairs if not math.isnan(v)]
        return Curve(np.array([p[0] for p in pairs], np.int64), np.array([p[1] for p in pairs], np.float64))

    def spectra(self) -> dict[int, np.ndarray]:
        """{checkpoint step: (R,) covariance eigenvalues, descending}."""
        return {step: arrays["spectrum"] for step, (_, arrays) in self.diagnostics.items() if "spectrum" in arrays}

    def dimension_std(self) -> tuple[np.ndarray, float] | None:
        """(D,) per-dimension std of normalised embeddings and its healthy value 1/√D (last checkpoint
        that stored `dim_std`, else the run's track embeddings)."""
        stored = [arrays["dim_std"] for _, arrays in self.diagnostics.values() if "dim_std" in arrays]
        values = stored[-1] if stored else self.dim_std
        return None if values is None else (values, 1.0 / math.sqrt(len(values)))

    @property
    def is_clustering(self) -> bool:
        return (any("teacher_entropy" in e for e in self.collapse_events + self.train_events)
                or any("usage" in arrays for _, arrays in self.diagnostics.values()))

    def usage(self) -> tuple[int, np.ndarray] | None:
        """(step, counts per used prototype, descending) of the latest prototype-usage histogram."""
        latest = [(int(e["step"]), np.array(list(e["usage"].values()), np.int64))
                  for e in self.collapse_events if isinstance(e.get("usage"), dict) and isinstance(e.get("step"), int)]
        latest += [(step, arrays["usage"][arrays["usage"] > 0]) for step, (_, arrays) in self.diagnostics.items()
                   if "usage" in arrays]
        if not latest:
            return None
        step, counts = max(latest, key=lambda p: p[0])
        return step, np.sort(counts)[::-1]

    def max_entropy(self) -> float:
        """ln K of the clustering head (NaN when unknown)."""
        for e in reversed(self.collapse_events):
            if "max_entropy" in e:
                return _number(e["max_entropy"])
        for scalars, _ in reversed(list(self.diagnostics.values())):
            if "max_entropy" in scalars:
                return _number(scalars["max_entropy"])
        return math.nan

    # ------------------------------------------------------------------ alarm
    def _states(self) -> dict[str, list[tuple[int, str, dict[str, Any]]]]:
        """Per verdict source: (step, state, values) in step order."""
        clustering = [(int(e["step"]), str(e["clustering_state"]), e) for e in self.collapse_events
                      if "clustering_state" in e and isinstance(e.get("step"), int)]
        embedding = []
        for e in self.collapse_events:
            state = snapshot_embedding_state(e)
            if isinstance(e.get("step"), int) and state is not None:
                embedding.append((int(e["step"]), state, e))
        for step, (scalars, _) in self.diagnostics.items():  # the diagnose job's verdicts, on more views
            if "clustering_state" in scalars:
                clustering.append((step, str(scalars["clustering_state"]), scalars))
            if "embedding_state" in scalars:
                embedding.append((step, str(scalars["embedding_state"]), scalars))
        return {"clustering": sorted(clustering, key=lambda s: s[0]), "embedding": sorted(embedding, key=lambda s: s[0])}

    def alarms(self) -> list[Alarm]:
        """Collapse kinds the run shows at its latest measurement (empty when healthy)."""
        out = []
        for states in self._states().values():
            if not states or states[-1][1] not in COLLAPSED:
                continue
            step, kind, values = states[-1]
            since = step
            for s, k, _ in reversed(states):
                if k != kind:
                    break
                since = s
            out.append(Alarm(kind, since, step, f"{kind} collapse: {_EXPLAIN[kind]} ({_evidence(kind, values)}; "
                                                  f"since step {since})"))
        return out


def _evidence(kind: str, values: dict[str, Any]) -> str:
    if kind == "dominant":
        return f"effective prototypes {_number(values.get('effective_prototypes')):.2f}"
    if kind == "uniform":
        return (f"teacher entropy {_number(values.get('teacher_entropy')):.2f} of "
                f"ln K = {_number(values.get('max_entropy')):.2f} nats")
    if kind == "dimensional":
        return f"RankMe {_number(values.get('rankme')):.1f}"
    return f"std {_number(values.get('std')):.2g}, healthy {_number(values.get('healthy_std')):.2g}"


def default_pair(selected: list[Path], others: list[Path] = ()) -> tuple[Path | None, Path | None]:
    """The two runs shown side by side: a clustering run next to a clustering-collapse run when
    both exist (selected runs first, then `others`, e.g. the runs directory), else the first two selected."""
    candidates = list(dict.fromkeys([Path(p) for p in selected] + [Path(p) for p in others]))
    methods = {p: read_run(p).method for p in candidates}
    pair = [next((p for p in candidates if methods[p] == m), None) for m in PAIR_METHODS]
    if all(pair):
        return pair[0], pair[1]
    first = [Path(p) for p in selected][:2]
    return (first[0] if first else None), (first[1] if len(first) > 1 else None)
