"""End to end through the GUI: the main window starts a real engine, a run is launched from the New-run
dialog on a tiny demo corpus, its events arrive in the training curves and its status in the runs
tree; once embedded, projected and probed, a click on the map yields the track's audio and its neighbours,
the collapse panel shows the run's snapshots and the scores table its per-tag scores."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings

from engine.service.client import BlockingClient, EngineError, EngineUnavailable, stop_engine
from engine.data.corpora.demo import make_demo
from workbench.shell.app import MainWindow
from tests.workbench.test_player import play_into_alsa_file
from workbench.player import read_segment
from workbench.runs.tree import COLUMNS

TIMEOUT_MS = 400_000  # generous: the machine is shared
RUN = "gui-e2e"
VALUES = dict(steps=4, batch_size=4, num_workers=0, warmup_steps=0, log_every=1, checkpoint_every=4,
              segment_s=2.0, min_gap_s=2.0)
CHOICES = dict(device="cpu", precision="fp32")


@pytest.fixture
def window(qtbot, tmp_path: Path):
    runs = tmp_path / "runs"
    win = MainWindow(runs, connect_engine=True,
                     settings=QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()
    try:  # a failed test leaves no job running behind it
        with BlockingClient.for_runs_dir(runs, timeout=10) as engine:
            for study in engine.request("list_studies")["studies"]:
                if study["state"] in ("queued", "running"):
                    engine.request("cancel", study=study["id"])
    except (EngineUnavailable, EngineError, OSError):
        pass
    stop_engine(runs, timeout=30)


@pytest.mark.slow
def test_launch_a_run_from_the_dialog_and_follow_it(qtbot, window: MainWindow, tmp_path: Path) -> None:
    corpus = make_demo(tmp_path / "corpus", tracks=16, seconds=12, progress=False)
    qtbot.waitUntil(lambda: window.indicator.state == "connected", timeout=60_000)
    assert not window.demo_button.isHidden()  # no study in this runs directory yet

    dialog = window.open_launch_dialog()
    qtbot.addWidget(dialog)
    assert dialog.info is window.client.info  # the form comes from the engine's hello
    dialog.corpus.set_kind("folder")
    dialog.corpus.folder.set_text(str(corpus))
    assert set(dialog.methods()) == {"contrastive"}
    for stage, box in dialog.stage_boxes.items():
        box.setChecked(stage in ("pretrain", "embed", "project", "probe"))
    for task, box in dialog.task_boxes.items():
        box.setChecked(task == "genre")
    dialog.fractions.setText("100")
    for name, value in VALUES.items():
        dialog.form.editors[name].set_value(value)
    for name, value in CHOICES.items():
        dialog.form.editors[name].set_value(value)
    dialog.name.setText(RUN)
    assert dialog.errors_ == {} and dialog.submit_button.isEnabled(), dialog.errors_
    with qtbot.waitSignal(dialog.accepted, timeout=30_000):
        dialog.submit_button.click()
    run = f"{RUN}-contrastive-s0"

    # the new run is listed under its study, selected, and its curves fill as events arrive
    qtbot.waitUntil(lambda: window.selection.runs() == [window.runs_dir / run], timeout=30_000)
    training = window.tabs.panel("Training")
    qtbot.waitUntil(lambda: training.curve(run, "loss") is not None
                    and len(training.curve(run, "loss").getOriginalDataset()[0]) == VALUES["steps"],
                    timeout=TIMEOUT_MS)
    steps, losses = training.curve(run, "loss").getOriginalDataset()
    assert list(steps) == [1, 2, 3, 4] and np.all(np.isfinite(losses))
    assert training.curve(run, "positive") is not None and training.curve(run, "lr") is not None
    qtbot.waitUntil(lambda: window.model.run(run).state == "done", timeout=TIMEOUT_MS)
    row = window.model.index_of(run)
    assert row.siblingAtColumn(COLUMNS.index("Progress")).data() == "4/4"

    # once embedded and projected: a click on the map gives the track's audio and its neighbours
    window.tabs.setCurrentIndex(list(window.tabs.tabs).index("Map"))
    map_panel = window.tabs.panel("Map")
    status = COLUMNS.index("Status")
    qtbot.waitUntil(lambda: window.model.group_index(RUN).siblingAtColumn(status).data() == "done",
                    timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: map_panel.data is not None and len(map_panel.maps) > 0, timeout=TIMEOUT_MS)
    with qtbot.waitSignal(map_panel.play_requested, timeout=10_000) as play:
        map_panel.select_track(0)
    track, path, start = play.args
    clip = read_segment(path, start)
    assert clip.samples.size > 0 and np.abs(clip.samples).max() > 0
    # the clicked segment, played by the workbench's player, reaches ALSA's default device (a file here)
    result, written = play_into_alsa_file(tmp_path, Path(path), start)
    assert result["frames"] == clip.samples.shape[0] and np.count_nonzero(written) > 0.5 * clip.samples.shape[0]
    assert map_panel.neighbour_table.rowCount() > 0

    # the collapse panel follows the run's snapshots; the scores table lists the probe's tags
    collapse = window.tabs.panel("Collapse")
    assert collapse.shown_runs()[0] == window.runs_dir / run
    rankme = collapse.columns[0].rankme_curve
    qtbot.waitUntil(lambda: rankme.xData is not None and list(rankme.xData) == [1, 2, 3, 4], timeout=30_000)
    scores = window.tabs.panel("Scores")  # built now, on the selected run whose probe is written
    assert scores.task_box.currentText() == "genre"
    assert scores.table.model().rowCount() > 0
    qtbot.waitUntil(lambda: scores.boot is not None, timeout=60_000)  # its bootstrap ends within the test
