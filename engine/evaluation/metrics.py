"""ROC-AUC and PR-AUC (average precision), per tag, macro and micro, equal to scikit-learn's.

All metrics come from one weighted, vectorised core: each tag's scores are sorted once and any
number of weight vectors (one per bootstrap resample: how often each track was drawn) are then
evaluated with cumulative sums over that order. Ties are grouped exactly as scikit-learn does
(half credit in ROC-AUC; one precision-recall point per distinct score in AP).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy import sparse

Metric = Literal["roc_auc", "pr_auc"]
Average = Literal["macro", "micro"]
MicroPooling = Literal["evaluable", "all"]  # micro over the evaluable tags (ours) or every column (torchmetrics)
METRICS: tuple[Metric, ...] = ("roc_auc", "pr_auc")


@dataclass
class TagMetrics:
    """Per-tag and averaged ROC-AUC / PR-AUC of one prediction matrix on one labelled set."""

    tag_names: list[str]
    roc_auc: dict[str, float]  # per evaluated tag
    pr_auc: dict[str, float]
    macro: dict[str, float]  # {"roc_auc": .., "pr_auc": ..}
    micro: dict[str, float]
    skipped: list[str] = field(default_factory=list)  # tags without positives or without negatives
    micro_pooling: MicroPooling = "evaluable"  # which columns the micro averages pool

    def to_dict(self) -> dict:
        return {"tag_names": self.tag_names, "roc_auc": self.roc_auc, "pr_auc": self.pr_auc,
                "macro": self.macro, "micro": self.micro, "skipped": self.skipped, "micro_pooling": self.micro_pooling}


def check_inputs(y_true: np.ndarray, y_score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, T) labels as bool and scores as float64; raises ValueError on shape or value problems."""
    y = np.asarray(y_true)
    s = np.asarray(y_score, dtype=np.float64)
    if y.ndim != 2 or s.shape != y.shape:
        raise ValueError(f"y_true and y_score must both be (N, T), got {y.shape} and {s.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y_true must hold only 0 and 1")
    if not np.isfinite(s).all():
        raise ValueError("y_score holds NaN or infinite values")
    return y.astype(bool), s


def evaluable_tags(y_true: np.ndarray) -> np.ndarray:
    """(T,) bool: tags with at least one positive and one negative (the others are skipped)."""
    positives = np.asarray(y_true).astype(bool).sum(axis=0)
    return (positives > 0) & (positives < len(y_true))


