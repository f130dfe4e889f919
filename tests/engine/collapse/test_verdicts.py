"""The run verdict over snapshots, the forecast before it and the guidance in the alarm, on hand-made snapshot
series whose numbers are those the reference runs show (docs/collapse-calibration.md)."""
from __future__ import annotations

import math
import typing

import pytest

from engine.collapse import guidance as gd
from engine.collapse.forecast import Forecaster, forecasts, new_warnings
from engine.collapse.verdicts import (COLLAPSE_KINDS, CONFIRM, Intended, Snapshot, latest_verdict, run_verdicts,
                                      snapshot_embedding_state)

LN_K = math.log(4096)


def snap(step: int, spread: float, rank: float = 30.0, head_spread: float | None = None,
         head_rank: float = 20.0, **more) -> dict:
    """A training snapshot of 64 views: backbone (1024-D) and, when `head_spread` is given, the projector (2048-D)."""
    out = {"type": "collapse", "step": step, "views": 64, "spread": spread, "centred_rankme": rank, "dim": 1024,
           "std": 0.001, "rankme": 1.3, "healthy_std": 1 / 32}  # raw signals of post-ReLU embeddings: ignored
    if head_spread is not None:
        out.update(head_spread=head_spread, head_centred_rankme=head_rank, head_dim=2048)
    return {**out, **more}


def kinds(events: list[dict], untrained: bool = False) -> list[str]:
    return [v.kind for v in run_verdicts(events, untrained)]


def test_a_short_healthy_run_is_untrained_then_healthy_never_collapsed() -> None:
    # the 30-step contrastive run of the issue: raw std 0.0049 ("full" before), centred it is fine
    run = [snap(10, 0.0048, 16.8, 0.0016, 15.7), snap(20, 0.031, 25.7, 0.019, 12.8), snap(30, 0.10, 36.8, 0.095, 19.7)]
    assert kinds(run) == ["untrained", "healthy", "healthy"]
    assert forecasts(run) == []


def test_the_random_control_is_untrained() -> None:
    assert kinds([snap(0, 0.004, 1.5)], untrained=True) == ["untrained"]
    assert kinds([snap(0, 0.004, 1.5)]) == ["untrained"]  # its spread never left the initial level either


def test_full_collapse_of_the_projector_is_a_tenth_of_the_backbones_spread_confirmed_twice() -> None:
    # BYOL without its predictor on the CI corpus: the backbone trains, the projector output stays constant
    run = [snap(10, 0.05, head_spread=0.05), snap(20, 0.08, head_spread=0.09), snap(30, 0.06, head_spread=0.02),
           snap(40, 0.05, head_spread=0.004), snap(50, 0.05, head_spread=0.002), snap(60, 0.05, rank=2.5, head_spread=0.2)]
    verdicts = run_verdicts(run)
    assert [v.kind for v in verdicts] == ["healthy", "healthy", "healthy", "healthy", "full", "full"]  # CONFIRM = 2
    assert verdicts[4].space == "projector" and verdicts[4].since_step == 40
    assert "projector spread 0.002 against the backbone's 0.05" in verdicts[4].evidence
    assert verdicts[5] == verdicts[4]._replace(step=60)  # one reading of another kind: the verdict holds
    assert CONFIRM == 2


def test_full_collapse_of_the_backbone_is_a_fall_from_its_highest_spread() -> None:
    run = [snap(10, 0.05), snap(20, 0.09), snap(30, 0.008), snap(40, 0.005)]
    verdicts = run_verdicts(run)
    assert [v.kind for v in verdicts] == ["healthy", "healthy", "healthy", "full"]
    assert verdicts[-1].space == "backbone" and "highest 0.09" in verdicts[-1].evidence


