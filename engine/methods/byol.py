"""BYOL pretext task: the student's prediction of one view regresses the teacher's projection
of another view.

PAPER.md: "loss 2 - 2 cos(student_pred(v_i), teacher_proj(v_j)) for i != j, averaged."
The official code sums the dot product over the *batch* axis (``dim=-0``); that value equals
2 - (B / D) * (2 - ours), a batch-size-dependent offset and gradient scale. Ours: per-sample
cosine over the feature axis. ``batch_sum=True`` computes the official value, only to reproduce
the official numbers: it is a bug, not a variant of the method.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.methods.dist import gather_views
from engine.methods.tensors import check_same_shape, check_views, off_diagonal_mean


@dataclass(frozen=True)
class BYOLConfig:
    """BYOL's loss has no hyper-parameters (its EMA momentum schedule lives in schedules.py)."""

    batch_sum: bool = False  # BUG of the official code, to reproduce its numbers: sum over the batch axis


class BYOLComponents(NamedTuple):
    """BYOL loss and the mean cosine it is made of; ``loss = 2 - 2 * cosine``."""

    loss: Tensor  # () mean of 2 - 2 cos over ordered view pairs i != j and samples
    cosine: Tensor  # () mean cos(prediction_i, target_j), i != j; 1 = perfect regression


def pair_cosines(prediction: Tensor, target: Tensor) -> Tensor:
    """Per-sample cosine between every prediction view and every target view.

    Args:
        prediction: (V, B, D) student predictions.
        target: (V, B, D) teacher projections.

    Returns:
        (V, V, B) cos[i, j, b] = cos(prediction[i, b], target[j, b]).
    """
    p = F.normalize(prediction, dim=-1)
    t = F.normalize(target, dim=-1)
    return torch.einsum("ibd,jbd->ijb", p, t)


def batch_axis_sums(prediction: Tensor, target: Tensor) -> Tensor:
    """The official code's (buggy) "cosine": normalised over features, summed over the *batch*.

    Returns:
        (V, V, D) s[i, j, d] = sum over b of p̂[i, b, d] t̂[j, b, d] for L2-normalised rows p̂, t̂.
    """
    p = F.normalize(prediction, dim=-1)
    t = F.normalize(target, dim=-1)
    return torch.einsum("ibd,jbd->ijd", p, t)


class BYOLLoss(nn.Module):
    """Mean 2 - 2 cos between student predictions and teacher projections of other views.

    The teacher projections are detached (stop-gradient): only the student learns from this loss.

    Example:
        >>> loss = BYOLLoss()(torch.randn(2, 8, 2048), torch.randn(2, 8, 2048))
    """

    def __init__(self, config: BYOLConfig | None = None) -> None:
        super().__init__()
        self.config = config or BYOLConfig()

    def forward_components(self, prediction: Tensor, target: Tensor) -> BYOLComponents:
        check_views(prediction, "BYOL student predictions")
        check_views(target, "BYOL teacher projections")
        check_same_shape(prediction, target, "BYOL student predictions", "teacher projections")
        pairs = batch_axis_sums if self.config.batch_sum else pair_cosines
        cosine = off_diagonal_mean(pairs(gather_views(prediction), gather_views(target.detach())))
        return BYOLComponents(2 - 2 * cosine, cosine)

    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        return self.forward_components(prediction, target).loss
