"""What the runs list knows about each run: read from the run directories or from the engine. No Qt here."""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from engine.evaluation.colours import METHOD_COLOURS, colour_of
from engine.service import contract
from engine.service.enginedir import default_runs_dir
from engine.rundir.files import STATES as RUN_STATES
from engine.rundir.summary import run_summary

__all__ = ["METHOD_COLOURS", "STATES", "UNTRAINED", "RunSummary", "colour_of", "default_runs_dir", "format_duration",
           "from_engine", "group_by_study", "has_study", "read_run", "scan_runs", "with_job", "with_status"]

STATES = (*RUN_STATES, "unknown")
UNTRAINED = frozenset({"random", "logmel"})  # baselines with no training steps (their step counts mean nothing)
NO_STUDY = ""  # the group of runs started on their own


@dataclass(frozen=True)
class RunSummary:
    """What the runs list shows for one run directory."""

    run_id: str
    path: Path
    method: str
    state: str
    step: int
    total_steps: int
    study: str
    started_at: float | None
    updated_at: float | None
    message: str = ""
    job: contract.Job | None = None  # the run's queued or running job (pre-training included), with its progress
    precision: str = ""  # what precision=auto resolved to and why (config.toml [resolved]); "" before training
    corpus: str = ""  # the run's corpus SOURCE (config.toml); "" for runs that do not say

    @property
    def trains(self) -> bool:
        """Whether the run has training steps at all (the random control and log-mel baseline have none)."""
        return self.total_steps > 0 and self.method not in UNTRAINED

    @property
    def progress(self) -> float:
        if not self.trains:
            return 1.0 if self.state == "done" else 0.0
        return min(1.0, self.step / self.total_steps)

    @property
    def progress_text(self) -> str:
        return f"{self.step}/{self.total_steps}" if self.trains else "no training"

    @property
    def elapsed_s(self) -> float | None:
        if self.started_at is None:
            return None
        end = time.time() if self.state == "running" else (self.updated_at or self.started_at)
        return max(0.0, end - self.started_at)

    @property
    def eta_s(self) -> float | None:
        elapsed = self.elapsed_s
        if self.state != "running" or not self.trains or elapsed is None or not 0 < self.step < self.total_steps:
            return None  # unknown: no rate measured yet, or training is over and other jobs run
        return elapsed * (self.total_steps - self.step) / self.step

    @property
    def job_text(self) -> str:
        """"embed running · embedding 120/300 tracks": the run's current job other than its training."""
        job = self.job
        if job is None or job.kind == "pretrain":
            return ""
        phrase = job.progress.phrase if job.progress is not None and job.state == "running" else ""
        return f"{job.kind} {job.state}" + (f" · {phrase}" if phrase else "")

    @property
    def job_progress(self) -> float | None:
        """How far the current job other than training is, when it said."""
        job = self.job
        if job is None or job.kind == "pretrain" or job.progress is None or job.state != "running":
            return None
        return job.progress.fraction

    @property
    def status_text(self) -> str:
        return f"{self.state} · {self.job_text}" if self.job_text else self.state


def format_duration(seconds: float | None) -> str:
    """`H:MM:SS`, or empty when unknown."""
    if seconds is None:
        return ""
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def read_run(path: Path) -> RunSummary:
    """Summary of one run directory (engine.rundir.summary.run_summary); broken fields give neutral values."""
    return from_engine(contract.RunSummary(**run_summary(path)), Path(path).parent)


def scan_runs(runs_dir: Path) -> list[RunSummary]:
    """Every run directory under `runs_dir` (hidden folders such as `.engine` skipped), sorted by id."""
    if not runs_dir.is_dir():
        return []
    dirs = [p for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return [read_run(p) for p in sorted(dirs)]


def has_study(runs_dir: Path) -> bool:
    """Whether the runs directory holds a study record (`.studies/*.json`), read without an engine."""
    studies = runs_dir / ".studies"
    return studies.is_dir() and any(studies.glob("*.json"))


def from_engine(item: contract.RunSummary, runs_dir: Path) -> RunSummary:
    """A run summary of the engine's `list_runs` reply."""
    return RunSummary(
        run_id=item.run, path=runs_dir / item.run, method=item.method or "unknown", state=item.state, step=item.step,
        total_steps=item.total_steps, study=item.study, started_at=item.started_at, updated_at=item.updated_at,
        message=item.message, job=item.job if item.job is not None and item.job.active else None,
        precision=item.precision, corpus=item.corpus,
    )


def with_status(run: RunSummary, status: contract.RunStatus) -> RunSummary:
    """`run` updated by a status push (status.json's content); fields the file does not hold keep their value."""
    return dataclasses.replace(
        run,
        method=status.method or run.method,
        state=status.state,
        step=run.step if status.step is None else status.step,
        total_steps=run.total_steps if status.total_steps is None else status.total_steps,
        study=status.study or run.study,
        started_at=run.started_at if status.started_at is None else status.started_at,
        updated_at=run.updated_at if status.updated_at is None else status.updated_at,
        message=status.message,
    )


def with_job(run: RunSummary, job: contract.Job) -> RunSummary:
    """`run` updated by a job push: its current job while active; the one it replaces once ended."""
    if job.active:
        return dataclasses.replace(run, job=job)
    return dataclasses.replace(run, job=None) if run.job is None or run.job.id == job.id else run


def group_by_study(runs: list[RunSummary]) -> list[tuple[str, list[RunSummary]]]:
    """Runs grouped by study (newest study first), runs of no study last; runs keep their order."""
    groups: dict[str, list[RunSummary]] = {}
    for run in runs:
        groups.setdefault(run.study, []).append(run)
    studies = sorted((s for s in groups if s != NO_STUDY), reverse=True)
    return [(s, groups[s]) for s in studies] + ([(NO_STUDY, groups[NO_STUDY])] if NO_STUDY in groups else [])
