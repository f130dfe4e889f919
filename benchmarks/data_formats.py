"""Per-worker views/s of the trainer's DataLoader item path by audio format, and all cores against a GPU step.

Generated tracks of 29 s (MTAT's clip length) as 16 kHz mono MP3 (MTAT's format), FLAC at 16 kHz, FLAC at
22.05 kHz (resampled on read) and the decoded audio cache built from the MP3s (engine/data/audio_cache.py), each
read by the trainer's own pipeline (MultiViewDataset behind StepBatches) in one DataLoader worker with the
consumer idle. Track lengths are probed first, so every format pays the steady-state cost of a crop.
"""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import soundfile as sf
from torch.utils.data import DataLoader

from benchmarks.common import row
from engine.data import audio_cache
from engine import config as config_mod
from engine.data.corpora.sources import load_source
from engine.training.batches import EpochIndexed, StepBatches
from engine.data.views import MultiViewDataset, ViewConfig

SECTION = "data"
CLIP_S = 29.0
# What one GPU training step consumes, conservatively: the backbone's forward + backward is about 0.68 GFLOP
# per 4 s view (43.7 GFLOP per 64-view step, torch.utils.flop_counter), so 20,000 views/s is 13.6 TFLOP/s of
# achieved compute; a datacenter GPU at bf16 (about 400 TFLOP/s usable, 30-40 % MFU) does ten times that.
GPU_VIEWS_PER_S = 20_000.0
GPU_IS = "GPU step consumption (estimate: 20,000 views/s = 13.6 TFLOP/s at 0.68 GFLOP per view)"


def _music(seconds: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A few notes of harmonic tones with an envelope, plus a little noise: something MP3 has to work on."""
    t = np.arange(int(seconds * sr)) / sr
    f0 = rng.choice([110.0, 147.0, 196.0, 220.0, 262.0], size=int(seconds) + 1)[t.astype(int)]
    phase = 2 * np.pi * np.cumsum(f0) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 6)) * (0.6 + 0.4 * np.sin(2 * np.pi * 2 * t) ** 2)
    return (0.25 * x + 0.02 * rng.standard_normal(len(t))).astype(np.float32)


def make_tracks(folder: Path, n: int, sr: int, fmt: str, seed: int = 0) -> str:
    """SOURCE of `n` generated 29 s mono tracks in `fmt` ("MP3" or "FLAC") at `sr`."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        sf.write(folder / f"t{i:03d}.{fmt.lower()}", _music(CLIP_S, sr, rng), sr, format=fmt)
    return f"folder:{folder}"


def worker_rate(source: str, views: ViewConfig, batch: int, batches: int,
                cache: audio_cache.AudioCache | None = None) -> dict[str, float]:
    """Views/s of one DataLoader worker over `batches` batches after the first (worker start-up)."""
    tracks = load_source(source, check_audio=True).tracks
    dataset = MultiViewDataset(tracks, views, seed=0, cache=cache)
    loader = DataLoader(EpochIndexed(dataset), batch_sampler=StepBatches(len(dataset), batch, 0, 0, batches + 1),
                        num_workers=1, persistent_workers=True, prefetch_factor=4)
    it = iter(loader)
    next(it)
    t0 = time.perf_counter()
    n = sum(b.shape[0] * b.shape[1] for b in it)
    return {"views_per_s": n / (time.perf_counter() - t0), "views": n}


def run(quick: bool = False, progress: Callable[[str], None] = print,
        gpu_views_per_s: float | None = None) -> dict[str, Any]:
    """Rows: FLAC 16 kHz vs MP3, FLAC 22.05 kHz vs FLAC 16 kHz, cache vs MP3, all cores vs `gpu_views_per_s`."""
    gpu = float(gpu_views_per_s or GPU_VIEWS_PER_S)
    gpu_is = GPU_IS if gpu_views_per_s is None else "GPU step consumption (measured)"
    cfg = config_mod.build("paper")
    views = ViewConfig(n_views=cfg.views, segment_s=cfg.segment_s, min_gap_s=cfg.min_gap_s, augment=cfg.augment)
    n_tracks, batch, batches = (8, 4, 8) if quick else (32, 16, 12)
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="mvssl-bench-formats-") as tmp_name:
        tmp = Path(tmp_name)
        sources = {"mp3": make_tracks(tmp / "mp3", n_tracks, 16_000, "MP3"),
                   "flac16": make_tracks(tmp / "flac16", n_tracks, 16_000, "FLAC"),
                   "flac22": make_tracks(tmp / "flac22", n_tracks, 22_050, "FLAC")}
        t0 = time.perf_counter()
        tracks = load_source(sources["mp3"]).tracks
        built = audio_cache.build(tracks, tmp / "cache", progress=False, workers=1)
        build_s = time.perf_counter() - t0
        rates = {name: worker_rate(src, views, batch, batches)["views_per_s"] for name, src in sources.items()}
        rates["cache"] = worker_rate(sources["mp3"], views, batch, batches,
                                     audio_cache.AudioCache(built.folder))["views_per_s"]
    build_x = built.cached * CLIP_S / build_s
    progress("per-worker views/s: " + ", ".join(f"{k} {v:.0f}" for k, v in rates.items())
             + f"; cache built at {build_x:.0f}x real time (1 process); x {cores} cores: MP3 {rates['mp3'] * cores:.0f}, "
             f"cache {rates['cache'] * cores:.0f} views/s vs GPU {gpu:.0f} views/s")
    clip = f"{n_tracks} x {CLIP_S:.0f} s tracks, {views.n_views} x {views.segment_s:g} s views, 1 worker"
    rows = [
        row(SECTION, f"per-worker views/s: FLAC 16 kHz vs MP3 16 kHz ({clip})", "views/s",
            rates["flac16"], rates["mp3"], "MP3 16 kHz mono (MTAT's format)"),
        row(SECTION, f"per-worker views/s: FLAC 22.05 kHz resampled to 16 kHz vs FLAC 16 kHz ({clip})", "views/s",
            rates["flac22"], rates["flac16"], "FLAC 16 kHz (no resampling)"),
        row(SECTION, f"per-worker views/s: audio cache (memory map) vs MP3 decoding ({clip})", "views/s",
            rates["cache"], rates["mp3"], "MP3 16 kHz decoded per crop", ("ratio", ">=", 3.0),
            cache_build_realtime_x=build_x, cache_build_s=build_s),
        row(SECTION, f"data pipeline views/s with all cores vs GPU step consumption: audio cache "
                     f"({cores} cores x per-worker rate)", "views/s",
            rates["cache"] * cores, gpu, gpu_is, ("ratio", ">=", 1.0), per_worker=rates["cache"], cores=cores),
        row(SECTION, f"data pipeline views/s with all cores vs GPU step consumption: MP3 decoding "
                     f"({cores} cores x per-worker rate)", "views/s",
            rates["mp3"] * cores, gpu, gpu_is, per_worker=rates["mp3"], cores=cores),
    ]
    return {"rows": rows, "raw": {"per_worker_views_per_s": rates, "cores": cores, "gpu_views_per_s": gpu,
                                  "cache_build_s": build_s, "cache_build_realtime_x": build_x}}
