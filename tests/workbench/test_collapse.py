"""Collapse panel: the alarm names the collapse kind from the engine's verdicts, the plots get the
run's curves, and a clustering run stands next to a clustering-collapse run by default."""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import PySide6
import pytest

from engine.collapse import verdicts
from engine.rundir import analysis_store
from engine.rundir.events import EventWriter
from engine.rundir.files import write_status
from workbench.panels.collapse import model as cm
from workbench.panels.collapse.view import ALARM_STYLE, CollapsePanel
from workbench.runs.watch import RunWatchers, Subscription
from workbench.runs.selection import RunSelection

LN_K = math.log(4096)
STEPS = (10, 20, 30, 40)


def make_run(root: Path, name: str, method: str, kind: str = "healthy") -> Path:
    """A run with training events and per-checkpoint diagnostics; clustering runs collapse as `kind` says."""
    run = root / name
    run.mkdir(parents=True)
    write_status(run, "done", method=method, step=STEPS[-1], total_steps=STEPS[-1])
    clustering = method.startswith("clustering")
    rng = np.random.default_rng(0)
    with EventWriter(run / "events.jsonl") as events:
        for i, step in enumerate(STEPS):
            late = i >= 2 and kind != "healthy"
            train = {"type": "train", "step": step, "loss": 5.0 - i}
            snapshot = {"type": "collapse", "step": step, "std": 0.028, "rankme": 40.0 + i, "healthy_std": 1 / 32}
            if clustering:
                entropy = {"dominant": 0.05, "uniform": 8.0}.get(kind, 2.5) if late else 2.5
                effective = {"dominant": 1.02, "uniform": 3900.0}.get(kind, 180.0) if late else 180.0
                state = kind if late else "healthy"
                usage = {"7": 64} if late and kind == "dominant" else {str(k): 2 for k in range(32)}
                train.update(teacher_entropy=entropy, kl=0.8 / (i + 1))
                snapshot.update(teacher_entropy=entropy, effective_prototypes=effective, distinct_prototypes=len(usage),
                                usage=usage, max_entropy=LN_K, clustering_state=state)
            events.write(train)
            events.write(snapshot)
    for i, step in enumerate(STEPS):
        spectrum = np.sort(rng.random(64))[::-1] ** (i + 1)
        scalars = {"rankme": 30.0 + i, "alignment": 0.5 - 0.1 * i, "uniformity": -3.0 + 0.2 * i,
                   "embedding_state": "healthy"}
        analysis_store.write_diagnostics(run, step, scalars, {"spectrum": spectrum})
    return run


@pytest.fixture
def panel_for(qtbot):
    def build(runs: list[Path], runs_dir: Path | None = None) -> CollapsePanel:
        selection = RunSelection()
        selection.set_runs(runs)
        view = CollapsePanel(selection, runs_dir=runs_dir, poll_ms=100)
        qtbot.addWidget(view)
        return view
    return build


def test_snapshots_are_judged_with_the_engine_verdict(tmp_path: Path) -> None:
    diagnostics = pytest.importorskip("engine.collapse.diagnostics")  # needs torch: a test-side check only
    assert diagnostics.classify_embedding is verdicts.classify_embedding  # one verdict, one set of thresholds
    run = tmp_path / "run"
    run.mkdir()
    with EventWriter(run / "events.jsonl") as events:  # rankme 6 of min(n, 1024): dimensional only when n > 400
        events.write({"type": "collapse", "step": 10, "std": 0.03, "rankme": 6.0, "healthy_std": 1 / 32})
        events.write({"type": "collapse", "step": 20, "std": 0.03, "rankme": 6.0, "healthy_std": 1 / 32,
                      "views": 512})
        events.write({"type": "collapse", "step": 30, "std": 0.03, "rankme": 6.0, "healthy_std": 1 / 32,
                      "views": 64, "embedding_state": "full"})
    states = [state for _, state, _ in cm.RunCollapse.load(run)._states()["embedding"]]
    assert states == ["healthy", "dimensional", "full"]  # old runs: SNAPSHOT_VIEWS; then the views; then the verdict
    assert verdicts.SNAPSHOT_VIEWS == 64


def test_dominant_collapse_raises_the_alarm(tmp_path: Path, panel_for) -> None:
    run = make_run(tmp_path, "clu-collapse", "clustering-collapse", kind="dominant")
    alarms = cm.RunCollapse.load(run).alarms()
    assert [(a.kind, a.since_step, a.step) for a in alarms] == [("dominant", 30, 40)]
    view = panel_for([run])
    column = view.columns[0]
    assert not column.alarm_label.isHidden()
    assert column.alarm_label.styleSheet() == ALARM_STYLE
    assert "dominant collapse" in column.alarm_label.text() and "effective prototypes 1.02" in column.alarm_label.text()
    x, heights = column.usage_bars.opts["x"], column.usage_bars.opts["height"]
    assert list(heights) == [64] and list(x) == [0]
    steps, effective = column.effective_curve.getOriginalDataset()
    assert list(steps) == list(STEPS) and effective[-1] == pytest.approx(1.02)
    assert column.max_entropy_line.value() == pytest.approx(LN_K)
    _, kl = column.kl_curve.getOriginalDataset()
    np.testing.assert_allclose(kl, [0.8, 0.4, 0.8 / 3, 0.2])


def test_uniform_collapse_is_named(tmp_path: Path) -> None:
    run = make_run(tmp_path, "clu-uniform", "clustering", kind="uniform")
    (alarm,) = cm.RunCollapse.load(run).alarms()
    assert alarm.kind == "uniform" and "teacher entropy 8.00 of ln K = 8.32" in alarm.message


