"""Embedding map: the view follows the store (PCA now, UMAP when the engine writes it), colourings,
hover, click → play + cosine neighbours, keys, and the tag make-up of a rectangle."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QApplication

from engine.rundir import analysis_store, embeddings_store
from engine.rundir.files import write_status
from workbench.panels.map import model as mm
from workbench.panels.map.view import (
    OTHER_PROTOTYPES, PALETTE, PROTOTYPE_COLOURS, TAG_COLOURS, EmbeddingMapPanel,
)
from workbench.player import Player
from workbench.runs.selection import RunSelection

TAGS = ["genre:rock", "genre:jazz", "genre:folk", "instrument:piano", "mood:calm"]


def make_map_run(root: Path, n: int = 60, dim: int = 32, seed: int = 0, name: str = "run-a",
                 pca: bool = True, prototypes: np.ndarray | None = None) -> Path:
    """A run with three genre clusters in embedding space, three segments per track and a PCA map;
    with `prototypes` (N,) a clustering run that stored each track's prototype (of 4,096)."""
    rng = np.random.default_rng(seed)
    run = root / name
    run.mkdir(parents=True)
    genre = np.arange(n) % 3
    tags = np.zeros((n, len(TAGS)), np.uint8)
    tags[np.arange(n), genre] = 1
    tags[:, 3] = rng.random(n) < 0.4
    tags[:, 4] = rng.random(n) < 0.3
    tags[::7, :3] = 0  # a few tracks without a genre
    splits = ["train", "valid", "test"]
    tracks = embeddings_store.TrackTable([f"t{i:03d}" for i in range(n)], [str(root / f"t{i:03d}.flac") for i in range(n)],
                              [splits[i % 3] for i in range(n)], tags, TAGS)
    centres = rng.normal(size=(3, dim)) * 3
    method = "contrastive" if prototypes is None else "clustering"
    with embeddings_store.EmbeddingsWriter(run, tracks, dim, {"run_id": name, "method": method, "checkpoint_step": 20,
                                                   "sample_rate": 16000, "segment_seconds": 4.0}) as writer:
        for start in (8.0, 0.0, 4.0):  # out of time order on purpose
            emb = centres[genre] + rng.normal(size=(n, dim))
            writer.add_segments(np.arange(n), np.full(n, start, np.float32), emb)
        writer.finish(prototypes=None if prototypes is None else
                      embeddings_store.TrackPrototypes(np.asarray(prototypes, np.int32), 4096, "teacher", 0.04, True))
    if pca:
        with embeddings_store.open_embeddings(run) as emb:
            x = emb.track_embeddings()
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
        x -= x.mean(0)
        xy = x @ np.linalg.svd(x, full_matrices=False)[2][:2].T
        analysis_store.write_projection(run, "pca", xy, {"method": "pca"})
    return run


def no_audio() -> Player:
    return Player(device="no such output device")


@pytest.fixture
def panel(qtbot, tmp_path: Path) -> EmbeddingMapPanel:
    run = make_map_run(tmp_path)
    selection = RunSelection()
    view = EmbeddingMapPanel(selection, no_audio(), poll_ms=100)
    qtbot.addWidget(view)
    view.resize(1000, 700)
    view.show()
    qtbot.waitExposed(view)
    selection.set_runs([run])
    qtbot.waitUntil(lambda: view.data is not None and len(view.plot.scatter.data) == 60, timeout=5000)
    return view


def brush_colours(view: EmbeddingMapPanel) -> list[str]:
    return [b.color().name(b.color().NameFormat.HexArgb) for b in view.plot.scatter.data["brush"]]


def hex_argb(colour: str) -> str:
    from PySide6.QtGui import QColor
    return QColor(colour).name(QColor.NameFormat.HexArgb)


def scene_pos(view: EmbeddingMapPanel, row: int) -> QPointF:
    x, y = view.plot.lookup.xy[row]
    return view.plot.getViewBox().mapViewToScene(QPointF(x, y))


def test_middle_segment_is_played() -> None:
    track = np.array([1, 0, 1, 1, 0], np.int32)
    start = np.array([8.0, 4.0, 0.0, 4.0, 0.0], np.float32)
    assert mm.middle_segments(track, start, 3).tolist() == [0.0, 4.0, 0.0]  # track 2 has none


