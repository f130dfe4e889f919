"""Collapse diagnostics: tiny no-grad functions, each documenting its healthy and collapsed values."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


@torch.no_grad()
def std_of_l2_normalized(z: Tensor) -> float:
    """Mean per-dimension std of L2-normalised embeddings (N, D).

    Healthy ≈ 1/√D (0.031 for D = 1024); 0 = every embedding points the same way (full collapse).
    """
    return float(F.normalize(z.float(), dim=-1).std(dim=0).mean())


@torch.no_grad()
def singular_values(z: Tensor) -> Tensor:
    """Singular values of the centred embedding matrix (N, D), descending."""
    z = z.float()
    return torch.linalg.svdvals(z - z.mean(dim=0, keepdim=True))


@torch.no_grad()
def rankme(z: Tensor, eps: float = 1e-7) -> float:
    """RankMe effective rank: exp(entropy of normalised singular values) (Garrido et al., 2023).

    Healthy: a sizeable share of min(N, D); 1 = all embeddings on one line (dimensional collapse).
    """
    s = singular_values(z)
    p = s / (s.sum() + eps) + eps
    return float(math.exp(-(p * p.log()).sum()))


# Clustering collapse thresholds (documented in the README):
UNIFORM_ENTROPY_SHARE = 0.9  # teacher entropy above 90 % of ln K: the teacher is near uniform
DOMINANT_EFFECTIVE_SHARE = 0.05  # effective prototypes below 5 % of min(K, samples), and at most...
DOMINANT_EFFECTIVE_MAX = 4.0  # ...4: one or a few prototypes take every sample


def classify_clustering(teacher_entropy: float, effective_prototypes: float, n_prototypes: int, n_samples: int) -> str:
    """'healthy', 'dominant' (one prototype takes all) or 'uniform' (teacher output near uniform).

    Healthy: teacher entropy well below ln K and many prototypes in use. Dominant collapse:
    effective prototypes -> 1 and entropy -> 0. Uniform collapse: entropy -> ln K (8.318 for
    K = 4096) and the loss stuck near ln K.
    """
    if teacher_entropy >= UNIFORM_ENTROPY_SHARE * math.log(n_prototypes):
        return "uniform"
    limit = min(DOMINANT_EFFECTIVE_MAX, max(1.5, DOMINANT_EFFECTIVE_SHARE * min(n_prototypes, n_samples)))
    if effective_prototypes <= limit:
        return "dominant"
    return "healthy"