def test_dimensional_collapse_of_the_centred_embeddings() -> None:
    run = [snap(s, 0.1, rank=r) for s, r in ((10, 30.0), (20, 12.0), (30, 5.0), (40, 2.5), (50, 2.2))]
    verdicts = run_verdicts(run)
    assert [v.kind for v in verdicts][-2:] == ["healthy", "dimensional"]  # limit max(2, 0.05 * 63) = 3.15
    assert verdicts[-1].space == "backbone" and verdicts[-1].since_step == 40


@pytest.mark.parametrize("kind", ["dominant", "uniform"])
def test_clustering_kinds_come_from_the_prototype_statistics(kind: str) -> None:
    late = {"dominant": dict(teacher_entropy=0.05, effective_prototypes=1.02),
            "uniform": dict(teacher_entropy=8.0, effective_prototypes=3900.0)}[kind]
    run = [snap(10, 0.05, clustering_state="healthy", teacher_entropy=2.5, effective_prototypes=40.0, max_entropy=LN_K),
           *(snap(s, 0.05, clustering_state=kind, max_entropy=LN_K, **late) for s in (20, 30))]
    verdict = latest_verdict(run)
    assert verdict is not None and verdict.kind == kind and verdict.space == "prototypes" and verdict.since_step == 20


def test_one_low_reading_is_not_a_verdict() -> None:
    run = [snap(10, 0.1, rank=30.0), snap(20, 0.1, rank=1.5), snap(30, 0.1, rank=30.0)]
    assert kinds(run) == ["healthy", "healthy", "healthy"]


def test_snapshots_of_old_runs_without_centred_signals_are_not_judged_collapsed() -> None:
    old = {"type": "collapse", "step": 10, "std": 0.0001, "rankme": 1.1, "healthy_std": 1 / 32, "embedding_state": "full"}
    assert snapshot_embedding_state(old) is None
    assert kinds([old, {**old, "step": 20}]) == ["healthy", "healthy"]
    assert Snapshot.of({"step": "x"}) is None


def test_forecast_warns_before_the_dominant_verdict_with_the_steps_left() -> None:
    effective = {10: 60.0, 20: 30.0, 30: 12.0, 40: 5.0, 50: 1.5, 60: 1.1}
    run = [snap(s, 0.05, teacher_entropy=2.0, effective_prototypes=e, max_entropy=LN_K,
                clustering_state="dominant" if e <= 3.2 else "healthy") for s, e in effective.items()]
    warnings = new_warnings(run)
    assert warnings and warnings[0].kind == "dominant" and warnings[0].step == 30
    first_verdict = next(v.step for v in run_verdicts(run) if v.kind == "dominant")
    assert first_verdict == 60 and first_verdict - warnings[0].step == 30  # the lead time
    assert 5 <= warnings[0].steps_to_verdict <= 40
    assert warnings[0].message.startswith("collapsing towards dominant — about ")


def test_forecast_needs_a_fall_at_every_snapshot() -> None:
    forecaster = Forecaster()
    noisy = [60.0, 20.0, 40.0, 10.0, 30.0]
    got = [forecaster.add(snap(10 * (i + 1), 0.05, teacher_entropy=2.0, effective_prototypes=e, max_entropy=LN_K))
           for i, e in enumerate(noisy)]
    assert got == [None] * len(noisy)


def test_guidance_covers_every_verdict_and_advises_stopping_only_collapses() -> None:
    assert set(gd.GUIDANCE) == set(typing.get_args(gd.Kind)) == set(typing.get_args(Intended))
    for kind in gd.GUIDANCE:
        g = gd.guidance(kind)
        assert g.stop == (kind in COLLAPSE_KINDS) and bool(g.fixes) == (kind in COLLAPSE_KINDS or kind == "untrained")
        assert gd.advice(kind).endswith(f"See {gd.DOCS_PAGE}#{kind}.")
    assert "centering" in gd.advice("dominant") and "temperature" in gd.advice("uniform")
    assert "variance term" in gd.advice("full") and "EMA" in gd.advice("dominant")
    with pytest.raises(ValueError, match="valid: healthy"):
        gd.guidance("sideways")  # type: ignore[arg-type]
