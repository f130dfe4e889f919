"""The embedding map's side column: the clicked track, its nearest neighbours and a region's tag make-up."""
from __future__ import annotations

from typing import Callable

import numpy as np
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QToolButton, QVBoxLayout, QWidget

from workbench.panels.map import model as mm
from workbench.player import Player

N_NEIGHBOURS = 10


def _table(headers: list[str]) -> QTableWidget:
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.verticalHeader().hide()
    table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    return table


class TrackSide(QWidget):
    """Tables the map fills: neighbours (each with a play button) and the tag make-up of a region."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.track_label = QLabel("Click a point to play it and list its neighbours.", wordWrap=True)
        self.playing_label = QLabel()  # "▶ playing …" while a clip plays (Space stops it)
        self.playing_label.setStyleSheet("color:#2ca02c;font-weight:bold")
        self._player: Player | None = None
        self._playing = QTimer(self, interval=200)
        self._playing.timeout.connect(self._on_playing_tick)
        self.neighbour_table = _table(["", "track", "cosine", "tags"])
        self.makeup_table = _table(["tag", "tracks", "% of region", "% of all"])
        layout = QVBoxLayout(self)
        for widget in (self.track_label, self.playing_label, QLabel(f"{N_NEIGHBOURS} nearest (cosine of the centred embeddings)"),
                       self.neighbour_table, QLabel("Tag make-up of the region"), self.makeup_table):
            layout.addWidget(widget)

    def show_playing(self, player: Player, what: str) -> None:
        """Say what plays until the player stops."""
        self._player = player
        self.playing_label.setText(f"▶ playing {what} (Space stops)")
        self._playing.start()

    def _on_playing_tick(self) -> None:
        if self._player is None or not self._player.playing:
            self.playing_label.setText("")
            self._playing.stop()

    def show_track(self, data: mm.MapData, row: int) -> None:
        self.track_label.setText(f"<b>{data.ids[row]}</b> ({data.splits[row]}): "
                                 f"{', '.join(data.tags_of(row)) or 'no tags'}")

    def show_neighbours(self, data: mm.MapData, rows: np.ndarray, sims: np.ndarray, player: Player,
                        play: Callable[[int], None]) -> None:
        table = self.neighbour_table
        table.setRowCount(len(rows))
        for i, (row, sim) in enumerate(zip(rows, sims)):
            button = QToolButton(text="▶")
            button.setEnabled(player.available)
            button.setToolTip("Play this neighbour" if player.available else player.reason)
            button.clicked.connect(lambda _=False, r=int(row): play(r))
            table.setCellWidget(i, 0, button)
            for col, text in ((1, data.ids[row]), (2, f"{sim:.4f}"), (3, ", ".join(data.tags_of(row)))):
                table.setItem(i, col, QTableWidgetItem(text))

    def show_makeup(self, makeup: list[mm.TagCount]) -> None:
        table = self.makeup_table
        table.setRowCount(len(makeup))
        for i, entry in enumerate(makeup):
            for col, text in enumerate((entry.tag, str(entry.count), f"{100 * entry.share:.0f}",
                                        f"{100 * entry.overall:.0f}")):
                table.setItem(i, col, QTableWidgetItem(text))
