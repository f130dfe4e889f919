"""Clustering (DINO-style) collapse diagnostics: teacher entropy, KL, prototype usage, near-duplicate prototypes.

Logits are (V, B, K): V views, B tracks, K prototypes. The two collapse kinds (PAPER.md
"Collapse diagnostics"): *dominant* = one prototype takes every sample (entropy → 0,
effective prototypes → 1); *uniform* = the teacher output is near uniform (entropy → ln K,
8.318 for K = 4096, and the loss stuck near ln K). *Partial prototype collapse*: many
last-layer prototype vectors are near-duplicates of each other.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from engine.collapse.clustering_limits import ClusteringState, classify_clustering
from engine.methods.clustering import teacher_stats

__all__ = ["ClusteringState", "PrototypeStats", "classify_clustering", "cross_view_kl", "near_duplicate_prototypes",
           "prototype_stats", "teacher_log_probs"]

DUPLICATE_COSINE = 0.9  # two prototype vectors with a higher cosine count as one near-duplicate pair


@torch.no_grad()
def teacher_log_probs(logits: Tensor, teacher_temp: float, center: Tensor | None = None) -> Tensor:
    """Log-probabilities (..., K) of teacher logits (..., K), centred (when `center` (K,) is given) and sharpened."""
    if not teacher_temp > 0:
        raise ValueError(f"teacher_temp must be > 0, got {teacher_temp}")
    logits = logits.double()
    if center is not None:
        logits = logits - center.double()
    return F.log_softmax(logits / teacher_temp, dim=-1)


@torch.no_grad()
def cross_view_kl(teacher_log_probs: Tensor, student_log_probs: Tensor) -> float:
    """Mean KL(teacher view i ‖ student view j) over tracks and view pairs i ≠ j, both (V, B, K).

    The clustering loss is teacher entropy + this KL. Healthy: positive while the student
    learns; → 0 when the student only copies the teacher (in both collapse kinds).
    """
    if teacher_log_probs.shape != student_log_probs.shape or teacher_log_probs.dim() != 3:
        raise ValueError(f"cross_view_kl needs two (V, B, K) tensors of one shape, got "
                         f"{tuple(teacher_log_probs.shape)} and {tuple(student_log_probs.shape)}")
    v, b, _ = teacher_log_probs.shape
    if v < 2:
        raise ValueError(f"cross_view_kl needs at least 2 views, got {v}")
    t = teacher_log_probs.exp()
    cross = -torch.einsum("ibk,jbk->ij", t, student_log_probs.to(t.dtype)) / b  # (V, V) H(t_i, s_j)
    entropy = -(t * teacher_log_probs).sum(dim=-1).mean(dim=1)  # (V,) H(t_i)
    kl = cross - entropy[:, None]  # (V, V) KL(t_i || s_j)
    off_diagonal = ~torch.eye(v, dtype=torch.bool, device=kl.device)
    return float(kl[off_diagonal].mean())


@torch.no_grad()
def near_duplicate_prototypes(weight: Tensor, threshold: float = DUPLICATE_COSINE, chunk: int = 1024) -> int:
    """Partial prototype collapse: pairs i < j of prototype vectors with cosine > threshold.

    `weight` is the (K, d) weight of the head's last Linear: row k is prototype k.

    Healthy: ≈ 0 (random 256-D vectors have cosines of about ±0.06); collapsed: a sizeable share
    of the K (K − 1) / 2 pairs (all of them when every prototype is the same vector).
    """
    if weight.dim() != 2:
        raise ValueError(f"near_duplicate_prototypes needs a (K, d) weight, got {tuple(weight.shape)}")
    w = F.normalize(weight.float(), dim=-1)
    k = w.shape[0]
    columns = torch.arange(k, device=w.device)
    count = 0
    for start in range(0, k, chunk):
        rows = columns[start:start + chunk]
        upper = columns[None, :] > rows[:, None]  # (C, K) only pairs i < j
        count += int(((w[rows] @ w.T > threshold) & upper).sum())
    return count


class PrototypeStats(NamedTuple):
    """Prototype statistics of one batch of teacher outputs, in float64, with their healthy values."""

    teacher_entropy: float  # nats, 0..ln K; healthy well below ln K, dominant -> 0, uniform -> ln K
    max_entropy: float  # ln K
    kl: float  # KL(teacher ‖ student) over view pairs; NaN when no student logits were given
    effective_prototypes: float  # exp(H(mean teacher probabilities)), 1..K; dominant -> 1, uniform -> K too
    distinct_prototypes: int  # prototypes that are the argmax of at least one sample; dominant: 1
    usage: Tensor  # (K,) int64 argmax histogram
    samples: int  # V * B


@torch.no_grad()
def prototype_stats(teacher_logits: Tensor, teacher_temp: float, center: Tensor | None = None,
                    student_logits: Tensor | None = None, student_temp: float = 0.1) -> PrototypeStats:
    """Every prototype statistic of (V, B, K) teacher logits, as the clustering loss sees them.

    Args:
        teacher_logits: (V, B, K) raw teacher head outputs.
        teacher_temp: teacher temperature (the run's end value for a finished run).
        center: (K,) the loss's center buffer when the run centres; None otherwise.
        student_logits: (V, B, K) student head outputs of the same views, for the KL.
        student_temp: student temperature.
    """
    t = teacher_log_probs(teacher_logits, teacher_temp, center)
    kl = math.nan
    if student_logits is not None:
        kl = cross_view_kl(t, F.log_softmax(student_logits.double() / student_temp, dim=-1))
    stats = teacher_stats(t)
    return PrototypeStats(float(stats.entropy), math.log(t.shape[-1]), kl, float(stats.effective_prototypes),
                          int((stats.usage > 0).sum()), stats.usage, int(stats.usage.sum()))