def weighted_score(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray, metric: Metric = "pr_auc",
                   rows: np.ndarray | None = None) -> np.ndarray:
    """ROC-AUC or AP of one binary problem under R weightings at once.

    Every sample falls in one bin of the score axis cut at the distinct positive scores u_g
    (negatives below, equal to or between them; positives by group), so one sparse product
    gives all bin weights of all weightings (one weighting: a histogram, 5x faster on a probe's
    validation set than building the sparse matrix); the metric follows from sums over bins.

    Args:
        scores: (M,) float64 scores. labels: (M,) bool. metric: "roc_auc" or "pr_auc".
        weights: (N, R) non-negative weights, one column per weighting (e.g. resample counts);
            integer weights are summed in their own dtype, so every column sum must fit it.
        rows: (M,) index of each sample's row in `weights` (default: sample i uses row i).
    Returns:
        (R,) metric values; NaN where a weighting leaves no positive or no negative weight.
    """
    rows = np.arange(len(scores)) if rows is None else rows
    n_r = weights.shape[1]
    if labels.all() or not labels.any():
        return np.full(n_r, np.nan)
    values = np.unique(scores[labels])  # (G,) distinct positive scores, ascending
    n_g = len(values)
    at = np.searchsorted(values, scores, side="left")
    equal = values[np.minimum(at, n_g - 1)] == scores
    # bins 0..2G: negatives (2g: above u_{g-1} and below u_g; 2g+1: equal to u_g); 2G+1+g: positives at u_g
    bins = np.where(labels, 2 * n_g + 1 + at, 2 * at + equal)
    if n_r == 1:
        binned = np.bincount(bins, weights[rows, 0], minlength=3 * n_g + 1).astype(weights.dtype)[:, None]
    else:
        onehot = sparse.csr_matrix((np.ones(len(scores), dtype=weights.dtype), (bins, rows)),
                                   shape=(3 * n_g + 1, weights.shape[0]))
        binned = onehot @ weights  # (3G+1, R), in the weights' dtype: small ints keep the product fast
    acc = np.float64 if weights.dtype.kind == "f" else np.int32  # exact for integer weights
    cum_neg = np.cumsum(binned[: 2 * n_g + 1], axis=0, dtype=acc)
    below = cum_neg[0:-1:2]  # (G, R) negative weight scored below u_g
    total_neg = cum_neg[-1].astype(np.float64)
    w_pos = binned[2 * n_g + 1:]  # (G, R)
    total_pos = w_pos.sum(axis=0, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        if metric == "roc_auc":  # ties count half: (below + negatives <= u_g) / 2
            mid = cum_neg[1::2] + below
            out = 0.5 * np.einsum("gr,gr->r", w_pos, mid, dtype=np.float64) / (total_pos * total_neg)
        else:
            tp = np.cumsum(w_pos[::-1], axis=0, dtype=acc)[::-1]  # positives scored >= u_g
            scored = tp + (cum_neg[-1] - below)  # everything scored >= u_g
            precision = np.divide(tp, scored, out=np.zeros(tp.shape), where=scored > 0)
            out = np.einsum("gr,gr->r", w_pos, precision) / total_pos
    undefined = (total_pos == 0) | (total_neg == 0)
    out[undefined] = np.nan
    return out


def micro_columns(y: np.ndarray, pooling: MicroPooling) -> np.ndarray:
    """Columns a micro average pools: the evaluable tags, or (`all`, torchmetrics' multilabel micro) every one."""
    if pooling not in ("evaluable", "all"):
        raise ValueError(f"unknown micro pooling '{pooling}' (valid: evaluable, all)")
    return np.arange(y.shape[1]) if pooling == "all" else np.flatnonzero(evaluable_tags(y))


def _per_tag(y: np.ndarray, s: np.ndarray, keep: np.ndarray, metric: Metric) -> np.ndarray:
    """(K,) metric of each kept tag of bool labels (N, T) and float64 scores (N, T)."""
    ones = np.ones((len(y), 1), dtype=np.int32)
    return np.array([weighted_score(s[:, t], y[:, t], ones, metric)[0] for t in np.flatnonzero(keep)], np.float64)


def macro_score(y_true: np.ndarray, y_score: np.ndarray, metric: Metric) -> float:
    """The macro `metric` of `tag_metrics`, the same value, without the other metric and the micro averages:
    what a probe's early stopping reads after every validation. NaN when no tag is evaluable."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric '{metric}' (valid: {', '.join(METRICS)})")
    y, s = check_inputs(y_true, y_score)
    keep = evaluable_tags(y)
    return float(np.mean(_per_tag(y, s, keep, metric))) if keep.any() else float("nan")


def tag_metrics(y_true: np.ndarray, y_score: np.ndarray, tag_names: list[str] | None = None,
                micro_pooling: MicroPooling = "evaluable") -> TagMetrics:
    """Per-tag, macro and micro ROC-AUC and PR-AUC; tags without positives or negatives are skipped.

    Micro averages pool every (track, pooled tag) pair: the evaluated columns, as scikit-learn's
    average="micro" on them, or (`micro_pooling="all"`) every column, as the official torchmetrics does.
    """
    y, s = check_inputs(y_true, y_score)
    names = list(tag_names) if tag_names is not None else [str(t) for t in range(y.shape[1])]
    if len(names) != y.shape[1]:
        raise ValueError(f"{len(names)} tag names for {y.shape[1]} columns")
    keep = evaluable_tags(y)
    per_tag = {m: _per_tag(y, s, keep, m) for m in METRICS}
    roc = {names[t]: float(v) for t, v in zip(np.flatnonzero(keep), per_tag["roc_auc"])}
    pr = {names[t]: float(v) for t, v in zip(np.flatnonzero(keep), per_tag["pr_auc"])}
    if keep.any():
        macro = {m: float(np.mean(per_tag[m])) for m in METRICS}
        pooled = micro_columns(y, micro_pooling)
        flat_s, flat_y = s[:, pooled].ravel(), y[:, pooled].ravel()
        micro = {m: float(weighted_score(flat_s, flat_y, np.ones((len(flat_s), 1), np.int32), m)[0]) for m in METRICS}
    else:
        macro = micro = {"roc_auc": float("nan"), "pr_auc": float("nan")}
    skipped = [names[t] for t in np.flatnonzero(~keep)]
    return TagMetrics(tag_names=names, roc_auc=roc, pr_auc=pr, macro=macro, micro=micro, skipped=skipped,
                      micro_pooling=micro_pooling)


def resample_counts(indices: np.ndarray) -> np.ndarray:
    """(R, N) resampled track indices → (N, R) counts: how often each track was drawn.

    int16 while every sum of counts fits (N < 2**15), which halves the memory the bootstrap moves.
    """
    n_r, n = indices.shape
    flat = (indices + np.arange(n_r)[:, None] * n).ravel()
    dtype = np.int16 if n < 2**15 else np.int32
    return np.ascontiguousarray(np.bincount(flat, minlength=n_r * n).reshape(n_r, n).T.astype(dtype))


def resampled_metric(y_true: np.ndarray, y_score: np.ndarray, counts: np.ndarray, metric: Metric = "pr_auc",
                     average: Average = "macro", chunk: int = 100, micro_pooling: MicroPooling = "evaluable") -> np.ndarray:
    """(R,) metric of each resample given as (N, R) counts; macro ignores tags a resample leaves undefined.

    Tags without positives or negatives in the full set are left out, as in `tag_metrics` (micro:
    unless `micro_pooling="all"`).
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric '{metric}' (valid: {', '.join(METRICS)})")
    y, s = check_inputs(y_true, y_score)
    keep = np.flatnonzero(evaluable_tags(y))
    n_r = counts.shape[1]
    if len(keep) == 0:
        return np.full(n_r, np.nan)
    if average == "macro":
        per_tag = np.stack([weighted_score(s[:, t], y[:, t], counts, metric) for t in keep])  # (T, R)
        out = np.full(n_r, np.nan)
        defined = ~np.isnan(per_tag)
        any_defined = defined.any(axis=0)
        out[any_defined] = np.nanmean(per_tag[:, any_defined], axis=0)
        return out
    if average == "micro":
        pooled = micro_columns(y, micro_pooling)
        rows = np.repeat(np.arange(len(y)), len(pooled))  # row-major ravel of (N, pooled tags)
        flat_s, flat_y = s[:, pooled].ravel(), y[:, pooled].ravel()
        parts = [weighted_score(flat_s, flat_y, counts[:, i:i + chunk].astype(np.int32), metric, rows)  # sums reach N·T
                 for i in range(0, n_r, chunk)]
        return np.concatenate(parts)
    raise ValueError(f"unknown average '{average}' (valid: macro, micro)")


@dataclass
class Interval:
    """Bootstrap values of one quantity with their mean and 95 % percentile interval."""

    values: np.ndarray  # (R,)
    mean: float
    low: float
    high: float

    @classmethod
    def of(cls, values: np.ndarray) -> Interval:
        lo, hi = np.nanpercentile(values, [2.5, 97.5]) if np.isfinite(values).any() else (np.nan, np.nan)
        return cls(values=values, mean=float(np.nanmean(values)) if np.isfinite(values).any() else float("nan"),
                   low=float(lo), high=float(hi))

    def to_dict(self, with_values: bool = True) -> dict:
        out = {"mean": self.mean, "low": self.low, "high": self.high}
        if with_values:
            out["values"] = [float(v) for v in self.values]
        return out


@dataclass
class PairedBootstrap:
    """Paired bootstrap of several runs over the same resampled test tracks."""

    metric: str
    average: str
    indices: np.ndarray  # (R, N) resampled track indices, shared by every run
    runs: dict[str, Interval]
    beats: dict[tuple[str, str], float]  # (a, b): share of resamples where a scores strictly above b
    diff: dict[tuple[str, str], Interval]  # (a, b): a − b per resample


def resample_indices(n: int, n_resamples: int = 1000, seed: int = 0) -> np.ndarray:
    """(R, N) track indices drawn with replacement: the one index matrix every run is scored on."""
    if n < 1 or n_resamples < 1:
        raise ValueError(f"need at least one track and one resample, got {n} and {n_resamples}")
    return np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))


