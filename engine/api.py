"""Python API for notebooks: a run's frozen model, its config and its stored embeddings in one call.

    from engine.api import load_run
    run = load_run("runs/contrastive")            # trained, `random` or log-mel baseline run
    query = run.embed_file("song.wav")            # (D,) float32, as `mvssl embed` stores a track
    for hit in run.nearest(query, k=5):
        print(f"{hit.similarity:.3f} {hit.id} {' '.join(hit.tags)}")

`run.model` maps 4 s waveforms (B, run.segment_samples) at 16 kHz to (B, D) in eval mode and float32:
the backbone with its log-mel front end, or the log-mel statistics of the baseline. `run.embeddings`
(N, D), `run.ids`, `run.paths`, `run.splits` and `run.tags` (N, T) uint8 in `run.tag_names` order come from
the run's `embeddings.h5` (empty when the run has not been embedded yet).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from engine.rundir import embeddings_store, layout
from engine.data.audio import SAMPLE_RATE, load, resample, to_mono
from engine.config import RunConfig
from engine.model.portable.model import scene_segments

BATCH = 32  # segments per forward pass


class LogMelStats(nn.Module):
    """The log-mel statistics baseline as a module: (B, samples) -> (B, 2 n_mels) per-bin mean and std."""

    def __init__(self) -> None:
        super().__init__()
        from engine.model.frontend import LogMel

        self.frontend = LogMel()

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        mel = self.frontend(wave).squeeze(1)  # (B, n_mels, frames)
        return torch.cat([mel.mean(-1), mel.std(-1)], dim=1)


class Neighbour(NamedTuple):
    row: int
    id: str
    similarity: float
    tags: list[str]


@dataclass(eq=False)
class Run:
    """A loaded run; see the module docstring."""

    run_dir: Path
    method: str
    checkpoint_step: int
    config: RunConfig | None  # None for the log-mel baseline (a pseudo-run without config.toml)
    model: nn.Module
    segment_samples: int
    ids: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    splits: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=str))
    tags: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.uint8))
    tag_names: list[str] = field(default_factory=list)
    embeddings: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    embeddings_attrs: dict = field(default_factory=dict)

    @property
    def sample_rate(self) -> int:
        return SAMPLE_RATE

    @torch.no_grad()
    def embed_audio(self, wave: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
        """A clip (samples,) or (samples, channels) -> its (D,) float32 track embedding: the mean over its
        non-silent 4 s segments, as `mvssl embed --segments-per-track all` computes it (in float32)."""
        wave = resample(to_mono(np.asarray(wave, np.float32)), int(sample_rate), SAMPLE_RATE)
        segments = scene_segments(torch.from_numpy(np.ascontiguousarray(wave)), self.segment_samples)
        device = next(iter(self.model.buffers())).device
        emb = torch.cat([self.model(segments[i : i + BATCH].to(device)).float()
                         for i in range(0, len(segments), BATCH)])
        return emb.mean(dim=0).cpu().numpy()

    def embed_file(self, path: str | Path) -> np.ndarray:
        """Decode an audio file (any rate, mono or stereo; soundfile) and embed it like `embed_audio`."""
        return self.embed_audio(load(path), SAMPLE_RATE)

    def tags_of(self, row: int) -> list[str]:
        return [name for name, on in zip(self.tag_names, self.tags[row]) if on]

    def nearest(self, query: np.ndarray, k: int = 10, exclude: int | None = None) -> list[Neighbour]:
        """The k stored tracks nearest to `query` (D,) by cosine similarity, best first; `exclude` a row."""
        if len(self.embeddings) == 0:
            raise embeddings_store.StoreError(f"{self.run_dir}: no embeddings yet (run `mvssl embed`)")
        unit = self.embeddings / np.maximum(np.linalg.norm(self.embeddings, axis=1, keepdims=True), 1e-12)
        q = np.asarray(query, np.float32)
        sims = unit @ (q / max(float(np.linalg.norm(q)), 1e-12))
        if exclude is not None:
            sims[exclude] = -np.inf
        order = np.argsort(-sims, kind="stable")[: min(k, len(sims) - (exclude is not None))]
        return [Neighbour(int(i), self.ids[i], float(sims[i]), self.tags_of(int(i))) for i in order]


def load_model(run_dir: Path, checkpoint: str = "last") -> tuple[nn.Module, str, int, RunConfig | None, int]:
    """(model in eval mode, method, checkpoint step, config or None, segment samples) of a run directory."""
    from engine.evaluation.encoders import read_baseline

    run_dir = Path(run_dir)
    baseline = read_baseline(run_dir)
    if baseline is not None:
        if baseline.get("method") != "logmel":
            raise ValueError(f"{run_dir}: unknown baseline method {baseline.get('method')!r}")
        return (LogMelStats().eval(), "logmel", 0, None,
                int(round(float(baseline.get("segment_s", 4.0)) * SAMPLE_RATE)))

    from engine.evaluation.encoders import load_trained_backbone

    backbone, cfg, state, _ = load_trained_backbone(run_dir, checkpoint)
    return backbone.eval(), cfg.method, int(state["step"]), cfg, backbone.config.segment_samples


def load_run(run_dir: str | Path, checkpoint: str = "last", device: str = "cpu") -> Run:
    """The run in `run_dir`: frozen model of `checkpoint` (last or a step) on `device`, config, embeddings."""
    run_dir = Path(run_dir)
    model, method, step, cfg, samples = load_model(run_dir, checkpoint)
    run = Run(run_dir, method, step, cfg, model.to(device), samples)
    if (run_dir / layout.EMBEDDINGS).exists():
        with embeddings_store.open_embeddings(run_dir) as emb:
            t = emb.tracks
            run.ids, run.paths, run.splits = t.ids, t.paths, np.array(t.splits)
            run.tags, run.tag_names = t.tags, t.tag_names
            run.embeddings, run.embeddings_attrs = emb.track_embeddings(), dict(emb.attrs)
    return run
