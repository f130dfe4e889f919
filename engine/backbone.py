"""The paper's backbone: a CLIP-style ModifiedResNet on the log-mel image, 1024-D embedding.

PAPER.md "Backbone": three-conv stem, Bottleneck stages (3, 4, 6, 3) of base width 16 with
anti-aliased (avg-pool) downsampling, and attention pooling over the final grid. 2,800,392
parameters for a 4 s, 128-mel input. Module names follow the official code, so a released
checkpoint's ``embedding.*`` weights map one to one onto ``Backbone.resnet``; but those weights were
trained on the official front end (f_max = 11,025 Hz), not our default, so load them through
``engine.official`` (`mvssl import --official`), which sets the front end to match. Loading a state
whose mel filterbank differs from the configured front end fails instead of swapping it silently.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.frontend import FrontendConfig, LogMel
from engine.heads import byol_predictor, clustering_head, projection_head

EXPANSION = 4  # Bottleneck output channels = planes * EXPANSION


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


class Bottleneck(nn.Module):
    """1x1 -> 3x3 -> (avg-pool) -> 1x1 residual block; all convs stride 1 (anti-aliased)."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        out = planes * EXPANSION
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.avgpool = nn.AvgPool2d(stride) if stride > 1 else nn.Identity()
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.downsample: nn.Module | None = None
        if stride > 1 or inplanes != out:
            self.downsample_pool = nn.AvgPool2d(stride) if stride > 1 else nn.Identity()
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, out, 1, bias=False), nn.BatchNorm2d(out))

    def forward(self, x: Tensor) -> Tensor:  # (B, inplanes, H, W) -> (B, 4 planes, H/s, W/s)
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(self.avgpool(y)))
        identity = x if self.downsample is None else self.downsample(self.downsample_pool(x))
        return F.relu(y + identity)


class AttentionPool2d(nn.Module):
    """Multi-head attention of the mean token over all grid positions (CLIP's pooling)."""

    def __init__(self, grid: tuple[int, int], embed_dim: int, heads: int, output_dim: int) -> None:
        super().__init__()
        self.grid = grid
        self.heads = heads
        n_tokens = grid[0] * grid[1] + 1
        self.positional_embedding = nn.Parameter(torch.randn(n_tokens, embed_dim) / embed_dim**0.5)
        self.k_proj = nn.Linear(embed_dim, embed_dim)
        self.q_proj = nn.Linear(embed_dim, embed_dim)
        self.v_proj = nn.Linear(embed_dim, embed_dim)
        self.c_proj = nn.Linear(embed_dim, output_dim)

    def forward(self, x: Tensor) -> Tensor:  # (B, C, H, W) -> (B, output_dim)
        b, c, h, w = x.shape
        if (h, w) != self.grid:
            raise ValueError(f"attention pooling expects a {self.grid} feature grid, got {(h, w)}")
        tokens = x.flatten(2).transpose(1, 2)  # (B, HW, C)
        tokens = torch.cat([tokens.mean(dim=1, keepdim=True), tokens], dim=1)  # (B, HW+1, C)
        tokens = tokens + self.positional_embedding.to(tokens.dtype)
        d = c // self.heads
        q = self.q_proj(tokens[:, :1]).reshape(b, 1, self.heads, d).transpose(1, 2)  # (B, h, 1, d)
        k = self.k_proj(tokens).reshape(b, -1, self.heads, d).transpose(1, 2)  # (B, h, HW+1, d)
        v = self.v_proj(tokens).reshape(b, -1, self.heads, d).transpose(1, 2)  # (B, h, HW+1, d)
        pooled = F.scaled_dot_product_attention(q, k, v)  # (B, h, 1, d)
        return self.c_proj(pooled.transpose(1, 2).reshape(b, c))  # (B, output_dim)


class ModifiedResNet(nn.Module):
    """Log-mel image (B, 1, n_mels, frames) -> embedding (B, output_dim)."""

    def __init__(self, config: BackboneConfig) -> None:
        super().__init__()
        w = config.width
        self.conv1 = nn.Conv2d(1, w // 2, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(w // 2)
        self.conv2 = nn.Conv2d(w // 2, w // 2, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(w // 2)
        self.conv3 = nn.Conv2d(w // 2, w, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(w)
        self.avgpool = nn.AvgPool2d(2)
        inplanes = w
        stages = []
        for i, blocks in enumerate(config.layers):
            planes = w * 2**i
            stage = [Bottleneck(inplanes, planes, stride=1 if i == 0 else 2)]
            stage += [Bottleneck(planes * EXPANSION, planes) for _ in range(blocks - 1)]
            stages.append(nn.Sequential(*stage))
            inplanes = planes * EXPANSION
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.attnpool = AttentionPool2d(config.grid, config.embed_dim, config.heads, config.output_dim)

    def forward(self, mel: Tensor) -> Tensor:  # (B, 1, n_mels, frames) -> (B, output_dim)
        x = F.relu(self.bn1(self.conv1(mel)))  # (B, w/2, F/2, T/2)
        x = F.relu(self.bn2(self.conv2(x)))
        x = F.relu(self.bn3(self.conv3(x)))  # (B, w, F/2, T/2)
        x = self.avgpool(x)  # (B, w, F/4, T/4)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (B, 32 w, F/32, T/32)
        return self.attnpool(x)


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
        self.resnet = ModifiedResNet(self.config)

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
