"""Embedding speed: clips/s of `engine.evaluation.embed.embed` (decode, cut, frontend, frozen backbone, HDF5 writes) on
demo-corpus tracks against the pure forward of the same encoder on in-memory clips at the same batch
("peak"), and how embed time grows with the number of tracks (1x, 4x, 16x).

The encoder is the seeded untrained backbone of a `random` run: the same network and cost as any
trained checkpoint, without training one first.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch

from benchmarks.common import demo_subset, median, row, times, tiny_corpus
from engine import config as config_mod
from engine.rundir import embeddings_store
from engine.evaluation.embed import embed, fast_bf16
from engine.evaluation.encoders import load_encoder
from engine.evaluation.segments import SegmentPlan, TrackSegments, track_table
from engine.data.corpora.sources import load_source
from engine.config import prepare_run
from engine.training.loop import train

SECTION = "embedding"


def random_run(run_dir: Path, corpus: str) -> Path:
    """A run of the `random` control on `corpus`: config.toml and the step-0 checkpoint."""
    cfg = config_mod.build("demo", overrides={"method": "random", "corpus": corpus, "device": "cpu"})
    prepare_run(cfg, run_dir)
    train(run_dir, progress=False)
    return run_dir


def peak_clips_per_s(run_dir: Path, batch: int, repeats: int) -> float:
    """Clips/s of the encoder `embed` uses (same precision) on one in-memory batch, no decoding or writing."""
    encode, _, attrs = load_encoder(run_dir, "last", "cpu", fast_bf16("cpu"))
    x = 0.1 * torch.randn(batch, round(attrs["segment_seconds"] * 16_000))
    with torch.no_grad():
        return batch / median(times(lambda: encode(x), repeats, warmup=2))


def embed_clips(run_dir: Path, corpus: str, batch: int) -> tuple[float, int]:
    """Seconds of one `embed` call over `corpus` and the number of clips (segments) it embedded."""
    t0 = time.perf_counter()
    path = embed(run_dir, corpus=corpus, batch=batch, progress=False)
    seconds = time.perf_counter() - t0
    with embeddings_store.Embeddings(path) as emb:
        return seconds, int(emb.n_segments.sum())


def decode_share(corpus: str, tracks: int) -> float:
    """Seconds per track of decoding and cutting alone (embed's TrackSegments items)."""
    paths = track_table(load_source(corpus)).paths[:tracks]
    segments = TrackSegments(paths, SegmentPlan())
    t0 = time.perf_counter()
    for i in range(len(segments)):
        segments[i]
    return (time.perf_counter() - t0) / len(segments)


def run(quick: bool = False, progress: Callable[[str], None] = print) -> dict[str, Any]:
    batch = 4 if quick else 32
    base, repeats = (1, 3) if quick else (8, 8)
    with tempfile.TemporaryDirectory(prefix="mvssl-bench-embed-") as tmp_name:
        tmp = Path(tmp_name)
        corpus = tiny_corpus(tmp / "corpus", tracks=16) if quick else "demo"
        run_dir = random_run(tmp / "run", corpus)
        peak_before = peak_clips_per_s(run_dir, batch, repeats)
        seconds, clips = embed_clips(run_dir, corpus, batch)
        peak_after = peak_clips_per_s(run_dir, batch, repeats)
        peak = (peak_before + peak_after) / 2
        ours = clips / seconds
        decode_s = decode_share(corpus, 4 if quick else 20)
        progress(f"embed: {ours:.0f} clips/s over {clips} clips, forward alone {peak:.0f} clips/s "
                 f"(before {peak_before:.0f}, after {peak_after:.0f}); decode+cut {decode_s * 1e3:.0f} ms/track")
        rows = [row(SECTION, f"embed: clips/s ({clips:,} clips, batch {batch})", "clips/s", ours, peak,
                    "forward alone on in-memory clips, same batch and precision", ("ratio", ">=", 0.6),
                    bf16=fast_bf16("cpu"), seconds=seconds, clips=clips, peak_before=peak_before,
                    peak_after=peak_after, decode_cut_s_per_track=decode_s)]
        scaling = {}
        for factor in (1, 4, 16):
            n = base * factor
            spec = tiny_corpus(tmp / f"corpus{factor}", tracks=n) if quick else demo_subset(tmp / f"demo{factor}", n)
            scaling[factor] = dict(zip(("seconds", "clips"), embed_clips(run_dir, spec, batch)), tracks=n)
            progress(f"embed {factor}x ({n} tracks): {scaling[factor]['seconds']:.2f} s")
    for factor in (4, 16):
        rows.append(row(SECTION, f"embed scaling: time at {factor}x / 1x tracks", "s", scaling[factor]["seconds"],
                        scaling[1]["seconds"], f"1x = {base} tracks", None, linear=factor,
                        clips=scaling[factor]["clips"]))
    return {"rows": rows, "raw": {"scaling": scaling}}
