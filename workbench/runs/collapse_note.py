"""One line on a run's collapse for the runs tree tooltip: the alarm, else the forecast, else nothing.

Read from the run's events.jsonl with the engine's torch-free verdict and forecast, once per change of the file.
"""
from __future__ import annotations

import functools
from pathlib import Path

from engine.collapse.forecast import forecasts
from engine.collapse.guidance import guidance
from engine.collapse.verdicts import COLLAPSE_KINDS, latest_verdict
from engine.methods import UNTRAINED
from engine.rundir.events import read_events
from engine.rundir.layout import RunDir


def collapse_note(run_dir: Path, method: str) -> str:
    """"⚠ dominant collapse since step 40 — stopping is advised", "⚠ collapsing towards … at this rate", or ""."""
    path = RunDir(run_dir).events
    try:
        st = path.stat()
    except OSError:
        return ""
    return _note(path, (st.st_mtime_ns, st.st_size), method)


@functools.lru_cache(maxsize=256)
def _note(path: Path, version: tuple[int, int], method: str) -> str:
    events, _ = read_events(path)
    snapshots = [e for e in events if e.get("type") == "collapse" and isinstance(e.get("step"), int)]
    verdict = latest_verdict(snapshots, untrained=method == UNTRAINED)
    if verdict is None:
        return ""
    if verdict.kind in COLLAPSE_KINDS:
        g = guidance(verdict.kind)
        return f"⚠ {g.title} since step {verdict.since_step}" + (" — stopping is advised" if g.stop else "")
    warnings = forecasts(snapshots) if method != UNTRAINED else []
    if warnings and warnings[-1].step == snapshots[-1]["step"]:
        return f"⚠ {warnings[-1].message}"
    return ""