def test_pca_first_then_umap_when_the_engine_writes_it(panel: EmbeddingMapPanel, qtbot) -> None:
    assert [panel.map_box.itemData(i) for i in range(panel.map_box.count())] == ["pca"]
    assert "UMAP not computed yet" in panel.status.text()
    umap_xy = np.random.default_rng(1).normal(size=(60, 2)).astype(np.float32)
    analysis_store.write_projection(panel.run_dir(), "umap", umap_xy, {"method": "umap"})
    qtbot.waitUntil(lambda: panel.map_box.currentData() == "umap", timeout=5000)
    x, y = panel.plot.scatter.getData()
    np.testing.assert_allclose(np.c_[x, y], umap_xy, rtol=1e-6)


def test_embeddings_appearing_later_are_loaded(qtbot, tmp_path: Path) -> None:
    selection = RunSelection()
    view = EmbeddingMapPanel(selection, no_audio(), poll_ms=100)
    qtbot.addWidget(view)
    (tmp_path / "late").mkdir()
    selection.set_runs([tmp_path / "late"])
    qtbot.waitUntil(lambda: "No embeddings yet: embed the run" in view.status.text(), timeout=5000)
    write_status(tmp_path / "late", "running", study="s1")
    view.source.reload_needed.emit()
    qtbot.waitUntil(lambda: "the study embeds this run once it is trained" in view.status.text(), timeout=5000)
    for leftover in (tmp_path / "late").iterdir():
        leftover.unlink()
    (tmp_path / "late").rmdir()
    make_map_run(tmp_path, name="late", pca=False)
    qtbot.waitUntil(lambda: view.data is not None, timeout=5000)
    assert "No 2-D map yet" in view.status.text()


def test_colours_follow_colour_by(panel: EmbeddingMapPanel) -> None:
    options = [panel.colour_box.itemData(i) for i in range(panel.colour_box.count())]
    assert options[:4] == [mm.ColourBy("split"), mm.ColourBy("group", "genre"), mm.ColourBy("group", "instrument"),
                           mm.ColourBy("group", "mood")]
    assert panel.colour_box.currentData() == mm.ColourBy("group", "genre")
    genre = [hex_argb(PALETTE[c]) for c in panel.codes]
    assert brush_colours(panel) == genre
    assert panel.category_names == ["genre:rock", "genre:jazz", "genre:folk", mm.NO_TAG]
    assert panel.codes[0] == 3 and panel.codes[1] == 1  # track 0 lost its genre, track 1 is jazz

    panel.set_colour(mm.ColourBy("tag", "instrument:piano"))
    piano = panel.data.tags[:, 3]
    assert brush_colours(panel) == [hex_argb(TAG_COLOURS[int(t)]) for t in piano]
    with_piano = (f'<span style="white-space:nowrap"><span style="color:{TAG_COLOURS[1]}">■</span>&nbsp;'
                  f"instrument:piano ({int(piano.sum())})</span>")  # the square never wraps away from its name
    assert with_piano in panel.legend.text()

    panel.colour_box.setCurrentIndex(0)
    assert brush_colours(panel) == [hex_argb(PALETTE[["test", "train", "valid"].index(s)]) for s in panel.data.splits]


def test_prototype_categories_colour_the_most_used_and_group_the_rest() -> None:
    prototypes = np.array([5, 9, 9, 2, 5, 9, -1, 30, 2, 7])
    codes, names = mm.prototype_categories(prototypes, top=3)
    assert names == ["prototype 9", "prototype 2", "prototype 5", "2 other prototypes"]  # ties by number
    assert codes.tolist() == [2, 0, 0, 1, 2, 0, 3, 3, 1, 3]
    assert mm.prototype_summary(prototypes, 64) == "9 tracks use 5 of 64 prototypes; the most used takes 33 %"


