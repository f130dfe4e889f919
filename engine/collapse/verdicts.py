"""Collapse verdicts from the centred snapshot signals, without torch, so the GUI judges with the engine's thresholds.

A snapshot (an events.jsonl "collapse" event, or a checkpoint's diagnostics) carries, for the
backbone embedding a user probes and for the projector output where the loss acts (`head_`
keys), the `spread` (share of the RMS norm that varies between inputs) and the `centred_rankme`
(directions the inputs vary in); clustering runs add the prototype statistics and their
`clustering_state`. Raw post-ReLU embeddings all point into one orthant, so every signal here is
computed on centred embeddings. The thresholds were chosen on the reference set of runs of known
state (`python -m benchmarks.collapse_reference`; docs/collapse-calibration.md).
"""
from __future__ import annotations

import math
from typing import Any, Literal, Mapping, NamedTuple, Sequence

from pydantic import BaseModel, ConfigDict

from engine.collapse.guidance import Kind

EmbeddingState = Literal["healthy", "dimensional", "full"]
Intended = Literal["healthy", "untrained", "dominant", "uniform", "dimensional", "full"]  # a reference run's state
Space = Literal["backbone", "projector", "prototypes"]
COLLAPSE_KINDS: tuple[Kind, ...] = ("dominant", "uniform", "dimensional", "full")

UNTRAINED_SPREAD = 0.02  # backbone spread never above this: still the initial weights' shared mean
FULL_SPREAD = 0.01  # backbone: spread below this...
FULL_DROP = 0.1  # ...and below 10 % of the run's highest so far: every input maps to one point
FULL_PROJECTOR_SHARE = 0.1  # projector: spread below 10 % of the backbone's (its input): a near-constant output
DIMENSIONAL_RANK_SHARE = 0.05  # centred RankMe below 5 % of min(N - 1, D)...
DIMENSIONAL_RANK_MIN = 2.0  # ...or below 2 (whichever is larger): the inputs vary in one or two directions
CONFIRM = 2  # a collapse kind is the run's verdict once this many snapshots in a row show it
SNAPSHOT_VIEWS = 64  # views of a training snapshot that did not record them (32 tracks x 2 views)


def rank_limit(dim: int, n: int) -> float:
    """Centred RankMe below which embeddings of `n` inputs in `dim` dimensions are dimensionally collapsed."""
    if dim < 1 or n < 2:
        raise ValueError(f"rank_limit needs dim >= 1 and n >= 2, got dim={dim}, n={n}")
    return max(DIMENSIONAL_RANK_MIN, DIMENSIONAL_RANK_SHARE * min(n - 1, dim))


def classify_embedding(spread: float, centred_rankme: float, dim: int, n: int,
                       peak_spread: float | None = None, input_spread: float | None = None) -> EmbeddingState:
    """'healthy', 'dimensional' (the inputs vary in a few directions) or 'full' (they map to one point).

    Full: spread < 0.01 and below 10 % of `peak_spread` (the run's highest so far; None: this
    snapshot's own), or, for a projector, below 10 % of `input_spread` (the backbone's spread at the
    same snapshot). Dimensional: centred RankMe < max(2, 0.05 min(N - 1, D)).
    """
    peak = spread if peak_spread is None else max(peak_spread, spread)
    if spread < FULL_SPREAD and spread < FULL_DROP * peak:
        return "full"
    if input_spread is not None and spread < FULL_PROJECTOR_SHARE * input_spread:
        return "full"
    if centred_rankme < rank_limit(dim, n):
        return "dimensional"
    return "healthy"


