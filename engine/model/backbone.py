"""The paper's backbone: a CLIP-style ModifiedResNet on the log-mel image, 1024-D embedding.

PAPER.md "Backbone": three-conv stem, Bottleneck stages (3, 4, 6, 3) of base width 16 with
anti-aliased (avg-pool) downsampling, and attention pooling over the final grid. 2,800,392
parameters for a 4 s, 128-mel input. Module names follow the official code, so a released
checkpoint's ``embedding.*`` weights map one to one onto ``Backbone.resnet``; but those weights were
trained on the official front end (f_max = 11,025 Hz), not our default, so load them through
``engine.training.official`` (`mvssl import --official`), which sets the front end to match. Loading a state
whose mel filterbank differs from the configured front end fails instead of swapping it silently.
The ResNet's layers live in the torch-only `engine.model.portable.model`, which exported models ship verbatim.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from engine.model.frontend import FrontendConfig, LogMel
from engine.model.heads import byol_predictor, clustering_head, projection_head
from engine.model.portable.model import EXPANSION, AttentionPool2d, Bottleneck, ModifiedResNet

__all__ = ["EXPANSION", "AttentionPool2d", "Backbone", "BackboneConfig", "Bottleneck", "ModifiedResNet",
           "count_parameters", "parameter_counts"]


@dataclass(frozen=True)
class BackboneConfig:
    """Backbone shape with the paper's defaults; the attention grid is derived from the input."""

    layers: tuple[int, int, int, int] = (3, 4, 6, 3)  # Bottleneck blocks per stage
    width: int = 16  # stage-1 planes; stages use width * (1, 2, 4, 8), output width * 32
    heads: int = 8  # attention-pooling heads
    output_dim: int = 1024  # embedding size: the vector used downstream
    segment_samples: int = 64_000  # input length (4 s at 16 kHz); fixes the positional grid
    frontend: FrontendConfig = field(default_factory=FrontendConfig)  # log-mel settings

    def __post_init__(self) -> None:
        if len(self.layers) != 4 or min(self.layers) < 1:
            raise ValueError(f"BackboneConfig.layers must be 4 positive counts, got {self.layers}")
        if self.width < 2 or self.width % 2:
            raise ValueError(f"BackboneConfig.width must be even and >= 2, got {self.width}")
        if self.embed_dim % self.heads:
            raise ValueError(f"BackboneConfig.heads {self.heads} must divide {self.embed_dim} channels")
        if min(self.grid) < 1:
            raise ValueError(f"BackboneConfig: input {self.input_size} is too small for 32x downsampling")

    @property
    def embed_dim(self) -> int:
        """Channels out of the last stage (512 by default)."""
        return self.width * 8 * EXPANSION

    @property
    def input_size(self) -> tuple[int, int]:
        """(mel bins, frames) of the log-mel image: (128, 126) by default."""
        return self.frontend.n_mels, self.frontend.n_frames(self.segment_samples)

    @property
    def grid(self) -> tuple[int, int]:
        """(freq, time) size of the last feature map: (4, 3) by default."""
        return tuple(_downsampled(n) for n in self.input_size)  # type: ignore[return-value]


def _downsampled(n: int) -> int:
    """Size after the stride-2 conv (k3, p1), the stem pool and three stage pools."""
    return (n + 1) // 2 // 2 // 2 // 2 // 2


class Backbone(nn.Module):
    """Raw waveform (B, segment_samples) -> the 1024-D embedding (B, output_dim).

    Example:
        >>> Backbone().eval()(torch.randn(2, 64_000)).shape
        torch.Size([2, 1024])
    """

    def __init__(self, config: BackboneConfig | None = None) -> None:
        super().__init__()
        self.config = config or BackboneConfig()
        self.frontend = LogMel(self.config.frontend)
        c = self.config
        self.resnet = ModifiedResNet(c.layers, c.width, c.heads, c.output_dim, c.grid)

    def forward(self, wave: Tensor) -> Tensor:  # (B, T) -> (B, output_dim)
        if wave.dim() != 2 or wave.shape[1] != self.config.segment_samples:
            raise ValueError(
                f"backbone expects a (batch, {self.config.segment_samples}) waveform, got {tuple(wave.shape)}"
            )
        return self.forward_features(self.frontend(wave))

    def forward_features(self, mel: Tensor) -> Tensor:  # (B, 1, n_mels, frames) -> (B, output_dim)
        expected = (1, *self.config.input_size)
        if mel.dim() != 4 or tuple(mel.shape[1:]) != expected:
            raise ValueError(f"backbone expects a (batch, {expected}) log-mel, got {tuple(mel.shape)}")
        return self.resnet(mel)


def count_parameters(module: nn.Module) -> int:
    """Number of scalar parameters (buffers excluded)."""
    return sum(p.numel() for p in module.parameters())


def parameter_counts(config: BackboneConfig | None = None) -> dict[str, int]:
    """Parameter counts of the backbone and of each paper head (backbone: 2,800,392)."""
    config = config or BackboneConfig()
    return {
        "backbone": count_parameters(Backbone(config)),
        "projection_head": count_parameters(projection_head(config.output_dim)),
        "byol_predictor": count_parameters(byol_predictor()),
        "clustering_head": count_parameters(clustering_head(config.output_dim)),
    }
