"""PNG figures of a comparison (matplotlib, Agg backend), drawn from the results dict of `report.compare`."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

METRIC_LABELS = {"roc_auc": "ROC-AUC", "pr_auc": "PR-AUC"}


def _colours(results: dict[str, Any]) -> dict[str, str]:
    return {r["name"]: r["colour"] for r in results["runs"]}


def bootstrap_dots(results: dict[str, Any], path: Path) -> None:
    """Poster Fig. 1: one dot per bootstrap resample for every run and metric, the mean marked."""
    colours = _colours(results)
    metrics = results["bootstrap"]["metrics"]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4 + 1.1 * len(colours), 4.2), squeeze=False)
    rng = np.random.default_rng(0)
    for ax, (metric, data) in zip(axes[0], metrics.items(), strict=True):
        for i, (name, run) in enumerate(data["runs"].items()):
            values = np.array([v for v in run["values"] if v is not None], dtype=float)
            ax.scatter(i + rng.uniform(-0.25, 0.25, len(values)), values, s=4, alpha=0.25, color=colours[name],
                       linewidths=0)
            if run["mean"] is not None:
                ax.errorbar(i, run["mean"], yerr=[[run["mean"] - run["low"]], [run["high"] - run["mean"]]], fmt="D",
                            color="black", markerfacecolor=colours[name], markersize=8, capsize=4)
        ax.set_xticks(range(len(data["runs"])), list(data["runs"]), rotation=30, ha="right")
        ax.set_ylabel(f"macro {METRIC_LABELS[metric]}")
        ax.set_title(f"{METRIC_LABELS[metric]} ({results['bootstrap']['n_resamples']} paired resamples)")
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"task {results['task']}: test-set bootstrap (diamond = mean, bars = 95 % interval)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def limited_data(results: dict[str, Any], path: Path) -> None:
    """Poster Fig. 2: mean test metric over draws per training fraction, min–max band, 100 % marked."""
    colours = _colours(results)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    for ax, metric in zip(axes, METRIC_LABELS, strict=True):
        for name, by_fraction in results["limited_data"].items():
            fractions = sorted(by_fraction, key=float)
            x = [100 * float(f) for f in fractions]
            mean, low, high = (np.array([by_fraction[f][metric][key] for f in fractions], dtype=float)  # None → NaN
                               for key in ("mean", "min", "max"))
            ax.plot(x, mean, "o-", color=colours[name], label=name)
            ax.fill_between(x, low, high, color=colours[name], alpha=0.15, linewidth=0)
            full = results["full_data"][name]["macro"][metric]
            if full is not None:
                ax.plot([100], [full], marker="*", markersize=13, color=colours[name], markeredgecolor="black")
        ax.set_xscale("log")
        ax.set_xticks([1, 5, 10, 20, 100], ["1", "5", "10", "20", "100"])
        ax.set_xlabel("training tracks (%)")
        ax.set_ylabel(f"macro {METRIC_LABELS[metric]}")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"task {results['task']}: limited labelled data "
                 "(line = mean of draws, band = min–max, star = full data)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def collapse(results: dict[str, Any], path: Path) -> None:
    """Covariance spectra of the track embeddings overlaid (log scale), RankMe in the legend."""
    colours = _colours(results)
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for name, summary in results["collapse"].items():
        spectrum = np.array([v for v in summary["spectrum"] if v is not None], dtype=float)
        spectrum = spectrum[spectrum > 1e-12 * spectrum.max(initial=0.0)]  # drop numerically zero eigenvalues
        if spectrum.size:
            ax.plot(np.arange(1, len(spectrum) + 1), spectrum / spectrum.sum(), color=colours[name],
                    label=f"{name} (RankMe {summary['rankme']:.1f})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("eigenvalue rank")
    ax.set_ylabel("share of variance")
    ax.set_title("track-embedding covariance spectrum")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def knn(results: dict[str, Any], path: Path) -> None:
    """k-NN tag precision per run with its 95 % bootstrap interval over query tracks."""
    colours = _colours(results)
    runs = results["knn"]["runs"]
    fig, ax = plt.subplots(figsize=(3 + 0.9 * len(runs), 3.8))
    for i, (name, run) in enumerate(runs.items()):
        if run["mean"] is None:
            continue
        ax.errorbar(i, run["mean"], yerr=[[run["mean"] - run["low"]], [run["high"] - run["mean"]]], fmt="o",
                    color=colours[name], markersize=8, capsize=4)
    ax.set_xticks(range(len(runs)), list(runs), rotation=30, ha="right")
    ax.set_ylabel(f"tag precision@{results['knn']['k']}")
    ax.set_title(f"k-NN tag precision ({results['knn']['queries']} queries)")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


FIGURES = {"bootstrap.png": bootstrap_dots, "limited_data.png": limited_data, "collapse.png": collapse, "knn.png": knn}


def write_figures(results: dict[str, Any], out: Path) -> list[str]:
    """Draw every figure into `out`; returns the file names written."""
    for name, draw in FIGURES.items():
        draw(results, Path(out) / name)
    return list(FIGURES)
