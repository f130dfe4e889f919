"""Probe protocols of the field: how a frozen embedding is turned into tag scores.

- `ours`: inputs standardised with training statistics, Linear -> ReLU -> Dropout 0.5 -> Linear,
  track score = mean of its segments' probabilities, early stop on validation PR-AUC.
- `paper`: the paper's text ("an MLP" on frozen segment embeddings, multi-label, predictions over the
  whole track), built as the released code builds a hidden layer: bias-free Linear -> BatchNorm ->
  ReLU -> bias-free Linear (width 512: unstated), no dropout, inputs as they are, track score from
  the mean of its segments' embeddings (`mean_embedding`), the official sigmoid loss (logits clamped
  at -10, log-probabilities at -100). Where the paper is silent (optimiser, stopping) it runs as ours.
- `paper-released`: the released code's defaults: `DownstreamModel(head_feature_dim=[])` is one
  bias-free Linear, and `DownstreamLoss(activation=["softmax"])` puts the multi-label loss on a
  softmax over the tags; scores are those softmax probabilities of the mean embedding.
- `marble`: MARBLE's MTT probe (configs/mert/MERT-v1-330M/MTT.yaml): features mean-pooled over the
  whole clip, Linear(512) -> ReLU -> Dropout 0.2 -> Linear, Adam 1e-3, batch 64, learning rate
  halved after 3 epochs without a better validation ROC-AUC, early stop after 10, at most 100 epochs.
- `linear`: standardised inputs, one Linear layer, mean of segment probabilities.

The dropout of `ours` and `marble` is `ThresholdDropout`: nn.Dropout's semantics with a cheaper mask.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from engine.evaluation.probe_config import LEGACY_KINDS, PROTOCOLS, ProbeConfig, Protocol, protocol_of

__all__ = ["LEGACY_KINDS", "PROTOCOLS", "ProbeConfig", "Protocol", "protocol_of", "build_model", "ThresholdDropout",
           "official_loss", "official_softmax_loss", "loss_function", "log_clap"]
OFFICIAL_LOGIT_FLOOR = -10.0  # DownstreamLoss: sigmoid(clamp(y, min=-10))
OFFICIAL_LOG_FLOOR = -100.0  # DownstreamLoss: log_clap


class ThresholdDropout(nn.Module):
    """nn.Dropout(p) (train: zero with probability p, scale the rest by 1 / (1 - p); eval: identity), its mask drawn
    as `rand >= p`: 0.8 ms against nn.Dropout's 1.9 ms for a (256, 512) step and its backward on one CPU thread."""

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"dropout must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return x
        keep = torch.rand(x.shape, device=x.device) >= self.p
        return x * (keep.to(x.dtype) * (1.0 / (1.0 - self.p)))

    def extra_repr(self) -> str:
        return f"p={self.p}"


def build_model(dim: int, n_tags: int, config: ProbeConfig) -> nn.Module:
    """(S, D) embeddings -> (S, T) logits, as the protocol defines the head."""
    if config.protocol == "linear":
        return nn.Linear(dim, n_tags)
    if config.protocol == "paper-released":  # Head(feature_dim, head_feature_dim=[] + [n_classes])
        return nn.Linear(dim, n_tags, bias=False)
    if config.protocol == "paper":  # the official Head(feature_dim, [hidden, n_classes])
        return nn.Sequential(nn.Linear(dim, config.hidden, bias=False), nn.BatchNorm1d(config.hidden), nn.ReLU(),
                             nn.Linear(config.hidden, n_tags, bias=False))
    return nn.Sequential(nn.Linear(dim, config.hidden), nn.ReLU(), ThresholdDropout(config.dropout),
                         nn.Linear(config.hidden, n_tags))


def log_clap(x: Tensor) -> Tensor:
    """DownstreamLoss's `log_clap`, max(log x, -100), with a finite gradient where x is 0.

    The official `clamp(log(x), min=-100)` gives 0 * inf = NaN as the gradient of x = 0 (a saturated
    sigmoid in float32, an underflowed softmax), and one such step turns the whole probe into NaN.
    The value is the official one wherever x is 0 or a normal float.
    """
    tiny = torch.finfo(x.dtype).tiny
    return torch.where(x > 0, torch.log(x.clamp(min=tiny)), OFFICIAL_LOG_FLOOR).clamp(min=OFFICIAL_LOG_FLOOR)


def official_loss(logits: Tensor, target: Tensor) -> Tensor:
    """DownstreamLoss (multilabel, sigmoid): BCE of sigmoid(clamp(logits, -10)), logs floored at -100."""
    p = torch.sigmoid(logits.clamp(min=OFFICIAL_LOGIT_FLOOR))
    return -(target * log_clap(p) + (1 - target) * log_clap(1 - p)).mean(dim=-1).mean()


def official_softmax_loss(logits: Tensor, target: Tensor) -> Tensor:
    """DownstreamLoss with its default activation: the multi-label loss on softmax(logits) over the tags (temp 1)."""
    p = torch.softmax(logits, dim=-1)
    return -(target * log_clap(p) + (1 - target) * log_clap(1 - p)).mean(dim=-1).mean()


def loss_function(config: ProbeConfig) -> nn.Module | Any:
    return {"official": official_loss, "official-softmax": official_softmax_loss}.get(config.loss, nn.BCEWithLogitsLoss())
