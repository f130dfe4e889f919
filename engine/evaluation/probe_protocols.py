"""Probe protocols of the field: how a frozen embedding is turned into tag scores.

- `ours`: inputs standardised with training statistics, Linear -> ReLU -> Dropout 0.5 -> Linear,
  track score = mean of its segments' probabilities, early stop on validation PR-AUC.
- `paper`: the official downstream model: no standardisation, bias-free Linear -> BatchNorm ->
  ReLU -> bias-free Linear, no dropout, track score from the mean of its segments' *embeddings*,
  the official loss (logits clamped at -10, log-probabilities at -100). Where the official code is
  silent (optimiser, stopping) it runs as ours.
- `marble`: MARBLE's MLP probe: one hidden layer of 512, dropout 0.2, Adam 1e-3 halved when the
  validation score plateaus, early stop on validation ROC-AUC, chunk predictions averaged per clip;
  the embeddings as they are.
- `linear`: standardised inputs, one Linear layer, mean of segment probabilities.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

import torch
from torch import Tensor, nn

from engine.config import PROBE_PROTOCOLS

Protocol = Literal["ours", "paper", "marble", "linear"]
PROTOCOLS: tuple[str, ...] = PROBE_PROTOCOLS
LEGACY_KINDS = {"mlp": "ours", "linear": "linear"}  # `kind` of probes stored before protocols had names
OFFICIAL_LOGIT_FLOOR = -10.0  # DownstreamLoss: sigmoid(clamp(y, min=-10))
OFFICIAL_LOG_FLOOR = -100.0  # DownstreamLoss: log_clap


@dataclass(frozen=True)
class ProbeConfig:
    """Probe hyper-parameters; stored with every draw so results say how they were made.
    Build one with `ProbeConfig.of(protocol)` to get that protocol's values."""

    protocol: Protocol = "ours"
    hidden: int = 512  # hidden units of the MLP
    dropout: float = 0.5  # on the hidden layer; the labelled sets are small
    lr: float = 1e-3  # Adam
    weight_decay: float = 0.0
    batch_size: int = 256  # segments per step
    min_steps_per_eval: int = 10  # validation every epoch, but never more often than this many steps
    patience: int = 5  # validations without improvement before stopping
    max_evals: int = 50  # hard cap: at most max_evals × steps-per-eval steps
    standardise: bool = True  # inputs minus training mean, over training std
    track_score: Literal["probabilities", "embedding"] = "probabilities"  # what is averaged over a track's segments
    criterion: Literal["pr_auc", "roc_auc"] = "pr_auc"  # validation macro metric for early stopping
    plateau_factor: float = 1.0  # learning rate x this after `plateau_patience` validations without gain; 1 = off
    plateau_patience: int = 2
    loss: Literal["bce", "official"] = "bce"  # "official": the clamped BCE of the official downstream code

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"probe protocol must be one of {', '.join(PROTOCOLS)}, got {self.protocol!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"probe dropout must be in [0, 1), got {self.dropout}")
        if not 0 < self.plateau_factor <= 1:
            raise ValueError(f"probe plateau_factor must be in (0, 1], got {self.plateau_factor}")
        if self.batch_size < 2:
            raise ValueError(f"probe batch_size must be >= 2 (train-mode BatchNorm needs two items), got {self.batch_size}")
        for name in ("hidden", "min_steps_per_eval", "patience", "max_evals", "plateau_patience"):
            if getattr(self, name) < 1:
                raise ValueError(f"probe {name} must be >= 1, got {getattr(self, name)}")

    @classmethod
    def of(cls, protocol: str, **overrides: Any) -> ProbeConfig:
        """The protocol's values (`mlp` is the old name of `ours`), with some fields replaced."""
        name = LEGACY_KINDS.get(protocol, protocol)
        if name not in PROTOCOLS:
            raise ValueError(f"unknown probe protocol {protocol!r} (valid: {', '.join(PROTOCOLS)})")
        return replace(cls(protocol=name, **_VALUES.get(name, {})), **overrides)  # type: ignore[arg-type]

    @property
    def prediction(self) -> str:
        """How a track's score is made, in words (stored with every draw)."""
        if self.track_score == "embedding":
            return "probe of the mean of segment embeddings"
        return "mean of segment sigmoid probabilities"


_VALUES: dict[str, dict[str, Any]] = {
    "paper": dict(dropout=0.0, standardise=False, track_score="embedding", loss="official"),
    "marble": dict(dropout=0.2, standardise=False, criterion="roc_auc", plateau_factor=0.5),
}


def protocol_of(info: dict[str, Any]) -> str:
    """The protocol a stored draw was made with (older draws stored `kind` mlp / linear)."""
    if "protocol" in info:
        return str(info["protocol"])
    return LEGACY_KINDS.get(str(info.get("kind", "mlp")), "ours")


def build_model(dim: int, n_tags: int, config: ProbeConfig) -> nn.Module:
    """(S, D) embeddings -> (S, T) logits, as the protocol defines the head."""
    if config.protocol == "linear":
        return nn.Linear(dim, n_tags)
    if config.protocol == "paper":  # the official Head(feature_dim, [hidden, n_classes])
        return nn.Sequential(nn.Linear(dim, config.hidden, bias=False), nn.BatchNorm1d(config.hidden), nn.ReLU(),
                             nn.Linear(config.hidden, n_tags, bias=False))
    return nn.Sequential(nn.Linear(dim, config.hidden), nn.ReLU(), nn.Dropout(config.dropout),
                         nn.Linear(config.hidden, n_tags))


def official_loss(logits: Tensor, target: Tensor) -> Tensor:
    """DownstreamLoss (multilabel, sigmoid): BCE of sigmoid(clamp(logits, -10)), logs floored at -100."""
    p = torch.sigmoid(logits.clamp(min=OFFICIAL_LOGIT_FLOOR))
    log_p = torch.log(p).clamp(min=OFFICIAL_LOG_FLOOR)
    log_not_p = torch.log(1 - p).clamp(min=OFFICIAL_LOG_FLOOR)
    return -(target * log_p + (1 - target) * log_not_p).mean(dim=-1).mean()


def loss_function(config: ProbeConfig) -> nn.Module | Any:
    return official_loss if config.loss == "official" else nn.BCEWithLogitsLoss()
