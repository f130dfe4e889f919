"""Clustering pretext task (DINO-style): the student's prototype distribution of one view
matches the centred, sharpened teacher distribution of another view.

PAPER.md: "4096 prototypes; student temperature 0.1; teacher temperature warm-up 0.02 -> 0.04
[...]; teacher output centered with an EMA center (momentum 0.9); loss = cross-entropy
H(teacher_i, student_j), i != j." The teacher temperature is passed per step (see
``schedules.teacher_temp_at``); the center is a buffer, saved in ``state_dict()``, and moves
only when the engine calls :meth:`ClusteringLoss.update_center` after the optimiser step.
The student log-probabilities are exact; the official code takes log(softmax) clamped at -100
(``log_clamp=-100``), which differs once the student is sharp enough for softmax to underflow.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.methods.dist import gather_views, mean_across_ranks
from engine.methods.tensors import check_same_shape, check_views, off_diagonal_mean


@dataclass(frozen=True)
class ClusteringConfig:
    """Hyper-parameters of the clustering loss, with the paper's values."""

    n_prototypes: int = 4096  # K, the width of the clustering head's last layer
    student_temp: float = 0.1  # divides the student logits before the softmax
    center_momentum: float = 0.9  # EMA rate of the teacher center; higher = slower center
    centering: bool = True  # subtract the center from teacher logits; False = "clustering-collapse"
    log_clamp: float | None = None  # floor of the student log-probabilities; -100 = official code, None = exact

    def __post_init__(self) -> None:
        if self.n_prototypes < 2:
            raise ValueError(f"ClusteringConfig.n_prototypes must be >= 2, got {self.n_prototypes}")
        if not self.student_temp > 0:
            raise ValueError(f"ClusteringConfig.student_temp must be > 0, got {self.student_temp}")
        if not 0 <= self.center_momentum < 1:
            raise ValueError(f"ClusteringConfig.center_momentum must be in [0, 1), got {self.center_momentum}")


class ClusteringComponents(NamedTuple):
    """Clustering loss and its collapse diagnostics; ``loss = teacher_entropy + kl``."""

    loss: Tensor  # () mean cross-entropy H(teacher_i, student_j), i != j; ln K = uniform collapse
    teacher_entropy: Tensor  # () float64 mean entropy of the teacher distributions; -> 0 or ln K on collapse
    kl: Tensor  # () mean KL(teacher_i || student_j), i != j; -> 0 when the student just copies
    effective_prototypes: Tensor  # () float64 exp(H(mean teacher probabilities)); 1 = one prototype takes all
    usage: Tensor  # (K,) int64 count of samples whose teacher argmax is each prototype


class TeacherStats(NamedTuple):
    """Collapse statistics of teacher distributions, in float64: the one computation of the loss's
    components, the training snapshots and `mvssl diagnose` (engine.collapse.clustering)."""

    entropy: Tensor  # () float64 mean entropy in nats; -> 0 (dominant) or ln K (uniform) on collapse
    effective_prototypes: Tensor  # () float64 exp(H(mean probabilities)), 1..K; 1 = one prototype takes all
    usage: Tensor  # (K,) int64 count of samples whose most probable prototype is each k


@torch.no_grad()
def teacher_stats(teacher_log_probs: Tensor) -> TeacherStats:
    """Entropy, effective prototypes and argmax usage of (..., K) teacher log-probabilities."""
    log_probs = teacher_log_probs.double()
    probs = log_probs.exp()
    k = log_probs.shape[-1]
    entropy = -(probs * log_probs).sum(dim=-1).mean()
    effective = torch.special.entr(probs.reshape(-1, k).mean(dim=0)).sum().exp()
    usage = torch.bincount(log_probs.argmax(dim=-1).flatten(), minlength=k)
    return TeacherStats(entropy, effective, usage)


