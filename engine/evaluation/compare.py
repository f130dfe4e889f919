"""`mvssl compare`: several runs' probes of one task side by side, with paired bootstrap intervals.

Writes `results.json`, PNG figures (the poster's Fig. 1 bootstrap dots and Fig. 2 limited-data
curves, the collapse spectra, k-NN precision) and `report.html` into one folder. Runs probed on
different test tracks, tags or labels are refused: a paired comparison needs the same test set.

k-NN tag precision@k: for every track of the store with at least one tag of the task (the queries,
any split, as in `engine.collapse.diagnostics.knn_tag_precision`), the share of its k nearest other tracks
(cosine similarity of track embeddings) that share at least one tag of the task with it; the run's
value is the mean over the queries, and the bootstrap resamples the queries (paired across runs).
Neither pre-training nor the neighbours use tags, so every track can be a query; a demo corpus has
only 30 test tracks, too few to resolve differences of a few hundredths.
"""
from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from engine.collapse.neighbours import knn_tag_hits, search_rows
from engine.rundir import analysis_store, embeddings_store
from engine.evaluation.colours import colour_of
from engine.config import ConfigError, load, micro_pooling_at
from engine.evaluation.metrics import (
    METRICS,
    PairedBootstrap,
    evaluable_tags,
    paired_bootstrap,
    paired_mean_bootstrap,
    tag_metrics,
)
from engine.evaluation import reproduction
from engine.evaluation.probe_config import ProbeConfig
from engine.rundir.disk import write_error
from engine.rundir.files import atomic_write_bytes, read_status
from engine.rundir.layout import RunDir
from engine.evaluation.seeds import compare_methods

KNN_K = 10


@dataclass
class RunData:
    """One run's probe results of a task and what the report needs from its embeddings store."""

    name: str
    run_dir: Path
    method: str
    seed: int | None  # the run's training seed (config.toml, else the embeddings' attrs)
    probe: analysis_store.ProbeResult
    test_ids: list[str]
    labels: np.ndarray  # (N_test, T) of the probe's tags
    track_ids: list[str]  # every track of the store
    track_tags: np.ndarray  # (N, T) of the probe's tags
    embeddings: np.ndarray  # (N, D) track embeddings


def method_of(run_dir: Path, attrs: dict[str, Any] | None = None) -> str:
    """The run's method: status.json, else config.toml, else the embeddings' attrs; 'unknown' if none."""
    method = read_status(run_dir).get("method")
    if not method and RunDir(run_dir).config.exists():
        try:
            method = load(RunDir(run_dir).config).method
        except ConfigError:
            method = None
    return str(method or (attrs or {}).get("method") or "unknown")


def seed_of(run_dir: Path, attrs: dict[str, Any] | None = None) -> int | None:
    """The run's training seed: config.toml, else the embeddings' attrs; None when neither says."""
    if RunDir(run_dir).config.exists():
        try:
            return load(RunDir(run_dir).config).seed
        except ConfigError:
            pass
    seed = (attrs or {}).get("seed")
    return int(seed) if isinstance(seed, (int, np.integer)) else None


def run_names(run_dirs: list[Path]) -> list[str]:
    """Folder names, or parent/folder where two runs share a folder name."""
    names = [Path(d).name for d in run_dirs]
    return [f"{Path(d).parent.name}/{n}" if names.count(n) > 1 else n for d, n in zip(run_dirs, names, strict=True)]


def load_run(run_dir: Path, name: str, task: str) -> RunData:
    probes = analysis_store.read_probes(run_dir, task)
    if task not in probes:
        raise ValueError(f"{run_dir}: no '{task}' probe (run `mvssl probe --run-dir {run_dir} --task {task}`)")
    probe = probes[task]
    with embeddings_store.open_embeddings(run_dir) as emb:
        tracks, embeddings, attrs = emb.tracks, emb.track_embeddings(), emb.attrs
    if embeddings_store.embedding_progress(run_dir) is not None:  # readers never wait: the old store stays whole
        print(f"note: {run_dir}: an embed is rewriting its store; comparing the last complete embeddings.h5 "
              f"(written {attrs.get('created', '?')})", file=sys.stderr, flush=True)
    missing = [t for t in probe.tag_names if t not in tracks.tag_names]
    if missing:
        raise ValueError(f"{run_dir}: probe tag '{missing[0]}' is not in the embeddings' tag list")
    cols = [tracks.tag_names.index(t) for t in probe.tag_names]
    tags = tracks.tags[:, cols]
    return RunData(name, Path(run_dir), method_of(run_dir, attrs), seed_of(run_dir, attrs), probe,
                   [tracks.ids[i] for i in probe.test_index],
                   tags[probe.test_index], list(tracks.ids), tags, embeddings)


