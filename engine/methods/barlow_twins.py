"""Barlow Twins pretext task: the cross-correlation between two views' projections should be
the identity matrix.

PAPER.md: "batch-normalised (affine=False) cross-correlation C between views; loss = mean over
diagonal of (1 - C_ii)^2 + 1.0 x mean over off-diagonal of C_ij^2", over all unordered view
pairs. C is the correlation of the standardised projections divided by B, as in the Barlow
Twins paper, so C_ii = 1 exactly when the views agree. The official benchmark code divides by
B - 1 (``divisor="B-1"``): identical views then give C_ii = B / (B-1), and the invariance term
penalises perfect invariance by 1 / (B-1)².
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
from torch import Tensor, nn

from engine.methods.dist import gather_views
from engine.methods.tensors import batch_standardize, check_views, correlation_terms


@dataclass(frozen=True)
class BarlowTwinsConfig:
    """Hyper-parameters of Barlow Twins, with the paper's values."""

    off_diag_weight: float = 1.0  # lambda: weight of the redundancy-reduction (off-diagonal) term
    eps: float = 1e-5  # added to the batch variance when standardising, as BatchNorm1d
    divisor: Literal["B", "B-1"] = "B"  # normaliser of the cross-correlation; "B-1" = official code

    def __post_init__(self) -> None:
        if self.divisor not in ("B", "B-1"):
            raise ValueError(f"BarlowTwinsConfig.divisor must be 'B' or 'B-1', got {self.divisor!r}")
        if self.off_diag_weight < 0:
            raise ValueError(f"BarlowTwinsConfig.off_diag_weight must be >= 0, got {self.off_diag_weight}")
        if not self.eps > 0:
            raise ValueError(f"BarlowTwinsConfig.eps must be > 0, got {self.eps}")


class BarlowTwinsComponents(NamedTuple):
    """Barlow Twins loss and its weighted terms; ``loss = on_diag + off_diag``."""

    loss: Tensor  # () total
    on_diag: Tensor  # () mean (1 - C_ii)^2: invariance, 0 when views agree on every dimension
    off_diag: Tensor  # () lambda x mean C_ij^2 (i != j): redundancy between dimensions


def barlow_terms(z: Tensor, eps: float, divisor: Literal["B", "B-1"] = "B") -> tuple[Tensor, Tensor]:
    """Unweighted (on-diagonal, off-diagonal) terms over every unordered view pair i < j.

    C[p] = zn[i_p]ᵀ zn[j_p] / divisor for the batch-standardised (V, B, D) projections zn;
    on-diagonal = mean (1 - C_dd)², off-diagonal = mean C_de² (d != e), both averaged over the pairs.
    """
    v, b = z.shape[:2]
    zn = batch_standardize(z, eps)  # (V, B, D)
    i, j = torch.triu_indices(v, v, offset=1, device=z.device)  # (P,), (P,)
    diag, off_diag = correlation_terms(zn[i], zn[j])  # (P, D), (); divided by B
    scale = 1.0 if divisor == "B" else b / (b - 1)
    return (1 - scale * diag).pow(2).mean(), off_diag * scale**2


class BarlowTwinsLoss(nn.Module):
    """Barlow Twins on (V, B, D) projections, gathered over ranks when distributed.

    Example:
        >>> loss = BarlowTwinsLoss()(torch.randn(2, 32, 2048))
    """

    def __init__(self, config: BarlowTwinsConfig | None = None) -> None:
        super().__init__()
        self.config = config or BarlowTwinsConfig()

    def forward_components(self, z: Tensor) -> BarlowTwinsComponents:
        check_views(z, "Barlow Twins projections", min_batch=2, min_dim=2)
        on_diag, off_diag = barlow_terms(gather_views(z), self.config.eps, self.config.divisor)
        off_diag = self.config.off_diag_weight * off_diag
        return BarlowTwinsComponents(on_diag + off_diag, on_diag, off_diag)

    def forward(self, z: Tensor) -> Tensor:
        return self.forward_components(z).loss
