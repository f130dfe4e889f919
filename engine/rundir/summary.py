"""Run directories as the engine sees them: safe ids, tolerant summaries, creation without torch."""
from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

from engine.rundir.disk import private_dir
from engine.rundir.files import atomic_write_bytes, status_problem, write_status
from engine.rundir.layout import RunDir
from engine.rundir.status import RunStatus, read_run_status

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
_ID = re.compile(ID_PATTERN)


def check_id(value: str, what: str = "run id") -> str:
    """A run or study id is one path component: letters, digits, `.`, `_`, `-`; never `/` or `..`."""
    if not isinstance(value, str) or not _ID.match(value) or ".." in value:
        raise ValueError(f"bad {what} {value!r}: use 1-128 letters, digits, '.', '_' or '-' "
                         "(no '/' and no '..'), starting with a letter or digit")
    return value


def run_path(runs_dir: Path, run: str) -> Path:
    return Path(runs_dir) / check_id(run)


def number(value: Any, default: float | None) -> float | None:
    """A JSON or TOML number as float; anything else (missing, bool, text) gives `default`."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def _read_config(run_dir: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(RunDir(run_dir).config.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def config_problem(run_dir: Path) -> str:
    """One line naming config.toml when it exists but is unreadable; empty otherwise."""
    path = RunDir(run_dir).config
    try:
        tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ""
    except UnicodeDecodeError:
        return f"{path}: not UTF-8 text"
    except (OSError, ValueError) as err:
        return f"{path}: unreadable ({str(err).splitlines()[0][:120]})"
    return ""


def problems(run_dir: Path) -> str:
    """The unreadable files of a run (status.json, config.toml), each named; empty when there are none."""
    return "; ".join(p for p in (status_problem(run_dir), config_problem(run_dir)) if p)


def run_summary(run_dir: Path) -> dict[str, Any]:
    """What a runs list shows for one run; files of older or broken runs give neutral values.

    status.json wins over config.toml, except for the corpus, which config.toml holds authoritatively.
    """
    run_dir = Path(run_dir)
    status = read_run_status(run_dir) or RunStatus()
    cfg = _read_config(run_dir)
    return {
        "run": run_dir.name,
        "state": status.state,
        "method": status.method or str(cfg.get("method") or "unknown"),
        "step": status.step or 0,
        "total_steps": status.total_steps if status.total_steps is not None else int(number(cfg.get("steps"), 0) or 0),
        "study": status.study or str(cfg.get("study") or ""),
        "corpus": str(cfg.get("corpus") or status.corpus),
        "precision": precision_text(cfg.get("resolved")),
        "message": problems(run_dir) or status.message,
        "started_at": status.started_at,
        "updated_at": status.updated_at,
    }


def precision_text(resolved: object) -> str:
    """"fp32 (why)" from config.toml's [resolved] table; empty before the run first trained."""
    if not isinstance(resolved, dict) or not isinstance(resolved.get("precision"), str):
        return ""
    reason = resolved.get("precision_reason")
    return f"{resolved['precision']} ({reason})" if isinstance(reason, str) and reason else resolved["precision"]


def list_runs(runs_dir: Path) -> list[dict[str, Any]]:
    """Every run directory (hidden folders such as `.engine` skipped), sorted by id."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return []
    dirs = [p for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith(".") and _ID.match(p.name)]
    return [run_summary(p) for p in sorted(dirs)]


def run_details(run_dir: Path) -> dict[str, Any]:
    """Summary plus the status (its known fields) and the raw config, and which result files exist."""
    run = RunDir(run_dir)
    status = read_run_status(run_dir)
    logs = [p.name for p in run.job_logs()]
    checkpoints = sorted(p.name for p in run.checkpoints.glob("*.pt")) if run.checkpoints.is_dir() else []
    return {**run_summary(run_dir), "status": status.model_dump() if status else None, "config": _read_config(run_dir),
            "checkpoints": checkpoints, "logs": logs, "embeddings": run.embeddings.exists(), "path": str(run_dir)}


def make_run_dir(run_dir: Path) -> RunDir:
    """The run folder with checkpoints/ and logs/, each created 0700 (the runs folder too, when missing)."""
    run = RunDir(run_dir)
    for folder in (run.checkpoints, run.logs):
        private_dir(folder)
    return run


def create_run(run_dir: Path, config_toml: str, method: str, total_steps: int, study: str | None = None) -> None:
    """Create a queued run directory around its config text; refuses a run that already exists."""
    run = RunDir(run_dir)
    if run.config.exists():
        raise ValueError(f"run {run.name!r} already exists in {run.path.parent}")
    make_run_dir(run_dir)
    atomic_write_bytes(run.config, config_toml.encode())
    fields = {"study": study} if study else {}
    write_status(run_dir, "queued", method=method, step=0, total_steps=total_steps, **fields)


def dump(value: Any) -> str:
    return json.dumps(value, indent=1, sort_keys=True)
