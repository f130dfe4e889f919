"""A clustering run's prototype of each track: its head maps segment embeddings to prototype probabilities,
and a track takes the argmax of its mean segment probabilities (the GUI colours its map by it)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from engine.rundir import embeddings_store

if TYPE_CHECKING:
    from engine.config import RunConfig


class PrototypeHead:
    """The clustering head of a checkpoint as a map from (B, D) embeddings to (B, K) prototype probabilities."""

    def __init__(self, head: torch.nn.Module, center: torch.Tensor | None, temperature: float, source: str,
                 device: str = "cpu") -> None:
        self.head = head.eval().to(device)
        self.center = center.float().to(device) if center is not None else None
        self.temperature, self.source, self.device = float(temperature), source, device

    @property
    def n_prototypes(self) -> int:
        return int(self.head.out_dim)

    @classmethod
    def from_checkpoint(cls, cfg: RunConfig, weights: dict[str, torch.Tensor], in_dim: int,
                        device: str = "cpu") -> PrototypeHead | None:
        """The teacher head of a clustering run's weights (student head without a teacher); None for other methods."""
        from engine.model.heads import MLPHead
        from engine.methods import get_pretext

        spec = get_pretext(cfg.method) if cfg.method != "random" else None
        if spec is None or spec.head != "clustering":
            return None
        source = "teacher" if any(k.startswith("teacher.head.") for k in weights) else "student"
        prefix = "teacher.head." if source == "teacher" else "head."
        head = MLPHead(in_dim, [*spec.head_dims[:-1], cfg.n_prototypes])
        try:
            head.load_state_dict({k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)})
        except RuntimeError as err:
            raise ValueError(f"no clustering head weights matching config.toml ({str(err).splitlines()[0]})") from None
        centering = spec.loss_config(cfg).centering
        center = weights.get("loss_fn.center") if centering else None
        return cls(head, center, cfg.teacher_temp_end, source, device)

    @torch.no_grad()
    def probabilities(self, emb: np.ndarray) -> np.ndarray:
        """(B, D) embeddings -> (B, K) float32 probabilities, in float32 (no autocast)."""
        with torch.autocast(device_type=torch.device(self.device).type, enabled=False):
            logits = self.head(torch.from_numpy(np.asarray(emb, np.float32)).to(self.device)).float()
            if self.center is not None:
                logits = logits - self.center
            return torch.softmax(logits / self.temperature, dim=-1).cpu().numpy()

    def prototypes(self, votes: PrototypeVotes) -> embeddings_store.TrackPrototypes:
        return embeddings_store.TrackPrototypes(votes.result(), self.n_prototypes, self.source, self.temperature,
                                     self.center is not None)


class PrototypeVotes:
    """Per-track sums of segment probabilities; a track is settled (argmax) once a later track's
    segments arrive, so only the tracks of the current batch are held (segments come in track order)."""

    def __init__(self, n_tracks: int) -> None:
        self.prototype = np.full(n_tracks, -1, np.int32)
        self._open: dict[int, np.ndarray] = {}

    def add(self, rows: np.ndarray, probs: np.ndarray) -> None:
        """Add the (B, K) probabilities of segments of track `rows` (B,)."""
        rows = np.asarray(rows, np.int64)
        for row in np.unique(rows):
            if self.prototype[row] >= 0:
                raise ValueError(f"track {row}: segments after later tracks (segments must come in track order)")
            total = probs[rows == row].sum(axis=0, dtype=np.float64)
            self._open[int(row)] = self._open[int(row)] + total if row in self._open else total
        if len(rows):
            self._settle([r for r in self._open if r < rows.max()])

    def _settle(self, rows: list[int]) -> None:
        for row in rows:
            self.prototype[row] = int(np.argmax(self._open.pop(row)))

    def result(self) -> np.ndarray:
        """(N,) int32 prototype of each track; -1 for a track without segments."""
        self._settle(list(self._open))
        return self.prototype
