"""Contrastive pretext task: SimCLR's NT-Xent loss generalised to V >= 2 views.

PAPER.md: "cosine similarity, temperature 0.1, positives = the other views of the same track,
negatives = all other items in the (gathered) batch."
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.methods.dist import gather_views
from engine.methods.tensors import check_views, off_diagonal_mean


@dataclass(frozen=True)
class ContrastiveConfig:
    """Hyper-parameters of NT-Xent, with the paper's values."""

    temperature: float = 0.1  # divides the cosine similarities; lower = sharper softmax over the batch

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise ValueError(f"ContrastiveConfig.temperature must be > 0, got {self.temperature}")


class ContrastiveComponents(NamedTuple):
    """NT-Xent split into its two terms; ``loss = positive + negative``."""

    loss: Tensor  # () total NT-Xent
    positive: Tensor  # () -mean cos(anchor, positive) / T: pulls the views of a track together
    negative: Tensor  # () mean log-sum-exp of cos(anchor, other) / T over all other items


def similarity_logits(z: Tensor, temperature: float) -> Tensor:
    """Cosine similarity of every item with every item, over temperature.

    Args:
        z: (V, B, D) embeddings.

    Returns:
        (V, B, V, B) logits[i, b, j, c] = cos(z[i, b], z[j, c]) / temperature.
    """
    z = F.normalize(z, dim=-1)
    return torch.einsum("ibd,jcd->ibjc", z, z) / temperature


def nt_xent_terms(z: Tensor, temperature: float) -> tuple[Tensor, Tensor]:
    """The (positive, negative) terms of NT-Xent over all ordered view pairs.

    For anchor (i, b) and positive (j, b), j != i, the loss is
    -log(exp(s_ib,jb) / sum over every item k != (i, b) of exp(s_ib,k)), as in SimCLR's
    1[k != i] denominator; it is averaged over all anchors and all their V - 1 positives.
    """
    v, b, _ = z.shape
    n = v * b
    logits = similarity_logits(z, temperature).reshape(n, n)  # (V*B anchors, V*B candidates)
    self_mask = torch.eye(n, dtype=torch.bool, device=z.device)
    log_denominator = logits.masked_fill(self_mask, float("-inf")).logsumexp(dim=-1)  # (V*B,)
    same_track = torch.diagonal(logits.reshape(v, b, v, b), dim1=1, dim2=3)  # (V, V, B) s_ib,jb
    positive = -off_diagonal_mean(same_track)
    return positive, log_denominator.mean()


class ContrastiveLoss(nn.Module):
    """NT-Xent on (V, B, D) projections, gathered over ranks when distributed.

    Example:
        >>> loss = ContrastiveLoss()(torch.randn(2, 8, 2048))  # 2 views of 8 tracks
    """

    def __init__(self, config: ContrastiveConfig | None = None) -> None:
        super().__init__()
        self.config = config or ContrastiveConfig()

    def forward_components(self, z: Tensor) -> ContrastiveComponents:
        check_views(z, "contrastive projections")
        positive, negative = nt_xent_terms(gather_views(z), self.config.temperature)
        return ContrastiveComponents(positive + negative, positive, negative)

    def forward(self, z: Tensor) -> Tensor:
        return self.forward_components(z).loss
