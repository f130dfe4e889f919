"""Training-time clustering snapshots use the float64 statistics of engine.collapse.clustering."""
from __future__ import annotations

import contextlib
import math
from types import SimpleNamespace

import pytest
import torch

from engine.collapse.clustering import prototype_stats
from engine.collapse.verdicts import classify_embedding
from engine.training.snapshots import CollapseProbe


def _stub_model(logits: torch.Tensor, center: torch.Tensor | None) -> SimpleNamespace:
    loss_fn = SimpleNamespace(config=SimpleNamespace(centering=center is not None), center=center)
    return SimpleNamespace(teacher_logits=lambda views: logits, loss_fn=loss_fn)


def test_snapshot_entropy_of_a_sharp_teacher_is_exact_in_float64() -> None:
    # logit gap 0.6 at temperature 0.02: the minor prototype has probability e^-30, below float32's epsilon
    logits = torch.tensor([0.6, 0.0]).repeat(2, 8, 1)  # (V, N, K)
    snap = CollapseProbe(torch.zeros(2, 8, 4))._clustering(_stub_model(logits, None), 0.02, contextlib.nullcontext())
    q = math.exp(-30) / (1 + math.exp(-30))
    exact = -((1 - q) * math.log1p(-q) + q * math.log(q))
    assert snap["teacher_entropy"] == pytest.approx(exact, rel=1e-6)  # float32 gives 3 % less
    assert snap["usage"] == {"0": 16} and snap["distinct_prototypes"] == 1 and snap["top_share"] == 1.0
    assert snap["clustering_state"] == "dominant"


def test_snapshot_equals_prototype_stats_with_the_center() -> None:
    logits = torch.randn(2, 8, 16, generator=torch.Generator().manual_seed(0))
    center = torch.randn(16, generator=torch.Generator().manual_seed(1))
    snap = CollapseProbe(torch.zeros(2, 8, 4))._clustering(_stub_model(logits, center), 0.1, contextlib.nullcontext())
    stats = prototype_stats(logits, 0.1, center)
    assert snap["teacher_entropy"] == stats.teacher_entropy
    assert snap["effective_prototypes"] == stats.effective_prototypes
    assert sum(snap["usage"].values()) == 16 and snap["max_entropy"] == math.log(16)


def test_snapshot_records_its_views_and_the_centred_verdict() -> None:
    z = torch.randn(2, 8, 16, generator=torch.Generator().manual_seed(2)) + 3.0  # (V, N, D) with a shared mean
    model = SimpleNamespace(training=True, spec=SimpleNamespace(head="none", uses_teacher_temp=False),
                            embed=lambda views: z, eval=lambda: None, train=lambda mode=True: None)
    probe = CollapseProbe(torch.zeros(2, 8, 4))
    snap = probe.snapshot(model, 0.04, torch.float32)
    assert snap["views"] == 16 and snap["healthy_std"] == 0.25 and snap["dim"] == 16
    assert snap["centred_rankme"] > 5 and 0.2 < snap["spread"] < 0.5
    assert snap["embedding_state"] == classify_embedding(snap["spread"], snap["centred_rankme"], 16, 16) == "healthy"
    # every input at one point: full collapse, judged against the spread this run had before
    collapsed = probe.snapshot(SimpleNamespace(**{**vars(model), "embed": lambda views: z[:1, :1].expand(2, 8, 16)
                                                  + 1e-4 * torch.randn(2, 8, 16)}), 0.04, torch.float32)
    assert collapsed["embedding_state"] == "full"
    # the random control is untrained, never collapsed
    untrained = CollapseProbe(torch.zeros(2, 8, 4)).snapshot(SimpleNamespace(**{**vars(model), "spec": None}),
                                                            0.04, torch.float32)
    assert untrained["embedding_state"] == "untrained"
