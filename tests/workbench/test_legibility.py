"""What keeps every plot legible: axes that drop a tick label touching another, legends off the data,
short run names, Fig. 2's ticks at the measured fractions, plots that reflow with the width, baselines
that say "no training", and the newest study selected on open."""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QRectF, QSettings, Qt

from tests.workbench.layout_probe import tick_labels
from workbench.shell.app import MainWindow
from workbench.plots import PlotGrid, abbreviated, new_plot, short_names, without_overlaps
from workbench.runs.model import RunSummary
from workbench.runs.tree import COLUMNS, PROGRESS_ROLE, RunsTreeModel


def test_overlapping_labels_are_left_out_in_order() -> None:
    texts = [(QRectF(0, 0, 30, 10), 0, "1"), (QRectF(20, 0, 30, 10), 0, "2"), (QRectF(60, 0, 30, 10), 0, "3")]
    assert [t for _, _, t in without_overlaps(texts)] == ["1", "3"]


def _overlaps(axis: pg.AxisItem) -> int:
    labels = [r for r, _ in tick_labels(axis)]
    return sum(a.intersects(b) for i, a in enumerate(labels) for b in labels[i + 1:])


def test_dense_ticks_and_log_axes_draw_no_two_labels_on_each_other(qtbot) -> None:
    widget = pg.GraphicsLayoutWidget()
    qtbot.addWidget(widget)
    legible = new_plot("legible", x="run", y="prototypes")
    plain = pg.PlotItem(title="plain")
    names = list(enumerate(["clustering-collapse-s0", "barlow_twins-s0", "contrastive-s0", "vicreg-s0", "byol-s0",
                            "clustering-s0", "random-s0"]))
    for row, item in enumerate((legible, plain)):
        widget.addItem(item, row=row, col=0)
        item.setLogMode(y=True)
        item.plot([0, 3, 6], [7.0, 40.0, 450.0])
        item.getAxis("bottom").setTicks([names, []])
    widget.resize(520, 260)
    widget.show()
    qtbot.wait(100)
    assert _overlaps(plain.getAxis("bottom")) > 0 and _overlaps(plain.getAxis("left")) > 0  # pyqtgraph's own axis
    assert _overlaps(legible.getAxis("bottom")) == 0 and _overlaps(legible.getAxis("left")) == 0
    assert tick_labels(legible.getAxis("bottom")) and len(tick_labels(legible.getAxis("left"))) >= 2


def test_short_names_tell_runs_apart() -> None:
    assert short_names(["s-barlow_twins-s0", "s-vicreg-s0"], ["barlow_twins", "vicreg"]) == ["Barlow\nTwins", "VICReg"]
    assert short_names(["s-byol-s0", "s-byol-s1"], ["byol", "byol"]) == ["BYOL\ns0", "BYOL\ns1"]
    assert abbreviated("clustering\ncollapse", "clustering-collapse") == "coll."
    assert abbreviated("BYOL\ns1", "byol") == "BYOL\ns1"


def test_plot_grid_reflows_its_columns_with_the_width(qtbot) -> None:
    grid = PlotGrid(min_width=200, min_height=100, max_columns=3)
    qtbot.addWidget(grid)
    plots = [pg.PlotItem() for _ in range(6)]
    grid.set_items(plots)
    grid.resize(700, 400)
    grid.show()
    qtbot.waitUntil(lambda: grid.columns == 3)
    assert grid.view.minimumHeight() == 2 * 100
    grid.resize(450, 400)
    qtbot.waitUntil(lambda: grid.columns == 2)
    assert grid.view.minimumHeight() == 3 * 100  # taller than the view: it scrolls
    assert grid.view.ci.items[plots[5]] == [(2, 1)]


def test_plot_grid_columns_are_as_wide_as_the_widest_title_needs(qtbot) -> None:
    grid = PlotGrid(min_width=200, min_height=100, max_columns=3)
    qtbot.addWidget(grid)
    wide = pg.PlotItem(title="a title much wider than two hundred pixels of plot")
    grid.set_items([pg.PlotItem(), wide, pg.PlotItem()])
    needed = wide.effectiveSizeHint(Qt.SizeHint.MinimumSize).width()
    assert needed > 200
    assert grid.column_count(int(2 * needed) - 1) == 1  # two columns would cut the title
    assert grid.column_count(int(2 * needed) + 1) == 2


