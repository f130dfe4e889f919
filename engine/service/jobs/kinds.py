"""The job kinds: one `run(spec, report) -> Outcome` function each, registered by kind in JOBS.

The heavy engine modules load inside each function, so the engine process and the protocol stay torch-free.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

from engine.service.job_specs import (
    DiagnoseSpec, EmbedSpec, PretrainSpec, ProbeSpec, ProjectSpec, canonical, given, make_spec,
)
from engine.service.jobs.report import JobCancelled, Report


class Outcome(NamedTuple):
    """How a job ended: a final state (done, cancelled, failed, diverged) and one line for the user."""

    state: str
    message: str


def run_pretrain(spec: PretrainSpec, report: Report) -> Outcome:
    """Progress per logged step; training also writes status.json and events.jsonl, and checkpoints on SIGTERM."""
    from engine.rundir.files import read_status
    from engine.training.loop import train

    report.stop_if_cancelled()
    state = train(spec.run_dir, progress=report.bars,
                  on_step=lambda done, total: report.progress(done, total, f"training step {done}/{total}"))
    return Outcome(state, str(read_status(spec.run_dir).get("message") or ""))


def _step(report: Report, phrase: str) -> Callable[[int, int], None]:
    """Progress after each item, said as `phrase` (formatted with done and total), and a cancel honoured there."""
    def on_progress(done: int, total: int) -> None:
        report.progress(done, total, phrase.format(done=done, total=total))
        report.stop_if_cancelled()
    return on_progress


def run_embed(spec: EmbedSpec, report: Report) -> Outcome:
    """Progress per track; a cancel abandons the new store and keeps the previous one."""
    from engine.evaluation.embed import embed

    report.stop_if_cancelled()
    path = embed(spec.run_dir, progress=report.bars, on_progress=_step(report, "embedding {done}/{total} tracks"),
                 **given(spec))
    return Outcome("done", f"wrote {path}")


def run_diagnose(spec: DiagnoseSpec, report: Report) -> Outcome:
    """Progress per checkpoint; a cancel keeps the checkpoints already diagnosed."""
    from engine.collapse.diagnose import diagnose

    report.stop_if_cancelled()
    result = diagnose(spec.run_dir, progress=report.bars,
                      on_progress=_step(report, "diagnosing checkpoint {done}/{total}"), **given(spec))
    return Outcome("done", f"diagnosed {len(result['steps'])} checkpoint(s)")


def run_project(spec: ProjectSpec, report: Report) -> Outcome:
    """One map after the other: each is a partial result, and a cancel stops between two maps."""
    from engine.evaluation.projection import PROJECTIONS, project

    options = given(spec)
    methods = options.pop("methods", PROJECTIONS)
    report.progress(0, len(methods), f"projecting: {methods[0]} 1/{len(methods)}")
    for done, name in enumerate(methods, 1):
        report.stop_if_cancelled()
        project(spec.run_dir, (name,), **options)
        report.partial({"projection": name})
        following = f": {methods[done]} {done + 1}/{len(methods)}" if done < len(methods) else " done"
        report.progress(done, len(methods), f"projecting{following}")
    return Outcome("done", f"projections: {', '.join(methods)}")


def run_probe(spec: ProbeSpec, report: Report) -> Outcome:
    """Each draw's line (task, protocol, fraction, draw, ROC-AUC) is a partial result."""
    from engine.evaluation import probe

    options = given(spec)
    task = options.pop("task")
    config = probe.ProbeConfig.of(options.pop("protocol", "ours"))
    draws = options.get("draws", inspect.signature(probe.run_probe).parameters["draws"].default)
    fractions = options.get("fractions", probe.DEFAULT_FRACTIONS)
    total = sum(probe.draws_at(p / 100, draws) for p in fractions)
    label = f"probe {task} {fractions[0]:g} %" if len(fractions) == 1 else f"probe {task}"
    lines: list[str] = []

    def on_draw(line: str) -> None:
        lines.append(line)
        report.partial(line)
        report.progress(min(len(lines), total), total, f"{label}: draw {min(len(lines), total)}/{total}")
        report.stop_if_cancelled()

    report.progress(0, total, f"{label}: draw 1/{total}")
    report.stop_if_cancelled()
    results = probe.run_probe(spec.run_dir, task, config=config, progress=on_draw, **options)
    return Outcome("done", f"probe {task}: {sum(len(v) for v in results.values())} draw(s)")


@dataclass(frozen=True)
class JobType:
    """One kind of job: the spec it takes, the function that runs it, and whether it keeps the run's status.json
    (training does: the queue then marks the run queued, cancelled or interrupted when the job cannot)."""

    spec: type
    run: Callable[[Any, Report], Outcome]
    keeps_status: bool = False


JOBS: dict[str, JobType] = {
    "pretrain": JobType(PretrainSpec, run_pretrain, keeps_status=True),
    "embed": JobType(EmbedSpec, run_embed),
    "diagnose": JobType(DiagnoseSpec, run_diagnose),
    "project": JobType(ProjectSpec, run_project),
    "probe": JobType(ProbeSpec, run_probe),
}


def job_type(kind: str) -> JobType:
    """The registered job kind (aliases accepted); ValueError listing the kinds for an unknown one."""
    return JOBS[canonical(kind)]


def run_job(kind: str, run_dir: Any, args: dict[str, Any] | None = None, report: Report | None = None) -> Outcome:
    """Run one job in this process: its spec from `args` (checked like the command line), then `run(spec, report)`."""
    spec = make_spec(kind, run_dir, args or {})
    try:
        return job_type(kind).run(spec, report or Report())
    except JobCancelled:
        return Outcome("cancelled", "cancelled between two steps")
