"""VICReg pretext task: invariance between views, variance and decorrelation within each view.

PAPER.md: "invariance = mean squared difference; variance = mean ReLU(1 - sqrt(var + 1e-5));
covariance = mean squared off-diagonal of the batch-normalised (correlation) matrix; all three
coefficients 1.0." Invariance is averaged over unordered view pairs, variance and covariance
over views (each view enters every pair it belongs to, so both averages agree). The correlation
matrix is divided by B, so a dimension's correlation with itself is 1; the official code divides
by B - 1 (``cov_divisor="B-1"``), which makes its covariance term (B / (B-1))² times ours.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.methods.dist import gather_views
from engine.methods.tensors import batch_standardize, check_views, correlation_terms


@dataclass(frozen=True)
class VICRegConfig:
    """Hyper-parameters of VICReg, with the paper's values."""

    inv_weight: float = 1.0  # weight of the invariance term
    var_weight: float = 1.0  # weight of the variance (hinge on the std) term
    cov_weight: float = 1.0  # weight of the covariance (decorrelation) term
    std_target: float = 1.0  # gamma: each dimension's std over the batch is pushed up to this
    eps: float = 1e-5  # added to the variance under the square root, and when standardising
    cov_divisor: Literal["B", "B-1"] = "B"  # normaliser of the correlation matrix; "B-1" = official code

    def __post_init__(self) -> None:
        if self.cov_divisor not in ("B", "B-1"):
            raise ValueError(f"VICRegConfig.cov_divisor must be 'B' or 'B-1', got {self.cov_divisor!r}")
        for name in ("inv_weight", "var_weight", "cov_weight", "std_target"):
            if getattr(self, name) < 0:
                raise ValueError(f"VICRegConfig.{name} must be >= 0, got {getattr(self, name)}")
        if not self.eps > 0:
            raise ValueError(f"VICRegConfig.eps must be > 0, got {self.eps}")


class VICRegComponents(NamedTuple):
    """VICReg loss and its weighted terms; ``loss = inv + var + cov``."""

    loss: Tensor  # () total
    inv: Tensor  # () mean squared difference between views of a track
    var: Tensor  # () mean ReLU(gamma - std) per dimension; gamma when every dimension is constant
    cov: Tensor  # () mean squared off-diagonal correlation; 1 when all dimensions are one


def invariance(z: Tensor) -> Tensor:
    """Mean squared difference over unordered view pairs, samples and dimensions; z is (V, B, D)."""
    v = z.shape[0]
    i, j = torch.triu_indices(v, v, offset=1, device=z.device)  # (P,), (P,)
    return (z[i] - z[j]).pow(2).mean()


def variance(z: Tensor, std_target: float, eps: float) -> Tensor:
    """Mean over views and dimensions of ReLU(gamma - sqrt(var + eps)), unbiased batch variance."""
    std = torch.sqrt(z.var(dim=1) + eps)  # (V, D)
    return F.relu(std_target - std).mean()


def covariance(z: Tensor, eps: float, divisor: Literal["B", "B-1"] = "B") -> Tensor:
    """Mean over views of the mean squared off-diagonal entry of the (D, D) matrix zn^T zn / divisor."""
    zn = batch_standardize(z, eps)  # (V, B, D)
    b = z.shape[1]
    scale = 1.0 if divisor == "B" else b / (b - 1)  # correlation_terms divides by B
    return correlation_terms(zn, zn)[1] * scale**2


class VICRegLoss(nn.Module):
    """VICReg on (V, B, D) projections, gathered over ranks when distributed.

    Example:
        >>> loss = VICRegLoss()(torch.randn(2, 32, 2048))
    """

    def __init__(self, config: VICRegConfig | None = None) -> None:
        super().__init__()
        self.config = config or VICRegConfig()

    def forward_components(self, z: Tensor) -> VICRegComponents:
        check_views(z, "VICReg projections", min_batch=2, min_dim=2)
        z = gather_views(z)  # (V, B_global, D)
        cfg = self.config
        inv = cfg.inv_weight * invariance(z)
        var = cfg.var_weight * variance(z, cfg.std_target, cfg.eps)
        cov = cfg.cov_weight * covariance(z, cfg.eps, cfg.cov_divisor)
        return VICRegComponents(inv + var + cov, inv, var, cov)

    def forward(self, z: Tensor) -> Tensor:
        return self.forward_components(z).loss
