"""Main window on a real engine with polling off: the runs tree and the curves follow the engine's pushes,
and the engine indicator shows a lost engine coming back by itself."""
from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from engine.service.client import stop_engine
from workbench.shell.app import MainWindow
from workbench.runs.tree import COLUMNS


def _write(run: Path, status: dict, steps: range) -> None:
    (run / "status.json").write_text(json.dumps({"method": "byol", "total_steps": 10, **status}))
    with open(run / "events.jsonl", "a") as f:
        for step in steps:
            f.write(json.dumps({"type": "train", "step": step, "loss": 5.0 - step / 10}) + "\n")


@pytest.fixture
def window(qtbot, tmp_path: Path):
    runs = tmp_path / "runs"
    (runs / "r1").mkdir(parents=True)
    _write(runs / "r1", {"state": "interrupted", "step": 2}, range(1, 3))
    win = MainWindow(runs, connect_engine=True, refresh_ms=600_000,  # no polling: pushes only
                     settings=QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    yield win
    win.close()
    stop_engine(runs, timeout=20)


def test_tree_and_curves_follow_the_engine_pushes(qtbot, window: MainWindow) -> None:
    qtbot.waitUntil(lambda: window.indicator.state == "connected", timeout=30_000)
    assert "engine connected" in window.indicator.text()
    qtbot.waitUntil(lambda: window.model.run("r1") is not None, timeout=10_000)
    training = window.tabs.panel("Training")
    window.runs_view.select_run("r1")
    qtbot.waitUntil(lambda: training.curve("r1", "loss") is not None
                    and len(training.curve("r1", "loss").getOriginalDataset()[0]) == 2, timeout=10_000)

    _write(window.runs_dir / "r1", {"state": "running", "step": 5}, range(3, 6))  # as a training process would
    row = window.model.index_of("r1")
    qtbot.waitUntil(lambda: row.siblingAtColumn(COLUMNS.index("Progress")).data() == "5/10", timeout=10_000)
    assert row.siblingAtColumn(COLUMNS.index("Status")).data() == "running"
    qtbot.waitUntil(lambda: len(training.curve("r1", "loss").getOriginalDataset()[0]) == 5, timeout=10_000)


def test_a_killed_engine_is_restarted_and_shown(qtbot, window: MainWindow) -> None:
    qtbot.waitUntil(lambda: window.indicator.state == "connected", timeout=30_000)
    states: list[str] = []
    window.client.state_changed.connect(states.append)
    os.kill(window.client.info.engine_pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: states[-1:] == ["connected"], timeout=30_000)
    assert states[0] == "lost"
    assert "exited" in window.banner.message.text()  # told, without a modal dialog
    window.runs_view.select_run("r1")
    assert window.selection.runs() == [window.runs_dir / "r1"]
