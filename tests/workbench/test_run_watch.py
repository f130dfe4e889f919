"""Run watchers: engine pushes reach the subscribed panels, polling the run files takes over when the engine
is gone (from where its pushes stopped), and every panel following a run shares that run's one watcher."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.rundir.events import EventWriter, truncate_after
from engine.rundir.files import write_status
from engine.rundir.layout import RunDir
from engine.rundir.status import RunStatus
from tests.workbench.test_collapse import LN_K, make_run
from workbench.link.client import EngineClient
from workbench.panels.collapse.view import ALARM_STYLE, CollapsePanel
from workbench.panels.map.view import EmbeddingMapPanel
from workbench.panels.training.view import TrainingPanel
from workbench.player import Player
from workbench.runs.watch import RunWatcher, Subscription
from workbench.runs.watch_qt import RunWatchHub
from workbench.runs.tree import RunsTreeModel
from workbench.runs.selection import RunSelection
from workbench.runs.series import SeriesStore
from workbench.runs.sync import RunsSync

NO_POLLING = 600_000
DOMINANT = {"type": "collapse", "step": 50, "std": 0.03, "rankme": 40.0, "healthy_std": 1 / 32,
            "teacher_entropy": 0.01, "effective_prototypes": 1.0, "usage": {"3": 64}, "max_entropy": LN_K,
            "clustering_state": "dominant"}


def _train(steps: range) -> list[dict]:
    return [{"type": "train", "step": s, "loss": 10.0 / s} for s in steps]


def _run(root: Path, steps: range) -> Path:
    run = root / "r1"
    run.mkdir(parents=True)
    write_status(run, "queued", method="byol", step=0, total_steps=10)
    with EventWriter(RunDir(run).events) as events:
        for event in _train(steps):
            events.write(event)
    return run


class Recorder:
    """A subscriber that keeps everything it is told."""

    def __init__(self) -> None:
        self.statuses: list[RunStatus] = []
        self.events: list[dict] = []
        self.resets = 0
        self.subscription = Subscription(status=self.statuses.append, events=self.events.extend,
                                         reset=self._on_reset)

    def _on_reset(self) -> None:
        self.resets += 1
        self.events.clear()


@pytest.fixture
def fed_hub(qtbot) -> RunWatchHub:
    """Watchers that an engine feeds (its pushes are sent by the test) and that never poll by themselves."""
    hub = RunWatchHub(poll_ms=NO_POLLING)
    hub.watchers.fed = True
    return hub


def test_pushed_events_reach_the_training_curves(qtbot, tmp_path: Path, fed_hub: RunWatchHub) -> None:
    run = _run(tmp_path, range(1, 1))
    selection, store = RunSelection(), SeriesStore()
    sync = RunsSync(RunsTreeModel(), store, selection, fed_hub)  # noqa: F841 (kept alive: it feeds the store)
    panel = TrainingPanel(selection, store)
    qtbot.addWidget(panel)
    selection.set_runs([run])
    fed_hub.watchers.push_events({"r1": _train(range(1, 4)), "other-run": _train(range(1, 9))})
    steps, losses = panel.curve("r1", "loss").getOriginalDataset()
    assert list(steps) == [1, 2, 3] and list(losses) == pytest.approx([10.0, 5.0, 10 / 3])
    assert panel.curve("other-run", "loss") is None and not store.has("other-run")
    fed_hub.watchers.push_reset("r1")
    fed_hub.watchers.push_events({"r1": _train(range(1, 3))})
    assert list(panel.curve("r1", "loss").getOriginalDataset()[0]) == [1, 2]  # replayed, not appended


def test_pushed_collapse_events_raise_the_alarm_at_once(qtbot, tmp_path: Path, fed_hub: RunWatchHub) -> None:
    """The alarm follows the engine's pushes, with no polling: two dominant snapshots confirm the collapse."""
    run = make_run(tmp_path, "clu", "clustering")
    selection = RunSelection()
    selection.set_runs([run])
    view = CollapsePanel(selection, watch=fed_hub)
    qtbot.addWidget(view)
    label = view.columns[0].alarm_label
    assert label.styleSheet() != ALARM_STYLE
    snapshots = [DOMINANT, {**DOMINANT, "step": DOMINANT["step"] + 10}]
    with EventWriter(RunDir(run).events) as events:  # the training process writes, the engine pushes
        for snapshot in snapshots:
            events.write(snapshot)
    fed_hub.watchers.push_events({"clu": snapshots[:1]})
    assert label.styleSheet() != ALARM_STYLE  # one reading is not yet a verdict
    fed_hub.watchers.push_events({"clu": snapshots[1:]})
    assert label.styleSheet() == ALARM_STYLE and "dominant collapse" in label.text()


