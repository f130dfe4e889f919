"""The paper's backbone and log-mel front end in plain torch, and how a clip is cut into 4 s segments.

One source for the engine and for exported packages: `engine.model.backbone` and `engine.model.frontend` use these
classes and functions, and `mvssl export --format hear` copies this file unchanged. It imports torch and
numpy only. `Embedder` is the frozen model of an export: the front end's window and mel filterbank are
buffers (shipped in the weights file), followed either by the ResNet (a trained or random run) or by
per-bin mean and std over time (the log-mel baseline).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

EXPANSION = 4  # Bottleneck output channels = planes * EXPANSION
SILENCE_DB = -60.0  # a segment quieter than this (RMS, dBFS) is silent


def log_mel(wave: Tensor, window: Tensor, filterbank: Tensor, n_fft: int, hop_length: int, top_db: float) -> Tensor:
    """Waveform (B, T) -> log-mel image (B, 1, n_mels, frames) in dB, always in float32.

    Power spectrum of a centred, reflect-padded STFT normalised by the window energy, projected on the
    (n_fft / 2 + 1, n_mels) filterbank, 10 log10 with a 1e-10 floor, clamped `top_db` below each item's peak.
    """
    with torch.autocast(device_type=wave.device.type, enabled=False):
        spec = torch.stft(wave.float(), n_fft, hop_length, window=window, center=True,
                          pad_mode="reflect", return_complex=True)  # (B, n_fft/2+1, frames)
        # |X|^2 as re^2 + im^2: four times faster on CPU than the complex abs, equal within float32 rounding
        power = torch.addcmul(spec.real.square(), spec.imag, spec.imag)
        # the window-energy normalisation folded into the filterbank: one pass less over the spectrum
        fb = filterbank / window.pow(2).sum()
        mel = torch.matmul(fb.T, power).unsqueeze(1)  # (B, 1, n_mels, frames)
        db = 10.0 * torch.log10(torch.clamp(mel, min=1e-10))
        return torch.max(db, db.amax(dim=(-3, -2, -1), keepdim=True) - top_db)


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
        self.grid = tuple(grid)
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
    """Log-mel image (B, 1, n_mels, frames) -> embedding (B, output_dim); `grid` is the last feature map."""

    def __init__(self, layers: tuple[int, ...], width: int, heads: int, output_dim: int,
                 grid: tuple[int, int]) -> None:
        super().__init__()
        w = width
        self.conv1 = nn.Conv2d(1, w // 2, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(w // 2)
        self.conv2 = nn.Conv2d(w // 2, w // 2, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(w // 2)
        self.conv3 = nn.Conv2d(w // 2, w, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(w)
        self.avgpool = nn.AvgPool2d(2)
        inplanes = w
        stages = []
        for i, blocks in enumerate(layers):
            planes = w * 2**i
            stage = [Bottleneck(inplanes, planes, stride=1 if i == 0 else 2)]
            stage += [Bottleneck(planes * EXPANSION, planes) for _ in range(blocks - 1)]
            stages.append(nn.Sequential(*stage))
            inplanes = planes * EXPANSION
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.attnpool = AttentionPool2d(grid, w * 8 * EXPANSION, heads, output_dim)

    def forward(self, mel: Tensor) -> Tensor:  # (B, 1, n_mels, frames) -> (B, output_dim)
        x = F.relu(self.bn1(self.conv1(mel)))  # (B, w/2, F/2, T/2)
        x = F.relu(self.bn2(self.conv2(x)))
        x = F.relu(self.bn3(self.conv3(x)))  # (B, w, F/2, T/2)
        x = self.avgpool(x)  # (B, w, F/4, T/4)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))  # (B, 32 w, F/32, T/32)
        return self.attnpool(x)


def is_silent(segment: Tensor, threshold_db: float = SILENCE_DB) -> bool:
    """True when the RMS level of a 1-D segment is below `threshold_db` dBFS (computed in float64)."""
    rms = float(torch.sqrt(torch.mean(segment.double().square())))
    return rms == 0.0 or 20.0 * math.log10(rms) < threshold_db


def scene_segments(wave: Tensor, segment_samples: int) -> Tensor:
    """A clip (T,) -> its segments (k, segment_samples), as `mvssl embed --segments-per-track all` cuts them:
    every non-overlapping segment from the start, silent ones dropped unless all are silent; a clip
    shorter than one segment gives one zero-padded segment."""
    if len(wave) < segment_samples:
        return F.pad(wave, (0, segment_samples - len(wave)))[None]
    k = len(wave) // segment_samples
    crops = wave[: k * segment_samples].reshape(k, segment_samples)
    loud = torch.tensor([not is_silent(c) for c in crops])
    return crops[loud] if bool(loud.any()) else crops


class CentredWindows:
    """The windows of a clip (T,) centred on every multiple of `hop_s` from 0 to its end, each
    `segment_samples` long, cut batch by batch from the clip zero-padded by half a window on each side
    (so a long clip never holds all windows at once). Starts are rounded per window: no drift."""

    def __init__(self, wave: Tensor, segment_samples: int, hop_s: float, sample_rate: int) -> None:
        n = int(math.floor(len(wave) / sample_rate / hop_s + 1e-9)) + 1
        half = segment_samples // 2
        self.padded = F.pad(wave, (half, segment_samples - half))
        self.segment_samples = segment_samples
        self.starts = [int(round(i * hop_s * sample_rate)) for i in range(n)]
        self.times_ms = torch.arange(n, dtype=torch.float32) * float(hop_s * 1000.0)  # (n,) window centres

    def __len__(self) -> int:
        return len(self.starts)

    def batch(self, lo: int, hi: int) -> Tensor:
        """Windows lo..hi as (hi - lo, segment_samples)."""
        return torch.stack([self.padded[s : s + self.segment_samples] for s in self.starts[lo:hi]])


class Embedder(nn.Module):
    """A frozen exported model: 4 s waveform segments (B, segment_samples) -> embeddings (B, dim).

    `kind` "backbone": the log-mel image through the ModifiedResNet (1024-D); "logmel": per-bin mean and
    (unbiased) std over time of the log-mel (2 n_mels = 256-D), the log-mel statistics baseline.
    """

    def __init__(self, config: dict) -> None:
        super().__init__()
        self.config = dict(config)
        c = self.config
        self.kind = c["kind"]
        if self.kind not in ("backbone", "logmel"):
            raise ValueError(f"unknown model kind {self.kind!r} (backbone or logmel)")
        self.sample_rate = int(c["sample_rate"])
        self.segment_samples = int(c["segment_samples"])
        self.register_buffer("window", torch.zeros(int(c["n_fft"])))
        self.register_buffer("filterbank", torch.zeros(int(c["n_fft"]) // 2 + 1, int(c["n_mels"])))
        self.resnet = (ModifiedResNet(tuple(c["layers"]), int(c["width"]), int(c["heads"]), int(c["output_dim"]),
                                      tuple(c["grid"])) if self.kind == "backbone" else None)
        self.dim = int(c["output_dim"]) if self.kind == "backbone" else 2 * int(c["n_mels"])

    def forward(self, segments: Tensor) -> Tensor:  # (B, segment_samples) -> (B, dim) float32
        c = self.config
        mel = log_mel(segments, self.window, self.filterbank, int(c["n_fft"]), int(c["hop_length"]),
                      float(c["top_db"]))
        if self.resnet is None:
            return torch.cat([mel.squeeze(1).mean(-1), mel.squeeze(1).std(-1)], dim=1)
        return self.resnet(mel).float()

    @torch.no_grad()
    def embed_segments(self, segments: Tensor, batch: int = 32) -> Tensor:
        """(N, segment_samples) -> (N, dim) float32 in batches, on the model's device."""
        device = self.window.device
        out = [self(segments[i : i + batch].to(device)) for i in range(0, len(segments), batch)]
        return torch.cat(out) if out else torch.zeros(0, self.dim, device=device)

    @torch.no_grad()
    def embed_windows(self, windows: CentredWindows, batch: int = 32) -> Tensor:
        """Every window of `windows` -> (len(windows), dim) float32, cut and embedded one batch at a time."""
        device = self.window.device
        return torch.cat([self(windows.batch(i, i + batch).to(device)) for i in range(0, len(windows), batch)])
