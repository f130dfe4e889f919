"""ROC-AUC / PR-AUC equal scikit-learn's (ties included); skipped tags; the paired bootstrap."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.metrics import average_precision_score, roc_auc_score

from engine.evaluation.metrics import (
    macro_score,
    paired_bootstrap,
    paired_mean_bootstrap,
    resample_counts,
    resample_indices,
    resampled_metric,
    tag_metrics,
    weighted_score,
)

SKLEARN = {"roc_auc": roc_auc_score, "pr_auc": average_precision_score}


@st.composite
def labelled_scores(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """(N, T) 0/1 labels and scores from a few levels (many ties), sometimes continuous."""
    n = draw(st.integers(2, 40))
    t = draw(st.integers(1, 5))
    y = draw(arrays(np.uint8, (n, t), elements=st.integers(0, 1)))
    levels = draw(st.sampled_from([2, 3, 5, 1000]))
    scores = draw(arrays(np.int64, (n, t), elements=st.integers(0, levels - 1))).astype(np.float64) / levels
    return y, scores


@settings(max_examples=200, deadline=None)
@given(labelled_scores())
def test_tag_metrics_equal_sklearn(data: tuple[np.ndarray, np.ndarray]) -> None:
    y, s = data
    result = tag_metrics(y, s)
    keep = [t for t in range(y.shape[1]) if 0 < y[:, t].sum() < len(y)]
    assert result.skipped == [str(t) for t in range(y.shape[1]) if t not in keep]
    for t in keep:
        assert result.roc_auc[str(t)] == pytest.approx(roc_auc_score(y[:, t], s[:, t]), abs=1e-9)
        assert result.pr_auc[str(t)] == pytest.approx(average_precision_score(y[:, t], s[:, t]), abs=1e-9)
    if keep:
        for metric, fn in SKLEARN.items():
            assert result.macro[metric] == pytest.approx(fn(y[:, keep], s[:, keep], average="macro"), abs=1e-9)
            assert result.micro[metric] == pytest.approx(fn(y[:, keep], s[:, keep], average="micro"), abs=1e-9)
    else:
        assert np.isnan(result.macro["roc_auc"]) and np.isnan(result.micro["pr_auc"])


@settings(max_examples=150, deadline=None)
@given(labelled_scores(), st.integers(0, 2**31 - 1), st.sampled_from([1, 3]))
def test_weighted_scores_equal_sklearn_on_the_resampled_rows(data: tuple[np.ndarray, np.ndarray], seed: int,
                                                             n_resamples: int) -> None:
    """Counts as weights give what scikit-learn gives on the rows drawn with replacement (one weighting: a histogram)."""
    y, s = data
    indices = resample_indices(len(y), n_resamples=n_resamples, seed=seed)
    counts = resample_counts(indices)
    for metric, fn in SKLEARN.items():
        values = weighted_score(s[:, 0], y[:, 0].astype(bool), counts, metric)
        for r, idx in enumerate(indices):
            if 0 < y[idx, 0].sum() < len(idx):
                assert values[r] == pytest.approx(fn(y[idx, 0], s[idx, 0]), abs=1e-9)
            else:
                assert np.isnan(values[r])


@settings(max_examples=200, deadline=None)
@given(labelled_scores())
def test_macro_score_is_exactly_the_macro_of_tag_metrics(data: tuple[np.ndarray, np.ndarray]) -> None:
    """The probe's early stopping reads macro_score: it must be the value the stored metrics hold, not an approximation."""
    y, s = data
    result = tag_metrics(y, s)
    for metric in ("roc_auc", "pr_auc"):
        value = macro_score(y, s, metric)
        assert value == result.macro[metric] or (np.isnan(value) and np.isnan(result.macro[metric]))


def test_macro_score_skips_tags_like_tag_metrics_and_names_bad_metrics() -> None:
    rng = np.random.default_rng(1)
    y = (rng.random((80, 6)) < 0.3).astype(np.uint8)
    y[:, 2], y[:, 4] = 0, 1
    s = np.round(rng.random((80, 6)), 1)  # ties
    assert macro_score(y, s, "pr_auc") == tag_metrics(y, s).macro["pr_auc"]
    assert macro_score(y, s, "roc_auc") == pytest.approx(roc_auc_score(y[:, [0, 1, 3, 5]], s[:, [0, 1, 3, 5]]), abs=1e-12)
    assert np.isnan(macro_score(np.zeros((5, 2)), s[:5, :2], "pr_auc"))
    with pytest.raises(ValueError, match="unknown metric 'f1'"):
        macro_score(y, s, "f1")  # type: ignore[arg-type]


