"""Barlow Twins: hand values, a loop reference with BatchNorm1d, invariants and bad shapes."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from engine.methods.barlow_twins import BarlowTwinsConfig, BarlowTwinsLoss


def reference_barlow(z: torch.Tensor, off_diag_weight: float = 1.0) -> dict[str, torch.Tensor]:
    """PAPER.md: for every unordered view pair, C = BN(a)^T BN(b) / B with BatchNorm1d(affine=False);
    mean over the diagonal of (1 - C_ii)^2 + lambda x mean over the off-diagonal of C_ij^2."""
    views, batch, dim = z.shape
    bn = nn.BatchNorm1d(dim, affine=False).to(z.dtype).train()
    on_terms, off_terms = [], []
    for i in range(views):
        for j in range(i + 1, views):
            c = bn(z[i]).T @ bn(z[j]) / batch
            on_terms.append(torch.stack([(1 - c[d, d]) ** 2 for d in range(dim)]).mean())
            off_terms.append(torch.stack([c[d, e] ** 2 for d in range(dim) for e in range(dim) if d != e]).mean())
    on_diag = torch.stack(on_terms).mean()
    off_diag = off_diag_weight * torch.stack(off_terms).mean()
    return {"loss": on_diag + off_diag, "on_diag": on_diag, "off_diag": off_diag}


@pytest.mark.parametrize("views", [2, 3])
def test_matches_loop_reference(views: int) -> None:
    z = torch.randn(views, 6, 5, generator=torch.Generator().manual_seed(views), dtype=torch.float64)
    out = BarlowTwinsLoss(BarlowTwinsConfig(off_diag_weight=0.5)).forward_components(z)
    for name, value in reference_barlow(z, off_diag_weight=0.5).items():
        assert torch.allclose(getattr(out, name), value, atol=1e-10), name


def test_hand_values() -> None:
    a = torch.tensor([[1.0, 1.0], [-1.0, -1.0]])  # standardised already: C = [[1, -1], [1, -1]]
    b = torch.tensor([[1.0, -1.0], [-1.0, 1.0]])
    out = BarlowTwinsLoss().forward_components(torch.stack([a, b]))
    assert out.on_diag.item() == pytest.approx((0 + 4) / 2, abs=1e-4)
    assert out.off_diag.item() == pytest.approx((1 + 1) / 2, abs=1e-4)
    assert out.loss.item() == pytest.approx(3.0, abs=1e-4)


def test_identical_views_with_decorrelated_dimensions_cost_nothing() -> None:
    a = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])  # zero mean, unit var, corr 0
    assert BarlowTwinsLoss()(torch.stack([a, 3 * a + 2, a])).item() == pytest.approx(0.0, abs=1e-4)


def test_symmetric_in_views_and_invariant_to_affine_rescaling_of_a_dimension() -> None:
    z = torch.randn(3, 8, 4, generator=torch.Generator().manual_seed(0))
    loss = BarlowTwinsLoss()
    base = loss(z)
    assert torch.allclose(loss(z[[1, 2, 0]]), base, atol=1e-5)
    assert torch.allclose(loss(z * torch.tensor([2.0, 1.0, 0.5, 3.0]) + 1.0), base, atol=1e-4)