def pair_cross_entropy(teacher_probs: Tensor, student_log_probs: Tensor) -> Tensor:
    """Mean over the batch of H(teacher view i, student view j) for every view pair.

    Args:
        teacher_probs: (V, B, K) teacher probabilities.
        student_log_probs: (V, B, K) student log-probabilities.

    Returns:
        (V, V) ce[i, j] = mean over b of -sum_k teacher[i, b, k] * log student[j, b, k].
    """
    return -torch.einsum("ibk,jbk->ij", teacher_probs, student_log_probs) / teacher_probs.shape[1]


class ClusteringLoss(nn.Module):
    """DINO cross-entropy between teacher and student prototype distributions of other views.

    Example:
        >>> loss_fn = ClusteringLoss()
        >>> student, teacher = torch.randn(2, 8, 4096), torch.randn(2, 8, 4096)  # (V, B, K) logits
        >>> loss = loss_fn(student, teacher, teacher_temp=0.04)
        >>> loss_fn.update_center(teacher)  # after the optimiser step, with the same teacher logits
    """

    center: Tensor  # (K,) EMA of the mean teacher logits

    def __init__(self, config: ClusteringConfig | None = None) -> None:
        super().__init__()
        self.config = config or ClusteringConfig()
        self.register_buffer("center", torch.zeros(self.config.n_prototypes))

    def _check_prototypes(self, logits: Tensor, name: str) -> None:
        _, _, k = check_views(logits, name)
        if k != self.config.n_prototypes:
            raise ValueError(f"{name} have {k} prototypes, config n_prototypes is {self.config.n_prototypes}")

    def forward_components(
        self, student_logits: Tensor, teacher_logits: Tensor, teacher_temp: float
    ) -> ClusteringComponents:
        """Loss and diagnostics for (V, B, K) student and teacher logits; the teacher is detached."""
        self._check_prototypes(student_logits, "clustering student logits")
        self._check_prototypes(teacher_logits, "clustering teacher logits")
        check_same_shape(student_logits, teacher_logits, "clustering student logits", "teacher logits")
        if not teacher_temp > 0:
            raise ValueError(f"clustering teacher_temp must be > 0, got {teacher_temp}")
        dtype = torch.promote_types(student_logits.dtype, self.center.dtype)  # bf16 logits -> float32
        student = gather_views(student_logits).to(dtype)  # (V, B_global, K)
        teacher = gather_views(teacher_logits.detach()).to(dtype)  # (V, B_global, K)
        if self.config.centering:
            teacher = teacher - self.center.to(dtype)
        student_log_probs = F.log_softmax(student / self.config.student_temp, dim=-1)
        if self.config.log_clamp is not None:
            student_log_probs = student_log_probs.clamp(min=self.config.log_clamp)
        teacher_log_probs = F.log_softmax(teacher / teacher_temp, dim=-1)
        teacher_probs = teacher_log_probs.exp()
        loss = off_diagonal_mean(pair_cross_entropy(teacher_probs, student_log_probs))
        stats = teacher_stats(teacher_log_probs)
        return ClusteringComponents(loss, stats.entropy, loss.detach() - stats.entropy,
                                    stats.effective_prototypes, stats.usage)

    def forward(self, student_logits: Tensor, teacher_logits: Tensor, teacher_temp: float) -> Tensor:
        return self.forward_components(student_logits, teacher_logits, teacher_temp).loss

    @torch.no_grad()
    def update_center(self, teacher_logits: Tensor) -> None:
        """Move the center towards the mean teacher logits of the global batch (no-op without centering).

        Args:
            teacher_logits: (V, B, K) raw teacher logits of the step, before centering.
        """
        self._check_prototypes(teacher_logits, "clustering teacher logits")
        if not self.config.centering:
            return
        batch_center = mean_across_ranks(teacher_logits.detach().mean(dim=(0, 1)))  # (K,)
        momentum = self.config.center_momentum
        self.center.mul_(momentum).add_(batch_center, alpha=1 - momentum)
