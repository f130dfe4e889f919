"""Collapse diagnostics of embeddings: tiny no-grad functions, each documenting its healthy and collapsed values.

Embeddings are (N, D): N samples (views or tracks), D features. Three synthetic reference cases
(tests/engine/collapse/test_diagnostics.py) fix the regions quoted below: *healthy* = isotropic
Gaussian, *dimensional collapse* = rank 3 plus tiny noise, *full collapse* = one vector plus
tiny noise. The clustering-specific diagnostics live in `engine.collapse.clustering`, the verdict
thresholds in `engine.collapse.verdicts`.
"""
from __future__ import annotations

import math
from typing import Literal, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from engine.collapse.clustering import classify_clustering
from engine.collapse.neighbours import DEFAULT_METRIC, Metric, knn_tag_hits, search_rows
from engine.collapse.verdicts import EmbeddingState, classify_embedding

__all__ = [
    "EmbeddingState", "TagPrecision", "alignment", "alpha_req", "classify_clustering", "classify_embedding",
    "centred_rankme", "centred_std", "covariance_spectrum", "knn_tag_precision", "rankme", "singular_values", "spread",
    "std_of_l2_normalized", "uniformity",
]


@torch.no_grad()
def std_of_l2_normalized(z: Tensor) -> float:
    """Mean per-dimension std of L2-normalised embeddings (N, D).

    Healthy ≈ 1/√D (0.031 for D = 1024); 0 = every embedding points the same way (full collapse).
    Blind to dimensional collapse onto a subspace that is not axis-aligned (≈ 0.9/√D at rank 3).
    """
    return float(F.normalize(z.float(), dim=-1).std(dim=0).mean())


@torch.no_grad()
def centred_std(z: Tensor) -> float:
    """`std_of_l2_normalized` of the embeddings (N, D) after their mean is subtracted.

    Post-ReLU backbone embeddings all lie in the positive orthant, so their raw directions are alike
    whatever the training did; centred, healthy ≈ 1/√D. Blind to full collapse (the leftover noise
    is isotropic): read `spread` for it.
    """
    z = z.float()
    return std_of_l2_normalized(z - z.mean(dim=0, keepdim=True))


@torch.no_grad()
def spread(z: Tensor) -> float:
    """Share of the embeddings' RMS norm that varies between inputs: √(trace Cov / mean ‖z‖²), 0..1.

    1 when the mean is 0; → 0 in full collapse (every input maps to one point). Post-ReLU
    backbone embeddings keep a large shared mean, so their healthy value is well below 1
    (docs/collapse-calibration.md gives the measured ranges).
    """
    z = z.double()
    energy = z.pow(2).sum(dim=1).mean()
    varying = (z - z.mean(dim=0, keepdim=True)).pow(2).sum(dim=1).mean()
    return float((varying / energy.clamp_min(1e-300)).sqrt())


@torch.no_grad()
def centred_rankme(z: Tensor) -> float:
    """RankMe of the centred embeddings (N, D): the directions the inputs vary in, 1..min(N - 1, D).

    The shared mean of post-ReLU embeddings would otherwise count as the one dominant direction
    (an untrained backbone scores ≈ 1.3 uncentred). Healthy: many; dimensional collapse: a few.
    """
    z = z.float()
    return rankme(z - z.mean(dim=0, keepdim=True))


@torch.no_grad()
def space_signals(z: Tensor, prefix: str = "") -> dict[str, float]:
    """The centred collapse signals of one embedding space (N, D), keyed `<prefix>spread` etc."""
    return {f"{prefix}spread": spread(z), f"{prefix}centred_rankme": centred_rankme(z),
            f"{prefix}centred_std": centred_std(z), f"{prefix}dim": int(z.shape[-1])}


@torch.no_grad()
def singular_values(z: Tensor, center: bool = True) -> Tensor:
    """Singular values (min(N, D),) of the embedding matrix (N, D), centred by default, descending."""
    z = z.float()
    return torch.linalg.svdvals(z - z.mean(dim=0, keepdim=True) if center else z)


@torch.no_grad()
def covariance_spectrum(z: Tensor) -> Tensor:
    """Eigenvalues (min(N, D),) of the embedding covariance (N, D), descending: the spectrum to plot on a log axis.

    Healthy: a slow decay over many dimensions; dimensional collapse: a cliff after the used
    rank (rank 3: λ_4/λ_1 < 1e-4). Full collapse leaves only the noise, so the shape is
    that of the noise: read `std_of_l2_normalized` for it.
    """
    n = z.shape[0]
    return singular_values(z, center=True).pow(2) / max(n - 1, 1)


@torch.no_grad()
def rankme(z: Tensor, eps: float = 1e-7) -> float:
    """RankMe effective rank of embeddings (N, D): exp(entropy of the normalised singular values).

    As in Garrido et al. (2023) the matrix is not centred, so a shared offset counts as one
    direction. Range 1..min(N, D). Healthy: a sizeable share of min(N, D) (isotropic Gaussian,
    N = 512, D = 128: ≈ 124); dimensional collapse: the rank used (≈ 3); full collapse: ≈ 1.
    """
    s = singular_values(z, center=False)
    p = s / (s.sum() + eps) + eps
    return float(math.exp(-(p * p.log()).sum()))


