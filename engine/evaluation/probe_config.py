"""A probe protocol's parameters (`ProbeConfig.of(protocol)`), with no torch: the reports and the GUI
print them. The protocols themselves are described in `engine.evaluation.probe_protocols`."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from engine.config import PROBE_PROTOCOLS

Protocol = Literal["ours", "paper", "paper-released", "marble", "linear"]
PROTOCOLS: tuple[str, ...] = PROBE_PROTOCOLS
LEGACY_KINDS = {"mlp": "ours", "linear": "linear"}  # `kind` of probes stored before protocols had names


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
    loss: Literal["bce", "official", "official-softmax"] = "bce"  # official: the clamped BCE of DownstreamLoss,
    # on sigmoid(logits) or (official-softmax, its default activation) on softmax(logits) over the tags
    train_on: Literal["segments", "tracks"] = "segments"  # tracks: one mean-pooled embedding per training track

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
    def output(self) -> Literal["sigmoid", "softmax"]:
        """The activation that turns logits into tag scores."""
        return "softmax" if self.loss == "official-softmax" else "sigmoid"

    @property
    def prediction(self) -> str:
        """How a track's score is made, in words (stored with every draw)."""
        if self.track_score == "embedding":
            return f"probe of the mean of segment embeddings ({self.output})"
        return "mean of segment sigmoid probabilities"

    def describe(self) -> dict[str, Any]:
        """The protocol's parameters as printed by `mvssl probe` and the reports."""
        head = {"linear": "Linear", "paper-released": "bias-free Linear",
                "paper": f"bias-free Linear({self.hidden}) -> BatchNorm -> ReLU -> bias-free Linear"}.get(
            self.protocol, f"Linear({self.hidden}) -> ReLU -> Dropout {self.dropout:g} -> Linear")
        return {"protocol": self.protocol, "head": head, "inputs": "standardised" if self.standardise else "as they are",
                "trained on": "track mean embeddings" if self.train_on == "tracks" else "segment embeddings",
                "track score": self.prediction, "loss": self.loss, "optimiser": f"Adam {self.lr:g}",
                "batch": self.batch_size, "early stop": f"{self.patience} validations without a better {self.criterion}",
                "lr on plateau": (f"x{self.plateau_factor:g} after {self.plateau_patience}" if self.plateau_factor < 1
                                  else "off"),
                "max validations": self.max_evals, "validation every": f"epoch, at least {self.min_steps_per_eval} steps"}


_VALUES: dict[str, dict[str, Any]] = {
    "paper": dict(dropout=0.0, standardise=False, track_score="embedding", loss="official"),
    "paper-released": dict(dropout=0.0, standardise=False, track_score="embedding", loss="official-softmax"),
    # MARBLE MTT.yaml: batch 64, lr_scheduler_patience 3, earlystop_patience 10, max_epochs 100, monitor valid_aucroc
    "marble": dict(dropout=0.2, standardise=False, criterion="roc_auc", plateau_factor=0.5, plateau_patience=3,
                   patience=10, max_evals=100, batch_size=64, min_steps_per_eval=1, train_on="tracks",
                   track_score="embedding"),
}


def protocol_of(info: dict[str, Any]) -> str:
    """The protocol a stored draw was made with (older draws stored `kind` mlp / linear)."""
    if "protocol" in info:
        return str(info["protocol"])
    return LEGACY_KINDS.get(str(info.get("kind", "mlp")), "ours")
