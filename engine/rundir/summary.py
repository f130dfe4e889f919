"""Run directories as the engine sees them: safe ids, tolerant summaries, creation without torch."""
from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

from engine.rundir.files import atomic_write_bytes, read_status, write_status

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
_ID = re.compile(ID_PATTERN)
STATES = ("queued", "running", "done", "failed", "cancelled", "diverged", "interrupted")


def check_id(value: str, what: str = "run id") -> str:
    """A run or study id is one path component: letters, digits, `.`, `_`, `-`; never `/` or `..`."""
    if not isinstance(value, str) or not _ID.match(value) or ".." in value:
        raise ValueError(f"bad {what} {value!r}: use 1-128 letters, digits, '.', '_' or '-' "
                         "(no '/' and no '..'), starting with a letter or digit")
    return value


def run_path(runs_dir: Path, run: str) -> Path:
    return Path(runs_dir) / check_id(run)


def _number(value: Any, default: float | None) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def _read_config(run_dir: Path) -> dict[str, Any]:
    try:
        return tomllib.loads((run_dir / "config.toml").read_text())
    except (OSError, ValueError):
        return {}


def run_summary(run_dir: Path) -> dict[str, Any]:
    """What a runs list shows for one run; files of older or broken runs give neutral values."""
    status = read_status(run_dir)
    cfg = _read_config(run_dir)
    state = status.get("state")
    return {
        "run": run_dir.name,
        "state": state if state in STATES else "unknown",
        "method": str(status.get("method") or cfg.get("method") or "unknown"),
        "step": int(_number(status.get("step"), 0) or 0),
        "total_steps": int(_number(status.get("total_steps"), _number(cfg.get("steps"), 0)) or 0),
        "study": str(status.get("study") or ""),
        "corpus": str(cfg.get("corpus") or status.get("corpus") or ""),
        "precision": precision_text(cfg.get("resolved")),
        "message": str(status.get("message") or ""),
        "started_at": _number(status.get("started_at"), None),
        "updated_at": _number(status.get("updated_at"), None),
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
    """Summary plus the raw status and config, and which result files exist."""
    logs = sorted(p.name for p in (run_dir / "logs").glob("job-*.log")) if (run_dir / "logs").is_dir() else []
    checkpoints = sorted(p.name for p in (run_dir / "checkpoints").glob("*.pt")) \
        if (run_dir / "checkpoints").is_dir() else []
    return {**run_summary(run_dir), "status": read_status(run_dir), "config": _read_config(run_dir),
            "checkpoints": checkpoints, "logs": logs,
            "embeddings": (run_dir / "embeddings.h5").exists(), "path": str(run_dir)}


def create_run(run_dir: Path, config_toml: str, method: str, total_steps: int, study: str | None = None) -> None:
    """Create a queued run directory around its config text; refuses a run that already exists."""
    if (run_dir / "config.toml").exists():
        raise ValueError(f"run {run_dir.name!r} already exists in {run_dir.parent}")
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    (run_dir / "logs").mkdir(exist_ok=True)
    atomic_write_bytes(run_dir / "config.toml", config_toml.encode())
    fields = {"study": study} if study else {}
    write_status(run_dir, "queued", method=method, step=0, total_steps=total_steps, **fields)


def dump(value: Any) -> str:
    return json.dumps(value, indent=1, sort_keys=True)
