"""Evaluation speed at MTAT scale on generated data: probe training, paired bootstrap, UMAP, cosine k-NN.

- Probe (engine/evaluation/probe.py train_probe, predict, tag_metrics, on one thread like its baseline): a
  fixed number of epochs on generated segment embeddings, timed per epoch; the full MTAT size
  (15,244 / 1,529 / 4,332 tracks x 25 segments x 1024-D, 50 tags) is the 16x point of the scaling
  series. Baseline: the same epoch's FLOPs at the single-thread fp32 matmul peak of this run.
- Bootstrap (engine/metrics.paired_bootstrap): 1,000 x 50 tags x 4,332 tracks, both metrics of one
  run; baseline: scikit-learn's metrics per resample, timed on a few resamples and extrapolated.
- UMAP (engine/projection.umap_2d) of 20,000 x 1024, warm: the second fit of the same data in this
  process; baseline: the first fit, which pays numba's JIT of the nearest-neighbour descent (used
  from 4,096 points on, so a small warm-up fit would not pay it) as every `project` job does.
- Cosine 10-NN on 50,000 tracks: the map's query (workbench/map_model.neighbours on unit rows) and
  the engine's (engine/projection.NeighbourIndex, kept per run by `neighbours`); baseline:
  scikit-learn's brute-force search.
"""
from __future__ import annotations

import time
import warnings
from typing import Any, Callable

import numpy as np
import torch

from benchmarks.bench_bootstrap import make_data
from benchmarks.common import matmul_peak_gflops, median, row, times
from engine.evaluation.metrics import paired_bootstrap, tag_metrics
from engine.evaluation.probe import ProbeConfig, Split, predict, train_probe

SECTION = "evaluation"
MTAT = {"train": 15_244, "valid": 1_529, "test": 4_332}
SEGMENTS, DIM, TAGS = 25, 1024, 50


# ---- probe ------------------------------------------------------------------------------------------
def probe_data(tracks: dict[str, int], segments: int, dim: int, tags: int, seed: int = 0) -> dict[str, Any]:
    """Generated standardised segment embeddings per split, with track labels (1-20 % positives per tag)."""
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    rates = rng.uniform(0.01, 0.2, tags)
    out = {}
    for split, n in tracks.items():
        labels = (rng.random((n, tags)) < rates).astype(np.uint8)
        x = torch.randn(n * segments, dim, generator=gen)
        x[:, :tags] += torch.from_numpy(np.repeat(labels, segments, axis=0).astype(np.float32))  # learnable signal
        out[split] = Split(x, np.repeat(np.arange(n), segments), np.arange(n), labels)
    return out


