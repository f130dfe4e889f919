"""Data speed: views/s of the training data pipeline against what the trainer consumes, and the data-wait
share of a short real `mvssl train` run.

The pipeline is the trainer's own (engine/training/loop.py): MultiViewDataset (decode, crop, resample,
augment) behind the step-indexed sampler, in a DataLoader with the preset's workers and prefetch.
Its rate is taken after the first batch (worker start-up), with the consumer idle, so it is the
pipeline's capacity; in training the workers share the CPU with the step. The data-wait share is
what the trainer itself logs in events.jsonl (seconds blocked in `next(batches)` / elapsed).

Per-worker views/s by format (benchmarks/data_formats.py): MP3 (MTAT's 29 s clips), FLAC at 16 and 22.05 kHz
and the decoded audio cache, and whether all cores of this machine feed a GPU step.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from torch.utils.data import DataLoader

from benchmarks.common import row, tiny_corpus
from engine import config as config_mod
from engine.data.corpora.sources import load_source
from engine.training.batches import EpochIndexed, StepBatches
from engine.data.views import MultiViewDataset, ViewConfig

SECTION = "data"
ROOT = Path(__file__).resolve().parents[1]


def view_config(cfg: config_mod.RunConfig, augment: bool | None = None) -> ViewConfig:
    return ViewConfig(n_views=cfg.views, segment_s=cfg.segment_s, min_gap_s=cfg.min_gap_s,
                      augment=cfg.augment if augment is None else augment)


def pipeline_rate(corpus: str, cfg: config_mod.RunConfig, batches: int) -> dict[str, float]:
    """Views/s of the trainer's DataLoader over `batches` batches after the first, and the first batch's seconds."""
    source = load_source(corpus)
    dataset = MultiViewDataset(source.split("train") or source.tracks, view_config(cfg), seed=cfg.seed)
    sampler = StepBatches(len(dataset), cfg.batch_size, cfg.seed, 0, batches + 1)
    loader = DataLoader(EpochIndexed(dataset), batch_sampler=sampler, num_workers=cfg.num_workers,
                        persistent_workers=cfg.num_workers > 0, prefetch_factor=4 if cfg.num_workers > 0 else None)
    t0 = time.perf_counter()
    it = iter(loader)
    first = next(it)
    t1 = time.perf_counter()
    views = 0
    for batch in it:
        views += batch.shape[0] * batch.shape[1]
    t2 = time.perf_counter()
    del first
    return {"views_per_s": views / (t2 - t1), "first_batch_s": t1 - t0, "views": views}


def item_costs(corpus: str, cfg: config_mod.RunConfig, items: int) -> dict[str, float]:
    """Milliseconds per view in this process: decode + crop (+ resample) alone, and with augmentation."""
    source = load_source(corpus)
    tracks = (source.split("train") or source.tracks)[:items]
    out = {}
    for name, augment in (("decode_crop_ms", False), ("decode_crop_augment_ms", True)):
        dataset = MultiViewDataset(tracks, view_config(cfg, augment), seed=cfg.seed)
        t0 = time.perf_counter()
        for i in range(len(dataset)):
            dataset[i]
        out[name] = (time.perf_counter() - t0) / (len(dataset) * cfg.views) * 1e3
    return out


def data_wait(corpus: str, run_dir: Path, overrides: list[str]) -> dict[str, Any]:
    """Run `mvssl train` (contrastive, demo preset) and sum its logged data-wait seconds over elapsed seconds."""
    cmd = [sys.executable, "-m", "engine.cli", "train", "--method", "contrastive", "--corpus", corpus,
           "--preset", "demo", "--run-dir", str(run_dir)]
    for value in overrides:
        cmd += ["--set", value]
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    cfg = config_mod.load(run_dir / "config.toml")
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    windows, last = [], 0
    for e in events:
        if e.get("type") == "train" and "data_wait" in e:
            elapsed = (e["step"] - last) * cfg.batch_size * cfg.views / e["views_per_s"]
            windows.append({"step": e["step"], "elapsed_s": elapsed, "wait_s": e["data_wait"] * elapsed,
                            "data_wait": e["data_wait"], "views_per_s": e["views_per_s"]})
            last = e["step"]
    return {"windows": windows, "wall_s": wall, "steps": cfg.steps,
            "wait_s": sum(w["wait_s"] for w in windows), "elapsed_s": sum(w["elapsed_s"] for w in windows)}


def run(quick: bool = False, progress: Callable[[str], None] = print,
        trainer_views_per_s: float | None = None, gpu_views_per_s: float | None = None) -> dict[str, Any]:
    """Pipeline rate vs `trainer_views_per_s` (our contrastive step, from the training section), the data wait,
    and per-worker rates by audio format against `gpu_views_per_s` (default: data_formats.GPU_VIEWS_PER_S)."""
    from benchmarks import data_formats

    formats = data_formats.run(quick, progress, gpu_views_per_s)
    with tempfile.TemporaryDirectory(prefix="mvssl-bench-data-") as tmp_name:
        tmp = Path(tmp_name)
        corpus = tiny_corpus(tmp / "corpus") if quick else "demo"
        batch = 2 if quick else 32
        cfg = config_mod.build("demo", overrides={"batch_size": batch, "corpus": corpus})
        if trainer_views_per_s is None:
            from benchmarks.bench_train import measure_method

            peaks = {"float32": 1.0, "bfloat16": 1.0}  # MFU not needed here
            measured = measure_method("contrastive", batch, 1, 2 if quick else 6, peaks)
            trainer_views_per_s = measured["views_per_s"]["ours"]
        rate = pipeline_rate(corpus, cfg, 2 if quick else 8)
        costs = item_costs(corpus, cfg, 2 if quick else 16)
        progress(f"data pipeline: {rate['views_per_s']:.0f} views/s ({cfg.num_workers} worker), trainer consumes "
                 f"{trainer_views_per_s:.0f} views/s; per view: decode+crop {costs['decode_crop_ms']:.1f} ms, "
                 f"with augmentation {costs['decode_crop_augment_ms']:.1f} ms")
        steps = 4 if quick else 40
        overrides = [f"steps={steps}", f"batch_size={batch}"] + (["log_every=2"] if quick else [])
        wait = data_wait(corpus, tmp / "run", overrides)
        later = wait["windows"][1:] or wait["windows"]
        progress(f"mvssl train, {steps} steps: data wait {wait['wait_s']:.2f} s of {wait['elapsed_s']:.1f} s "
                 f"({wait['wait_s'] / wait['elapsed_s']:.1%}); per window "
                 + ", ".join(f"{w['data_wait']:.1%}" for w in wait["windows"]))
    rows = [row(SECTION, f"data pipeline: views/s ({cfg.num_workers} worker) vs trainer consumption", "views/s",
                rate["views_per_s"], trainer_views_per_s, "our contrastive training step (training section)",
                ("ratio", ">=", 1.0), first_batch_s=rate["first_batch_s"], **costs),
            row(SECTION, f"data wait: `mvssl train --preset demo --set steps={steps}`, seconds waiting / elapsed", "s",
                wait["wait_s"], wait["elapsed_s"], "elapsed training seconds (events.jsonl)", ("ratio", "<", 0.05),
                per_window=[round(w["data_wait"], 4) for w in wait["windows"]],
                after_first_window=sum(w["wait_s"] for w in later) / sum(w["elapsed_s"] for w in later),
                run_wall_s=wait["wall_s"])]
    return {"rows": rows + formats["rows"],
            "raw": {"pipeline": rate, "item_costs": costs, "train_run": wait, "formats": formats["raw"]}}
