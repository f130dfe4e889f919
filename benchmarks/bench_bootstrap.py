"""Paired-bootstrap speed at MTAT scale: 1,000 resamples × 50 tags × 4,332 test tracks, per run and metric.

Scores are continuous (no ties: the most distinct thresholds, the slowest case) and tag
positive rates span 1–20 % like MTAT's top-50. One resample is checked against scikit-learn.
Prints JSON and writes it to benchmarks/results/<machine kind>/bench_bootstrap.json.

    python benchmarks/bench_bootstrap.py [--tracks 4332] [--tags 50] [--resamples 1000] [--runs 2]
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from engine.evaluation.metrics import METRICS, paired_bootstrap


def make_data(tracks: int, tags: int, runs: int, seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(N, T) 0/1 labels with positive rates of 1-20 % per tag, and continuous scores per run."""
    rng = np.random.default_rng(seed)
    y = (rng.random((tracks, tags)) < rng.uniform(0.01, 0.2, tags)).astype(np.uint8)
    return y, {f"run{i}": rng.random(y.shape) + (0.2 + 0.1 * i) * y for i in range(runs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=4332)
    parser.add_argument("--tags", type=int, default=50)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=2)
    from engine.training.speed_cache import machine_kind

    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / machine_kind() / "bench_bootstrap.json"))
    args = parser.parse_args()

    y, preds = make_data(args.tracks, args.tags, args.runs)
    seconds, check = {}, {}
    sklearn_metric = {"roc_auc": roc_auc_score, "pr_auc": average_precision_score}
    for metric in METRICS:
        start = time.perf_counter()
        boot = paired_bootstrap(y, preds, args.resamples, seed=0, metric=metric)
        seconds[metric] = time.perf_counter() - start
        idx = boot.indices[0]
        reference = sklearn_metric[metric](y[idx], preds["run0"][idx], average="macro")
        check[metric] = abs(float(boot.runs["run0"].values[0]) - float(reference))
    result = {
        "benchmark": "paired_bootstrap",
        "tracks": args.tracks, "tags": args.tags, "resamples": args.resamples, "runs": args.runs,
        "seconds_total": seconds,
        "seconds_per_run": {m: s / args.runs for m, s in seconds.items()},
        "max_abs_diff_vs_sklearn_first_resample": check,
        "machine": platform.processor() or platform.machine(),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
