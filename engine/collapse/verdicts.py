"""The embedding collapse verdict from RankMe and the normalised std, without torch, so that the GUI
can judge training snapshots with the engine's own thresholds."""
from __future__ import annotations

import math
from typing import Any, Literal, Mapping

EmbeddingState = Literal["healthy", "dimensional", "full"]

FULL_STD_SHARE = 0.2  # normalised per-dim std below 20 % of 1/√D: the embeddings all point one way
DIMENSIONAL_RANK_SHARE = 0.02  # RankMe below 2 % of min(N, D)...
DIMENSIONAL_RANK_MIN = 4.0  # ...or below 4 (whichever is larger, at most half of min(N, D))
SNAPSHOT_VIEWS = 64  # views of a training snapshot that did not record them (32 tracks x 2 views)


def classify_embedding(rankme: float, std: float, dim: int, n: int) -> EmbeddingState:
    """'healthy', 'dimensional' (embeddings span a few directions) or 'full' (one point) collapse.

    Full: `std_of_l2_normalized` < 0.2/√D. Dimensional: RankMe < max(4, 0.02 min(N, D)),
    capped at min(N, D)/2 for tiny samples. For N = 512 views of D = 1024 that is RankMe < 10.2.
    """
    if dim < 1 or n < 1:
        raise ValueError(f"classify_embedding needs dim >= 1 and n >= 1, got dim={dim}, n={n}")
    if std < FULL_STD_SHARE / math.sqrt(dim):
        return "full"
    m = min(dim, n)
    if rankme < min(m / 2, max(DIMENSIONAL_RANK_MIN, DIMENSIONAL_RANK_SHARE * m)):
        return "dimensional"
    return "healthy"


def snapshot_embedding_state(snapshot: Mapping[str, Any]) -> EmbeddingState | None:
    """Verdict of a training collapse snapshot (an events.jsonl "collapse" event): the one it recorded, or,
    for runs written before snapshots carried it, judged from its rankme, std and healthy_std; None without them."""
    if snapshot.get("embedding_state") in ("healthy", "dimensional", "full"):
        return snapshot["embedding_state"]
    values = [snapshot.get(k) for k in ("rankme", "std", "healthy_std")]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
        return None
    rank, std, healthy = values
    if healthy <= 0:
        return None
    views = snapshot.get("views")
    n = views if isinstance(views, int) and views > 0 else SNAPSHOT_VIEWS
    return classify_embedding(rank, std, round(1.0 / healthy ** 2), n)
