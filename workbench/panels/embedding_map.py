"""The embedding map: a run's tracks on the engine's PCA or UMAP map, coloured by split, tag
group, tag, k-means cluster or (clustering runs) clustering prototype; hover names a track, a
click plays it and lists its nearest neighbours in the full embedding space, a rectangle shows the
tag make-up of a region.

Keys: space plays/stops the current track, N plays the next neighbour.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox, QHBoxLayout, QHeaderView, QLabel, QPushButton, QSpinBox, QSplitter, QTableWidget,
    QTableWidgetItem, QToolButton, QVBoxLayout, QWidget,
)

from engine.rundir.embeddings_store import StoreError
from engine.rundir.layout import ANALYSIS, EMBEDDINGS
from workbench import map_model as mm
from workbench.background import Background
from workbench.panels.map_plot import MapPlot
from workbench.player import Player
from workbench.selection import RunSelection

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7",
           "#dbdb8d", "#9edae5"]
TAG_COLOURS = ["#b4b4b450", "#d62728"]  # without / with the tag
PROTOTYPE_COLOURS = [c for c in PALETTE if c not in ("#7f7f7f", "#c7c7c7")][:mm.TOP_PROTOTYPES]  # no greys
OTHER_PROTOTYPES = "#d9d9d9"  # every prototype beyond the most used ones
COLOURS = {"tag": TAG_COLOURS, "category": PALETTE, "prototype": PROTOTYPE_COLOURS + [OTHER_PROTOTYPES]}
N_NEIGHBOURS = 10
POLL_MS = 2000


def _brushes(colours: list[str]) -> np.ndarray:
    return np.array([QBrush(QColor(c)) for c in colours], dtype=object)


class EmbeddingMapPanel(QWidget):
    """Map of the first selected run (or the one picked in the run box); see the module docstring."""

    play_requested = Signal(str, str, float)  # track id, audio path, segment start (s)
    neighbours_changed = Signal(list)  # neighbour rows of the clicked track, most similar first

    def __init__(self, selection: RunSelection, player: Player, parent: QWidget | None = None,
                 poll_ms: int = POLL_MS) -> None:
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
        self._stamps: tuple[float, float] = (0.0, 0.0)
        self._loader, self._kmeans = Background(self), Background(self)
        self._palettes = {name: _brushes(colours) for name, colours in COLOURS.items()}  # shared by every point
        self._build()
        self.selection.changed.connect(self._on_selection_changed)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._on_poll)
        self._timer.start(poll_ms)
        self._on_selection_changed(self.selection.runs())

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.run_box, self.map_box, self.colour_box = QComboBox(), QComboBox(), QComboBox()
        self.k_box = QSpinBox(minimum=2, maximum=50, value=8, prefix="k = ")
        self.region_button = QPushButton("Select region", checkable=True)
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
        self.track_label = QLabel("Click a point to play it and list its neighbours.", wordWrap=True)
        self.neighbour_table = self._table(["", "track", "cosine", "tags"])
        self.makeup_table = self._table(["tag", "tracks", "% of region", "% of all"])
        side = QWidget()
        side_layout = QVBoxLayout(side)
        for widget in (self.track_label, QLabel(f"{N_NEIGHBOURS} nearest (cosine, full embedding)"),
                       self.neighbour_table, QLabel("Tag make-up of the region"), self.makeup_table):
            side_layout.addWidget(widget)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.plot, 1)
        left_layout.addWidget(self.legend)
        split = QSplitter()
        split.addWidget(left)
        split.addWidget(side)
        split.setStretchFactor(0, 3)
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

    @staticmethod
    def _table(headers: list[str]) -> QTableWidget:
        table = QTableWidget(0, len(headers))
        table.setHorizontalHeaderLabels(headers)
        table.verticalHeader().hide()
        table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        table.horizontalHeader().setStretchLastSection(True)
        return table

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

    def _file_stamps(self, run: Path) -> tuple[float, float]:
        def mtime(name: str) -> float:
            try:
                return os.stat(run / name).st_mtime_ns
            except OSError:
                return 0.0
        return mtime(EMBEDDINGS), mtime(ANALYSIS)

    def _on_run_changed(self, *_: object) -> None:
        self.data, self.maps = None, {}
        self._clusters, self._user_picked_map = {}, False
        self.current_row, self._playing_row, self.neighbour_rows = None, None, np.zeros(0, np.int64)
        self.neighbour_table.setRowCount(0)
        self.plot.clear_points()
        run = self.run_dir()
        if run is None:
            self.status.setText("Select a run to see its map.")
            return
        self._stamps = self._file_stamps(run)
        self.status.setText(f"Loading {run.name}…")
        self._loader.submit(lambda: self._load(run), self._on_loaded, self._on_load_failed)

    @staticmethod
    def _load(run: Path) -> tuple[mm.MapData, dict[str, np.ndarray]]:
        data = mm.load_map(run)
        return data, mm.read_maps(run, len(data))

    def _on_load_failed(self, message: str) -> None:
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

    def _on_poll(self) -> None:
        run = self.run_dir()
        if run is None or self._loader.busy:
            return
        stamps = self._file_stamps(run)
        if stamps == self._stamps:
            return
        embeddings_changed = stamps[0] != self._stamps[0]
        self._stamps = stamps
        if embeddings_changed or self.data is None:
            self._on_run_changed()
        else:
            try:
                self._set_maps(mm.read_maps(run, len(self.data)))
            except StoreError as err:
                self.status.setText(str(err))

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

    def _colour_index(self) -> tuple[str, np.ndarray]:
        """The palette of the current colouring and each category's index into it."""
        kind = self._colour().kind
        n = len(self.category_names)
        if kind == "prototype":  # the most used prototypes in colour, the last category ("other") grey
            return kind, np.r_[np.arange(n - 1), len(PROTOTYPE_COLOURS)] if n else np.zeros(0, np.int64)
        palette = "tag" if kind == "tag" else "category"
        return palette, np.arange(n) % len(self._palettes[palette])

    def _point_brushes(self) -> list:
        palette, index = self._colour_index()
        brushes = self._palettes[palette]
        if len(self.codes) != len(self.data) or not len(index):
            return [brushes[0]] * len(self.data)
        return list(brushes[index[self.codes]])

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
        palette, index = self._colour_index()
        colours = COLOURS[palette]
        counts = np.bincount(self.codes, minlength=len(self.category_names))
        entries = [f'<span style="color:{colours[index[i]][:7]}">■</span> {name} ({counts[i]})'
                   for i, name in enumerate(self.category_names) if counts[i] > 0]
        summary = ""
        if palette == "prototype":
            summary = mm.prototype_summary(self.data.prototypes, self.data.n_prototypes)
            entries.insert(0, f"<b>{summary}</b>")
        self.legend.setText("&nbsp;&nbsp; ".join(entries))
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
        self.track_label.setText(f"<b>{self.data.ids[row]}</b> ({self.data.splits[row]}): "
                                 f"{', '.join(self.data.tags_of(row)) or 'no tags'}")
        self._fill_neighbours(sims)
        self.plot.mark(row, self.neighbour_rows)
        self.neighbours_changed.emit([int(r) for r in self.neighbour_rows])
        self.play_row(row)

    def _fill_neighbours(self, sims: np.ndarray) -> None:
        table = self.neighbour_table
        table.setRowCount(len(self.neighbour_rows))
        for i, (row, sim) in enumerate(zip(self.neighbour_rows, sims)):
            button = QToolButton(text="▶")
            button.setEnabled(self.player.available)
            button.setToolTip("Play this neighbour" if self.player.available else self.player.reason)
            button.clicked.connect(lambda _=False, r=int(row): self.play_row(r))
            table.setCellWidget(i, 0, button)
            for col, text in ((1, self.data.ids[row]), (2, f"{sim:.4f}"), (3, ", ".join(self.data.tags_of(row)))):
                table.setItem(i, col, QTableWidgetItem(text))

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
        table = self.makeup_table
        table.setRowCount(len(self.makeup))
        for i, entry in enumerate(self.makeup):
            for col, text in enumerate((entry.tag, str(entry.count), f"{100 * entry.share:.0f}",
                                        f"{100 * entry.overall:.0f}")):
                table.setItem(i, col, QTableWidgetItem(text))