def probe_flops_per_epoch(n_segments: int, n_valid_segments: int, dim: int, tags: int, config: ProbeConfig) -> float:
    """Matmul FLOPs of one probe epoch: forward + backward (3x forward) of every batch, then one validation pass."""
    per_row = 2 * (dim * config.hidden + config.hidden * tags)
    steps = max(-(-n_segments // config.batch_size), config.min_steps_per_eval)
    return 3 * per_row * steps * config.batch_size + per_row * n_valid_segments


def probe_seconds(data: dict[str, Any], epochs: int) -> dict[str, float]:
    """Seconds of `epochs` probe epochs (training steps + validation), then of scoring the test split."""
    train = data["train"]
    y = torch.from_numpy(train.labels[train.segment_track].astype(np.float32))
    config = ProbeConfig(max_evals=epochs, patience=epochs + 1)
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # the baseline is the one-thread matmul peak
    try:
        t0 = time.perf_counter()
        model, log = train_probe(train.x, y, data["valid"], config, seed=0)
        t1 = time.perf_counter()
        pred = predict(model, data["test"])
        tag_metrics(data["test"].labels, pred)
        t2 = time.perf_counter()
    finally:
        torch.set_num_threads(previous)
    return {"epoch_s": (t1 - t0) / epochs, "test_s": t2 - t1, "steps": log["steps"], "epochs": epochs}


def probe_rows(full: dict[str, int], epochs: dict[int, int], peak_1thread: float,
               progress: Callable[[str], None]) -> tuple[list[dict], dict]:
    """Probe epoch time at 1x, 4x, 16x tracks, where 16x is `full` (MTAT's split sizes)."""
    config = ProbeConfig()
    raw = {}
    for factor in (1, 4, 16):
        tracks = {s: max(1, round(n * factor / 16)) for s, n in full.items()}
        t0 = time.perf_counter()
        data = probe_data(tracks, SEGMENTS, DIM, TAGS)
        generate_s = time.perf_counter() - t0
        measured = probe_seconds(data, epochs[factor])
        n_seg, n_valid = len(data["train"].x), len(data["valid"].x)
        bound = probe_flops_per_epoch(n_seg, n_valid, DIM, TAGS, config) / (peak_1thread * 1e9)
        raw[factor] = {**measured, "tracks": tracks, "segments": n_seg, "bound_epoch_s": bound,
                       "generate_s": generate_s}
        progress(f"probe {factor}x ({tracks['train']} train tracks): {measured['epoch_s']:.2f} s/epoch, "
                 f"test scoring {measured['test_s']:.2f} s")
        del data
    big = raw[16]
    rows = [row(SECTION, f"probe: s/epoch, {big['tracks']['train']:,} tracks x {SEGMENTS} segments x {DIM}-D",
                "s", big["epoch_s"], big["bound_epoch_s"], "same FLOPs at the 1-thread fp32 matmul peak", None,
                epochs_measured=big["epochs"], extrapolated_50_epochs_s=50 * big["epoch_s"] + big["test_s"],
                extrapolated_10_epochs_s=10 * big["epoch_s"] + big["test_s"],
                note="measured a fixed number of epochs; a full probe stops early (patience 5) or at 50 epochs")]
    for factor in (4, 16):
        rows.append(row(SECTION, f"probe scaling: s/epoch at {factor}x / 1x tracks", "s", raw[factor]["epoch_s"],
                        raw[1]["epoch_s"], f"1x = {raw[1]['tracks']['train']} train tracks", None, linear=factor))
    return rows, raw


# ---- bootstrap ----------------------------------------------------------------------------------------
def bootstrap_row(tracks: int, tags: int, resamples: int, sklearn_resamples: int) -> tuple[dict, dict]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    y, preds = make_data(tracks, tags, runs=1)
    t0 = time.perf_counter()
    boots = {m: paired_bootstrap(y, preds, resamples, seed=0, metric=m) for m in ("roc_auc", "pr_auc")}
    ours = time.perf_counter() - t0
    idx, p = boots["pr_auc"].indices, preds["run0"]
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tiny quick sizes leave some tags without positives
        for r in range(sklearn_resamples):
            roc_auc_score(y[idx[r]], p[idx[r]], average="macro")
            average_precision_score(y[idx[r]], p[idx[r]], average="macro")
    sklearn = (time.perf_counter() - t0) * resamples / sklearn_resamples
    what = f"bootstrap: {resamples:,} x {tags} tags x {tracks:,} tracks, ROC-AUC + PR-AUC, one run"
    base = f"scikit-learn per resample ({sklearn_resamples} timed, extrapolated)"
    return (row(SECTION, what, "s", ours, sklearn, base, ("ours", "<", 5.0)),
            {"ours_s": ours, "sklearn_extrapolated_s": sklearn})


# ---- UMAP ---------------------------------------------------------------------------------------------
def clustered(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """(n, dim) float32 points around 16 centres: track embeddings with some structure."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(16, dim)).astype(np.float32)
    return centres[np.arange(n) % 16] + rng.normal(size=(n, dim)).astype(np.float32)


def umap_row(n: int, dim: int) -> tuple[dict, dict]:
    """The second UMAP fit of the same data in this process (warm) against the first (numba JIT included)."""
    from engine.evaluation.projection import umap_2d

    x = clustered(n, dim)
    t0 = time.perf_counter()
    umap_2d(x)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    umap_2d(x)
    warm = time.perf_counter() - t0
    return (row(SECTION, f"UMAP: {n:,} x {dim}, warm", "s", warm, cold,
                "first fit in a fresh process (numba JIT), what a `project` job pays", ("ours", "<", 15.0)),
            {"warm_s": warm, "cold_s": cold})


# ---- k-NN query -----------------------------------------------------------------------------------------
def knn_rows(n: int, dim: int, queries: int) -> tuple[list[dict], dict]:
    from sklearn.neighbors import NearestNeighbors

    from engine.collapse.neighbours import unit_rows
    from engine.evaluation.projection import NeighbourIndex
    from workbench.panels.map.model import neighbours

    x = clustered(n, dim)
    unit = unit_rows(x)
    rows_ = np.random.default_rng(2).integers(0, n, queries)
    it = iter(np.tile(rows_, 4))
    gui = median(times(lambda: neighbours(unit, int(next(it)), 10), queries, warmup=2))
    t0 = time.perf_counter()
    index = NeighbourIndex(x)  # what `neighbour_index` builds once per run
    build = time.perf_counter() - t0
    engine = median(times(lambda: index.query(int(next(it)), 10), queries, warmup=2))
    search = NearestNeighbors(n_neighbors=11, metric="cosine", algorithm="brute").fit(x)
    sk = median(times(lambda: search.kneighbors(x[[int(next(it))]]), max(3, queries // 5), warmup=1))
    what = f"10-NN cosine query on {n:,} tracks"
    base = "scikit-learn NearestNeighbors, brute cosine"
    return ([row(SECTION, f"{what} (map click, unit rows), median", "ms", gui * 1e3, sk * 1e3, base,
                 ("ours", "<", 20.0), queries=queries),
             row(SECTION, f"{what} (engine `neighbours`, rows normalised once per run), median", "ms",
                 engine * 1e3, sk * 1e3, base, ("ours", "<", 20.0), index_build_ms=build * 1e3)],
            {"map_ms": gui * 1e3, "engine_ms": engine * 1e3, "engine_index_build_ms": build * 1e3,
             "sklearn_ms": sk * 1e3})


def run(quick: bool = False, progress: Callable[[str], None] = print) -> dict[str, Any]:
    peak_1 = _single_thread_peak(256 if quick else 1024)
    progress(f"fp32 matmul peak, 1 thread: {peak_1:.0f} GFLOP/s")
    if quick:
        full, epochs = {"train": 128, "valid": 32, "test": 32}, {1: 1, 4: 1, 16: 1}
    else:
        full, epochs = MTAT, {1: 2, 4: 2, 16: 1}
    rows, raw = [], {"fp32_peak_1thread_gflops": peak_1}
    probe, raw["probe"] = probe_rows(full, epochs, peak_1, progress)
    rows += probe
    boot, raw["bootstrap"] = bootstrap_row(300 if quick else MTAT["test"], 5 if quick else TAGS,
                                           20 if quick else 1000, 2 if quick else 20)
    boot_raw = raw["bootstrap"]
    progress(f"bootstrap: {boot_raw['ours_s']:.2f} s (scikit-learn ~{boot_raw['sklearn_extrapolated_s']:.0f} s)")
    rows.append(boot)
    umap_r, raw["umap"] = umap_row(300 if quick else 20_000, 16 if quick else DIM)
    progress(f"UMAP: warm {raw['umap']['warm_s']:.1f} s, first fit in the process {raw['umap']['cold_s']:.1f} s")
    rows.append(umap_r)
    knn, raw["knn"] = knn_rows(500 if quick else 50_000, 16 if quick else DIM, 5 if quick else 50)
    progress(f"10-NN: map {raw['knn']['map_ms']:.1f} ms, engine {raw['knn']['engine_ms']:.1f} ms "
             f"(index built once in {raw['knn']['engine_index_build_ms']:.0f} ms), "
             f"scikit-learn {raw['knn']['sklearn_ms']:.1f} ms")
    rows += knn
    return {"rows": rows, "raw": raw}


def _single_thread_peak(n: int) -> float:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return matmul_peak_gflops("float32", n)
    finally:
        torch.set_num_threads(previous)
