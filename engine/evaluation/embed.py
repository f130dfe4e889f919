"""Frozen encoder -> segment and track embeddings of every track of a corpus -> embeddings.h5.

Each track is decoded once (16 kHz mono) and cut into segments (`segments`); segments of consecutive
tracks are batched together through the run's encoder (`encoders`); unreadable files are skipped and
listed in the store. Clustering runs also store each track's prototype (`prototypes`).

The log-mel statistics baseline (`embed_logmel`) is a pseudo-run: a run directory holding
`baseline.json` ({"method": "logmel", ...}) and status.json (state done, method logmel)
instead of config.toml and checkpoints; `embed` treats it like any other run.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from engine.data.audio import SAMPLE_RATE
from engine.data.corpora.sources import load_source
from engine.data.workers import ignore_stop_signals
from engine.evaluation.encoders import Encoder, load_run
from engine.evaluation.prototypes import PrototypeVotes
from engine.evaluation.segments import SegmentPlan, SegmentsPerTrack, TrackSegments, as_is, track_table
from engine.rundir import embeddings_store
from engine.rundir.disk import private_dir
from engine.rundir.files import atomic_write_bytes, write_status
from engine.rundir.layout import RunDir
from engine.training import precision


def fast_bf16(device: str) -> bool:
    """bf16 autocast where `engine.training.precision` finds it faster for this device (measured once on a CPU)."""
    return precision.resolve("auto", device).name == "bf16"


def embed(run_dir: Path, checkpoint: str = "last", corpus: str | None = None,
          segments_per_track: SegmentsPerTrack = "all", batch: int | None = None, progress: bool = True,
          workers: int | None = None, device: str | None = None, bf16: bool | None = None,
          segment_dtype: type = np.float16, on_progress: Callable[[int, int], None] | None = None,
          train_segments: SegmentsPerTrack | None = None) -> Path:
    """Embed every track of the run's corpus (or `corpus`) with a frozen checkpoint; returns the store path.

    `train_segments`: the training tracks' segments when they differ (the paper: 25 random ones).
    `on_progress(tracks read, tracks)` is called after each track; an exception it raises (a job's
    cancel) abandons the new store and leaves the previous embeddings.h5 in place.

    Defaults: the GPU when there is one; batch 32 segments on CPU, 256 on GPU; bf16 where `engine.training.precision` picks it;
    no decode workers on CPU (the forward pass dominates), 8 on GPU (where decoding does).
    """
    run_dir = Path(run_dir)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    batch = batch or (32 if device == "cpu" else 256)
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    bf16 = fast_bf16(device) if bf16 is None else bf16
    encode, dim, attrs, head = load_run(run_dir, checkpoint, device, bf16)
    attrs["precision"] = "bf16" if bf16 else "fp32"
    spec = corpus or attrs["corpus"]
    source = load_source(spec)
    tracks = track_table(source)
    plan = SegmentPlan(attrs["segment_seconds"], segments_per_track, attrs["seed"], train_segments)
    attrs.update(run_id=run_dir.name, corpus=spec, sample_rate=SAMPLE_RATE,
                 segments_per_track=str(segments_per_track),
                 train_segments_per_track=str(segments_per_track if train_segments is None else train_segments))
    if workers is None:
        workers = 0 if device == "cpu" else min(8, os.cpu_count() or 1)
    loader = DataLoader(TrackSegments(tracks.paths, plan, tracks.splits), batch_size=None, collate_fn=as_is,
                        num_workers=workers, prefetch_factor=4 if workers else None,
                        worker_init_fn=ignore_stop_signals)
    skipped = [(str(p.path), p.reason) for p in source.problems]
    votes = PrototypeVotes(len(tracks)) if head is not None else None
    with embeddings_store.EmbeddingsWriter(run_dir, tracks, dim, attrs, segment_dtype) as writer, \
            tqdm(total=len(tracks), desc=f"embed {run_dir.name}", unit="track", disable=not progress) as bar:
        def add(rows: np.ndarray, starts: np.ndarray, emb: np.ndarray) -> None:
            writer.add_segments(rows, starts, emb)
            if votes is not None:  # from the embeddings as stored, so the store alone reproduces them
                votes.add(rows, head.probabilities(emb.astype(segment_dtype)))

        buffer: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (track rows, starts, waves)
        for done, item in enumerate(loader, 1):
            bar.update(1)
            if on_progress is not None:
                on_progress(done, len(tracks))
            if isinstance(item[1], str):
                skipped.append((tracks.paths[item[0]], item[1]))
                continue
            i, starts, waves = item
            buffer.append((np.full(len(starts), i), starts, waves))
            if sum(len(b[0]) for b in buffer) >= batch:
                buffer = _encode_batches(add, encode, buffer, batch, device, final=False)
        _encode_batches(add, encode, buffer, batch, device, final=True)
        return writer.finish(skipped, head.prototypes(votes) if head is not None else None)


def _encode_batches(add: Callable[[np.ndarray, np.ndarray, np.ndarray], None], encode: Encoder, buffer: list,
                    batch: int, device: str, final: bool) -> list:
    """Encode full batches of the buffered segments (and the rest when `final`); returns what is left."""
    if not buffer:
        return []
    rows, starts, waves = (np.concatenate(parts) for parts in zip(*buffer))
    end = len(rows) if final else len(rows) - len(rows) % batch
    with torch.no_grad():
        for lo in range(0, end, batch):
            hi = min(lo + batch, end)
            x = torch.zeros(batch, waves.shape[1])  # (batch, samples); one shape: no per-shape kernel warm-up
            x[: hi - lo] = torch.from_numpy(waves[lo:hi])
            add(rows[lo:hi], starts[lo:hi], encode(x.to(device))[: hi - lo].cpu().numpy())
    return [] if end == len(rows) else [(rows[end:], starts[end:], waves[end:])]


def embed_logmel(run_dir: Path, corpus: str = "demo", segments_per_track: SegmentsPerTrack = "all",
                 batch: int | None = None, progress: bool = True, workers: int | None = None, seed: int = 0,
                 train_segments: SegmentsPerTrack | None = None) -> Path:
    """Create (or refresh) the log-mel statistics pseudo-run in `run_dir` and embed `corpus` with it."""
    run_dir = Path(run_dir)
    if RunDir(run_dir).config.exists():
        raise ValueError(f"{run_dir}: holds a trained run; pick another directory for the logmel baseline")
    private_dir(run_dir)
    baseline = {"method": "logmel", "corpus": corpus, "segment_s": 4.0, "seed": seed}
    atomic_write_bytes(RunDir(run_dir).baseline, json.dumps(baseline, indent=1).encode())
    write_status(run_dir, "done", method="logmel", corpus=corpus, message="log-mel statistics baseline")
    return embed(run_dir, corpus=corpus, segments_per_track=segments_per_track, batch=batch,
                 progress=progress, workers=workers, train_segments=train_segments)
