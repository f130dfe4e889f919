"""Comparisons across seeds: spread per method and "A beats B" over tracks, seeds and both, by hand."""
from __future__ import annotations

import numpy as np
import pytest

from engine.evaluation.seeds import Spread, compare_methods, seed_values


def test_seed_values() -> None:
    assert seed_values(3) == [0, 1, 2] and seed_values(2, first=5) == [5, 6]
    with pytest.raises(ValueError, match="between 1 and 16"):
        seed_values(0)


def test_spread_over_seeds() -> None:
    s = Spread.of([0.70, 0.74, 0.72])
    assert (s.mean, s.low, s.high) == pytest.approx((0.72, 0.70, 0.74))
    assert s.std == pytest.approx(0.02)  # sample standard deviation
    assert np.isnan(Spread.of([0.7]).std)


def test_beats_over_tracks_seeds_and_both_by_hand() -> None:
    # two seeds of A, one of B; three paired resamples of the test tracks
    resampled = {"a0": np.array([0.80, 0.60, 0.90]), "a1": np.array([0.70, 0.50, 0.60]),
                 "b0": np.array([0.65, 0.70, 0.55])}
    full = {"a0": 0.78, "a1": 0.60, "b0": 0.65}
    c = compare_methods(full, resampled, {"a0": "A", "a1": "A", "b0": "B"}, "pr_auc")
    assert c.groups == {"A": ["a0", "a1"], "B": ["b0"]}
    assert c.spread["A"].values == [0.78, 0.60] and c.spread["B"].values == [0.65]
    # over tracks: seed means of A (0.75, 0.55, 0.75) vs B (0.65, 0.70, 0.55): 2 of 3 resamples
    assert c.beats[("A", "B")]["tracks"] == pytest.approx(2 / 3)
    # over seeds: full scores 0.78 > 0.65, 0.60 < 0.65: 1 of 2 seed pairs
    assert c.beats[("A", "B")]["seeds"] == pytest.approx(1 / 2)
    # over both: a0 beats b0 in resamples 1 and 3, a1 in resamples 1 and 3: 4 of 6
    assert c.beats[("A", "B")]["both"] == pytest.approx(4 / 6)
    assert c.beats[("B", "A")]["both"] == pytest.approx(2 / 6)
    assert c.diff[("A", "B")]["seeds"] == pytest.approx({"mean": (0.13 - 0.05) / 2, "low": -0.05, "high": 0.13})
    d = c.to_dict()
    assert d["methods"]["A"]["n_seeds"] == 2 and d["pairs"][0]["a_beats_b_over_both"] == pytest.approx(4 / 6)
    assert d["pairs"][0]["holds_over_both"] is False
