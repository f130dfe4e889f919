"""Training panel: the series store (no Qt) and the curves drawn from it for the selected runs."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from engine.evaluation.colours import METHOD_COLOURS
from workbench.panels.training.view import TrainingPanel
from workbench.runs.selection import RunSelection
from workbench.runs.series import SeriesStore


def _events(n: int, start: int = 1, **components: float) -> list[dict]:
    return [{"type": "train", "step": s, "loss": 10.0 / s, "lr": 1e-3 * s, "wd": 0.04, "momentum": 0.996,
             "teacher_temp": 0.04, "views_per_s": 100.0 + s, "grad_norm": 2.0, "data_wait": 0.1, "epoch": s / 10,
             "time": 1e9 + s, **components} for s in range(start, start + n)]


def _run(root: Path, name: str, method: str) -> Path:
    run = root / name
    run.mkdir(parents=True)
    (run / "status.json").write_text(json.dumps({"state": "running", "method": method}))
    return run


@pytest.fixture
def setup(qtbot, tmp_path: Path):
    store = SeriesStore()
    selection = RunSelection()
    panel = TrainingPanel(selection, store)
    qtbot.addWidget(panel)
    return store, selection, panel, tmp_path


def test_store_keeps_numeric_fields_per_run_type_and_key() -> None:
    store = SeriesStore()
    changed: list[set[str]] = []
    store.subscribe(changed.append)
    store.add_batch({"a": _events(300, positive=-1.0), "b": [{"type": "collapse", "step": 5, "rankme": 3.0,
                                                             "clustering_state": "healthy", "usage": {"1": 2}}]})
    assert changed == [{"a", "b"}]
    x, y = store.get("a", "train", "loss")
    assert np.array_equal(x, np.arange(1, 301)) and np.allclose(y, 10.0 / np.arange(1, 301))
    assert "positive" in store.keys("a") and "time" not in store.keys("a")
    assert store.keys("b", "collapse") == ["rankme"]  # strings and dicts are not series
    store.add("b", [{"type": "train", "step": 6, "loss": None}])  # NaN in the run is written as null
    assert np.isnan(store.get("b", "train", "loss")[1][0])
    store.clear("a")
    assert not store.has("a") and store.get("a", "train", "loss")[0].size == 0


def test_feeding_events_updates_the_curves(setup) -> None:
    store, selection, panel, root = setup
    selection.set_runs([_run(root, "r1", "vicreg")])
    store.add("r1", _events(50, inv=1.0, var=0.5, cov=0.1))
    x, y = panel.curve("r1", "loss").getOriginalDataset()
    assert np.array_equal(x, np.arange(1, 51)) and np.allclose(y, 10.0 / np.arange(1, 51))
    assert panel.components == ["inv", "var", "cov"]
    assert panel.curve("r1", "var").getOriginalDataset()[1][0] == 0.5
    store.add("r1", _events(25, start=51, inv=1.0, var=0.5, cov=0.1))
    x, _ = panel.curve("r1", "lr").getOriginalDataset()
    assert x[-1] == 75 and len(x) == 75
    assert panel.curve("r1", "epoch") is None and panel.curve("r1", "data_wait") is None
    curve = panel.curve("r1", "loss")
    assert curve.opts["autoDownsample"] and curve.opts["clipToView"]


def test_runs_overlay_in_method_colours(setup) -> None:
    store, selection, panel, root = setup
    store.add_batch({"a": _events(5), "b": _events(5), "c": _events(5)})
    selection.set_runs([_run(root, "a", "byol"), _run(root, "b", "contrastive"), _run(root, "c", "byol")])
    pens = {run: panel.curve(run, "loss").opts["pen"] for run in "abc"}
    assert pens["a"].color().name() == METHOD_COLOURS["byol"]
    assert pens["b"].color().name() == METHOD_COLOURS["contrastive"]
    assert pens["c"].color().name() == METHOD_COLOURS["byol"] and pens["c"].style() == Qt.PenStyle.DashLine
    selection.set_runs([root / "b"])
    assert panel.curve("a", "loss") is None and len(panel.loss_plot.listDataItems()) == 1
    store.add("a", _events(3, start=6))  # a run no longer selected does not draw
    assert panel.curve("a", "loss") is None


def test_log_toggle_switches_the_loss_plots(setup) -> None:
    store, selection, panel, root = setup
    selection.set_runs([_run(root, "r1", "barlow_twins")])
    store.add("r1", _events(5, on_diag=3.0, off_diag=0.2))
    panel.log_box.setChecked(True)
    assert panel.loss_plot.vb.state["logMode"][1]
    assert panel.plots["on_diag"].vb.state["logMode"][1]
    assert not panel.plots["lr"].vb.state["logMode"][1]
    panel.log_box.setChecked(False)
    assert not panel.loss_plot.vb.state["logMode"][1]


def test_a_reset_run_is_redrawn_from_scratch(setup) -> None:
    store, selection, panel, root = setup
    selection.set_runs([_run(root, "r1", "byol")])
    store.add("r1", _events(10))
    store.clear("r1")
    assert panel.curve("r1", "loss").getOriginalDataset() == (None, None)  # emptied
    store.add("r1", _events(4))
    assert list(panel.curve("r1", "loss").getOriginalDataset()[0]) == [1, 2, 3, 4]


def test_legend_is_a_line_above_the_plots_and_a_first_step_shows(setup) -> None:
    store, selection, panel, root = setup
    selection.set_runs([_run(root, "s-vicreg-s0", "vicreg"), _run(root, "s-byol-s0", "byol")])
    assert panel.loss_plot.legend is None  # nothing drawn over the curves
    assert "s\u2011vicreg\u2011s0" in panel.legend.text() and METHOD_COLOURS["byol"] in panel.legend.text()
    store.add("s-vicreg-s0", _events(1, inv=1.0, var=0.5, cov=0.1))
    assert panel.curve("s-vicreg-s0", "loss").opts["symbol"] == "o"  # one point: a dot, not an empty line
    store.add("s-vicreg-s0", _events(1, start=2, inv=1.0, var=0.5, cov=0.1))
    assert panel.curve("s-vicreg-s0", "loss").opts["symbol"] is None
    assert all(panel.plots[key].getAxis("bottom").labelText == "step" for key in ("loss", "lr", "inv"))