def pair_up(values: dict[str, np.ndarray], indices: np.ndarray, metric: str, average: str) -> PairedBootstrap:
    """Intervals per run, and win shares and difference intervals per ordered pair of runs."""
    runs = {name: Interval.of(v) for name, v in values.items()}
    beats, diff = {}, {}
    for a in values:
        for b in values:
            if a != b:
                beats[(a, b)] = float(np.mean(values[a] > values[b]))
                diff[(a, b)] = Interval.of(values[a] - values[b])
    return PairedBootstrap(metric=metric, average=average, indices=indices, runs=runs, beats=beats, diff=diff)


def paired_bootstrap(y_true: np.ndarray, preds: dict[str, np.ndarray], n_resamples: int = 1000, seed: int = 0,
                     metric: Metric = "pr_auc", average: Average = "macro") -> PairedBootstrap:
    """Score every run on the same `n_resamples` resamples of the test tracks (rows of y_true).

    Args:
        y_true: (N, T) 0/1 labels. preds: run name → (N, T) scores of the same tracks and tags.
    """
    if not preds:
        raise ValueError("paired_bootstrap needs at least one run")
    indices = resample_indices(len(y_true), n_resamples, seed)
    counts = resample_counts(indices)
    values = {name: resampled_metric(y_true, p, counts, metric, average) for name, p in preds.items()}
    return pair_up(values, indices, metric, average)


def paired_mean_bootstrap(per_query: dict[str, np.ndarray], n_resamples: int = 1000, seed: int = 0,
                          name: str = "mean") -> PairedBootstrap:
    """Paired bootstrap of a per-query mean (e.g. k-NN precision of each query track) across runs."""
    lengths = {len(v) for v in per_query.values()}
    if len(lengths) != 1:
        raise ValueError(f"every run needs the same queries, got lengths {sorted(lengths)}")
    indices = resample_indices(lengths.pop(), n_resamples, seed)
    counts = resample_counts(indices).astype(np.float64)  # (N, R)
    values = {run: np.asarray(v, dtype=np.float64) @ counts / counts.shape[0] for run, v in per_query.items()}
    return pair_up(values, indices, name, "mean")
