"""Read the runs directory: one summary per run, tolerant of missing or older files. No Qt here."""
from __future__ import annotations

import json
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import platformdirs

STATES = ("queued", "running", "done", "failed", "cancelled", "diverged", "interrupted", "unknown")

# Fixed colour per method, shared by every view and figure.
METHOD_COLOURS: dict[str, str] = {
    "contrastive": "#1f77b4",
    "clustering": "#d62728",
    "clustering-collapse": "#ff9896",
    "barlow_twins": "#2ca02c",
    "byol": "#9467bd",
    "vicreg": "#ff7f0e",
    "random": "#7f7f7f",
    "logmel": "#8c564b",
}


def default_runs_dir() -> Path:
    return Path(platformdirs.user_data_dir("mvssl-workbench")) / "runs"


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

    @property
    def progress(self) -> float:
        return min(1.0, self.step / self.total_steps) if self.total_steps > 0 else 0.0

    @property
    def elapsed_s(self) -> float | None:
        if self.started_at is None:
            return None
        end = time.time() if self.state == "running" else (self.updated_at or self.started_at)
        return max(0.0, end - self.started_at)

    @property
    def eta_s(self) -> float | None:
        elapsed = self.elapsed_s
        if self.state != "running" or elapsed is None or self.step <= 0:
            return None
        return elapsed * (self.total_steps - self.step) / self.step


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text())
        return value if isinstance(value, dict) else {}
    except (OSError, ValueError):
        return {}


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _num(value: object, default: float | None) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def read_run(path: Path) -> RunSummary:
    """Summary of one run directory; missing or malformed fields fall back to neutral values."""
    status = _read_json(path / "status.json")
    config = _read_toml(path / "config.toml")
    state = status.get("state", "unknown")
    return RunSummary(
        run_id=path.name,
        path=path,
        method=str(status.get("method") or config.get("method") or "unknown"),
        state=state if state in STATES else "unknown",
        step=int(_num(status.get("step"), 0) or 0),
        total_steps=int(_num(status.get("total_steps"), _num(config.get("steps"), 0)) or 0),
        study=str(status.get("study") or config.get("study") or ""),
        started_at=_num(status.get("started_at"), None),
        updated_at=_num(status.get("updated_at"), None),
    )


def scan_runs(runs_dir: Path) -> list[RunSummary]:
    """Every run directory under `runs_dir` (hidden folders such as `.engine` skipped), sorted by id."""
    if not runs_dir.is_dir():
        return []
    dirs = [p for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return [read_run(p) for p in sorted(dirs)]