def test_polling_takes_over_when_the_engine_is_gone(qtbot, tmp_path: Path) -> None:
    run = _run(tmp_path, range(1, 3))
    client = EngineClient(tmp_path, autostart=False)  # never started: its state is driven by the test
    hub = RunWatchHub(poll_ms=50)
    hub.attach(client)
    seen = Recorder()
    hub.watch(run, seen.subscription)
    assert [e["step"] for e in seen.events] == [1, 2]  # the history, from the file
    start = client.offset("r1")
    assert start == RunDir(run).events.stat().st_size  # the engine is asked from where the file was read

    client.state_changed.emit("connected")  # the engine feeds the run: its files are not read
    with EventWriter(RunDir(run).events) as events:
        for event in _train(range(3, 6)):
            events.write(event)
    write_status(run, "running", step=5)
    qtbot.wait(300)
    assert [e["step"] for e in seen.events] == [1, 2] and seen.statuses == []

    client.state_changed.emit("lost")
    qtbot.waitUntil(lambda: len(seen.events) == 5 and bool(seen.statuses), timeout=3000)
    assert [e["step"] for e in seen.events] == [1, 2, 3, 4, 5]
    assert (seen.statuses[-1].state, seen.statuses[-1].step, seen.statuses[-1].method) == ("running", 5, "byol")
    assert client.offset("r1") == RunDir(run).events.stat().st_size  # a reconnection resumes from here


def test_a_rewritten_events_file_replays_from_its_start(tmp_path: Path) -> None:
    run = _run(tmp_path, range(1, 6))
    watcher = RunWatcher(run)
    watcher.read_until(None)
    seen = Recorder()
    watcher.subscribe(seen.subscription)
    assert [e["step"] for e in seen.events] == [1, 2, 3, 4, 5]
    truncate_after(RunDir(run).events, 3)  # a resumed run
    with EventWriter(RunDir(run).events) as events:
        events.write(_train(range(4, 5))[0])
    watcher.poll(follow_files=True)
    assert seen.resets == 1 and [e["step"] for e in seen.events] == [1, 2, 3, 4]
    assert [e["step"] for e in watcher.events] == [1, 2, 3, 4]


def test_panels_following_a_run_share_its_one_watcher(qtbot, tmp_path: Path) -> None:
    run = make_run(tmp_path, "clu", "clustering")
    hub = RunWatchHub(poll_ms=NO_POLLING)
    selection, store = RunSelection(), SeriesStore()
    sync = RunsSync(RunsTreeModel(), store, selection, hub)  # noqa: F841 (kept alive: it feeds the store)
    collapse = CollapsePanel(selection, watch=hub)
    map_view = EmbeddingMapPanel(selection, Player(device="no such output device"), watch=hub)
    for widget in (collapse, map_view):
        qtbot.addWidget(widget)
    selection.set_runs([run])
    assert list(hub.watchers.watchers) == [run]
    assert len(hub.watcher(run).subscriptions) == 3  # the series store, the collapse column, the map
    assert list(store.get("clu", "train", "loss")[0]) == [10, 20, 30, 40]  # the history reached the store
    selection.set_runs([])
    assert hub.watchers.watchers == {}



def test_a_destroyed_panel_is_no_longer_called(qtbot, tmp_path: Path) -> None:
    run = make_run(tmp_path, "clu", "clustering")
    hub = RunWatchHub(poll_ms=NO_POLLING)
    selection = RunSelection()
    selection.set_runs([run])
    view = CollapsePanel(selection, watch=hub)
    assert len(hub.watcher(run).subscriptions) == 1
    view.deleteLater()
    qtbot.waitUntil(lambda: hub.watcher(run) is None, timeout=3000)
    hub.watchers.fed = True
    hub.watchers.push_events({"clu": [DOMINANT]})  # would reach a deleted widget if it were still subscribed


def test_a_finished_job_and_file_reload_reach_the_scores_panel(qtbot, tmp_path: Path, fed_hub: RunWatchHub) -> None:
    """With an engine feeding the watchers (no polling), a job's state push makes the panel read the probes it
    wrote; File → Reload makes every panel read its runs again."""
    from engine.rundir import analysis_store
    from tests.workbench.test_scores import make_scored_run
    from workbench.panels.scores.view import ScoresPanel

    run = make_scored_run(tmp_path, "a-contrastive", "contrastive", 2.0, 1)
    selection = RunSelection()
    view = ScoresPanel(selection, n_resamples=50, watch=fed_hub)
    qtbot.addWidget(view)
    selection.set_runs([run])
    genre = analysis_store.read_probes(run, "genre")["genre"]
    analysis_store.write_probe(run, "mood", 1.0, 0, genre.at(1.0)[0].pred, genre.test_index, genre.tag_names,
                               genre.at(1.0)[0].metrics, {})
    fed_hub.watchers.files_may_have_changed("a-contrastive")  # what a job push of the run does
    qtbot.waitUntil(lambda: view.task_box.findText("mood") >= 0, timeout=3000)
    view.task_box.clear()
    fed_hub.watchers.reload()
    qtbot.waitUntil(lambda: view.task_box.count() == 2, timeout=3000)
