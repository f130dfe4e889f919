"""Scores panel: the per-tag table from the stored probe metrics (sorted, filtered, heat-coloured),
Fig. 1 and the win matrix from engine.evaluation.metrics.paired_bootstrap, Fig. 2, and the exports."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from engine.rundir import analysis_store, embeddings_store
from engine.evaluation.metrics import paired_bootstrap, tag_metrics
from engine.rundir.files import write_status
from workbench.panels.scores import model as sm
from workbench.panels.scores.view import SORT_ROLE, ScoresPanel
from workbench.runs.selection import RunSelection

TAGS = ["genre:rock", "genre:jazz", "genre:folk", "genre:funk", "instrument:piano"]
GENRES = TAGS[:4]
N = 90
FRACTIONS = (0.05, 0.2, 1.0)


def make_scored_run(root: Path, name: str, method: str, skill: float, seed: int, genres: bool = True) -> Path:
    """A run whose genre probe predicts the test labels with noise; better `skill`, better scores;
    `genres=False` leaves no track with a genre, so no genre tag can be scored."""
    rng = np.random.default_rng(42)  # the same corpus for every run
    run = root / name
    run.mkdir(parents=True)
    write_status(run, "done", method=method)
    tags = (rng.random((N, len(TAGS))) < 0.3).astype(np.uint8)
    tags[:6, 3] = 0  # funk: only a few positives
    tags[:, :4] *= genres
    splits = ["train", "valid", "test"]
    tracks = embeddings_store.TrackTable([f"t{i:03d}" for i in range(N)], [f"/audio/t{i:03d}.flac" for i in range(N)],
                              [splits[i % 3] for i in range(N)], tags, TAGS)
    with embeddings_store.EmbeddingsWriter(run, tracks, 8, {"run_id": name, "method": method}) as writer:
        writer.add_segments(np.arange(N), np.zeros(N, np.float32), rng.normal(size=(N, 8)))
        writer.finish()
    test = tracks.split_index("test")
    y = tags[test][:, :4]
    noise = np.random.default_rng(seed)
    for fraction in FRACTIONS:
        for draw in range(1 if fraction == 1.0 else 3):
            pred = skill * fraction ** 0.2 * y + noise.normal(size=y.shape)
            metrics = tag_metrics(y, pred, GENRES).to_dict()
            analysis_store.write_probe(run, "genre", fraction, draw, pred, test, GENRES, metrics, {})
    return run


@pytest.fixture
def runs(tmp_path: Path) -> list[Path]:
    return [make_scored_run(tmp_path, "a-contrastive", "contrastive", 2.0, 1),
            make_scored_run(tmp_path, "b-byol", "byol", 1.0, 2),
            make_scored_run(tmp_path, "c-vicreg", "vicreg", 0.3, 3)]


@pytest.fixture
def panel(qtbot, runs: list[Path]) -> ScoresPanel:
    selection = RunSelection()
    view = ScoresPanel(selection, n_resamples=200)
    qtbot.addWidget(view)
    selection.set_runs(runs)
    qtbot.waitUntil(lambda: view.boot is not None, timeout=10000)
    return view


def column_values(view: ScoresPanel, column: int) -> list[str]:
    return [view.proxy.index(r, column).data() for r in range(view.proxy.rowCount())]


def test_table_holds_the_stored_metrics(panel: ScoresPanel, runs: list[Path]) -> None:
    assert panel.task_box.currentText() == "genre"
    assert panel.proxy.rowCount() == 4 and panel.proxy.columnCount() == 1 + 3 * 2
    assert panel.model.headerData(1, Qt.Orientation.Horizontal) == "contrastive\nROC-AUC"  # short, the id in its tip
    assert panel.model.horizontalHeaderItem(1).toolTip() == "a-contrastive"
    stored = analysis_store.read_probes(runs[1], "genre")["genre"].at(1.0)[0].metrics
    col = 1 + 2 * 1 + 1  # b-byol PR-AUC
    for row in range(4):
        tag = panel.proxy.index(row, 0).data()
        assert panel.proxy.index(row, col).data() == f"{stored['pr_auc'][tag]:.3f}"
        assert panel.proxy.index(row, col).data(SORT_ROLE) == pytest.approx(stored["pr_auc"][tag])
    assert f"PR-AUC {stored['macro']['pr_auc']:.3f}" in panel.summary.text()
    assert "probe protocol: ours" in panel.summary.text()


def test_table_sorts_by_value_and_filters_by_tag(panel: ScoresPanel) -> None:
    panel.table.sortByColumn(1, Qt.SortOrder.DescendingOrder)
    values = [panel.proxy.index(r, 1).data(SORT_ROLE) for r in range(4)]
    assert values == sorted(values, reverse=True)
    panel.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
    assert column_values(panel, 0) == sorted(GENRES)
    panel.filter_edit.setText("J")
    assert column_values(panel, 0) == ["genre:jazz"]
    panel.filter_edit.setText("")
    assert panel.proxy.rowCount() == 4


def test_cells_are_heat_coloured_within_a_metric(panel: ScoresPanel) -> None:
    model = panel.model
    roc_cols = [i + 1 for i, (_, m) in enumerate(model.table.columns) if m == "roc_auc"]
    cells = [(model.table.values[r, c - 1], model.index(r, c).data(Qt.ItemDataRole.BackgroundRole))
             for r in range(4) for c in roc_cols]
    best = max(cells, key=lambda cell: cell[0])[1]
    worst = min(cells, key=lambda cell: cell[0])[1]
    assert best.color().name() == "#bd0026" and worst.color().name() == "#ffffcc"


def test_fig1_and_matrix_equal_paired_bootstrap(panel: ScoresPanel, runs: list[Path], qtbot) -> None:
    loaded = [sm.load_scores(r, "genre") for r in runs]
    test = analysis_store.read_probes(runs[0], "genre")["genre"].test_index
    with embeddings_store.open_embeddings(runs[0]) as emb:
        y = emb.tracks.tags[test][:, :4]
    preds = {r.name: r.pred for r in loaded}
    expected = paired_bootstrap(y, preds, n_resamples=200, seed=0, metric="roc_auc", average="macro")
    names = [r.name for r in loaded]
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            text = panel.matrix.item(i, j).text()
            assert text == "–" if a == b else text == f"{100 * expected.beats[(a, b)]:.1f} %"
    assert expected.beats[("a-contrastive", "c-vicreg")] > 0.95  # the better probe wins nearly always
    x, y_means = panel.means.getData()
    np.testing.assert_allclose(y_means, [expected.runs[n].mean for n in names])
    _, dots = panel.dots.getData()
    np.testing.assert_allclose(dots, np.concatenate([expected.runs[n].values for n in names]))
    assert len(dots) == 3 * 200

    panel.metric_box.setCurrentIndex(panel.metric_box.findData("pr_auc"))
    expected_pr = paired_bootstrap(y, preds, n_resamples=200, seed=0, metric="pr_auc", average="macro")
    assert panel.boot is None  # recomputed in the background
    qtbot.waitUntil(lambda: panel.boot is not None, timeout=10000)
    assert panel.boot.metric == "pr_auc"
    assert panel.matrix.item(0, 2).text() == f"{100 * expected_pr.beats[('a-contrastive', 'c-vicreg')]:.1f} %"


def test_fig2_curves_are_the_mean_of_draws(panel: ScoresPanel, runs: list[Path]) -> None:
    probes = analysis_store.read_probes(runs[2], "genre")["genre"]
    x, y = panel.curves[2].getOriginalDataset()
    np.testing.assert_allclose(x, [5, 20, 100])
    for fraction, value in zip(FRACTIONS, y):
        assert value == pytest.approx(np.mean([d.metrics["macro"]["roc_auc"] for d in probes.at(fraction)]))
    px, _ = panel.draw_dots.getOriginalDataset()
    assert len(px) == 3 * (3 + 3 + 1)


def test_undefined_scores_are_left_out_of_the_figures(qtbot, tmp_path: Path) -> None:
    """A probe whose tags have no positive test track scores NaN (a tiny corpus): nothing NaN is plotted."""
    runs = [make_scored_run(tmp_path, "a-contrastive", "contrastive", 2.0, 1, genres=False),
            make_scored_run(tmp_path, "b-byol", "byol", 1.0, 2, genres=False)]
    selection = RunSelection()
    view = ScoresPanel(selection, n_resamples=50)
    qtbot.addWidget(view)
    view.metric_box.setCurrentIndex(view.metric_box.findData("pr_auc"))
    selection.set_runs(runs)
    qtbot.waitUntil(lambda: view.boot is not None and view.boot.metric == "pr_auc", timeout=10000)
    assert np.isnan(view.boot.runs["a-contrastive"].values).all()
    plotted = [item.getData()[1] for item in (view.means, view.dots, view.draw_dots, *view.curves)]
    assert all(y is None or len(y) == 0 for y in plotted), plotted


def test_runs_without_probes_show_a_hint(qtbot, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    selection = RunSelection()
    selection.set_runs([tmp_path / "empty"])
    view = ScoresPanel(selection)
    qtbot.addWidget(view)
    assert view.proxy.rowCount() == 0 and "No probe scores" in view.summary.text()


def test_exports(panel: ScoresPanel, tmp_path: Path) -> None:
    panel.resize(1200, 800)
    panel.export_png(tmp_path / "scores.png")
    assert (tmp_path / "scores.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    panel.export_csv(tmp_path / "scores.csv")
    rows = list(csv.DictReader(open(tmp_path / "scores.csv")))
    tag_rows = [r for r in rows if r["section"] == "tag" and r["run"] == "b-byol" and r["metric"] == "roc_auc"]
    assert {r["tag"] for r in tag_rows} == set(GENRES)
    beats = {(r["run"], r["versus"]): float(r["value"]) for r in rows if r["section"] == "beats_over_tracks"}
    assert beats[("a-contrastive", "b-byol")] == pytest.approx(panel.boot.beats[("a-contrastive", "b-byol")])
    assert len([r for r in rows if r["section"] == "limited_data_mean"]) == 3 * 2 * 3


def test_runs_of_one_method_with_several_seeds_are_grouped(qtbot, tmp_path: Path) -> None:
    runs = [make_scored_run(tmp_path, "c-s0", "contrastive", 2.0, 1), make_scored_run(tmp_path, "c-s1", "contrastive",
                                                                                    1.8, 4),
            make_scored_run(tmp_path, "v-s0", "vicreg", 0.3, 3), make_scored_run(tmp_path, "v-s1", "vicreg", 0.2, 5)]
    selection = RunSelection()
    view = ScoresPanel(selection, n_resamples=200)
    qtbot.addWidget(view)
    selection.set_runs(runs)
    qtbot.waitUntil(lambda: view.seeds is not None, timeout=10000)
    loaded = [sm.load_scores(r, "genre") for r in runs]
    boot = sm.bootstrap(loaded, "roc_auc", 200)
    expected = sm.seed_comparison(loaded, boot)
    assert expected.groups == {"contrastive": ["c-s0", "c-s1"], "vicreg": ["v-s0", "v-s1"]}
    shares = expected.beats[("contrastive", "vicreg")]
    assert view.seed_matrix.table.rowCount() == 2
    assert view.seed_matrix.table.item(0, 1).text() == " · ".join(f"{100 * shares[o]:.0f} %" for o in sm.OVER)
    assert shares["both"] > 0.9
    assert "over 2 seeds" in view.seed_matrix.label.text() and "over tracks" in view.seed_matrix.label.text()
    assert "over tracks" in view.matrix_label.text()
    assert not view.seed_matrix.isHidden()
    view.export_csv(tmp_path / "s.csv")
    rows = list(csv.DictReader((tmp_path / "s.csv").open()))
    both = {(r["run"], r["versus"]): float(r["value"]) for r in rows if r["section"] == "method_beats_over_both"}
    assert both[("contrastive", "vicreg")] == pytest.approx(shares["both"])
    selection.set_runs([runs[0], runs[2]])  # one seed per method: nothing to show across seeds
    qtbot.waitUntil(lambda: view.seed_matrix.isHidden(), timeout=10000)


def test_an_open_panel_shows_probes_written_after_it_opened(qtbot, tmp_path: Path) -> None:
    """A probe job that ends while the panel shows its run: the new task and its scores appear by themselves."""
    run = make_scored_run(tmp_path, "a-contrastive", "contrastive", 2.0, 1)
    selection = RunSelection()
    view = ScoresPanel(selection, n_resamples=50, poll_ms=50)
    qtbot.addWidget(view)
    selection.set_runs([run])
    assert [view.task_box.itemText(i) for i in range(view.task_box.count())] == ["genre"]
    found = analysis_store.read_probes(run, "genre")["genre"].at(1.0)[0]
    test = analysis_store.read_probes(run, "genre")["genre"].test_index
    analysis_store.write_probe(run, "mood", 1.0, 0, found.pred, np.asarray(test), GENRES, found.metrics, {})
    qtbot.waitUntil(lambda: view.task_box.findText("mood") >= 0, timeout=5000)
    assert view.task_box.currentText() == "genre"  # the task the user chose stays chosen
    view.task_box.setCurrentText("mood")
    assert view.runs and view.runs[0].task == "mood" and view.proxy.rowCount() == 4


def test_axes_before_any_score_span_a_score(qtbot, tmp_path: Path) -> None:
    view = ScoresPanel(RunSelection(), n_resamples=50)
    qtbot.addWidget(view)
    assert view.dots_plot.getViewBox().viewRange()[1] == [0, 1]
    assert view.curves_plot.getViewBox().viewRange() == [[0, 2], [0, 1]]


def test_vs_paper_shows_each_run_beside_the_papers_figures_only_while_on(panel: ScoresPanel) -> None:
    assert not panel.paper.view.isVisibleTo(panel)
    panel.paper.toggle.setChecked(True)
    assert panel.paper.view.isVisibleTo(panel)
    text = panel.paper.view.toPlainText()
    for run in panel.runs:
        assert f"{run.name} ({run.method}, probe ours)" in text
    interval = panel.boot.runs["a-contrastive"]
    assert f"[{interval.low:.3f}, {interval.high:.3f}]" in text  # the panel's own bootstrap interval
    assert "no published figure" in text and "No published figure exists for this corpus" in text
    assert "pre-training corpus" in text and "segments" in text and "poster Fig. 1" in text
    panel.paper.toggle.setChecked(False)
    assert not panel.paper.view.isVisibleTo(panel)
