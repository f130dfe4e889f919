"""Collapse snapshots during training, on one fixed batch of views so the curves are comparable."""
from __future__ import annotations

import math
from dataclasses import replace

import torch

from engine.collapse import diagnostics
from engine.collapse.clustering import classify_clustering, prototype_stats
from engine.collapse.forecast import Forecaster, shown_kinds
from engine.collapse.verdicts import peak_spreads, snapshot_embedding_state
from engine.data.corpora import Corpus
from engine.model.ssl_model import SSLModel
from engine.data.views import MultiViewDataset, ViewConfig

SNAPSHOT_TRACKS = 32


class CollapseProbe:
    """Holds a fixed (V, N, T) batch; `snapshot` embeds it in eval mode and returns plain numbers."""

    def __init__(self, views: torch.Tensor) -> None:
        self.views = views  # (V, N, T)
        self.peaks: dict = {}  # the highest spread per space in this process's snapshots: full collapse is a fall from it
        self.forecaster = Forecaster()
        self.warned: str | None = None  # the kind of the last warning pushed as an event
        self.shown: tuple[str, ...] = ()  # the collapse kinds the previous snapshot showed

    @classmethod
    def from_corpus(cls, corpus: Corpus, config: ViewConfig, seed: int, device: torch.device,
                    n_tracks: int = SNAPSHOT_TRACKS) -> "CollapseProbe":
        held_out_first = corpus.split("valid") + corpus.split("test") + corpus.split("train")
        tracks = (held_out_first or corpus.tracks)[:n_tracks]
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
                   "healthy_std": 1.0 / math.sqrt(flat.shape[-1]), "views": flat.shape[0],
                   **diagnostics.space_signals(flat)}
            if model.spec is not None and model.spec.head == "projection":
                with autocast:
                    head = model.head(z.reshape(-1, z.shape[-1])).float()  # (V*N, D') where the loss acts
                out.update(diagnostics.space_signals(head, prefix="head_"))
            for space, spread in peak_spreads([out]).items():
                self.peaks[space] = max(self.peaks.get(space, 0.0), spread)
            out["embedding_state"] = "untrained" if model.spec is None else snapshot_embedding_state(out, self.peaks)
            if model.spec is not None and model.spec.uses_teacher_temp:
                out.update(self._clustering(model, teacher_temp, autocast))
            return out
        finally:
            model.train(was_training)

    def warning(self, step: int, snapshot: dict) -> dict | None:
        """A "forecast" event when the snapshot starts a warning, or warns of another kind than the last one."""
        found = self.forecaster.add({"step": step, **snapshot})
        shown, self.shown = self.shown, shown_kinds(snapshot)
        if found is None or found.kind == self.warned or found.kind in set(shown) & set(self.shown):  # a verdict already
            return None
        self.warned = found.kind
        return {"type": "forecast", "step": step, "kind": found.kind, "steps_to_verdict": found.steps_to_verdict,
                "signal": found.signal, "message": found.message}

    def _clustering(self, model: SSLModel, teacher_temp: float, autocast) -> dict:
        with autocast:
            logits = model.teacher_logits(self.views).float()  # (V, N, K)
        center = model.loss_fn.center if model.loss_fn.config.centering else None
        stats = prototype_stats(logits, teacher_temp, center)
        k, n = logits.shape[-1], stats.samples
        top_share = float(stats.usage.max()) / n
        return {
            "teacher_entropy": stats.teacher_entropy,
            "effective_prototypes": stats.effective_prototypes,
            "distinct_prototypes": stats.distinct_prototypes,
            "usage": {str(int(i)): int(stats.usage[i]) for i in stats.usage.nonzero().flatten()},
            "max_entropy": stats.max_entropy,
            "clustering_state": classify_clustering(stats.teacher_entropy, stats.effective_prototypes, k, n,
                                                    top_share),
            "top_share": top_share,
        }
