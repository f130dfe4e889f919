"""What the collapse panel shows for one run, with no Qt: training curves from the run's events,
per-checkpoint diagnostics from its analysis store, and the collapse alarm.

The model reads no events file itself: the run's watcher (workbench.runs.watch) feeds it events,
resets and store changes, so the panel follows a run by the same route as every other panel.

The verdict, its guidance and the forecast come from the torch-free engine.collapse modules, read
over the run's snapshots and checkpoint diagnostics (runs written before the centred signals were
recorded are judged on their prototype statistics only).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np

from engine.rundir import analysis_store, embeddings_store
from engine.collapse.forecast import Forecast, forecasts
from engine.collapse.guidance import advice, guidance
from engine.collapse.verdicts import COLLAPSE_KINDS, Verdict, latest_verdict, merge_snapshots
from engine.methods import UNTRAINED
from engine.rundir.events import read_events
from engine.rundir.layout import RunDir
from workbench.runs.watch import FileChange
from workbench.runs.model import read_run

AlarmKind = Literal["dominant", "uniform", "dimensional", "full"]

COLLAPSED = COLLAPSE_KINDS  # the engine's collapse verdicts
PAIR_METHODS = ("clustering", "clustering-collapse")

class Alarm(NamedTuple):
    """A run that is collapsed at its latest measurement: the kind, since when, why, and what to do."""

    kind: AlarmKind
    since_step: int
    step: int
    message: str
    advice: str  # what it means, the usual fixes, whether to stop, the help page (engine.collapse.guidance)
    stop: bool  # stopping the run is advised


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
    def _judged(self) -> list[dict[str, Any]]:
        """Training snapshots and the diagnose job's checkpoints (more views) in step order: what the verdict reads."""
        return merge_snapshots(self.collapse_events, {step: scalars for step, (scalars, _) in self.diagnostics.items()})

    def verdict(self) -> Verdict | None:
        """The engine's verdict at the run's latest snapshot (None before the first)."""
        return latest_verdict(self._judged(), untrained=self.method == UNTRAINED)

    def forecast(self) -> Forecast | None:
        """The warning at the latest snapshot, when the trend heads for a collapse not yet reached."""
        judged = self._judged()
        if not judged or self.method == UNTRAINED:
            return None
        warnings = forecasts(judged)
        return warnings[-1] if warnings and warnings[-1].step == judged[-1]["step"] else None

    def alarms(self) -> list[Alarm]:
        """The collapse the run shows at its latest snapshot, with its guidance (empty when not collapsed)."""
        v = self.verdict()
        if v is None or v.kind not in COLLAPSED:
            return []
        g = guidance(v.kind)
        where = f" in the {v.space}" if v.space in ("backbone", "projector") else ""
        message = f"{g.title}{where}: {g.meaning} ({v.evidence}; since step {v.since_step})"
        return [Alarm(v.kind, v.since_step, v.step, message, advice(v.kind), g.stop)]


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
