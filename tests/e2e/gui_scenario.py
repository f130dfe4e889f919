"""The workbench as a researcher meets it, in a real window: `python -m tests.e2e.gui_scenario WORK_DIR`.

Run by tests/e2e/test_gui_scenario.py in its own X server (1280x800) with ALSA writing to a file. On an
empty runs folder it opens New run through its widgets, submits contrastive for 30 steps on a small demo
corpus with the default pipeline (embed, diagnose, project, probe genre / instrument / mood), opens every
panel at once, and then, touching nothing and reloading nothing, checks what each panel shows as the
study goes on. Exit status 0 when every check holds; the failed check is printed otherwise.
"""
from __future__ import annotations

import sys
import time
import traceback
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QSettings
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

RUN = "scenario"
STEPS = 30
TASKS = {"genre", "instrument", "mood"}
VALUES = dict(steps=STEPS, batch_size=4, num_workers=0, log_every=1, checkpoint_every=10, segment_s=2.0,
              min_gap_s=2.0)
CHOICES = dict(device="cpu", precision="fp32")


def say(text: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {text}", flush=True)


def wait_until(what: str, predicate: Callable[[], bool], timeout_s: float = 400.0) -> None:
    """Let the window live (events, timers, engine pushes) until `predicate` holds; fail naming `what`."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen within {timeout_s:g} s: {what}")
        QTest.qWait(50)
    say(f"seen: {what}")


def scenario(work: Path) -> None:
    import numpy as np

    from engine.data.corpora.demo import make_demo
    from workbench.shell.app import MainWindow
    from workbench.runs.tree import COLUMNS

    corpus = make_demo(work / "corpus", tracks=32, seconds=6, progress=False)  # 3 test tracks: defined AUCs
    runs = work / "runs"
    runs.mkdir()
    window = MainWindow(runs, connect_engine=True,
                        settings=QSettings(str(work / "settings.ini"), QSettings.Format.IniFormat))
    window.resize(1280, 800)
    window.show()
    try:
        wait_until("the engine connected", lambda: window.indicator.state == "connected", 90)

        # ---- New run, through its widgets ------------------------------------------------------------
        dialog = window.open_launch_dialog()
        dialog.corpus.set_kind("folder")
        dialog.corpus.folder.set_text(str(corpus))
        assert set(dialog.methods()) == {"contrastive"}, dialog.methods()
        assert all(box.isChecked() for box in dialog.stage_boxes.values()), "the default pipeline has every stage"
        for task, box in dialog.task_boxes.items():  # the demo corpus's tasks, which a folder does not say
            box.setChecked(task in TASKS)
        dialog.fractions.setText("100")  # one probe per task: the test's time budget
        for name, value in {**VALUES, **CHOICES}.items():
            dialog.form.editors[name].set_value(value)
        dialog.name.setText(RUN)
        assert dialog.errors_ == {} and dialog.submit_button.isEnabled(), dialog.errors_
        dialog.submit_button.click()
        run = f"{RUN}-contrastive-s0"
        path = window.runs_dir / run
        wait_until("the new run selected", lambda: window.selection.runs() == [path], 60)

        # every panel open from the start, as a researcher leaves them
        panels = {title: window.tabs.panel(title) for title in window.tabs.tabs}
        training, map_panel, collapse, scores = (panels[t] for t in ("Training", "Map", "Collapse", "Scores"))
        status_texts: set[str] = set()

        def record(*_: object) -> None:
            row = window.model.index_of(run)
            if row.isValid():
                status_texts.add(str(row.siblingAtColumn(COLUMNS.index("Status")).data()))
        window.model.dataChanged.connect(record)

        # ---- while it trains --------------------------------------------------------------------------
        def curve_while_training() -> bool:
            curve = training.curve(run, "loss")
            points = 0 if curve is None else len(curve.getOriginalDataset()[0] or [])
            summary = window.model.run(run)
            if points and summary is not None and summary.state == "running":
                return 0 < points < STEPS
            assert summary is None or summary.state in ("queued", "running"), f"training ended: {summary.state}"
            return False
        wait_until("training curves while it trains", curve_while_training)

        # ---- the pipeline's jobs and their progress in the runs tree -----------------------------------
        wait_until("the Map shows the tracks once embedded",
                   lambda: map_panel.data is not None and len(map_panel.data) == 32)
        wait_until("the study done", lambda: window.model.group_index(RUN).isValid() and window.model.group_index(
            RUN).siblingAtColumn(COLUMNS.index("Status")).data() == "done")
        assert any("embed running · embedding " in t for t in status_texts), sorted(status_texts)
        assert any("probe running · probe " in t for t in status_texts), sorted(status_texts)

        # ---- the Scores tab: every probed task, with numbers ------------------------------------------
        def every_task() -> bool:
            return {scores.task_box.itemText(i) for i in range(scores.task_box.count())} == TASKS
        wait_until("every probed task in the Scores tab", every_task, 30)
        for task in sorted(TASKS):
            scores.task_box.setCurrentText(task)
            assert scores.runs and scores.runs[0].task == task and scores.model.rowCount() > 0, task
            assert np.isfinite(scores.runs[0].macro["roc_auc"]), (task, scores.runs[0].macro)

        # ---- the Map: a click lists the neighbours and plays the segment -----------------------------
        window.tabs.setCurrentIndex(list(window.tabs.tabs).index("Map"))
        wait_until("the Map's 2-D maps", lambda: len(map_panel.maps) > 0, 60)
        map_panel.select_track(0)
        assert map_panel.neighbour_table.rowCount() > 0
        raw = work / "alsa.raw"
        wait_until("audio bytes written by ALSA", lambda: raw.exists() and raw.stat().st_size > 0, 30)

        # ---- the Collapse tab shows the run ----------------------------------------------------------
        window.tabs.setCurrentIndex(list(window.tabs.tabs).index("Collapse"))
        assert collapse.shown_runs()[0] == path, collapse.shown_runs()
        rankme = collapse.columns[0].rankme_curve
        wait_until("the run's RankMe in the Collapse tab", lambda: rankme.xData is not None and len(rankme.xData) > 0,
                   30)
    finally:
        window.close()
        from engine.service.client import stop_engine

        stop_engine(runs, timeout=30)


def main(argv: list[str]) -> int:
    app = QApplication.instance() or QApplication(["gui-scenario"])  # noqa: F841 (lives while the scenario runs)
    try:
        scenario(Path(argv[0]))
    except AssertionError:
        say(f"FAILED:\n{traceback.format_exc()}")
        return 1
    say("every check held")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
