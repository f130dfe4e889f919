"""The run directory's file names: the one place that knows them (torch-free, Qt-free).

```
RUN_DIR/config.toml        the resolved RunConfig ([resolved] holds what `auto` became)
        status.json        state, step, message (atomic)
        events.jsonl       append-only, one JSON object per line
        checkpoints/       step-NNNNNN.pt (weights), last.pt (full state, for resuming)
        embeddings.h5      segment and track embeddings, written once (SWMR)
        analysis.h5        projections, diagnostics and probes (copy-on-write)
        baseline.json      only in a baseline pseudo-run (log-mel, random)
        official.json      only in a run imported from an official checkpoint
        logs/              job-<kind>-<N>.log, .result.json and .progress.json, submitit/
        tensorboard/       TensorBoard scalars, when asked for
```
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

CONFIG = "config.toml"
STATUS = "status.json"
EVENTS = "events.jsonl"
CHECKPOINTS = "checkpoints"
LAST_CHECKPOINT = "last.pt"
EMBEDDINGS = "embeddings.h5"
EMBEDDINGS_PARTIAL = ".embeddings.h5.partial"
EMBEDDINGS_LOCK = ".embeddings.lock"
ANALYSIS = "analysis.h5"
ANALYSIS_LOCK = ".analysis.lock"
BASELINE = "baseline.json"
OFFICIAL = "official.json"
LOGS = "logs"
TENSORBOARD = "tensorboard"

STEP_CHECKPOINT = re.compile(r"^step-(\d{6,})\.pt$")


def step_checkpoint_name(step: int) -> str:
    """`step-NNNNNN.pt`: the weights of the model at `step`."""
    return f"step-{int(step):06d}.pt"


@dataclass(frozen=True)
class RunDir:
    """Paths inside one run directory; creates nothing."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def config(self) -> Path:
        return self.path / CONFIG

    @property
    def status(self) -> Path:
        return self.path / STATUS

    @property
    def events(self) -> Path:
        return self.path / EVENTS

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINTS

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints / LAST_CHECKPOINT

    def step_checkpoint(self, step: int) -> Path:
        return self.checkpoints / step_checkpoint_name(step)

    def step_checkpoints(self) -> dict[int, Path]:
        """Every step-NNNNNN.pt of the run, by step."""
        found = {}
        for path in self.checkpoints.glob("step-*.pt") if self.checkpoints.is_dir() else []:
            match = STEP_CHECKPOINT.match(path.name)
            if match:
                found[int(match.group(1))] = path
        return dict(sorted(found.items()))

    @property
    def embeddings(self) -> Path:
        return self.path / EMBEDDINGS

    @property
    def embeddings_partial(self) -> Path:
        return self.path / EMBEDDINGS_PARTIAL

    @property
    def embeddings_lock(self) -> Path:
        return self.path / EMBEDDINGS_LOCK

    @property
    def analysis(self) -> Path:
        return self.path / ANALYSIS

    @property
    def analysis_lock(self) -> Path:
        return self.path / ANALYSIS_LOCK

    @property
    def baseline(self) -> Path:
        return self.path / BASELINE

    @property
    def official(self) -> Path:
        return self.path / OFFICIAL

    @property
    def logs(self) -> Path:
        return self.path / LOGS

    def job_log(self, kind: str, job: int | str) -> Path:
        return self.logs / f"job-{kind}-{job}.log"

    def job_result(self, kind: str, job: int | str) -> Path:
        return self.logs / f"job-{kind}-{job}.result.json"

    def job_progress(self, kind: str, job: int | str) -> Path:
        """The latest progress a running job reported (rewritten atomically; the engine reads it)."""
        return self.logs / f"job-{kind}-{job}.progress.json"

    def job_logs(self) -> list[Path]:
        return sorted(self.logs.glob("job-*.log")) if self.logs.is_dir() else []

    @property
    def submitit(self) -> Path:
        return self.logs / "submitit"

    @property
    def tensorboard(self) -> Path:
        return self.path / TENSORBOARD
