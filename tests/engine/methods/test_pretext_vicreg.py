"""VICReg: hand values, a loop reference over view pairs, invariants and bad shapes."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from engine.methods.vicreg import VICRegConfig, VICRegLoss


def reference_vicreg(z: torch.Tensor, weights: tuple[float, ...] = (1.0, 1.0, 1.0)) -> dict[str, torch.Tensor]:
    """PAPER.md, pair by pair as the official code collects it: invariance = mean squared
    difference; variance = mean ReLU(1 - sqrt(var + 1e-5)) of both views; covariance = mean
    squared off-diagonal of the batch-normalised (correlation) matrix of both views."""
    views, batch, dim = z.shape
    bn = nn.BatchNorm1d(dim, affine=False).to(z.dtype).train()
    inv_terms, var_terms, cov_terms = [], [], []
    for i in range(views):
        for j in range(i + 1, views):
            a, b = z[i], z[j]
            inv_terms.append(((a - b) ** 2).mean())
            for x in (a, b):
                var_terms.append(F.relu(1 - torch.sqrt(torch.var(x, dim=0) + 1e-5)).mean())
                c = bn(x).T @ bn(x) / batch
                off = [c[d, e] ** 2 for d in range(dim) for e in range(dim) if d != e]
                cov_terms.append(torch.stack(off).mean())
    inv = weights[0] * torch.stack(inv_terms).mean()
    var = weights[1] * torch.stack(var_terms).mean()
    cov = weights[2] * torch.stack(cov_terms).mean()
    return {"loss": inv + var + cov, "inv": inv, "var": var, "cov": cov}


@pytest.mark.parametrize("views", [2, 3])
def test_matches_loop_reference(views: int) -> None:
    z = 0.3 * torch.randn(views, 6, 5, generator=torch.Generator().manual_seed(views), dtype=torch.float64)
    config = VICRegConfig(inv_weight=2.0, var_weight=0.5, cov_weight=3.0)
    out = VICRegLoss(config).forward_components(z)
    for name, value in reference_vicreg(z, weights=(2.0, 0.5, 3.0)).items():
        assert torch.allclose(getattr(out, name), value, atol=1e-10), name


def test_hand_values() -> None:
    a = 0.5 * torch.tensor([[1.0, 1.0], [-1.0, -1.0]])  # both dims equal: correlation 1
    b = 0.5 * torch.tensor([[1.0, -1.0], [-1.0, 1.0]])  # dims opposite: correlation -1
    out = VICRegLoss().forward_components(torch.stack([a, b]))
    assert out.inv.item() == pytest.approx((0 + 1 + 0 + 1) / 4, abs=1e-6)
    assert out.var.item() == pytest.approx(1 - math.sqrt(0.5 + 1e-5), abs=1e-6)  # unbiased var 0.5
    assert out.cov.item() == pytest.approx((0.25 / (0.25 + 1e-5)) ** 2, abs=1e-6)
    assert torch.allclose(out.loss, out.inv + out.var + out.cov)


def test_constant_embeddings_pay_the_full_variance_hinge() -> None:
    out = VICRegLoss().forward_components(torch.ones(2, 4, 3))
    assert out.inv.item() == 0.0
    assert out.var.item() == pytest.approx(1 - math.sqrt(1e-5), abs=1e-6)


def test_symmetric_in_views() -> None:
    z = torch.randn(3, 8, 4, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(VICRegLoss()(z[[2, 0, 1]]), VICRegLoss()(z), atol=1e-6)


@pytest.mark.parametrize("batch, dim", [(6, 40), (40, 6)])  # the Gram form (B < D) and the direct form
def test_correlation_terms_equal_the_explicit_matrix(batch: int, dim: int) -> None:
    from engine.methods.tensors import correlation_terms

    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(3, batch, dim, generator=g, dtype=torch.float64), torch.randn(3, batch, dim, generator=g,
                                                                                      dtype=torch.float64)
    c = a.transpose(-1, -2) @ b / batch  # (3, D, D)
    off = c.pow(2).masked_fill(torch.eye(dim, dtype=torch.bool), 0.0).sum(dim=(-2, -1)).mean() / (dim * (dim - 1))
    diag, off_fast = correlation_terms(a, b)
    torch.testing.assert_close(diag, torch.diagonal(c, dim1=-2, dim2=-1))
    torch.testing.assert_close(off_fast, off)