@torch.no_grad()
def alpha_req(eigenvalues: Tensor, fit_range: tuple[int, int] | None = None) -> float:
    """α-ReQ (Agrawal et al., 2022): α of the power law λ_i ∝ i^-α, by least squares of log λ_i on log i.

    `eigenvalues` (R,) descending, e.g. `covariance_spectrum`; the fit uses ranks i = 1..R whose
    λ_i > 1e-12 λ_1, or only ranks fit_range = (first, last), both 1-based and inclusive.
    Well-trained SSL embeddings: α ≈ 1; white (isotropic) embeddings: α → 0 (≈ 0.5 at
    N/D = 4, from the finite-sample spectrum); dimensional collapse: α well above 1 (rank 3 +
    noise: ≈ 2.1); full collapse: that of the leftover noise (≈ 0.5 for white noise).
    """
    lam = eigenvalues.double().flatten()
    ranks = torch.arange(1, lam.numel() + 1, dtype=torch.float64)
    if fit_range is not None:
        first, last = fit_range
        if not 1 <= first < last <= lam.numel():
            raise ValueError(f"alpha_req: fit_range {fit_range} outside 1..{lam.numel()} (needs first < last)")
        lam, ranks = lam[first - 1:last], ranks[first - 1:last]
    keep = lam > 1e-12 * lam.max().clamp_min(1e-300)
    if int(keep.sum()) < 2:
        raise ValueError(f"alpha_req needs at least 2 positive eigenvalues, got {int(keep.sum())}")
    x, y = ranks[keep].log(), lam[keep].log()
    x = x - x.mean()
    return float(-(x * (y - y.mean())).sum() / (x * x).sum())


@torch.no_grad()
def alignment(x: Tensor, y: Tensor, alpha: float = 2.0) -> float:
    """Wang & Isola (2020) alignment: mean ‖f(x) − f(y)‖^α over positive pairs (row i of x, y: (N, D)).

    Embeddings are L2-normalised first, so the range is 0..2^α (α = 2: 0..4). Healthy: well below
    the value of unrelated pairs (2 for α = 2); full collapse: → 0 as well, so read it with
    `uniformity`.
    """
    if x.shape != y.shape or x.dim() != 2:
        raise ValueError(f"alignment needs two (N, D) tensors of one shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    diff = F.normalize(x.float(), dim=-1) - F.normalize(y.float(), dim=-1)
    return float(diff.norm(dim=-1).pow(alpha).mean())


@torch.no_grad()
def uniformity(z: Tensor, t: float = 2.0) -> float:
    """Wang & Isola (2020) uniformity: log mean over all pairs i < j of exp(−t ‖f(z_i) − f(z_j)‖²), normalised.

    Lower is more uniform on the sphere. For t = 2: healthy (uniform in many dimensions) → −4;
    dimensional collapse onto rank 3: ≈ −2 (uniform on a 2-sphere: log((1 − e^−8)/8));
    full collapse: → 0 (its maximum).
    """
    if z.dim() != 2 or z.shape[0] < 2:
        raise ValueError(f"uniformity needs (N >= 2, D) embeddings, got {tuple(z.shape)}")
    sq_dist = torch.pdist(F.normalize(z.float(), dim=-1).double()).pow(2)  # (N (N - 1) / 2,)
    return float(torch.logsumexp(-t * sq_dist, dim=0) - math.log(sq_dist.numel()))


class TagPrecision(NamedTuple):
    """k-NN tag precision and what random neighbours would score."""

    precision: float  # mean over queries of the share of the k neighbours that share >= 1 tag
    chance: float  # mean over queries of the share of all other tracks that share >= 1 tag
    queries: int  # tracks with at least one tag (the others are neighbours only)


@torch.no_grad()
def knn_tag_precision(z: Tensor, tags: Tensor, k: int = 10, chunk: int = 1024,
                      metric: Metric = DEFAULT_METRIC) -> TagPrecision:
    """Tag precision@k of cosine nearest neighbours (of centred embeddings unless `metric` is "raw"): track
    embeddings (N, D), multi-hot tags (N, T).

    For each query track with at least one tag, its k nearest other tracks by cosine similarity
    (itself excluded) count as hits when they share at least one tag with it; precision is
    the mean hit share over the queries. Healthy: well above `chance`; collapsed: ≈ `chance`
    (the neighbours are arbitrary).
    """
    n = z.shape[0]
    if tags.shape[0] != n or z.dim() != 2 or tags.dim() != 2:
        raise ValueError(f"knn_tag_precision: embeddings {tuple(z.shape)} and tags {tuple(tags.shape)} "
                         "must be (N, D) and (N, T)")
    if not 1 <= k < n:
        raise ValueError(f"knn_tag_precision: k = {k} needs 1 <= k < {n} tracks")
    multi_hot = (tags > 0).cpu().numpy()  # (N, T)
    queries = np.flatnonzero(multi_hot.any(axis=1))
    if len(queries) == 0:
        raise ValueError("knn_tag_precision: no track has a tag")
    hits = knn_tag_hits(search_rows(z.float().cpu().numpy(), metric), multi_hot, queries, k, chunk)
    counts = multi_hot.astype(np.float32)
    shared = sum(int((counts[rows] @ counts.T > 0).sum()) - len(rows)  # other tracks sharing >= 1 tag
                 for rows in np.array_split(queries, math.ceil(len(queries) / chunk)))
    m = len(queries)
    return TagPrecision(float(hits.mean()), shared / (n - 1) / m, m)