def test_healthy_contrastive_run_has_no_alarm(tmp_path: Path, panel_for) -> None:
    run = make_run(tmp_path, "con", "contrastive")
    assert cm.RunCollapse.load(run).alarms() == []
    view = panel_for([run])
    column = view.columns[0]
    assert column.alarm_label.styleSheet() != ALARM_STYLE and "no collapse" in column.alarm_label.text()
    assert not any(plot.isVisible() for plot in column.clustering_plots)
    steps, rankme = column.rankme_curve.getOriginalDataset()
    assert list(steps) == list(STEPS) and list(rankme) == [40.0, 41.0, 42.0, 43.0]
    assert [len(c.getOriginalDataset()[0]) for c in column.spectrum_curves] == [64] * 4
    _, uniformity = column.uniformity_curve.getOriginalDataset()
    np.testing.assert_allclose(uniformity, [-3.0, -2.8, -2.6, -2.4])


def test_dimensional_and_full_collapse_from_training_snapshots(tmp_path: Path) -> None:
    run = make_run(tmp_path, "vic", "vicreg")
    with EventWriter(run / "events.jsonl") as events:
        events.write({"type": "collapse", "step": 50, "std": 0.02, "rankme": 2.5, "healthy_std": 1 / 32})
    model, watchers = cm.RunCollapse(run), RunWatchers()
    watchers.watch(run, Subscription(events=model.add_events, reset=model.reset, files=model.files_changed))
    assert [a.kind for a in model.alarms()] == ["dimensional"]  # the watcher replayed the run's history
    analysis_store.write_diagnostics(run, 50, {"embedding_state": "full", "std": 0.0001, "healthy_std": 1 / 32}, {})
    with EventWriter(run / "events.jsonl") as events:
        events.write({"type": "collapse", "step": 60, "std": 0.0001, "rankme": 1.1, "healthy_std": 1 / 32})
    watchers.poll()  # no engine attached: the watcher's fallback reads the new event and the new diagnostics
    assert model.collapse_events[-1]["step"] == 60 and 50 in model.diagnostics
    (alarm,) = model.alarms()
    assert alarm.kind == "full" and alarm.since_step == 50


def test_alarm_appears_live_as_events_arrive(tmp_path: Path, panel_for, qtbot) -> None:
    run = make_run(tmp_path, "clu", "clustering")
    view = panel_for([run])
    assert view.columns[0].alarm_label.styleSheet() != ALARM_STYLE
    with EventWriter(run / "events.jsonl") as events:
        events.write({"type": "collapse", "step": 50, "std": 0.03, "rankme": 40.0, "healthy_std": 1 / 32,
                      "teacher_entropy": 0.01, "effective_prototypes": 1.0, "usage": {"3": 64},
                      "max_entropy": LN_K, "clustering_state": "dominant"})
    qtbot.waitUntil(lambda: "dominant collapse" in view.columns[0].alarm_label.text(), timeout=3000)


def test_side_by_side_defaults_to_clustering_and_clustering_collapse(tmp_path: Path, panel_for) -> None:
    runs = [make_run(tmp_path, "a-con", "contrastive"), make_run(tmp_path, "b-clu-collapse", "clustering-collapse",
                                                                   kind="dominant"),
            make_run(tmp_path, "c-byol", "byol"), make_run(tmp_path, "d-clu", "clustering")]
    view = panel_for(runs)
    assert view.shown_runs() == (runs[3], runs[1])
    assert view.columns[1].alarm_label.styleSheet() == ALARM_STYLE
    assert view.columns[0].alarm_label.styleSheet() != ALARM_STYLE

    plain = panel_for([runs[2], runs[0]])
    assert plain.shown_runs() == (runs[2], runs[0])
    from_dir = panel_for([runs[0]], runs_dir=tmp_path)  # the pair is found in the runs directory
    assert from_dir.shown_runs() == (runs[3], runs[1])
    from_dir.columns[0].run_box.setCurrentIndex(from_dir.columns[0].run_box.findData(str(runs[2])))
    from_dir.columns[0].run_box.activated.emit(0)
    assert from_dir.shown_runs() == (runs[2], runs[1])


@pytest.mark.xfail(PySide6.__version__ == "6.12.0", strict=True,
                   reason="PySide6 6.12.0 loses a reference to None on calls into Python overrides (each pyqtgraph "
                          "paint, model data()): None's count falls until Python aborts; 6.11.3 is fine")
def test_repainting_keeps_none_alive(tmp_path: Path, panel_for) -> None:
    view = panel_for([make_run(tmp_path, "clu", "clustering", kind="dominant")])
    view.resize(1000, 800)
    view.grab()
    before = sys.getrefcount(None)
    for _ in range(20):
        view.grab()
    assert sys.getrefcount(None) - before > -20  # a real leak loses about 150 per repaint of this panel


def test_a_rewritten_events_file_replaces_the_curves(tmp_path: Path) -> None:
    run = make_run(tmp_path, "con", "contrastive")
    model, watchers = cm.RunCollapse(run), RunWatchers()
    watchers.watch(run, Subscription(events=model.add_events, reset=model.reset, files=model.files_changed))
    assert list(model.curve("collapse", "rankme").steps) == list(STEPS)
    resumed = run / "events.new"  # a resumed run rewrites its events without the steps after its checkpoint
    with EventWriter(resumed) as events:
        events.write({"type": "collapse", "step": 10, "std": 0.028, "rankme": 7.0, "healthy_std": 1 / 32})
    resumed.replace(run / "events.jsonl")
    watchers.poll()
    rankme = model.curve("collapse", "rankme")
    assert list(rankme.steps) == [10] and list(rankme.values) == [7.0]
    assert model.train_events == []