def test_tags_without_positives_or_negatives_are_skipped_and_named() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random((50, 4)) < 0.5).astype(np.uint8)
    y[:, 1] = 0  # no positive
    y[:, 3] = 1  # no negative
    s = rng.random((50, 4))
    result = tag_metrics(y, s, ["a", "none", "c", "all"])
    assert result.skipped == ["none", "all"]
    assert set(result.roc_auc) == {"a", "c"}
    assert result.macro["pr_auc"] == pytest.approx(average_precision_score(y[:, [0, 2]], s[:, [0, 2]]), abs=1e-12)


def test_bad_inputs_raise_one_line_errors() -> None:
    with pytest.raises(ValueError, match="must both be"):
        tag_metrics(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="NaN"):
        tag_metrics(np.array([[0], [1]]), np.array([[0.1], [np.nan]]))
    with pytest.raises(ValueError, match="only 0 and 1"):
        tag_metrics(np.array([[0], [2]]), np.array([[0.1], [0.2]]))
    with pytest.raises(ValueError, match="unknown metric"):
        resampled_metric(np.array([[0], [1]]), np.array([[0.1], [0.2]]), np.ones((2, 1), np.int16), "f1")


def _labels(n: int = 300, t: int = 8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((n, t)) < rng.uniform(0.05, 0.4, t)).astype(np.uint8)


def test_bootstrap_scores_every_run_on_the_same_resampled_tracks() -> None:
    y = _labels()
    rng = np.random.default_rng(1)
    preds = {"a": rng.random(y.shape) + 0.5 * y, "b": np.round(rng.random(y.shape), 1)}
    for metric, fn in SKLEARN.items():
        boot = paired_bootstrap(y, preds, n_resamples=20, seed=3, metric=metric)
        assert np.array_equal(boot.indices, resample_indices(len(y), 20, seed=3))
        for r in (0, 7, 19):
            idx = boot.indices[r]
            keep = [t for t in range(y.shape[1]) if 0 < y[idx, t].sum() < len(idx)]
            for name, p in preds.items():
                assert boot.runs[name].values[r] == pytest.approx(fn(y[idx][:, keep], p[idx][:, keep]), abs=1e-9)


def test_bootstrap_micro_matches_sklearn_on_a_resample() -> None:
    y = _labels(120, 5)
    p = np.random.default_rng(2).random(y.shape)
    boot = paired_bootstrap(y, {"a": p}, n_resamples=5, seed=0, metric="roc_auc", average="micro")
    idx = boot.indices[2]
    assert boot.runs["a"].values[2] == pytest.approx(roc_auc_score(y[idx], p[idx], average="micro"), abs=1e-9)


def test_identical_predictions_never_beat_each_other() -> None:
    y = _labels()
    p = np.random.default_rng(4).random(y.shape)
    boot = paired_bootstrap(y, {"a": p, "b": p.copy()}, n_resamples=200)
    assert boot.beats[("a", "b")] == 0.0 and boot.beats[("b", "a")] == 0.0
    assert (boot.runs["a"].low, boot.runs["a"].high) == (boot.runs["b"].low, boot.runs["b"].high)
    assert boot.diff[("a", "b")].low == boot.diff[("a", "b")].high == 0.0


def test_a_clearly_better_run_wins_almost_every_resample() -> None:
    y = _labels(400)
    rng = np.random.default_rng(5)
    good, noise = rng.random(y.shape) + 0.8 * y, rng.random(y.shape)
    for metric in SKLEARN:
        boot = paired_bootstrap(y, {"good": good, "noise": noise}, n_resamples=300, metric=metric)
        assert boot.beats[("good", "noise")] >= 0.99
        assert boot.beats[("noise", "good")] <= 0.01
        assert boot.diff[("good", "noise")].low > 0
        assert boot.runs["good"].low <= boot.runs["good"].mean <= boot.runs["good"].high


def test_paired_mean_bootstrap_resamples_queries() -> None:
    rng = np.random.default_rng(6)
    a, b = rng.random(50), rng.random(50)
    boot = paired_mean_bootstrap({"a": a, "b": b}, n_resamples=10, seed=1)
    for r, idx in enumerate(boot.indices):
        assert boot.runs["a"].values[r] == pytest.approx(a[idx].mean())
        assert boot.diff[("a", "b")].values[r] == pytest.approx(a[idx].mean() - b[idx].mean())
    with pytest.raises(ValueError, match="same queries"):
        paired_mean_bootstrap({"a": a, "b": b[:10]})
