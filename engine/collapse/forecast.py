"""A forecast before the verdict: the trend of the snapshot signals towards each collapse threshold.

Each kind has a margin that is positive on the healthy side and reaches 0 at its verdict threshold
(log effective prototypes over the dominant limit, the share of ln K the teacher entropy still has
below the uniform limit, log spread over the full-collapse limit, log centred RankMe over the
dimensional limit, of the backbone only: the projector's rank falls early in healthy contrastive
training as well). When a margin has fallen at every one of the last WINDOW snapshots, a line
through them says how many steps remain at this rate; within HORIZON steps that is a warning,
"collapsing towards <kind> — about N steps to the verdict at this rate". Torch-free.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, NamedTuple, Sequence

from engine.collapse import clustering_limits as cl
from engine.collapse.guidance import Kind
from engine.collapse.verdicts import (COLLAPSE_KINDS, FULL_DROP, FULL_PROJECTOR_SHARE, FULL_SPREAD, UNTRAINED_SPREAD,
                                      Snapshot, rank_limit, run_verdicts)

WINDOW = 3  # snapshots the trend is fitted on
HORIZON_SNAPSHOTS = 5  # warn when the verdict is at most this many snapshot intervals away


class Forecast(NamedTuple):
    """A warning at one snapshot: the kind the run is heading for and the steps left at this rate."""

    step: int
    kind: Kind
    steps_to_verdict: int
    signal: str  # the signal whose trend it is

    @property
    def message(self) -> str:
        return f"collapsing towards {self.kind} — about {self.steps_to_verdict} steps to the verdict at this rate"


def margins(s: Snapshot, peaks: Mapping[str, float]) -> dict[Kind, tuple[float, str]]:
    """(margin, signal name) per collapse kind the snapshot can say something about; > 0 is the healthy side."""
    out: dict[Kind, tuple[float, str]] = {}
    if s.effective_prototypes is not None and s.max_entropy is not None and s.max_entropy > 0:
        k = round(math.exp(s.max_entropy))
        out["dominant"] = (math.log(s.effective_prototypes / cl.dominant_limit(k, s.views)), "effective prototypes")
        if s.teacher_entropy is not None:
            out["uniform"] = (cl.UNIFORM_ENTROPY_SHARE - s.teacher_entropy / s.max_entropy, "teacher entropy")
    if peaks.get("backbone", 0.0) < UNTRAINED_SPREAD:
        return out  # the backbone has not left its initial state: nothing to extrapolate for the embeddings
    for space, spread, rank, dim in s.spaces():
        limit = (FULL_PROJECTOR_SHARE * (s.spread or 0.0) if space == "projector"
                 else min(FULL_SPREAD, FULL_DROP * peaks.get(space, spread)))
        if limit <= 0:
            continue
        full = (math.log(max(spread, 1e-12) / limit), f"{space} spread")
        out["full"] = min(out.get("full", full), full)
        if space == "backbone":  # the projector's rank falls early in healthy contrastive training too
            out["dimensional"] = (math.log(max(rank, 1e-12) / rank_limit(dim, s.views)), "backbone centred RankMe")
    return out


def _slope(xs: list[float], ys: list[float]) -> float:
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else 0.0


class Forecaster:
    """Follows one run's snapshots in step order; `add` returns the warning at that snapshot, if any."""

    def __init__(self) -> None:
        self.peaks: dict[str, float] = {}
        self.recent: list[tuple[int, dict[Kind, tuple[float, str]]]] = []  # the last WINDOW (step, margins)

    def add(self, event: Mapping[str, Any]) -> Forecast | None:
        s = Snapshot.of(event)
        if s is None:
            return None
        for space, spread, _, _ in s.spaces():
            self.peaks[space] = max(self.peaks.get(space, 0.0), spread)
        self.recent = [*self.recent, (s.step, margins(s, self.peaks))][-WINDOW:]
        if len(self.recent) < WINDOW:
            return None
        steps = [float(step) for step, _ in self.recent]
        interval = (steps[-1] - steps[0]) / (WINDOW - 1)
        best: Forecast | None = None
        for kind in COLLAPSE_KINDS:
            if not all(kind in m for _, m in self.recent):
                continue
            values = [m[kind][0] for _, m in self.recent]
            if values[-1] <= 0 or not all(b < a for a, b in zip(values, values[1:])):
                continue  # already at the verdict, or not falling at every snapshot
            rate = _slope(steps, values)
            steps_left = values[-1] / -rate if rate < 0 else math.inf
            if steps_left <= HORIZON_SNAPSHOTS * interval and (best is None or steps_left < best.steps_to_verdict):
                best = Forecast(s.step, kind, max(1, round(steps_left)), self.recent[-1][1][kind][1])
        return best


def forecasts(events: Sequence[Mapping[str, Any]]) -> list[Forecast]:
    """Every warning of a run's snapshots (in step order), one per snapshot that has one, leaving out warnings
    of the kind that is already the run's verdict there."""
    forecaster = Forecaster()
    ordered = sorted((e for e in events if isinstance(e.get("step"), int)), key=lambda e: e["step"])
    verdicts = {v.step: v.kind for v in run_verdicts(ordered)}
    out = []
    for event in ordered:
        found = forecaster.add(event)
        if found is not None and found.kind != verdicts.get(found.step):
            out.append(found)
    return out


def shown_kinds(event: Mapping[str, Any]) -> tuple[str, ...]:
    """The collapse kinds a single snapshot already shows (its recorded states), before any confirmation."""
    return tuple(str(event[key]) for key in ("embedding_state", "clustering_state") if event.get(key))


def new_warnings(events: Sequence[Mapping[str, Any]]) -> list[Forecast]:
    """The warnings worth an event: the first of a run, and each that names another kind than the one before."""
    out: list[Forecast] = []
    for f in forecasts(events):
        if not out or out[-1].kind != f.kind:
            out.append(f)
    return out
