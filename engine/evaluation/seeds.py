"""Methods trained with several seeds: each method's mean and spread over its seeds beside the
bootstrap over test tracks, and "A beats B" said over what — tracks, seeds, or both.

- over tracks: the paired bootstrap of the test tracks, on each method's *seed-mean* score: the
  share of resamples where A's mean over its seeds beats B's. It holds the seeds fixed.
- over seeds: full test set; the share of (seed of A, seed of B) pairs where A scores higher. It
  holds the tracks fixed (0 or 1 with one seed each).
- over both: the share of (resample, seed of A, seed of B) triples where A scores higher: a
  difference that holds here holds for another draw of the test tracks *and* another training run.

Pure numpy (no torch): the engine's report and the GUI's Scores panel use the same numbers.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

OVER = ("tracks", "seeds", "both")
DEMO_SEEDS = 2  # seeds per method of the demo study (`make demo`, the GUI's demo): two fit an hour on a
# 2-core CPU (56.6 min measured; docs/evaluation.md, Seeds), three would not


def seed_values(count: int, first: int = 0) -> list[int]:
    """`--seeds N`: the seeds first, first + 1, ..., first + N - 1."""
    if not 1 <= count <= 16:
        raise ValueError(f"seeds must be between 1 and 16, got {count}")
    return list(range(first, first + count))


def method_groups(methods: dict[str, str]) -> dict[str, list[str]]:
    """{run name: method} -> {method: its run names}, both in first-seen order."""
    groups: dict[str, list[str]] = {}
    for name, method in methods.items():
        groups.setdefault(method, []).append(name)
    return groups


@dataclass(frozen=True)
class Spread:
    """One method's full-test-set score over its seeds."""

    values: list[float]  # one per seed (run), in run order
    mean: float
    std: float  # sample standard deviation (ddof 1); NaN with one seed
    low: float  # min over seeds
    high: float  # max over seeds

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        v = np.asarray([x for x in values if np.isfinite(x)], np.float64)
        if len(v) == 0:
            return cls(list(values), np.nan, np.nan, np.nan, np.nan)
        return cls(list(values), float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else float("nan"),
                   float(v.min()), float(v.max()))

    def to_dict(self) -> dict[str, Any]:
        return {"values": self.values, "mean": self.mean, "std": self.std, "low": self.low, "high": self.high,
                "n_seeds": len(self.values)}


def _interval(values: np.ndarray) -> dict[str, float]:
    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        return {"mean": float("nan"), "low": float("nan"), "high": float("nan")}
    low, high = np.percentile(finite, [2.5, 97.5])
    return {"mean": float(finite.mean()), "low": float(low), "high": float(high)}


@dataclass(frozen=True)
class MethodComparison:
    """Per method: seeds' spread and the track bootstrap of the seed mean; per ordered method pair:
    the share of comparisons A > B and the interval of A − B, over tracks, seeds and both."""

    metric: str
    groups: dict[str, list[str]]
    spread: dict[str, Spread]
    tracks: dict[str, dict[str, float]]  # method -> bootstrap interval of its seed-mean score
    beats: dict[tuple[str, str], dict[str, float]]  # (A, B) -> {over: share}
    diff: dict[tuple[str, str], dict[str, dict[str, float]]]  # (A, B) -> {over: interval of A − B}

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "over": {o: _OVER_TEXT[o] for o in OVER},
                "methods": {m: {"runs": self.groups[m], **self.spread[m].to_dict(), "tracks": self.tracks[m]}
                            for m in self.groups},
                "pairs": [{"a": a, "b": b, **{f"a_beats_b_over_{o}": self.beats[(a, b)][o] for o in OVER},
                           **{f"diff_over_{o}": self.diff[(a, b)][o] for o in OVER},
                           "holds_over_both": bool(self.diff[(a, b)]["both"]["low"] > 0)}
                          for (a, b) in self.beats]}


_OVER_TEXT = {"tracks": "share of paired test-track resamples where A's seed-mean beats B's",
              "seeds": "share of (seed of A, seed of B) pairs where A beats B on the full test set",
              "both": "share of (resample, seed of A, seed of B) triples where A beats B"}


def compare_methods(full: dict[str, float], resampled: dict[str, np.ndarray], methods: dict[str, str],
                    metric: str) -> MethodComparison:
    """Group runs by method and compare the groups.

    Args:
        full: run name -> full-test-set score. resampled: run name -> (R,) scores on the paired
            resamples (the same resamples for every run). methods: run name -> method.
    """
    groups = method_groups(methods)
    stacked = {m: np.stack([np.asarray(resampled[n], np.float64) for n in names]) for m, names in groups.items()}
    seed_mean = {m: np.nanmean(s, axis=0) if np.isfinite(s).any() else s[0] for m, s in stacked.items()}  # (R,)
    spread = {m: Spread.of([float(full[n]) for n in names]) for m, names in groups.items()}
    beats: dict[tuple[str, str], dict[str, float]] = {}
    diff: dict[tuple[str, str], dict[str, dict[str, float]]] = {}
    for a in groups:
        for b in groups:
            if a == b:
                continue
            fa = np.array(spread[a].values)[:, None]
            fb = np.array(spread[b].values)[None, :]
            seeds = (fa - fb).ravel()  # (n_a * n_b,)
            both = (stacked[a][:, None, :] - stacked[b][None, :, :]).ravel()  # (n_a * n_b * R,)
            tracks = seed_mean[a] - seed_mean[b]
            beats[(a, b)] = {"tracks": float(np.mean(tracks > 0)), "seeds": float(np.mean(seeds > 0)),
                             "both": float(np.mean(both > 0))}
            diff[(a, b)] = {"tracks": _interval(tracks), "seeds": {"mean": float(np.mean(seeds)),
                                                                   "low": float(np.min(seeds)),
                                                                   "high": float(np.max(seeds))},
                            "both": _interval(both)}
    return MethodComparison(metric, groups, spread, {m: _interval(v) for m, v in seed_mean.items()}, beats, diff)
