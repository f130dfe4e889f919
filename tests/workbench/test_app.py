"""Main window without an engine: runs tree updates in place, selection drives the panels, demo button,
error banner, engine indicator, remembered layout, panel tabs."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from engine.config import METHODS
from engine.service.protocol import SubmitStudy
from engine.service.contract import Job, Progress, RunStatus
from workbench.shell.app import MainWindow, demo_study_request, resolve_runs_dir
from workbench.shell.geometry import MINIMUM_SIZE
from workbench.runs.model import RunSummary
from workbench.runs.tree import COLUMNS, PROGRESS_ROLE, RunsTreeModel


def _status(run: Path, **status: object) -> Path:
    run.mkdir(parents=True, exist_ok=True)
    (run / "status.json").write_text(json.dumps(status))
    return run


def _summary(run_id: str, study: str = "", state: str = "running", step: int = 10) -> RunSummary:
    return RunSummary(run_id=run_id, path=Path("/runs") / run_id, method="byol", state=state, step=step,
                      total_steps=100, study=study, started_at=time.time() - 50, updated_at=None)


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def window(qtbot, tmp_path: Path, settings: QSettings) -> MainWindow:
    win = MainWindow(tmp_path / "runs", settings=settings, refresh_ms=50)
    qtbot.addWidget(win)
    return win


def test_status_push_updates_one_row_in_place(qtbot) -> None:
    model = RunsTreeModel()
    model.set_runs([_summary("s1-byol", "s1"), _summary("s1-vicreg", "s1"), _summary("solo")])
    row = model.index_of("s1-vicreg")
    with qtbot.assertNotEmitted(model.modelReset):
        with qtbot.waitSignal(model.dataChanged):
            assert model.update_status("s1-vicreg", RunStatus(state="running", step=75))
    assert row.siblingAtColumn(COLUMNS.index("Progress")).data() == "75/100"
    assert row.data(PROGRESS_ROLE) == 0.75
    eta = row.siblingAtColumn(COLUMNS.index("ETA")).data()
    assert eta and eta != "0:00:00"
    assert not model.update_status("unknown-run", RunStatus(state="done"))
    embed = Job(id="j2", n=2, kind="embed", run="solo", state="running", submitted_at=0.0,
                progress=Progress(done=120, total=300, phrase="embedding 120/300 tracks"))
    assert model.update_job(embed)
    solo = model.index_of("solo")
    assert solo.siblingAtColumn(COLUMNS.index("Status")).data() == "running · embed running · embedding 120/300 tracks"
    assert solo.siblingAtColumn(COLUMNS.index("Progress")).data() == "embed 120/300"
    assert solo.siblingAtColumn(COLUMNS.index("Progress")).data(PROGRESS_ROLE) == 0.4
    assert model.update_job(embed.model_copy(update={"state": "done"}))
    assert solo.siblingAtColumn(COLUMNS.index("Status")).data() == "running"  # the job is no longer shown


def test_set_runs_resets_only_when_the_grouping_changes(qtbot) -> None:
    model = RunsTreeModel()
    model.set_runs([_summary("a", "s1")])
    with qtbot.assertNotEmitted(model.modelReset):
        model.set_runs([_summary("a", "s1", step=20)])
    with qtbot.waitSignal(model.modelReset):
        model.set_runs([_summary("a", "s1"), _summary("b", "s2")])
    assert [model.index(r, 0).data() for r in range(model.rowCount())] == ["s2", "s1"]


def test_selecting_rows_sets_the_run_selection(qtbot, tmp_path: Path, settings: QSettings) -> None:
    window = MainWindow(tmp_path / "runs", settings=settings, refresh_ms=60_000)
    qtbot.addWidget(window)
    runs = tmp_path / "runs"
    for name in ("s1-byol", "s1-vicreg"):
        _status(runs / name, state="done", method=name.split("-")[1], study="s1", step=3, total_steps=3)
    _status(runs / "solo", state="queued", method="contrastive")
    window.refresh()
    assert window.model.rowCount() == 2
    assert window.runs_view.select_run("solo")
    assert window.selection.runs() == [runs / "solo"]
    window.runs_view.setCurrentIndex(window.model.group_index("s1"))
    assert window.selection.runs() == [runs / "s1-byol", runs / "s1-vicreg"]
    _status(runs / "s2-byol", state="queued", method="byol", study="s2")  # a new study: the tree is reset
    with qtbot.assertNotEmitted(window.selection.changed):
        window.refresh()
    assert window.model.rowCount() == 3
    assert window.selection.runs() == [runs / "s1-byol", runs / "s1-vicreg"]  # kept across the reset


def test_demo_button_shows_until_a_study_exists(window: MainWindow, qtbot, tmp_path: Path) -> None:
    assert not window.demo_button.isHidden()
    assert "Start the demo study" in [a.text().replace("&", "") for a in window.findChildren(type(window.demo_action))]
    studies = tmp_path / "runs" / ".studies"
    studies.mkdir(parents=True)
    (studies / "study-1.json").write_text("{}")
    qtbot.waitUntil(lambda: window.demo_button.isHidden())


def test_demo_study_request_asks_for_every_method() -> None:
    request = demo_study_request(list(METHODS), now=0.0)
    assert request["methods"] == list(METHODS) and {"random", "clustering-collapse"} <= set(request["methods"])
    assert (request["corpus"], request["preset"]) == ("demo", "demo")
    SubmitStudy.model_validate({"type": "submit_study", "id": 1, **request})  # what the engine accepts
    assert request["name"].startswith("demo-19")


def test_errors_go_to_a_banner_with_details(window: MainWindow) -> None:
    assert window.banner.isHidden()
    window.banner.show_error("the engine exited with status 1", "Traceback: boom")
    window.banner.show_error("submit: bad corpus")
    assert not window.banner.isHidden()
    assert window.banner.message.text() == "submit: bad corpus"
    assert window.banner.count.text() == "(2 errors)"
    assert window.banner.details.isHidden()
    window.banner.details_button.click()
    assert not window.banner.details.isHidden()
    assert "Traceback: boom" in window.banner.details.toPlainText()
    window.banner.dismiss()
    assert window.banner.isHidden() and not window.banner.history


def test_engine_indicator_and_run_commands_without_engine(window: MainWindow) -> None:
    assert window.indicator.state == "offline"
    window._on_run_command("cancel")
    assert "no engine" in window.banner.message.text()
    window.indicator.set_state("lost")
    assert "lost" in window.indicator.text()


def test_layout_and_runs_dir_are_remembered(qtbot, tmp_path: Path, settings: QSettings, monkeypatch) -> None:
    monkeypatch.delenv("MVSSL_RUNS_DIR", raising=False)
    first = MainWindow(tmp_path / "runs", settings=settings)
    qtbot.addWidget(first)
    first.resize(1111, 666)
    first.show()
    first.splitter.setSizes([333, 778])
    first.runs_view.header().setSectionHidden(COLUMNS.index("Method"), False)
    first.tabs.setCurrentIndex(2)
    first.close()
    assert resolve_runs_dir(None, settings) == tmp_path / "runs"
    assert resolve_runs_dir(tmp_path / "other", settings) == tmp_path / "other"
    monkeypatch.setenv("MVSSL_RUNS_DIR", str(tmp_path / "from-env"))
    assert resolve_runs_dir(None, settings) == tmp_path / "from-env"
    second = MainWindow(tmp_path / "runs", settings=settings)
    qtbot.addWidget(second)
    assert second.height() == 666  # the width is shrunk towards the 800 px offscreen screen, down to the minimum
    assert second.width() == max(MINIMUM_SIZE.width(), second.screen().availableGeometry().width())
    second.show()
    assert second.splitter.sizes()[0] == 333
    assert not second.runs_view.header().isSectionHidden(COLUMNS.index("Method"))
    assert second.tabs.currentIndex() == 2


def test_panel_tabs_follow_the_selection(window: MainWindow, qtbot, tmp_path: Path) -> None:
    run = _status(tmp_path / "runs" / "r1", state="done", method="byol", step=2, total_steps=2)
    (run / "events.jsonl").write_text("".join(json.dumps({"type": "train", "step": s, "loss": 3.0 - s}) + "\n"
                                              for s in (1, 2)))
    qtbot.waitUntil(lambda: window.model.rowCount() == 1)
    training = window.tabs.panel("Training")
    window.runs_view.select_run("r1")
    x, y = training.curve("r1", "loss").getOriginalDataset()
    assert list(x) == [1, 2] and list(y) == [2.0, 1.0]
    for title, tab in window.tabs.tabs.items():  # every tab is a panel or a clearly marked placeholder
        panel = window.tabs.panel(title)
        assert panel is not None or "panel" in tab.placeholder.text()


def test_an_imported_official_run_is_listed_beside_the_users_runs(window: MainWindow, qtbot, tmp_path: Path,
                                                                   shared_dir: Path) -> None:
    from engine.training.official import import_official
    from tests.engine.training.test_official_import import official_backbone, write_official_checkpoint

    _status(tmp_path / "runs" / "mine", state="done", method="byol", step=2, total_steps=2)
    write_official_checkpoint(shared_dir, tmp_path / "contrastive.pt", official_backbone())
    import_official(tmp_path / "contrastive.pt", tmp_path / "runs" / "official-contrastive")
    qtbot.waitUntil(lambda: window.model.index_of("official-contrastive").isValid(), timeout=5000)
    row = window.model.index_of("official-contrastive")
    assert row.siblingAtColumn(COLUMNS.index("Status")).data() == "done"
    assert row.siblingAtColumn(COLUMNS.index("Method")).data() == "contrastive"
    assert window.model.index_of("mine").isValid()
    window.runs_view.select_run("official-contrastive")
    for title in window.tabs.tabs:  # no panel fails on a run without training events
        window.tabs.panel(title)


@pytest.mark.parametrize("screen", [(1280, 800), (1366, 768), (1920, 1080), (3840, 2160)])
def test_window_opens_within_the_screen(screen: tuple[int, int]) -> None:
    from PySide6.QtCore import QRect

    from workbench.shell.geometry import default_geometry, fitted

    available = QRect(0, 0, *screen)
    first = default_geometry(available)
    assert available.contains(first) and first.width() >= MINIMUM_SIZE.width() - 1
    assert first.center() == available.center() or abs(first.center().x() - available.center().x()) <= 1
    remembered = QRect(3000, 1500, 2500, 1400)  # a window last seen on a larger screen
    assert available.contains(fitted(remembered, available))


def test_the_runs_tree_is_narrow_and_collapses(window: MainWindow) -> None:
    window.resize(1280, 760)
    window.show()
    left, right = window.splitter.sizes()
    assert 250 <= left <= 0.35 * (left + right)  # a side bar, the panels get the rest
    window.toggle_runs_list()
    assert window.splitter.sizes()[0] == 0 and not window.runs_action.isChecked()
    window.toggle_runs_list()
    assert window.splitter.sizes()[0] == left and window.runs_action.isChecked()
