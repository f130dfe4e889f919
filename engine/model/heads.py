"""Linear-BN-ReLU heads that sit on top of the backbone during pretext training.

PAPER.md "Heads": "Head = stack of Linear (no bias) -> BatchNorm1d -> ReLU, last layer a Linear
without bias." A dims list such as [1024, 1024, 2048] gives the *output* width of each Linear,
as in the official code; the input width is separate (the backbone's 1024, or 2048 for the
BYOL predictor that reads the projection).
"""
from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from engine.methods import BYOL_PREDICTOR_DIMS, CLUSTERING_DIMS, PROJECTION_DIMS

EMBEDDING_DIM = 1024  # backbone output, the input of the projection and clustering heads


class MLPHead(nn.Module):
    """``len(dims)`` bias-free Linear layers with BatchNorm1d + ReLU between them.

    ``MLPHead(1024, [1024, 2048])`` is Linear(1024->1024) - BN - ReLU - Linear(1024->2048):
    every dim is a Linear output width, and nothing follows the last Linear.

    Example:
        >>> MLPHead(1024, [1024, 1024, 2048])(torch.randn(4, 1024)).shape
        torch.Size([4, 2048])
    """

    def __init__(self, in_dim: int, dims: Sequence[int]) -> None:
        super().__init__()
        if not dims or in_dim <= 0 or min(dims) <= 0:
            raise ValueError(f"MLPHead needs a positive in_dim and layer widths, got {in_dim}, {list(dims)}")
        self.in_dim = in_dim
        self.out_dim = dims[-1]
        layers: list[nn.Module] = []
        widths = [in_dim, *dims]
        for i, (d_in, d_out) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(nn.Linear(d_in, d_out, bias=False))
            if i < len(dims) - 1:
                layers += [nn.BatchNorm1d(d_out), nn.ReLU(inplace=True)]
        self.ops = nn.Sequential(*layers)  # named as in the official code, for its checkpoints

    def forward(self, x: Tensor) -> Tensor:  # (B, in_dim) -> (B, out_dim)
        if x.dim() != 2 or x.shape[1] != self.in_dim:
            raise ValueError(f"MLPHead expects (batch, {self.in_dim}) input, got {tuple(x.shape)}")
        return self.ops(x)


def projection_head(in_dim: int = EMBEDDING_DIM, dims: Sequence[int] = PROJECTION_DIMS) -> MLPHead:
    """Projection head of contrastive, Barlow Twins, VICReg and BYOL: 1024 -> 1024 -> 1024 -> 2048.

    PAPER.md: "Projection head (contrastive, Barlow Twins, VICReg, BYOL): dims [1024, 1024, 2048]."
    """
    return MLPHead(in_dim, dims)


def byol_predictor(in_dim: int = PROJECTION_DIMS[-1], dims: Sequence[int] = BYOL_PREDICTOR_DIMS) -> MLPHead:
    """BYOL's student-only predictor: 2048 -> 256 -> 2048.

    PAPER.md: "BYOL predictor: [256, 2048] on top of the student projection."
    """
    return MLPHead(in_dim, dims)


def clustering_head(in_dim: int = EMBEDDING_DIM, dims: Sequence[int] = CLUSTERING_DIMS) -> MLPHead:
    """DINO-style clustering head: 1024 -> 1024 -> 1024 -> 256 -> 4096 prototype logits.

    PAPER.md: "Clustering head: [1024, 1024, 256, 4096] (4096 prototypes)."
    """
    return MLPHead(in_dim, dims)
