"""Audition a clustering prototype: the prototypes with their track counts; choosing one highlights its tracks
and plays them one after another through the shared player (space skips to the next)."""
from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QLabel, QListWidget, QVBoxLayout, QWidget

from workbench.panels.map import model as mm
from workbench.player import Player
from workbench.panels.map.audition_model import PlayQueue, PrototypeTracks, prototype_tracks

POLL_MS = 150  # how often the queue looks whether the clip has ended


class PrototypeAudition(QWidget):
    """The list of prototypes of a clustering run's map; see the module docstring."""

    highlight = Signal(object)  # (n,) rows of the chosen prototype's tracks
    play_requested = Signal(str, str, float)  # track id, path, start (s): also when no device can play it

    def __init__(self, player: Player, parent: QWidget | None = None, poll_ms: int = POLL_MS) -> None:
        super().__init__(parent)
        self.player = player
        self.data: mm.MapData | None = None
        self.entries: list[PrototypeTracks] = []
        self.queue = PlayQueue()
        self.title = QLabel("Prototypes (clustering runs): choose one to hear its tracks; space skips")
        self.title.setWordWrap(True)
        self.list = QListWidget()
        self.list.currentRowChanged.connect(self._on_chosen)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.list)
        self._timer = QTimer(self, interval=poll_ms)
        self._timer.timeout.connect(self._on_tick)
        self.list.installEventFilter(self)  # space on the list skips, before any shortcut of a parent panel

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.list and event.type() in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress) \
                and event.key() == Qt.Key.Key_Space:
            event.accept()  # an override the list takes: the map's own space shortcut stays out of it
            if event.type() == QEvent.Type.KeyPress:
                self.skip()
            return True
        return super().eventFilter(watched, event)

    def set_data(self, data: mm.MapData | None) -> None:
        """Show the prototypes of a map (hidden for runs without a clustering head)."""
        self.stop()
        self.data = data
        self.entries = prototype_tracks(data.prototypes) if data is not None and data.prototypes is not None else []
        self.list.blockSignals(True)
        self.list.clear()
        self.list.addItems([e.label for e in self.entries])
        self.list.setCurrentRow(-1)
        self.list.blockSignals(False)
        self.setVisible(bool(self.entries))

    def choose(self, index: int) -> None:
        """Highlight the tracks of the index-th prototype in the list and play them from the first."""
        self.list.setCurrentRow(index)

    def _on_chosen(self, index: int) -> None:
        if not 0 <= index < len(self.entries):
            return
        rows = self.entries[index].rows
        self.highlight.emit(rows)
        self.queue = PlayQueue(rows)
        self._play_next()
        self._timer.start()

    def skip(self) -> None:
        """Space: stop the track playing now and play the next of the prototype."""
        self.player.stop()
        self._play_next()

    def stop(self) -> None:
        self._timer.stop()
        self.queue = PlayQueue()
        self.player.stop()

    def _on_tick(self) -> None:
        if self.player.available and not self.player.playing:
            self._play_next()

    def _play_next(self) -> None:
        row = self.queue.next()
        if row is None or self.data is None:
            self._timer.stop()
            return
        path, start = self.data.paths[row], float(self.data.start_s[row])
        self.play_requested.emit(self.data.ids[row], path, start)
        if not self.player.available:
            self._timer.stop()  # nothing plays by itself: space steps through the tracks
            return
        try:
            self.player.play(path, start)
        except ValueError:
            self._play_next()  # an unreadable file: on to the next track

    def rows_played(self) -> list[int]:
        """The rows asked for so far in the current queue."""
        return self.queue.rows[:self.queue.position + 1] if self.queue.rows else []


def mark_rows(n: int, rows: np.ndarray) -> np.ndarray:
    """(n,) bool mask of the chosen prototype's tracks, for the map's highlight."""
    mask = np.zeros(n, bool)
    mask[np.asarray(rows, np.int64)] = True
    return mask