def test_clustering_runs_can_be_coloured_by_prototype(panel: EmbeddingMapPanel, qtbot, tmp_path: Path) -> None:
    assert mm.ColourBy("prototype") not in [panel.colour_box.itemData(i) for i in range(panel.colour_box.count())]
    with pytest.raises(ValueError, match="not offered"):
        panel.set_colour(mm.ColourBy("prototype"))

    prototypes = np.where(np.arange(60) < 40, 7, 60 + np.arange(60))  # one dominant, 20 used once
    prototypes[45] = -1
    run = make_map_run(tmp_path / "clustering", prototypes=prototypes)
    panel.selection.set_runs([run])
    qtbot.waitUntil(lambda: panel.data is not None and panel.data.prototypes is not None, timeout=5000)
    options = [panel.colour_box.itemData(i) for i in range(panel.colour_box.count())]
    assert options.index(mm.ColourBy("prototype")) == options.index(mm.ColourBy("kmeans")) + 1
    assert panel.colour_box.itemText(options.index(mm.ColourBy("prototype"))) == "clustering prototype"

    panel.set_colour(mm.ColourBy("prototype"))
    top = [7, 100, 101, 102, 103, 104, 106, 107, 108, 109]  # 7 first, then ties by number
    assert panel.category_names == [f"prototype {p}" for p in top] + ["10 other prototypes"]
    expected = [hex_argb(PROTOTYPE_COLOURS[top.index(p)] if p in top else OTHER_PROTOTYPES) for p in prototypes]
    assert brush_colours(panel) == expected
    assert brush_colours(panel)[:40] == [hex_argb(PROTOTYPE_COLOURS[0])] * 40  # the dominant one, in one colour
    assert len(set(brush_colours(panel))) == 11
    summary = "59 tracks use 20 of 4096 prototypes; the most used takes 68 %"
    assert summary in panel.legend.text() and panel.legend.toolTip() == summary
    assert "prototype 7 (40)" in panel.legend.text() and "10 other prototypes (11)" in panel.legend.text()
    assert panel._describe(0).endswith("\nprototype 7") and "prototype" not in panel._describe(45)


def test_kmeans_colouring_is_computed_in_the_background(panel: EmbeddingMapPanel, qtbot) -> None:
    panel.k_box.setValue(3)
    panel.set_colour(mm.ColourBy("kmeans"))
    qtbot.waitUntil(lambda: panel.category_names == ["cluster 0", "cluster 1", "cluster 2"], timeout=20000)
    genre = np.arange(60) % 3
    for cluster in range(3):  # the three genre clusters are found
        assert len(set(genre[panel.codes == cluster])) == 1
    assert len(set(brush_colours(panel))) == 3


def test_lookup_is_in_screen_pixels() -> None:
    lookup = mm.PointLookup(np.array([[0.0, 0.0], [10.0, 0.1], [0.0, 1.0]]))
    # x units are 10x larger per pixel than y units: (10, 0.1) is 1 px right and 1 px up of (0, 0)
    assert lookup.nearest(9.0, 0.1, pixel_w=10.0, pixel_h=0.1, radius_px=3) == 1
    assert lookup.nearest(0.0, 0.6, pixel_w=10.0, pixel_h=0.1, radius_px=3) is None
    assert lookup.nearest(0.0, 0.8, pixel_w=10.0, pixel_h=0.1, radius_px=3) == 2


def test_hover_names_the_track_and_its_tags(panel: EmbeddingMapPanel) -> None:
    row = 10
    assert panel.plot.row_at(scene_pos(panel, row)) == row
    panel.plot.scene().sigMouseMoved.emit(scene_pos(panel, row))
    assert panel.plot.hover_label.isVisible()
    assert panel.plot.hover_label.textItem.toPlainText().startswith("t010\n")
    assert ", ".join(panel.data.tags_of(row)) in panel.plot.hover_label.textItem.toPlainText()


def test_click_plays_and_lists_ten_cosine_neighbours(panel: EmbeddingMapPanel, qtbot) -> None:
    row = 5
    point = panel.plot.mapFromScene(scene_pos(panel, row))
    with qtbot.waitSignal(panel.play_requested) as played, qtbot.waitSignal(panel.neighbours_changed):
        qtbot.mouseClick(panel.plot.viewport(), Qt.MouseButton.LeftButton, pos=point)
    assert played.args == ["t005", panel.data.paths[row], 4.0]

    with embeddings_store.open_embeddings(panel.run_dir()) as emb:
        x = emb.track_embeddings().astype(np.float64)
    x -= x.mean(axis=0)  # the cosine of centred embeddings (engine.collapse.neighbours)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    sims = x @ x[row]
    sims[row] = -np.inf
    expected = np.argsort(-sims)[:10]
    table = panel.neighbour_table
    assert table.rowCount() == 10
    assert [table.item(i, 1).text() for i in range(10)] == [f"t{r:03d}" for r in expected]
    shown = [float(table.item(i, 2).text()) for i in range(10)]
    np.testing.assert_allclose(shown, sims[expected], atol=5e-4)
    assert shown == sorted(shown, reverse=True)
    button = table.cellWidget(0, 0)
    assert not button.isEnabled() and button.toolTip() == panel.player.reason != ""


