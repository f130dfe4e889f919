"""What the scores panel shows, with no Qt: per-tag ROC-AUC / PR-AUC of each run's probes, the
paired bootstrap of the poster's Fig. 1, the limited-data curves of Fig. 2, and CSV export.

Per-tag and macro values are the metrics the engine stored with each probe draw (mean over the
draws of the largest training fraction). The bootstrap re-scores the stored per-track test
predictions with engine.evaluation.metrics.paired_bootstrap on the test tracks all runs share; runs of one
method with different seeds are then grouped (engine.evaluation.seeds): mean and spread over the seeds, and
"A beats B" over tracks, over seeds and over both.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.rundir import analysis_store, embeddings_store
from engine.rundir.layout import RunDir
from engine.evaluation.metrics import METRICS, PairedBootstrap, paired_bootstrap, tag_metrics
from engine.evaluation.seeds import OVER, MethodComparison, compare_methods
from workbench.runs.model import read_run

METRIC_LABELS = {"roc_auc": "ROC-AUC", "pr_auc": "PR-AUC"}
N_RESAMPLES = 1000


@dataclass(frozen=True, eq=False)
class RunScores:
    """One run's probes of one task."""

    run_dir: Path
    method: str
    task: str
    tag_names: list[str]
    test_ids: list[str]
    y_true: np.ndarray  # (N_test, T) uint8 labels of the test tracks
    pred: np.ndarray  # (N_test, T) test predictions of the probe trained on every training track
    per_tag: dict[str, dict[str, float]]  # metric -> tag -> value (tags the engine skipped are absent)
    macro: dict[str, float]  # metric -> value
    draws: dict[float, dict[str, list[float]]]  # fraction -> metric -> macro value of each draw
    seed: int | None = None  # training seed from config.toml
    protocol: str = "ours"  # probe protocol of the task (engine.evaluation.probe_protocols)

    @property
    def name(self) -> str:
        return self.run_dir.name


def _mean(values: list[float]) -> float:
    finite = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def load_scores(run_dir: Path, task: str) -> RunScores | None:
    """The run's probes of `task`, or None when it has none."""
    found = analysis_store.read_probes(run_dir, task).get(task)
    if found is None or not found.draws:
        return None
    with embeddings_store.open_embeddings(run_dir) as emb:
        tracks = emb.tracks
    rows = np.asarray(found.test_index, np.int64)
    columns = [tracks.tag_names.index(t) for t in found.tag_names]
    full = found.at(max(found.fractions()))
    per_tag = {m: {t: _mean([d.metrics.get(m, {}).get(t, math.nan) for d in full]) for t in found.tag_names
                   if any(t in d.metrics.get(m, {}) for d in full)} for m in METRICS}
    draws = {f: {m: [float(d.metrics.get("macro", {}).get(m, math.nan)) for d in found.at(f)] for m in METRICS}
             for f in found.fractions()}
    try:
        seed = tomllib.loads(RunDir(run_dir).config.read_text()).get("seed")
    except (OSError, ValueError):
        seed = None
    return RunScores(Path(run_dir), read_run(Path(run_dir)).method, task, list(found.tag_names),
                     [tracks.ids[r] for r in rows], tracks.tags[rows][:, columns], full[0].pred, per_tag,
                     {m: _mean(draws[max(draws)][m]) for m in METRICS}, draws,
                     seed if isinstance(seed, int) else None, found.protocol)


def tasks_of(run_dirs: list[Path]) -> list[str]:
    """Probe tasks of the runs: those every run has first, then the rest, each alphabetical."""
    per_run = []
    for run in run_dirs:
        try:
            per_run.append(set(analysis_store.list_probe_tasks(run)))
        except embeddings_store.StoreError:  # an unreadable analysis file: that run shows no scores
            per_run.append(set())
    if not per_run:
        return []
    common = set.intersection(*per_run)
    return sorted(common) + sorted(set.union(*per_run) - common)


@dataclass(frozen=True)
class ScoreTable:
    """Rows = tags, columns = (run, metric); NaN where a run lacks or skipped the tag."""

    tags: list[str]
    columns: list[tuple[str, str]]  # (run name, metric)
    values: np.ndarray  # (n_tags, n_columns)
    runs: list[str] = dataclasses.field(default_factory=list)  # run names in column order
    methods: list[str] = dataclasses.field(default_factory=list)  # their methods


def score_table(runs: list[RunScores]) -> ScoreTable:
    tags = list(dict.fromkeys(t for r in runs for t in r.tag_names))
    columns = [(r.name, m) for r in runs for m in METRICS]
    values = np.array([[r.per_tag[m].get(t, math.nan) for r in runs for m in METRICS] for t in tags], np.float64)
    return ScoreTable(tags, columns, values.reshape(len(tags), len(columns)), [r.name for r in runs],
                      [r.method for r in runs])


