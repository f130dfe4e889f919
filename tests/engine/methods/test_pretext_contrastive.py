"""NT-Xent: hand values, a plain loop reference over view pairs, invariants and bad shapes."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from engine.methods.contrastive import ContrastiveConfig, ContrastiveLoss


def reference_nt_xent(z: torch.Tensor, temperature: float) -> torch.Tensor:
    """PAPER.md, literally: for every view pair i != j and track b, the positive is (j, b) and the
    denominator runs over every other item of the batch."""
    views, batch, _ = z.shape
    items = [(k, c) for k in range(views) for c in range(batch)]
    terms = []
    for i in range(views):
        for j in range(views):
            if i == j:
                continue
            for b in range(batch):
                anchor = z[i, b]
                positive = torch.exp(F.cosine_similarity(anchor, z[j, b], dim=0) / temperature)
                denominator = sum(
                    torch.exp(F.cosine_similarity(anchor, z[k, c], dim=0) / temperature)
                    for k, c in items if (k, c) != (i, b)
                )
                terms.append(-torch.log(positive / denominator))
    return torch.stack(terms).mean()


@pytest.mark.parametrize("views", [2, 3])
def test_matches_loop_reference(views: int) -> None:
    z = torch.randn(views, 5, 7, generator=torch.Generator().manual_seed(views), dtype=torch.float64)
    expected = reference_nt_xent(z, 0.1)
    assert torch.allclose(ContrastiveLoss()(z), expected, atol=1e-10)


def test_hand_value_orthogonal_tracks() -> None:
    # two tracks on orthogonal axes, two identical views: each anchor sees cos 1 with its
    # positive and cos 0 with the two other items -> -10 + log(e^10 + 2)
    e1, e2 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    z = torch.stack([torch.stack([e1, e2]), torch.stack([e1, e2])])  # (2, 2, 2)
    assert ContrastiveLoss()(z).item() == pytest.approx(math.log(1 + 2 * math.exp(-10)), abs=1e-6)


@pytest.mark.parametrize("views, batch", [(2, 2), (3, 4)])
def test_collapsed_embeddings_give_log_of_other_items(views: int, batch: int) -> None:
    z = torch.ones(views, batch, 4)
    assert ContrastiveLoss()(z).item() == pytest.approx(math.log(views * batch - 1), abs=1e-5)


def test_components_add_up_and_positive_term_is_mean_positive_cosine() -> None:
    z = torch.randn(3, 6, 5, generator=torch.Generator().manual_seed(0))
    out = ContrastiveLoss(ContrastiveConfig(temperature=0.5)).forward_components(z)
    assert torch.allclose(out.loss, out.positive + out.negative)
    zn = F.normalize(z, dim=-1)
    pair_cos = [(zn[i] * zn[j]).sum(-1).mean() for i in range(3) for j in range(3) if i != j]
    assert out.positive.item() == pytest.approx(-torch.stack(pair_cos).mean().item() / 0.5, abs=1e-5)


def test_invariant_to_view_order_batch_order_and_scale() -> None:
    g = torch.Generator().manual_seed(1)
    z = torch.randn(3, 6, 5, generator=g)
    loss = ContrastiveLoss()
    base = loss(z)
    assert torch.allclose(loss(z[[2, 0, 1]]), base, atol=1e-5)
    assert torch.allclose(loss(z[:, torch.randperm(6, generator=g)]), base, atol=1e-5)
    assert torch.allclose(loss(z * (torch.rand(3, 6, 1, generator=g) * 5 + 0.1)), base, atol=1e-5)
