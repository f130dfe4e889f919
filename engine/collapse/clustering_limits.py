"""The clustering collapse verdict from prototype statistics, without torch (the forecast and the GUI use it)."""
from __future__ import annotations

import math
from typing import Literal

ClusteringState = Literal["healthy", "dominant", "uniform"]

# Clustering collapse thresholds (see `classify_clustering`):
UNIFORM_ENTROPY_SHARE = 0.9  # teacher entropy above 90 % of ln K: the teacher is near uniform
DOMINANT_EFFECTIVE_SHARE = 0.05  # effective prototypes below 5 % of min(K, samples), and at most...
DOMINANT_EFFECTIVE_MAX = 4.0  # ...4: one or a few prototypes take every sample
DOMINANT_TOP_SHARE = 0.9  # or one prototype is the argmax of 90 % of the samples...
DOMINANT_TOP_ENTROPY_SHARE = 0.5  # ...while the teacher is sharp (entropy below half of ln K)
DOMINANT_TOP_MIN_SAMPLES = 16  # (only judged on enough samples)


def dominant_limit(n_prototypes: int, n_samples: int) -> float:
    """Effective prototypes at or below which one or a few prototypes take every sample."""
    return min(DOMINANT_EFFECTIVE_MAX, max(1.5, DOMINANT_EFFECTIVE_SHARE * min(n_prototypes, n_samples)))


def classify_clustering(teacher_entropy: float, effective_prototypes: float, n_prototypes: int,
                        n_samples: int, top_share: float | None = None) -> ClusteringState:
    """'healthy', 'dominant' (one prototype takes all) or 'uniform' (teacher output near uniform).

    Uniform: teacher entropy ≥ 0.9 ln K (7.49 nats for K = 4096). Dominant: effective prototypes
    ≤ min(4, max(1.5, 0.05 min(K, samples))), or one prototype is the argmax of ≥ 90 % of at least
    16 samples (`top_share`) while the entropy is below 0.5 ln K. Healthy: neither.
    """
    ln_k = math.log(n_prototypes)
    if teacher_entropy >= UNIFORM_ENTROPY_SHARE * ln_k:
        return "uniform"
    if effective_prototypes <= dominant_limit(n_prototypes, n_samples):
        return "dominant"
    if (top_share is not None and n_samples >= DOMINANT_TOP_MIN_SAMPLES and top_share >= DOMINANT_TOP_SHARE
            and teacher_entropy < DOMINANT_TOP_ENTROPY_SHARE * ln_k):
        return "dominant"
    return "healthy"
