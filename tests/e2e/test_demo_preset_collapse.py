"""End to end: `clustering-collapse` in the full demo preset on the demo corpus collapses to a dominant
prototype and is still collapsed when the run ends (not a transient dip at the start of training).

One full demo-preset training run (300 steps, about 4 minutes on two cores), through the CLI.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine.events import read_events
from engine.runfiles import read_status

LAST_SNAPSHOTS = 10  # the last 100 steps of the run


@pytest.mark.slow
def test_clustering_collapse_stays_dominant_through_the_demo_preset(tmp_path: Path) -> None:
    run = tmp_path / "collapse"
    done = subprocess.run([sys.executable, "-m", "engine.cli", "train", "--method", "clustering-collapse",
                           "--corpus", "demo", "--preset", "demo", "--run-dir", str(run)],
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-2000:]
    assert read_status(run)["state"] == "done"
    events, _ = read_events(run / "events.jsonl")
    snapshots = [e for e in events if e["type"] == "collapse"]
    assert snapshots[-1]["step"] == 300
    tail = snapshots[-LAST_SNAPSHOTS:]
    assert all(s["clustering_state"] == "dominant" for s in tail), [(s["step"], s["clustering_state"]) for s in tail]
    assert snapshots[-1]["effective_prototypes"] < 3.0 and snapshots[-1]["teacher_entropy"] < 0.5