def _summary(run_id: str, method: str, state: str, step: int, total: int, started: float | None) -> RunSummary:
    return RunSummary(run_id=run_id, path=Path("/runs") / run_id, method=method, state=state, step=step,
                      total_steps=total, study="s", started_at=started, updated_at=None)


def test_baselines_say_no_training_and_eta_is_blank_when_unknown() -> None:
    now = time.time()
    model = RunsTreeModel()
    model.set_runs([_summary("s-random-s0", "random", "done", 300, 300, now - 5),
                    _summary("s-logmel", "logmel", "done", 0, 0, None),
                    _summary("s-byol-s0", "byol", "running", 0, 300, now - 30),
                    _summary("s-vicreg-s0", "vicreg", "running", 300, 300, now - 300),
                    _summary("s-contrastive-s0", "contrastive", "running", 100, 300, now - 100)])
    progress, eta = COLUMNS.index("Progress"), COLUMNS.index("ETA")

    def cell(run: str, column: int):
        return model.index_of(run).siblingAtColumn(column)
    assert cell("s-random-s0", progress).data() == "no training" and cell("s-random-s0", progress).data(PROGRESS_ROLE) is None
    assert cell("s-logmel", progress).data() == "no training"
    assert cell("s-byol-s0", eta).data() == ""  # no step yet: no rate to extrapolate
    assert cell("s-vicreg-s0", eta).data() == ""  # training over, evaluation jobs run
    assert cell("s-contrastive-s0", eta).data().startswith("0:03:")  # 200 steps at 1 step/s
    assert cell("s-byol-s0", COLUMNS.index("Run")).data() == "byol-s0"  # under its study's row


def _run(root: Path, name: str, study: str, started: float) -> None:
    run = root / name
    run.mkdir(parents=True)
    (run / "status.json").write_text(json.dumps({"state": "done", "method": "byol", "step": 2, "total_steps": 2,
                                                 "study": study, "started_at": started}))


def test_the_newest_study_is_selected_on_open(qtbot, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    now = time.time()
    _run(runs, "old-byol-s0", "old", now - 900)
    _run(runs, "new-byol-s0", "new", now - 100)
    _run(runs, "new-byol-s1", "new", now - 90)
    _run(runs, "solo", "", now)
    window = MainWindow(runs, settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    qtbot.waitUntil(lambda: window.selection.runs() != [])
    assert window.selection.runs() == [runs / "new-byol-s0", runs / "new-byol-s1"]


def test_fig2_ticks_are_the_measured_fractions_and_fig1_names_each_group(qtbot, tmp_path: Path) -> None:
    from tests.workbench.test_scores import make_scored_run
    from workbench.panels.scores.view import ScoresPanel
    from workbench.runs.selection import RunSelection

    runs = [make_scored_run(tmp_path, "a-contrastive", "contrastive", 2.0, 1),
            make_scored_run(tmp_path, "b-byol", "byol", 1.0, 2)]
    selection = RunSelection()
    panel = ScoresPanel(selection, n_resamples=50)
    qtbot.addWidget(panel)
    selection.set_runs(runs)
    qtbot.waitUntil(lambda: panel.boot is not None, timeout=10_000)
    assert panel.curves_plot.plotItem.legend is None  # the coloured names above the figures are the legend
    major = panel.curves_plot.getAxis("bottom")._tickLevels[0]
    percents = sorted({p for r in panel.runs for p in (100 * f for f in r.draws)})
    assert [(round(v, 6), s) for v, s in major] == [(round(math.log10(p), 6), f"{p:g}") for p in percents]
    names = [s for _, s in panel.dots_plot.getAxis("bottom")._tickLevels[0]]
    assert names == ["contrastive", "BYOL"] or names == ["contr.", "BYOL"]
