"""The Scores panel's "vs paper" view, with no Qt: the selected runs' macro scores beside the paper's
published figures and the protocol differences (engine.evaluation.reproduction, as `mvssl compare
--against paper` reports them), from what the panel already loaded.
"""
from __future__ import annotations

import math
from html import escape

from engine.evaluation import paper_figures, reproduction
from engine.evaluation.metrics import METRICS, PairedBootstrap
from engine.evaluation.seeds import MethodComparison
from engine.rundir.embeddings_store import StoreError
from workbench.panels.scores.model import METRIC_LABELS, RunScores

VERDICT = {True: "differs", False: "same", None: "unknown"}


def _score(run: RunScores, metric: str, boot: PairedBootstrap | None,
           seeds: MethodComparison | None) -> reproduction.Score:
    """The run's macro score; the bootstrap interval and the seed spread where they were computed for `metric`."""
    low = high = std = None
    n_seeds = 1
    if boot is not None and boot.metric == metric and run.name in boot.runs:
        low, high = boot.runs[run.name].low, boot.runs[run.name].high
    if seeds is not None and seeds.metric == metric and run.method in seeds.spread:
        spread = seeds.spread[run.method]
        n_seeds, std = len(spread.values), spread.std if math.isfinite(spread.std) else None
    return reproduction.Score(run.macro[metric], low, high, std, n_seeds)


def paper_reports(runs: list[RunScores], boot: PairedBootstrap | None = None,
                  seeds: MethodComparison | None = None) -> tuple[list[reproduction.RunReproduction], list[str]]:
    """One report per run, and a line for each run whose store could not be read."""
    reports, problems = [], []
    for run in runs:
        try:
            facts = reproduction.facts_of(run.run_dir, run.task, run.protocol, run.name)
        except (OSError, ValueError, StoreError) as err:
            problems.append(f"{run.name}: {err}")
            continue
        reports.append(reproduction.reproduce(facts, {m: _score(run, m, boot, seeds) for m in METRICS}))
    return reports, problems


def _cell(row: reproduction.Row) -> str:
    s = row.score
    text = f"{s.value:.3f}"
    if s.low is not None and s.high is not None:
        text += f" [{s.low:.3f}, {s.high:.3f}]"
    if s.seed_std is not None:
        text += f" ±{s.seed_std:.3f} over {s.n_seeds} seeds"
    if row.paper is None:
        return text + " · no published figure"
    return f"{text} · paper {row.paper.value:.3f} ± {row.paper.uncertainty:.3f} ({row.difference:+.3f})"


def to_html(reports: list[reproduction.RunReproduction], problems: list[str] | None = None) -> str:
    """Rich text for a QTextBrowser: per run its scores beside the paper's and the aspects that differ."""
    parts = []
    for rep in reports:
        scores = "; ".join(f"{METRIC_LABELS[r.metric]} {_cell(r)}" for r in rep.rows)
        rows = "".join(f"<tr><td>{escape(d.aspect)}</td><td>{VERDICT[d.differs]}</td><td>{escape(d.paper)}</td>"
                       f"<td>{escape(d.run)}</td></tr>" for d in rep.differences)
        parts.append(f"<p><b>{escape(rep.facts.name)}</b> ({escape(rep.facts.method)}, probe {escape(rep.facts.protocol)}) "
                     f"on {escape(paper_figures.DATASET_NAMES.get(rep.dataset, rep.dataset))}: {escape(scores)}</p>"
                     f"<table border='1' cellspacing='0' cellpadding='2'><tr><th>aspect</th><th></th><th>paper</th>"
                     f"<th>this run</th></tr>{rows}</table>"
                     + "".join(f"<p><i>{escape(n)}</i></p>" for n in rep.notes))
    parts += [f"<p>{escape(p)}</p>" for p in problems or []]
    if reports:
        parts.append(f"<p>Source of the figures: {escape(paper_figures.POSTER)}.</p>")
    return "".join(parts) or "<p>No probe scores in the selected runs yet.</p>"