@pytest.mark.parametrize("focus", ["panel", "neighbour_table", "plot"])
def test_keys_play_the_next_neighbour_and_replay(panel: EmbeddingMapPanel, qtbot, focus: str) -> None:
    panel.select_track(7)
    first, second = (panel.data.ids[r] for r in panel.neighbour_rows[:2])
    target = panel if focus == "panel" else getattr(panel, focus)
    panel.activateWindow()
    target.setFocus()
    qtbot.waitUntil(target.hasFocus, timeout=3000)
    with qtbot.waitSignal(panel.play_requested, timeout=2000) as played:
        qtbot.keyClick(target, Qt.Key.Key_N)
    assert played.args[0] == first
    with qtbot.waitSignal(panel.play_requested, timeout=2000) as played:
        qtbot.keyClick(target, Qt.Key.Key_N)
    assert played.args[0] == second and panel.neighbour_table.currentRow() == 1
    with qtbot.waitSignal(panel.play_requested, timeout=2000) as played:  # nothing plays: space replays it
        qtbot.keyClick(target, Qt.Key.Key_Space)
    assert played.args[0] == second


def test_rectangle_shows_the_tag_makeup(panel: EmbeddingMapPanel) -> None:
    xy = panel.plot.lookup.xy
    x0, x1 = np.percentile(xy[:, 0], [20, 70])
    y0, y1 = np.percentile(xy[:, 1], [10, 90])
    panel.select_region(x1, y1, x0, y0)
    inside = (xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)
    counts = panel.data.tags[inside].sum(axis=0)
    expected = {TAGS[t]: int(counts[t]) for t in range(len(TAGS)) if counts[t]}
    assert {m.tag: m.count for m in panel.makeup} == expected
    assert [m.count for m in panel.makeup] == sorted(expected.values(), reverse=True)
    table = panel.makeup_table
    assert table.rowCount() == len(expected)
    assert table.item(0, 0).text() == panel.makeup[0].tag and table.item(0, 1).text() == str(panel.makeup[0].count)
    assert f"{int(inside.sum())} of 60 tracks" in panel.status.text()
    panel.region_button.setChecked(False)
    assert table.rowCount() == 0


def test_a_drag_in_region_mode_draws_the_rectangle(qtbot, panel: EmbeddingMapPanel) -> None:
    """With Select region on, a left-button drag on the map draws a rectangle instead of panning."""
    from PySide6.QtCore import QEvent, QPoint
    from PySide6.QtGui import QMouseEvent

    assert "drag" in panel.region_button.toolTip()
    panel.resize(1000, 700)
    panel.show()
    qtbot.waitExposed(panel)
    panel.region_button.setChecked(True)
    view = panel.plot.viewport()
    vb = panel.plot.getViewBox()
    before = vb.viewRange()
    corners = [vb.mapViewToScene(QPointF(*xy)) for xy in np.percentile(panel.plot.lookup.xy, [10, 60], axis=0)]
    start, end = (panel.plot.mapFromScene(c) for c in corners)
    left = Qt.MouseButton.LeftButton
    for kind, pos, buttons in ((QEvent.Type.MouseButtonPress, start, left),
                               *((QEvent.Type.MouseMove, start + (end - start) * (i / 8), left) for i in range(1, 9)),
                               (QEvent.Type.MouseButtonRelease, end, Qt.MouseButton.NoButton)):
        event = QMouseEvent(kind, QPointF(pos), QPointF(view.mapToGlobal(QPoint(pos))), left, buttons,
                            Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(view, event)
    assert vb.viewRange() == before  # no pan
    (x, y), (w, h) = panel.plot.roi.pos(), panel.plot.roi.size()
    lo, hi = np.percentile(panel.plot.lookup.xy, [10, 60], axis=0)
    np.testing.assert_allclose([x, y, x + w, y + h], [*lo, *hi], rtol=0.05, atol=0.05 * np.ptp(panel.plot.lookup.xy))


def test_panels_load_without_torch_or_portaudio() -> None:
    code = ("import sys, workbench.panels.map.view, workbench.panels.collapse.view, workbench.panels.scores.view; "
            "print(sorted(m for m in ('torch', 'sounddevice', 'sklearn', 'umap') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


class SilentPlayer:
    """A player that plays nothing but says it does until stopped (the real one is tested in test_player)."""

    available, reason, playing = True, "", False

    def play(self, path: str, start_s: float) -> None:
        self.playing = True

    def stop(self) -> None:
        self.playing = False


def test_the_side_says_what_plays_until_it_stops(qtbot, panel: EmbeddingMapPanel) -> None:
    panel.player = player = SilentPlayer()
    panel.select_track(3)
    assert panel.side.playing_label.text().startswith(f"▶ playing {panel.data.ids[3]} from ")
    player.stop()
    qtbot.waitUntil(lambda: panel.side.playing_label.text() == "", timeout=2000)
