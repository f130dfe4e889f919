"""The HEAR 2021 common API (hearbenchmark.com/hear-api.html) around a frozen mvssl-workbench model.

Exported packages ship this file as their `__init__.py` beside `model.py` and `weights.pt`, so it needs
torch and numpy only. Audio is mono float32 at `model.sample_rate` (16 kHz), shape (n_sounds, n_samples).

- Scene embedding: the mean of the embeddings of the clip's non-overlapping 4 s segments from its start,
  silent segments (RMS below -60 dBFS) left out unless all are, a clip shorter than 4 s zero-padded:
  what `mvssl embed --segments-per-track all` stores as the track embedding.
- Timestamp embeddings: every `model.timestamp_hop_ms` (50 ms unless changed) from 0 to the clip's end,
  the embedding of the 4 s window centred on that time (the clip zero-padded by 2 s on each side);
  timestamps are the window centres in milliseconds.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import Tensor

from .model import CentredWindows, Embedder, scene_segments

WEIGHTS_FILE = "weights.pt"
TIMESTAMP_HOP_MS = 50.0
BATCH = 32  # segments per forward pass


def load_model(model_file_path: str = "") -> Embedder:
    """The frozen model in eval mode; `model_file_path` defaults to the weights shipped with the package.

    The weights file (`torch.load(weights_only=True)`) holds the state dict and the model's JSON config.
    """
    path = Path(model_file_path) if model_file_path else Path(__file__).with_name(WEIGHTS_FILE)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: model weights not found")
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = Embedder(json.loads(state["config"]))
    model.load_state_dict(state["state_dict"])
    model.eval()
    model.scene_embedding_size = int(model.dim)
    model.timestamp_embedding_size = int(model.dim)
    model.timestamp_hop_ms = TIMESTAMP_HOP_MS
    return model


def _check(audio: Tensor, model: Embedder) -> Tensor:
    if not isinstance(audio, Tensor) or audio.dim() != 2:
        raise ValueError(f"audio must be a (n_sounds, n_samples) tensor at {model.sample_rate} Hz, "
                         f"got {getattr(audio, 'shape', type(audio))}")
    return audio.float()


def get_scene_embeddings(audio: Tensor, model: Embedder) -> Tensor:
    """(n_sounds, n_samples) -> (n_sounds, model.scene_embedding_size) float32."""
    audio = _check(audio, model)
    segments = [scene_segments(wave, model.segment_samples) for wave in audio]
    if not segments:
        return torch.zeros(0, model.dim, device=audio.device)
    emb = model.embed_segments(torch.cat(segments), BATCH)
    parts = torch.split(emb, [len(s) for s in segments])
    return torch.stack([p.mean(dim=0) for p in parts]).to(audio.device)


def get_timestamp_embeddings(audio: Tensor, model: Embedder) -> tuple[Tensor, Tensor]:
    """(n_sounds, n_samples) -> (embeddings (n_sounds, n_times, model.timestamp_embedding_size) float32,
    timestamps (n_sounds, n_times) in milliseconds, every `model.timestamp_hop_ms` from 0)."""
    audio = _check(audio, model)
    hop_s = float(getattr(model, "timestamp_hop_ms", TIMESTAMP_HOP_MS)) / 1000.0
    windows = [CentredWindows(wave, model.segment_samples, hop_s, model.sample_rate) for wave in audio]
    if not windows:
        return torch.zeros(0, 0, model.dim, device=audio.device), torch.zeros(0, 0, device=audio.device)
    emb = torch.stack([model.embed_windows(w, BATCH) for w in windows])
    return emb.to(audio.device), torch.stack([w.times_ms for w in windows]).to(audio.device)
