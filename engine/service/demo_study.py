"""`make demo`: the whole comparison study on the demo corpus, headless and resumable.

Steps: the demo corpus; one engine study (pretrain → embed → diagnose → project → probe) for every
method and the random control, each with `DEMO_SEEDS` seeds; the log-mel statistics baseline; one
comparison report per task.
Anything already finished — a study step, the baseline's embeddings or probes, a report — is kept.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from engine.rundir.disk import private_dir
from engine.service.client import BlockingClient, ensure_engine
from engine.service.contract import FINAL_STATES, StudiesResult, Study
from engine.evaluation.seeds import DEMO_SEEDS, seed_values

STUDY = "demo"
METHODS = ("contrastive", "byol", "clustering", "clustering-collapse", "barlow_twins", "vicreg", "random")
TASKS = ("genre", "instrument", "mood")
FRACTIONS = (1.0, 5.0, 10.0, 20.0, 100.0)
DRAWS = 4


def _say(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


def _study(engine: BlockingClient) -> Study | None:
    studies = StudiesResult.model_validate(engine.request("list_studies")).studies
    return next((s for s in studies if s.id == STUDY), None)


def _progress(study: Study) -> str:
    steps = [s for b in study.branches for s in b.steps]
    return f"{sum(s.state == 'done' for s in steps)}/{len(steps)} steps done"


def run_study(runs_dir: Path, poll_s: float = 10.0, seeds: int = DEMO_SEEDS) -> Study:
    """Submit the study with `seeds` seeds per method (or resume its unfinished steps) and wait until it ends."""
    ensure_engine(runs_dir)
    with BlockingClient.for_runs_dir(runs_dir) as engine:
        study = _study(engine)
        if study is None:
            _say(f"submitting study '{STUDY}': {', '.join(METHODS)}, {seeds} seed(s) each")
            engine.request("submit_study", name=STUDY, methods=list(METHODS), corpus="demo", preset="demo",
                           tasks=list(TASKS), fractions=list(FRACTIONS), draws=DRAWS, seeds=seed_values(seeds))
        elif study.state != "done":
            _say(f"resuming study '{STUDY}' ({_progress(study)})")
            engine.request("resume", study=STUDY)
        last = ""
        while True:
            study = _study(engine)
            line = f"study '{STUDY}': {study.state}, {_progress(study)}"
            if line != last:
                _say(line)
                last = line
            if study.state in FINAL_STATES:
                return study
            time.sleep(poll_s)


def logmel_baseline(runs_dir: Path) -> Path:
    """The log-mel mean+std pseudo-run, embedded and probed with a *linear* probe on every task
    (skipping what exists): the simplest spectral baseline, which must stay well below ceiling."""
    from engine.evaluation.embed import embed_logmel
    from engine.evaluation.probe import ProbeConfig, run_probe
    from engine.rundir.analysis_store import list_probe_tasks
    from engine.rundir.layout import RunDir

    run_dir = runs_dir / f"{STUDY}-logmel"
    if not RunDir(run_dir).embeddings.exists():
        _say("log-mel baseline: embedding")
        embed_logmel(run_dir, corpus="demo", progress=False)
    for task in TASKS:
        if task not in list_probe_tasks(run_dir):
            _say(f"log-mel baseline: probing {task}")
            run_probe(run_dir, task, fractions=FRACTIONS, draws=DRAWS, config=ProbeConfig.of("linear"))
    return run_dir


def reports(runs_dir: Path, out: Path, run_dirs: list[Path]) -> dict[str, Path]:
    from engine.evaluation.compare import write_report

    written = {}
    for task in TASKS:
        _say(f"report: {task}")
        # the log-mel statistics baseline is probed linearly by design: the report labels each run's protocol
        written[task] = write_report(run_dirs, task, out / task, mix_protocols=True)
    return written


def _cell(entry: dict[str, Any]) -> str:
    """Seed mean, its spread over seeds (when more than one) and its 95 % interval over test tracks."""
    tracks = entry["tracks"]
    spread = f" ± {entry['std']:.3f}" if entry["n_seeds"] > 1 else ""
    return f"{entry['mean']:.3f}{spread} [{tracks['low']:.3f}, {tracks['high']:.3f}]"


def method_order(results: dict[str, Any], metric: str = "pr_auc") -> str:
    """Methods by seed-mean score, each step with the share of comparisons over both tracks and seeds
    where the higher method wins, and `*` where the interval of the difference over both excludes 0."""
    entry = results["seeds"][metric]
    order = sorted(entry["methods"], key=lambda m: -entry["methods"][m]["mean"])
    pairs = {(p["a"], p["b"]): p for p in entry["pairs"]}
    text = order[0] if order else ""
    for higher, lower in zip(order, order[1:]):
        pair = pairs[(higher, lower)]
        text += f" > ({100 * pair['a_beats_b_over_both']:.0f} %{'*' if pair['holds_over_both'] else ''}) {lower}"
    return text


def summary_table(out: Path) -> str:
    """Markdown table of the reports: per method, full-data macro ROC/PR-AUC per task (seed mean ±
    sd over seeds [95 % over tracks]) and k-NN precision@10; then the method order per task."""
    rows: dict[str, dict[str, str]] = {}
    orders = []
    for task in TASKS:
        results = json.loads((out / task / "results.json").read_text())
        for metric in ("roc_auc", "pr_auc"):
            for method, entry in results["seeds"][metric]["methods"].items():
                rows.setdefault(method, {"seeds": str(entry["n_seeds"])})[f"{task} {metric}"] = _cell(entry)
        for run in results["runs"]:
            knn = results["knn"]["runs"][run["name"]]["mean"]
            rows[run["method"]].setdefault(f"{task} knn", []).append(knn)  # type: ignore[union-attr]
        orders.append(f"- {task}, PR-AUC: {method_order(results)}")
    for row in rows.values():
        for key, value in list(row.items()):
            if isinstance(value, list):
                row[key] = f"{sum(value) / len(value):.3f}"
    columns = ["seeds"] + [f"{t} {m}" for t in TASKS for m in ("roc_auc", "pr_auc", "knn")]
    lines = ["| method | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    lines += [f"| {m} | " + " | ".join(r.get(c, "") for c in columns) + " |" for m, r in rows.items()]
    lines += ["", "Order by seed-mean PR-AUC; (x %) = share of (test-track resample, seed, seed) comparisons the "
              "higher method wins, * = the 95 % interval of the difference over tracks and seeds excludes 0:"]
    return "\n".join(lines + orders) + "\n"


def main(runs_dir: Path, out: Path, seeds: int = DEMO_SEEDS) -> int:
    from engine.data.corpora.demo import ensure_demo

    started = time.time()
    private_dir(runs_dir)
    ensure_demo(progress=True)
    study = run_study(runs_dir, seeds=seeds)
    if study.state != "done":
        _say(f"study ended {study.state}: see `mvssl runs list --runs-dir {runs_dir}`; rerun to resume")
        return 1
    baseline = logmel_baseline(runs_dir)
    run_dirs = [runs_dir / b.run for b in study.branches] + [baseline]
    reports(runs_dir, out, run_dirs)
    table = summary_table(out)
    (out / "summary.md").write_text(table)
    print(table)
    _say(f"demo study finished in {(time.time() - started) / 60:.1f} min; reports in {out}")
    return 0