def paired_inputs(runs: list[RunScores]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Labels (N, T) and each run's predictions (N, T) on the test tracks and tags all runs share."""
    if not runs:
        raise ValueError("no run with probes to compare")
    others = [set(r.test_ids) for r in runs[1:]]
    ids = [i for i in runs[0].test_ids if all(i in o for o in others)]
    tags = [t for t in runs[0].tag_names if all(t in r.tag_names for r in runs[1:])]
    if not ids or not tags:
        raise ValueError("the runs share no test track or no tag: they were probed on different corpora")
    y_true, preds = None, {}
    for r in runs:
        where = {t: i for i, t in enumerate(r.test_ids)}
        rows = np.array([where[i] for i in ids])
        cols = np.array([r.tag_names.index(t) for t in tags])
        labels = r.y_true[rows][:, cols]
        if y_true is None:
            y_true = labels
        elif not np.array_equal(y_true, labels):
            raise ValueError(f"runs {runs[0].name} and {r.name} disagree on the labels of their test tracks")
        preds[r.name] = r.pred[rows][:, cols]
    return y_true, preds


def bootstrap(runs: list[RunScores], metric: str, n_resamples: int = N_RESAMPLES, seed: int = 0) -> PairedBootstrap:
    """Paired bootstrap of the runs' macro `metric` on the same resampled test tracks (Fig. 1)."""
    y_true, preds = paired_inputs(runs)
    return paired_bootstrap(y_true, preds, n_resamples=n_resamples, seed=seed, metric=metric, average="macro")


def seed_comparison(runs: list[RunScores], boot: PairedBootstrap) -> MethodComparison:
    """Runs grouped by method: spread over seeds (full shared test set) and "A beats B" over tracks,
    seeds and both, from the same paired resamples as `boot`."""
    y_true, preds = paired_inputs(runs)
    full = {name: tag_metrics(y_true, pred).macro[boot.metric] for name, pred in preds.items()}
    resampled = {name: interval.values for name, interval in boot.runs.items()}
    return compare_methods(full, resampled, {r.name: r.method for r in runs}, boot.metric)


def bootstrap_with_seeds(runs: list[RunScores], metric: str, n_resamples: int = N_RESAMPLES,
                         seed: int = 0) -> tuple[PairedBootstrap, MethodComparison]:
    """What the panel's worker computes: the paired bootstrap and the comparison across seeds."""
    boot = bootstrap(runs, metric, n_resamples, seed)
    return boot, seed_comparison(runs, boot)


def limited_data(run: RunScores, metric: str) -> tuple[np.ndarray, np.ndarray, list[tuple[float, float]]]:
    """Fig. 2 for one run: training percentages, mean macro metric at each, and every (percent, draw value);
    undefined values (no evaluable tag) are left out, as pyqtgraph cannot place them."""
    fractions = sorted(run.draws)
    percent = np.array([100 * f for f in fractions])
    means = np.array([_mean(run.draws[f][metric]) for f in fractions])
    points = [(100 * f, v) for f in fractions for v in run.draws[f][metric] if math.isfinite(v)]
    keep = np.isfinite(means)
    return percent[keep], means[keep], points


def export_rows(runs: list[RunScores], boot: PairedBootstrap | None,
                seeds: MethodComparison | None = None) -> list[dict[str, Any]]:
    """Every number the panel shows, one tidy row each (section, run, versus, tag, fraction, metric, value)."""
    rows: list[dict[str, Any]] = []

    def add(section: str, run: str, metric: str, value: float, **more: Any) -> None:
        rows.append({"section": section, "run": run, "versus": "", "tag": "", "fraction": "", "metric": metric,
                     "value": value, **more})
    for r in runs:
        for m in METRICS:
            for tag, value in r.per_tag[m].items():
                add("tag", r.name, m, value, tag=tag)
            add("macro", r.name, m, r.macro[m])
            for fraction, values in sorted(r.draws.items()):
                add("limited_data_mean", r.name, m, _mean(values[m]), fraction=fraction)
    if boot is not None:
        for name, interval in boot.runs.items():
            for key in ("mean", "low", "high"):
                add(f"bootstrap_{key}", name, boot.metric, getattr(interval, key))
        for (a, b), share in boot.beats.items():
            add("beats_over_tracks", a, boot.metric, share, versus=b)
    if seeds is not None:
        for method, spread in seeds.spread.items():
            for key in ("mean", "std", "low", "high"):
                add(f"seeds_{key}", method, seeds.metric, getattr(spread, key))
        for (a, b), shares in seeds.beats.items():
            for over, share in shares.items():
                add(f"method_beats_over_{over}", a, seeds.metric, share, versus=b)
    return rows


def to_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, ["section", "run", "versus", "tag", "fraction", "metric", "value"])
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
