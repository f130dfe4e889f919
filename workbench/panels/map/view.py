"""The embedding map: a run's tracks on the engine's PCA or UMAP map, coloured by split, tag
group, tag, k-means cluster or (clustering runs) clustering prototype; hover names a track, a
click plays it and lists its nearest neighbours in the full embedding space, a rectangle shows the
tag make-up of a region.

Keys: space plays/stops the current track, N plays the next neighbour.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QSpinBox, QSplitter, QVBoxLayout, QWidget

from workbench.panels.map import model as mm
from workbench.background import Background
from workbench.panels.map.colours import (  # noqa: F401 (the palettes are part of this panel's interface)
    COLOURS, OTHER_PROTOTYPES, PALETTE, PROTOTYPE_COLOURS, TAG_COLOURS, MapColours,
)
from workbench.panels.map.plot import MapPlot
from workbench.panels.map.side import N_NEIGHBOURS, TrackSide
from workbench.panels.map.source import MapSource
from workbench.panels.map.audition_view import PrototypeAudition
from workbench.player import Player
from workbench.runs.watch_qt import RunWatchHub
from workbench.runs.model import read_run
from workbench.runs.selection import RunSelection

POLL_MS = 2000  # how often a panel shown alone, with its own watchers, looks at the files


class EmbeddingMapPanel(QWidget):
    """Map of the first selected run (or the one picked in the run box); see the module docstring."""

    play_requested = Signal(str, str, float)  # track id, audio path, segment start (s)
    neighbours_changed = Signal(list)  # neighbour rows of the clicked track, most similar first

    def __init__(self, selection: RunSelection, player: Player, parent: QWidget | None = None,
                 watch: RunWatchHub | None = None, poll_ms: int = POLL_MS) -> None:
        super().__init__(parent)
        self.selection, self.player = selection, player
        self.data: mm.MapData | None = None
        self.maps: dict[str, np.ndarray] = {}
        self.codes = np.zeros(0, np.int64)
        self.category_names: list[str] = []
        self.current_row: int | None = None
        self._playing_row: int | None = None
        self.neighbour_rows = np.zeros(0, np.int64)
        self.makeup: list[mm.TagCount] = []
        self._next_neighbour = 0
        self._clusters: dict[int, np.ndarray] = {}
        self._user_picked_map = False
        self._kmeans = Background(self)
        self._colours = MapColours()
        self.source = MapSource(watch if watch is not None else RunWatchHub(poll_ms, parent=self), self)
        self.source.loaded.connect(self._on_loaded)
        self.source.failed.connect(self._on_load_failed)
        self.source.maps_read.connect(self._set_maps)
        self.source.reload_needed.connect(self._on_run_changed)
        self._build()
        self.selection.changed.connect(self._on_selection_changed)
        self._on_selection_changed(self.selection.runs())

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.run_box, self.map_box, self.colour_box = QComboBox(), QComboBox(), QComboBox()
        self.k_box = QSpinBox(minimum=2, maximum=50, value=8, prefix="k = ")
        self.region_button = QPushButton("Select region", checkable=True, toolTip="List the tags of the tracks in "
                                         "a rectangle: drag on the map to draw it, drag its corner to resize it")
        self.status = QLabel()
        bar = QHBoxLayout()
        for label, widget in (("Run", self.run_box), ("Map", self.map_box), ("Colour by", self.colour_box)):
            bar.addWidget(QLabel(label))
            bar.addWidget(widget)
        for widget in (self.k_box, self.region_button):
            bar.addWidget(widget)
        bar.addStretch(1)
        self.colour_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.plot = MapPlot()
        self.plot.describe = self._describe
        self.legend = QLabel(wordWrap=True)
        side = self.side = TrackSide()
        self.track_label, self.neighbour_table, self.makeup_table = side.track_label, side.neighbour_table, \
            side.makeup_table
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.plot, 1)
        left_layout.addWidget(self.legend)
        self.audition = PrototypeAudition(self.player)
        self.audition.hide()
        self.audition.highlight.connect(self._on_prototype_chosen)
        self.audition.play_requested.connect(self.play_requested)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(side)
        right.addWidget(self.audition)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)  # the neighbours' tags column needs room (about 40 % of the width)
        side.setMinimumWidth(320)
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.status)
        layout.addWidget(split, 1)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        for key, slot in ((Qt.Key.Key_Space, self.toggle_play), (Qt.Key.Key_N, self.play_next_neighbour)):
            shortcut = QShortcut(QKeySequence(key), self, context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(slot)
        self.run_box.currentIndexChanged.connect(self._on_run_changed)
        self.map_box.activated.connect(self._on_map_picked)
        self.colour_box.currentIndexChanged.connect(self._on_colour_changed)
        self.k_box.valueChanged.connect(self._on_colour_changed)
        self.region_button.toggled.connect(self.plot.show_region)
        self.plot.region_changed.connect(self._on_region_changed)
        self.plot.row_clicked.connect(self.select_track)

    # ------------------------------------------------------------------ loading
    def _on_selection_changed(self, runs: list[Path]) -> None:
        current = self.run_box.currentData()
        self.run_box.blockSignals(True)
        self.run_box.clear()
        for run in runs:
            self.run_box.addItem(Path(run).name, str(run))
        keep = self.run_box.findData(current) if current is not None else -1
        self.run_box.setCurrentIndex(max(keep, 0) if runs else -1)
        self.run_box.blockSignals(False)
        if keep < 0:
            self._on_run_changed()

    def run_dir(self) -> Path | None:
        value = self.run_box.currentData()
        return Path(value) if value else None

    def _on_run_changed(self, *_: object) -> None:
        self.data, self.maps = None, {}
        self._clusters, self._user_picked_map = {}, False
        self.current_row, self._playing_row, self.neighbour_rows = None, None, np.zeros(0, np.int64)
        self.neighbour_table.setRowCount(0)
        self.plot.clear_points()
        run = self.run_dir()
        self.source.follow(run)
        if run is None:
            self.status.setText("Select a run to see its map.")
            return
        self.status.setText(f"Loading {run.name}…")
        self.source.load()

    def _on_load_failed(self, message: str) -> None:
        if "no embeddings yet" in message and self.source.run is not None:
            message = mm.waiting_for_embeddings(read_run(self.source.run))
        self.status.setText(message.split(": ", 1)[-1] if "StoreError" in message else message)

    def _on_loaded(self, result: tuple[mm.MapData, dict[str, np.ndarray]]) -> None:
        self.data = result[0]
        self.colour_box.blockSignals(True)
        self.colour_box.clear()
        for option in mm.colour_options(self.data.tag_names, self.data.prototypes is not None):
            self.colour_box.addItem(option.label, option)
        self.colour_box.setCurrentIndex(min(1, self.colour_box.count() - 1))  # the first tag group, if any
        self.colour_box.blockSignals(False)
        self._set_maps(result[1])
        self._on_colour_changed()
        self.audition.set_data(self.data)

    def _on_prototype_chosen(self, rows: np.ndarray) -> None:
        """Ring every track of the prototype chosen in the audition list."""
        if self.data is not None and len(rows):
            self.plot.mark(int(rows[0]), rows)
            self.status.setText(f"{len(rows)} of {len(self.data)} tracks take this prototype")

    def _set_maps(self, maps: dict[str, np.ndarray]) -> None:
        shown = self.map_box.currentData()
        self.maps = maps
        self.map_box.blockSignals(True)
        self.map_box.clear()
        for name in maps:
            self.map_box.addItem(name.upper(), name)
        keep = self.map_box.findData(shown) if self._user_picked_map else -1
        self.map_box.setCurrentIndex(keep if keep >= 0 else 0)  # the best map unless one was picked
        self.map_box.blockSignals(False)
        if not maps:
            self.status.setText("No 2-D map yet: the engine's project job writes the PCA preview and the UMAP.")
            return
        pending = "" if "umap" in maps else " (UMAP not computed yet: shown when the engine has it)"
        self.status.setText(f"{len(self.data)} tracks{pending}")
        self._draw()

    def _on_map_picked(self, *_: object) -> None:
        self._user_picked_map = True
        self._draw()

    # ------------------------------------------------------------------ drawing
    def _draw(self) -> None:
        name = self.map_box.currentData()
        if self.data is None or name not in self.maps:
            return
        self.plot.set_points(self.maps[name], self._point_brushes())
        self.plot.mark(self.current_row, self.neighbour_rows)

    def _point_brushes(self) -> list:
        return self._colours.brushes(self._colour().kind, len(self.category_names), self.codes, len(self.data))

    def set_colour(self, colour: mm.ColourBy) -> None:
        """Colour the map by `colour` (one of `mm.colour_options` of the run's tags)."""
        options = [self.colour_box.itemData(i) for i in range(self.colour_box.count())]
        if colour not in options:
            raise ValueError(f"colouring '{colour.label}' is not offered for this run")
        self.colour_box.setCurrentIndex(options.index(colour))

    def _colour(self) -> mm.ColourBy:
        return self.colour_box.currentData() or mm.ColourBy("split")

    def _on_colour_changed(self, *_: object) -> None:
        if self.data is None:
            return
        colour = self._colour()
        self.k_box.setEnabled(colour.kind == "kmeans")
        if colour.kind == "kmeans" and self.k_box.value() not in self._clusters:
            k, unit = self.k_box.value(), self.data.unit
            self.status.setText(f"Computing k-means (k = {k})…")
            self._kmeans.submit(lambda: (k, mm.kmeans_clusters(unit, k)), self._on_clusters, self.status.setText)
            return
        self.codes, self.category_names = mm.categories(self.data, colour, self._clusters.get(self.k_box.value()))
        if len(self.plot.scatter.data) == len(self.data):
            self.plot.set_brushes(self._point_brushes())
        else:
            self._draw()
        self._show_legend()

    def _on_clusters(self, result: tuple[int, np.ndarray]) -> None:
        self._clusters[result[0]] = result[1]
        self.status.setText(f"{len(self.data)} tracks, k-means with k = {result[0]}")
        self._on_colour_changed()

    def _show_legend(self) -> None:
        entries = self._colours.legend(self._colour().kind, self.category_names, self.codes)
        summary = ""
        if self._colour().kind == "prototype":
            summary = mm.prototype_summary(self.data.prototypes, self.data.n_prototypes)
            entries = "&nbsp;&nbsp; ".join(e for e in (f"<b>{summary}</b>", entries) if e)
        self.legend.setText(entries)
        self.legend.setToolTip(summary)

    # ------------------------------------------------------------------ tracks
    def _describe(self, row: int) -> str:
        text = f"{self.data.ids[row]}\n{', '.join(self.data.tags_of(row)) or 'no tags'}"
        if self.data.prototypes is not None and self.data.prototypes[row] >= 0:
            text += f"\nprototype {self.data.prototypes[row]}"
        return text

    def select_track(self, row: int) -> None:
        """Play a track and list its nearest neighbours."""
        self.current_row = row
        self.neighbour_rows, sims = mm.neighbours(self.data.unit, row, N_NEIGHBOURS)
        self._next_neighbour = 0
        self.side.show_track(self.data, row)
        self.side.show_neighbours(self.data, self.neighbour_rows, sims, self.player, self.play_row)
        self.plot.mark(row, self.neighbour_rows)
        self.neighbours_changed.emit([int(r) for r in self.neighbour_rows])
        self.play_row(row)

    # ------------------------------------------------------------------ audio
    def play_row(self, row: int) -> None:
        """Ask for a track's segment (signal) and play it when there is an audio device."""
        self._playing_row = row
        path, start = self.data.paths[row], float(self.data.start_s[row])
        self.play_requested.emit(self.data.ids[row], path, start)
        if not self.player.available:
            self.status.setText(self.player.reason)
            return
        try:
            self.player.play(path, start)
        except ValueError as err:
            self.status.setText(str(err))
            return
        self.side.show_playing(self.player, f"{self.data.ids[row]} from {start:g} s")

    def toggle_play(self) -> None:
        """Space: stop what plays, or play the last played track again."""
        if self.current_row is None:
            return
        if self.player.playing:
            self.player.stop()
        else:
            self.play_row(self.current_row if self._playing_row is None else self._playing_row)

    def play_next_neighbour(self) -> None:
        """N: play the next neighbour of the clicked track (wrapping round)."""
        if not len(self.neighbour_rows):
            return
        i = self._next_neighbour % len(self.neighbour_rows)
        self._next_neighbour = i + 1
        self.neighbour_table.selectRow(i)
        self.play_row(int(self.neighbour_rows[i]))

    # ------------------------------------------------------------------ region
    def select_region(self, x0: float, y0: float, x1: float, y1: float) -> None:
        """Show the rectangle with these corners (map coordinates) and its tag make-up."""
        self.region_button.blockSignals(True)
        self.region_button.setChecked(True)
        self.region_button.blockSignals(False)
        self.plot.select_region(x0, y0, x1, y1)

    def _on_region_changed(self, mask: np.ndarray | None) -> None:
        if mask is None or self.data is None:
            self.makeup = []
        else:
            self.makeup = mm.tag_makeup(self.data.tags, self.data.tag_names, mask) if mask.any() else []
            self.status.setText(f"{int(mask.sum())} of {len(self.data)} tracks in the region")
        self.side.show_makeup(self.makeup)