class Snapshot(BaseModel):
    """The signals of one snapshot that the verdict reads (other keys of the event are ignored)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    step: int = 0
    views: int = SNAPSHOT_VIEWS
    spread: float | None = None
    centred_rankme: float | None = None
    dim: int | None = None
    head_spread: float | None = None
    head_centred_rankme: float | None = None
    head_dim: int | None = None
    teacher_entropy: float | None = None
    max_entropy: float | None = None
    effective_prototypes: float | None = None
    clustering_state: Literal["healthy", "dominant", "uniform"] | None = None

    @classmethod
    def of(cls, event: Mapping[str, Any]) -> "Snapshot | None":
        """The snapshot of an event or diagnostics dict; None when it has no step or a non-number signal."""
        values = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in event.items()}
        try:
            return cls(**values)
        except ValueError:
            return None

    def spaces(self) -> list[tuple[Space, float, float, int]]:
        """(space, spread, centred RankMe, dim) of each embedding space the snapshot measured."""
        out: list[tuple[Space, float, float, int]] = []
        if self.spread is not None and self.centred_rankme is not None and self.dim:
            out.append(("backbone", self.spread, self.centred_rankme, self.dim))
        if self.head_spread is not None and self.head_centred_rankme is not None and self.head_dim:
            out.append(("projector", self.head_spread, self.head_centred_rankme, self.head_dim))
        return out


class Verdict(NamedTuple):
    """The state of a run at one snapshot, where it shows, and since when."""

    step: int
    kind: Kind
    space: Space | None  # where the collapse shows (None: healthy or untrained)
    since_step: int
    evidence: str  # the numbers behind it, for an alarm


def _snapshot_kind(s: Snapshot, peaks: dict[Space, float]) -> tuple[Kind, Space | None, str]:
    untrained = peaks.get("backbone", math.inf) < UNTRAINED_SPREAD
    if s.clustering_state == "dominant" or (s.clustering_state == "uniform" and not untrained):
        evidence = (f"effective prototypes {s.effective_prototypes:.2f}" if s.clustering_state == "dominant"
                    and s.effective_prototypes is not None else
                    f"teacher entropy {s.teacher_entropy:.2f} of ln K = {s.max_entropy:.2f} nats"
                    if s.teacher_entropy is not None and s.max_entropy is not None else "prototype statistics")
        return s.clustering_state, "prototypes", evidence
    if untrained:  # a near-uniform teacher over an untrained backbone is its initial state, not a collapse
        return "untrained", None, f"backbone spread {peaks['backbone']:.3g} never above {UNTRAINED_SPREAD}"
    backbone = s.spread
    for space, spread, rank, dim in s.spaces():
        state = classify_embedding(spread, rank, dim, s.views, peaks.get(space),
                                   backbone if space == "projector" else None)
        if state == "full":
            return "full", space, (f"{space} spread {spread:.2g}, highest {peaks[space]:.2g}" if space == "backbone"
                                   else f"projector spread {spread:.2g} against the backbone's {backbone:.2g}")
        if state == "dimensional":
            return "dimensional", space, f"{space} centred RankMe {rank:.1f} of {min(s.views - 1, dim)}"
    return "healthy", None, ""


def merge_snapshots(events: Sequence[Mapping[str, Any]],
                    checkpoints: Mapping[int, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Training snapshots and checkpoint diagnostics as one snapshot per step, in step order; at a step that
    has both, the checkpoint's values (measured on more views) win."""
    by_step: dict[int, dict[str, Any]] = {}
    for e in events:
        if isinstance(e.get("step"), int):
            by_step[e["step"]] = {**by_step.get(e["step"], {}), **e}
    for step, scalars in checkpoints.items():
        by_step[int(step)] = {**by_step.get(int(step), {}), **scalars, "step": int(step)}
    return [by_step[step] for step in sorted(by_step)]


def run_verdicts(events: Sequence[Mapping[str, Any]], untrained: bool = False) -> list[Verdict]:
    """The run's verdict at each of its snapshots, in step order.

    A collapse kind becomes the verdict once CONFIRM snapshots in a row show it (a short run is not
    called collapsed for one low reading); a backbone whose spread never left the initial weights'
    level is 'untrained', as is every snapshot of the random control (`untrained`).
    """
    snapshots = sorted((s for s in map(Snapshot.of, events) if s is not None), key=lambda s: s.step)
    peaks: dict[Space, float] = {}
    out: list[Verdict] = []
    streak: list[tuple[Kind, Space | None, int]] = []  # the snapshot kinds of the current run of one kind
    for s in snapshots:
        for space, spread, _, _ in s.spaces():
            peaks[space] = max(peaks.get(space, 0.0), spread)
        kind, space, evidence = ("untrained", None, "the random control") if untrained else _snapshot_kind(s, peaks)
        streak = [*streak, (kind, space, s.step)] if streak and streak[-1][0] == kind else [(kind, space, s.step)]
        if kind in COLLAPSE_KINDS and len(streak) < CONFIRM:  # not yet confirmed: the verdict before holds
            previous = out[-1] if out else Verdict(s.step, "healthy", None, s.step, "")
            out.append(previous._replace(step=s.step))
            continue
        out.append(Verdict(s.step, kind, space, streak[0][2], evidence))
    return out


def latest_verdict(events: Sequence[Mapping[str, Any]], untrained: bool = False) -> Verdict | None:
    """The run's verdict at its latest snapshot (None without snapshots)."""
    verdicts = run_verdicts(events, untrained)
    return verdicts[-1] if verdicts else None


def peak_spreads(events: Sequence[Mapping[str, Any]]) -> dict[Space, float]:
    """The highest spread of each space over the snapshots (a run's history, for `FULL_DROP`)."""
    peaks: dict[Space, float] = {}
    for s in filter(None, map(Snapshot.of, events)):
        for space, spread, _, _ in s.spaces():
            peaks[space] = max(peaks.get(space, 0.0), spread)
    return peaks


def snapshot_embedding_state(snapshot: Mapping[str, Any],
                             peaks: Mapping[Space, float] | None = None) -> EmbeddingState | None:
    """The embedding state of one snapshot, the worst over its spaces, given the run's highest spreads so far
    (`peak_spreads`; without them full collapse cannot be told from an early snapshot, so none is called);
    None for snapshots without the centred signals (runs written before they were recorded)."""
    s = Snapshot.of(snapshot)
    if s is None or not s.spaces():
        return None
    peaks = peaks or {}
    if peaks.get("backbone", s.spread if s.spread is not None else 0.0) < UNTRAINED_SPREAD:
        return "healthy"  # the initial state: judged untrained over the run, never collapsed
    states = [classify_embedding(spread, rank, dim, s.views, peaks.get(space), s.spread if space == "projector" else None)
              for space, spread, rank, dim in s.spaces()]
    return "full" if "full" in states else "dimensional" if "dimensional" in states else "healthy"
