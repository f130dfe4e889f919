"""Collapse snapshots during training, on one fixed batch of views so the curves are comparable."""
from __future__ import annotations

import math
from dataclasses import replace

import torch
import torch.nn.functional as F

from engine.collapse import diagnostics
from engine.data.corpora import Corpus
from engine.model.ssl_model import SSLModel
from engine.data.views import MultiViewDataset, ViewConfig

SNAPSHOT_TRACKS = 32


class CollapseProbe:
    """Holds a fixed (V, N, T) batch; `snapshot` embeds it in eval mode and returns plain numbers."""

    def __init__(self, views: torch.Tensor) -> None:
        self.views = views  # (V, N, T)

    @classmethod
    def from_corpus(cls, corpus: Corpus, config: ViewConfig, seed: int, device: torch.device,
                    n_tracks: int = SNAPSHOT_TRACKS) -> "CollapseProbe":
        tracks = (corpus.split("valid") or corpus.tracks)[:n_tracks]
        dataset = MultiViewDataset(tracks, replace(config, augment=False), seed=seed + 1)
        batch = torch.stack([dataset[i] for i in range(len(dataset))])  # (N, V, T)
        return cls(batch.transpose(0, 1).contiguous().to(device))

    @torch.no_grad()
    def snapshot(self, model: SSLModel, teacher_temp: float, dtype: torch.dtype) -> dict:
        was_training = model.training
        model.eval()
        try:
            autocast = torch.autocast(self.views.device.type, dtype=dtype, enabled=dtype != torch.float32)
            with autocast:
                z = model.embed(self.views)  # (V, N, 1024)
            flat = z.float().reshape(-1, z.shape[-1])
            if not bool(torch.isfinite(flat).all()):
                return {"std": None, "rankme": None, "non_finite": True}
            out = {"std": diagnostics.std_of_l2_normalized(flat), "rankme": diagnostics.rankme(flat),
                   "healthy_std": 1.0 / math.sqrt(flat.shape[-1])}
            if model.spec is not None and model.spec.uses_teacher_temp:
                out.update(self._clustering(model, teacher_temp, autocast))
            return out
        finally:
            model.train(was_training)

    def _clustering(self, model: SSLModel, teacher_temp: float, autocast) -> dict:
        with autocast:
            logits = model.teacher_logits(self.views).float()  # (V, N, K)
        k = logits.shape[-1]
        if model.loss_fn.config.centering:
            logits = logits - model.loss_fn.center
        log_probs = F.log_softmax(logits / teacher_temp, dim=-1)
        probs = log_probs.exp()
        entropy = float(-(probs * log_probs).sum(-1).mean())
        effective = float(torch.special.entr(probs.mean(dim=(0, 1))).sum().exp())
        usage = torch.bincount(probs.argmax(-1).flatten(), minlength=k)
        nonzero = usage.nonzero().flatten()
        n = probs.shape[0] * probs.shape[1]
        return {
            "teacher_entropy": entropy,
            "effective_prototypes": effective,
            "distinct_prototypes": int(nonzero.numel()),
            "usage": {str(int(i)): int(usage[i]) for i in nonzero},
            "max_entropy": math.log(k),
            "clustering_state": diagnostics.classify_clustering(entropy, effective, k, n, float(usage.max()) / n),
            "top_share": float(usage.max()) / n,
        }
