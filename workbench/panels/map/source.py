"""Where the embedding map gets a run's data: loaded in the background, and again when the run's watcher
says its stores changed (new embeddings: load again; a new projection: read the 2-D maps only)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from engine.rundir.h5files import StoreError
from workbench.panels.map import model as mm
from workbench.background import Background
from workbench.runs.watch import FileChange, Subscription
from workbench.runs.watch_qt import RunWatchHub


def _load(run: Path) -> tuple[mm.MapData, dict[str, np.ndarray]]:
    data = mm.load_map(run)
    return data, mm.read_maps(run, len(data))


class MapSource(QObject):
    """Loads one run's map data and follows its stores; the panel shows what the signals carry."""

    loaded = Signal(object)  # (MapData, {map name: (N, 2) array})
    failed = Signal(str)
    maps_read = Signal(object)  # {map name: (N, 2) array}: new 2-D maps of the tracks already loaded
    reload_needed = Signal()  # the embeddings changed: the panel starts over with `load`

    def __init__(self, watch: RunWatchHub, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.watch = watch
        self.run: Path | None = None
        self.n_tracks: int | None = None  # of the loaded data
        self._loader = Background(self)
        self._subscription = Subscription(files=self._on_files_changed)
        self._missed_change = False  # the stores changed while a load was running
        watch.drop_on_destroyed(self, self._subscription)

    def follow(self, run: Path | None) -> None:
        """Be told by `run`'s watcher when its stores change (and no longer by the previous run's)."""
        if run != self.run:
            if self.run is not None:
                self.watch.unwatch(self.run, self._subscription)
            self.run = run
            if run is not None:
                self.watch.watch(run, self._subscription)

    def load(self) -> None:
        run, self.n_tracks = self.run, None
        self._loader.submit(lambda: _load(run), self._on_loaded, self._on_failed)

    def _on_loaded(self, result: tuple[mm.MapData, dict[str, np.ndarray]]) -> None:
        self.n_tracks = len(result[0])
        self.loaded.emit(result)
        self._after_load()

    def _on_failed(self, message: str) -> None:
        self.failed.emit(message)
        self._after_load()

    def _after_load(self) -> None:
        if self._missed_change:
            self._missed_change = False
            self._on_files_changed(FileChange(embeddings=True, analysis=True))

    def _on_files_changed(self, change: FileChange) -> None:
        if self.run is None:
            return
        if self._loader.busy:
            self._missed_change = True
        elif change.embeddings or self.n_tracks is None:
            self.reload_needed.emit()
        else:
            try:
                self.maps_read.emit(mm.read_maps(self.run, self.n_tracks))
            except StoreError as err:
                self.failed.emit(str(err))