def check_comparable(runs: list[RunData], mix_protocols: bool = False) -> None:
    """Raise a one-line ValueError when two runs were probed on different test tracks, tags or labels,
    or with different probe protocols (unless `mix_protocols`)."""
    ref = runs[0]
    for run in runs[1:]:
        if run.probe.protocol != ref.probe.protocol and not mix_protocols:
            raise ValueError(f"apples vs pears: {ref.name} was probed with the '{ref.probe.protocol}' protocol, "
                             f"{run.name} with '{run.probe.protocol}'; probe them alike, or pass --mix-protocols "
                             "to put them side by side anyway")
        if run.test_ids != ref.test_ids:
            common = len(set(run.test_ids) & set(ref.test_ids))
            raise ValueError(f"apples vs pears: {ref.name} and {run.name} were probed on different test tracks "
                             f"({len(ref.test_ids)} vs {len(run.test_ids)} tracks, {common} in common)")
        if run.probe.tag_names != ref.probe.tag_names:
            diff = sorted(set(run.probe.tag_names) ^ set(ref.probe.tag_names))
            raise ValueError(f"apples vs pears: {ref.name} and {run.name} have different tag lists "
                             f"({len(ref.probe.tag_names)} vs {len(run.probe.tag_names)} tags"
                             + (f", e.g. '{diff[0]}')" if diff else ", in another order)"))
        if not np.array_equal(run.labels, ref.labels):
            raise ValueError(f"apples vs pears: {ref.name} and {run.name} label the same test tracks differently")


def full_data_pred(run: RunData) -> np.ndarray:
    draws = run.probe.at(1.0)
    if not draws:
        raise ValueError(f"{run.run_dir}: no full-data (100 %) '{run.probe.task}' probe; "
                         "run `mvssl probe` with 100 in --fractions")
    return min(draws, key=lambda d: d.draw).pred


def collapse_summary(run: RunData) -> dict[str, Any]:
    """RankMe and covariance spectrum of the store's track embeddings (same tracks for every run),
    plus the last training-time RankMe in analysis.h5 diagnostics when there is one."""
    import torch

    from engine.collapse.diagnostics import covariance_spectrum, rankme

    z = torch.from_numpy(run.embeddings)
    out: dict[str, Any] = {"rankme": rankme(z), "spectrum": covariance_spectrum(z).tolist()}
    stored = analysis_store.read_diagnostics(run.run_dir)
    if stored:
        step, (scalars, _) = max(stored.items())
        if "rankme" in scalars:
            out["rankme_diagnostics"] = {"step": step, "rankme": scalars["rankme"]}
    return out


def _pairs(boot: PairedBootstrap) -> list[dict[str, Any]]:
    """One row per ordered pair: share of resamples where a beats b, and the interval of a − b."""
    rows = []
    for (a, b), share in boot.beats.items():
        diff = boot.diff[(a, b)]
        rows.append({"a": a, "b": b, "a_beats_b": share, "diff_mean": diff.mean, "diff_low": diff.low,
                     "diff_high": diff.high, "excludes_zero": bool(diff.low > 0 or diff.high < 0)})
    return rows


def _limited(run: RunData) -> dict[str, Any]:
    out = {}
    for fraction in run.probe.fractions():
        draws = run.probe.at(fraction)
        out[f"{fraction:g}"] = {m: {"mean": float(np.mean(v)), "min": float(np.min(v)), "max": float(np.max(v)),
                                    "draws": v}
                                for m in METRICS for v in [[float(d.metrics["macro"][m]) for d in draws]]}
    return out


def against_paper(runs: list[RunData], results: dict[str, Any]) -> list[reproduction.RunReproduction]:
    """Each run's macro scores (full test set, 95 % test-resample interval, its method's seed spread) beside the
    paper's figures, with the protocol differences (`engine.evaluation.reproduction`)."""
    reports = []
    for r in runs:
        scores = {}
        for m in METRICS:
            interval = results["bootstrap"]["metrics"][m]["runs"][r.name]
            spread = results["seeds"][m]["methods"][r.method]
            std = spread["std"]
            scores[m] = reproduction.Score(results["full_data"][r.name]["macro"][m], interval["low"], interval["high"],
                                           std if std is not None and math.isfinite(std) else None, spread["n_seeds"])
        facts = reproduction.facts_of(r.run_dir, r.probe.task, r.probe.protocol, r.name)
        reports.append(reproduction.reproduce(facts, scores))
    return reports


