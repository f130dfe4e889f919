"""Shape checks and view-pair reductions shared by the pretext losses.

Axes: V = views of one track, B = batch (tracks), D = feature or prototype dimension.
"""
from __future__ import annotations

import torch
from torch import Tensor


def check_views(x: Tensor, name: str, min_batch: int = 1, min_dim: int = 1) -> tuple[int, int, int]:
    """Return (V, B, D) of a multi-view tensor, or raise a one-line ValueError naming ``name``."""
    if x.dim() != 3:
        raise ValueError(f"{name} must be (views, batch, dim), got shape {tuple(x.shape)}")
    v, b, d = x.shape
    if v < 2:
        raise ValueError(f"{name} needs at least 2 views, got {v} (shape {tuple(x.shape)})")
    if b < min_batch:
        raise ValueError(f"{name} needs a batch of at least {min_batch}, got {b} (shape {tuple(x.shape)})")
    if d < 1:
        raise ValueError(f"{name} has an empty feature dimension (shape {tuple(x.shape)})")
    if d < min_dim:
        raise ValueError(f"{name} need at least {min_dim} dimensions, got shape {tuple(x.shape)}")
    return v, b, d


def check_same_shape(a: Tensor, b: Tensor, name_a: str, name_b: str) -> None:
    """Raise a ValueError when two multi-view tensors that are compared pairwise differ in shape."""
    if a.shape != b.shape:
        raise ValueError(f"{name_a} {tuple(a.shape)} and {name_b} {tuple(b.shape)} must have the same shape")


def off_diagonal_mean(pairs: Tensor) -> Tensor:
    """Mean of a (V, V, ...) tensor over the pairs i != j (and all trailing axes)."""
    v = pairs.shape[0]
    mask = ~torch.eye(v, dtype=torch.bool, device=pairs.device)  # (V, V) True off the diagonal
    return pairs[mask].mean()


def correlation_terms(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Diagonal (..., D) and mean squared off-diagonal entry of C = aᵀb / B for (..., B, D) inputs.

    The (D, D) matrix is never formed when B < D: the sum of its squares is
    sum((a aᵀ) ∘ (b bᵀ)) / B², from two (B, B) Gram matrices (2048-D projections, batch 64).
    The off-diagonal mean is averaged over the leading axes.
    """
    n, d = a.shape[-2], a.shape[-1]
    diag = (a * b).sum(dim=-2) / n  # (..., D)
    if n < d:
        total = ((a @ a.transpose(-1, -2)) * (b @ b.transpose(-1, -2))).sum(dim=(-2, -1)) / n**2
    else:
        total = (a.transpose(-1, -2) @ b).pow(2).sum(dim=(-2, -1)) / n**2
    return diag, (total - diag.pow(2).sum(dim=-1)).mean() / (d * (d - 1))


def batch_standardize(z: Tensor, eps: float) -> Tensor:
    """Standardise each dimension over the batch, as BatchNorm1d(affine=False) in training mode.

    Args:
        z: (V, B, D) views; statistics are per view and per dimension, with the biased variance.
    """
    mean = z.mean(dim=1, keepdim=True)  # (V, 1, D)
    var = z.var(dim=1, unbiased=False, keepdim=True)  # (V, 1, D)
    return (z - mean) / torch.sqrt(var + eps)
