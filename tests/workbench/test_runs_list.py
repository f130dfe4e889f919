"""The main window lists the runs of a runs directory, tolerant of old or broken run files."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from PySide6.QtCore import QSettings

from workbench.shell.app import MainWindow
from workbench.runs.model import read_run, scan_runs
from workbench.runs.tree import COLUMNS


def _make_run(root: Path, name: str, status: dict | str | None, config: str | None = None) -> Path:
    run = root / name
    run.mkdir(parents=True)
    if status is not None:
        (run / "status.json").write_text(status if isinstance(status, str) else json.dumps(status))
    if config is not None:
        (run / "config.toml").write_text(config)
    return run


def test_scan_reads_status_and_config(tmp_path: Path) -> None:
    now = time.time()
    _make_run(tmp_path, "a-contrastive", {"state": "running", "step": 50, "total_steps": 200,
                                          "method": "contrastive", "started_at": now - 100})
    _make_run(tmp_path, "b-byol", None, 'method = "byol"\nsteps = 300\n')
    _make_run(tmp_path, "c-broken", "{not json", "this is = = not toml")
    (tmp_path / ".engine").mkdir()
    runs = scan_runs(tmp_path)
    assert [r.run_id for r in runs] == ["a-contrastive", "b-byol", "c-broken"]
    a, b, c = runs
    assert (a.state, a.method, a.progress) == ("running", "contrastive", 0.25)
    assert a.eta_s is not None and 250 < a.eta_s < 350
    assert (b.state, b.method, b.total_steps) == ("unknown", "byol", 300)
    assert (c.state, c.method, c.step) == ("unknown", "unknown", 0)


def test_the_gui_summary_is_the_engine_summary(tmp_path: Path) -> None:
    run = _make_run(tmp_path, "r1", {"state": "running", "step": 4, "total_steps": 10, "started_at": 5.0},
                    'method = "vicreg"\nstudy = "s7"\ncorpus = "demo"\n[resolved]\nprecision = "bf16"\n')
    gui = read_run(run)
    assert (gui.run_id, gui.path, gui.state, gui.method, gui.step, gui.total_steps) == (
        "r1", run, "running", "vicreg", 4, 10)
    assert (gui.study, gui.corpus, gui.precision, gui.started_at, gui.updated_at) == ("s7", "demo", "bf16", 5.0, None)


def test_unknown_state_and_wrong_types_are_tolerated(tmp_path: Path) -> None:
    run = _make_run(tmp_path, "old", {"state": "weird", "step": "12", "total_steps": None})
    summary = read_run(run)
    assert summary.state == "unknown" and summary.step == 0 and summary.progress == 0.0


def test_main_window_lists_runs_grouped_by_study(qtbot, tmp_path: Path) -> None:
    window = MainWindow(tmp_path / "runs", settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
                        refresh_ms=50)
    qtbot.addWidget(window)
    runs = tmp_path / "runs"
    assert window.model.rowCount() == 0
    assert not window.empty_label.isHidden()
    _make_run(runs, "r1", {"state": "done", "step": 30, "total_steps": 30, "method": "vicreg"})
    _make_run(runs, "s1-byol", {"state": "running", "step": 5, "total_steps": 20, "method": "byol", "study": "s1"})
    qtbot.waitUntil(lambda: window.model.rowCount() == 2, timeout=3000)
    study, single = window.model.index(0, 0), window.model.index(1, 0)
    assert (study.data(), single.data()) == ("s1", "Single runs")
    status = COLUMNS.index("Status")
    assert window.model.index(0, status, single).data() == "done"
    assert window.model.index(0, COLUMNS.index("Progress"), study).data() == "5/20"
    assert window.empty_label.isHidden()


def test_gui_import_does_not_load_torch() -> None:
    code = "import sys, workbench.shell.app, workbench.runs.tree; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_run_details_show_the_precision_auto_resolved_to(qtbot, tmp_path: Path) -> None:
    config = 'method = "byol"\nprecision = "auto"\n\n[resolved]\nprecision = "fp32"\nprecision_reason = "bf16 slow"\n'
    run = _make_run(tmp_path / "runs", "p1", {"state": "done", "step": 3, "total_steps": 3, "method": "byol"}, config)
    assert read_run(run).precision == "fp32 (bf16 slow)"
    assert read_run(_make_run(tmp_path, "fresh", None, 'method = "byol"\n')).precision == ""
    from engine.rundir.summary import run_summary
    from engine.service.contract import RunSummary
    from workbench.runs.model import from_engine

    assert from_engine(RunSummary(**run_summary(run)), tmp_path / "runs").precision == "fp32 (bf16 slow)"
    window = MainWindow(tmp_path / "runs", settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
                        refresh_ms=50)
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.model.rowCount() == 1, timeout=3000)
    row = window.model.index(0, 0, window.model.index(0, 0))
    from PySide6.QtCore import Qt

    assert "precision: fp32 (bf16 slow)" in row.data(Qt.ItemDataRole.ToolTipRole)