def compare(run_dirs: list[Path], task: str, n_resamples: int = 1000, seed: int = 0, k: int = KNN_K,
            mix_protocols: bool = False, paper: bool = False) -> dict[str, Any]:
    """Every number of the report as one JSON-ready dict (see the module docstring); `paper`: with the
    runs set beside the paper's figures (`against_paper`)."""
    if not run_dirs:
        raise ValueError("compare needs at least one run directory")
    names = run_names([Path(d) for d in run_dirs])
    runs = [load_run(Path(d), name, task) for d, name in zip(run_dirs, names, strict=True)]
    check_comparable(runs, mix_protocols)
    ref = runs[0]
    if not evaluable_tags(ref.labels).any():
        raise ValueError(f"task '{task}': no tag has both positive and negative tracks among the "
                         f"{len(ref.test_ids)} test tracks; nothing to compare")
    preds = {r.name: full_data_pred(r) for r in runs}
    boots = {m: paired_bootstrap(ref.labels, preds, n_resamples, seed, m, "macro") for m in METRICS}
    per_tag = {r.name: tag_metrics(ref.labels, preds[r.name], ref.probe.tag_names,
                                   micro_pooling_at(RunDir(r.run_dir).config)) for r in runs}
    in_every_pool = set(ref.track_ids).intersection(*(r.track_ids for r in runs[1:]))
    query_ids = [tid for tid, y in zip(ref.track_ids, ref.track_tags, strict=True)
                 if y.any() and tid in in_every_pool]
    per_query = {}
    for r in runs:
        row = {tid: i for i, tid in enumerate(r.track_ids)}
        queries = np.array([row[t] for t in query_ids])
        per_query[r.name] = knn_tag_hits(search_rows(r.embeddings), r.track_tags, queries, k)
    knn = paired_mean_bootstrap(per_query, n_resamples, seed, f"knn_precision@{k}")
    pools_differ = any(r.track_ids != ref.track_ids for r in runs[1:])
    methods = {r.name: r.method for r in runs}
    seeds = {m: compare_methods({n: t.macro[m] for n, t in per_tag.items()},
                                {n: iv.values for n, iv in b.runs.items()}, methods, m).to_dict()
             for m, b in boots.items()}
    results = {
        "task": task, "tag_names": ref.probe.tag_names, "n_test": len(ref.test_ids),
        "skipped_tags": per_tag[ref.name].skipped,
        "runs": [{"name": r.name, "run_dir": str(r.run_dir), "method": r.method, "colour": colour_of(r.method),
                  "probe_protocol": r.probe.protocol, "seed": r.seed} for r in runs],
        "probe_protocols": sorted({r.probe.protocol for r in runs}),
        "probe_parameters": {p: ProbeConfig.of(p).describe() for p in sorted({r.probe.protocol for r in runs})},
        "bootstrap": {"n_resamples": n_resamples, "seed": seed, "average": "macro", "metrics": {
            m: {"runs": {name: iv.to_dict() for name, iv in b.runs.items()}, "pairs": _pairs(b)}
            for m, b in boots.items()}},
        "full_data": {name: {"macro": t.macro, "micro": t.micro, "micro_pooling": t.micro_pooling}
                      for name, t in per_tag.items()},
        "per_tag": {name: {"roc_auc": t.roc_auc, "pr_auc": t.pr_auc} for name, t in per_tag.items()},
        "limited_data": {r.name: _limited(r) for r in runs},
        "knn": {"k": k, "queries": len(query_ids), "neighbour_pools_differ": pools_differ,
                "runs": {name: iv.to_dict(False) for name, iv in knn.runs.items()}, "pairs": _pairs(knn)},
        "collapse": {r.name: collapse_summary(r) for r in runs},
        "seeds": seeds,
    }
    if paper:
        reports = against_paper(runs, _json_safe(results))
        results["against_paper"] = [rep.to_dict() for rep in reports]
        results["against_paper_text"] = reproduction.render_text(reports)
    return results


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def write_report(run_dirs: list[Path], task: str, out: Path, n_resamples: int = 1000, seed: int = 0,
                 k: int = KNN_K, mix_protocols: bool = False, paper: bool = False) -> Path:
    """Compare the runs and write results.json, the PNG figures and report.html into `out`."""
    from engine.evaluation.compare_figures import write_figures
    from engine.evaluation.compare_html import render

    results = _json_safe(compare(run_dirs, task, n_resamples, seed, k, mix_protocols, paper))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "results.json", json.dumps(results, indent=1, allow_nan=False).encode())
    try:
        figures = write_figures(results, out)
    except (OSError, RuntimeError) as err:
        raise write_error(out, err) from None
    atomic_write_bytes(out / "report.html", render(results, figures).encode())
    if paper:
        atomic_write_bytes(out / "against_paper.txt", (results["against_paper_text"] + "\n").encode())
    return out / "report.html"
