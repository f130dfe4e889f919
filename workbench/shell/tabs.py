"""The panel tabs of the main window, each built on first show so the window opens before pyqtgraph loads.

Each panel is built from one typed PanelContext (what the window shares with its panels) by its spec's
`build`; a panel whose module is missing or fails to build becomes a tab that says so instead of a crash.
"""
from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QTabWidget, QVBoxLayout, QWidget

from workbench.runs.watch_qt import RunWatchHub
from workbench.runs.selection import RunSelection
from workbench.runs.series import SeriesStore

if TYPE_CHECKING:
    from workbench.player import Player


@dataclass(frozen=True)
class PanelContext:
    """What the window shares with every panel: the selected runs, their event series, the run watchers, the
    audio player and the runs directory shown."""

    selection: RunSelection
    store: SeriesStore
    watch: RunWatchHub
    player: Player
    runs_dir: Path


@dataclass(frozen=True)
class PanelSpec:
    """A tab: its title, how its panel is built from the context, and what it does when the runs directory
    changes (None: nothing)."""

    title: str
    build: Callable[[PanelContext], QWidget]
    runs_dir_changed: Callable[[QWidget, Path], None] | None = None


def _training(c: PanelContext) -> QWidget:
    from workbench.panels.training.view import TrainingPanel

    return TrainingPanel(c.selection, c.store)


def _map(c: PanelContext) -> QWidget:
    from workbench.panels.map.view import EmbeddingMapPanel

    return EmbeddingMapPanel(c.selection, c.player, watch=c.watch)


def _collapse(c: PanelContext) -> QWidget:
    from workbench.panels.collapse.view import CollapsePanel

    return CollapsePanel(c.selection, runs_dir=c.runs_dir, watch=c.watch)


def _scores(c: PanelContext) -> QWidget:
    from workbench.panels.scores.view import ScoresPanel

    return ScoresPanel(c.selection, watch=c.watch)


PANELS: tuple[PanelSpec, ...] = (
    PanelSpec("Training", _training),
    PanelSpec("Map", _map),
    PanelSpec("Collapse", _collapse, lambda panel, runs_dir: panel.set_runs_dir(runs_dir)),
    PanelSpec("Scores", _scores),
)


class LazyTab(QWidget):
    """Holds one panel, built by `ensure()` (on first show); a placeholder text when it cannot be built."""

    def __init__(self, spec: PanelSpec, context: Callable[[], PanelContext], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec = spec
        self._context = context
        self.panel: QWidget | None = None
        self.placeholder: QLabel | None = None
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)

    def ensure(self) -> QWidget | None:
        """Build the panel once; returns it, or None when only a placeholder could be shown."""
        if self.panel is not None or self.placeholder is not None:
            return self.panel
        spec = self.spec
        try:
            self.panel = spec.build(self._context())
        except ModuleNotFoundError as err:
            self._placeholder(f"The {spec.title} panel is not part of this build ({err.name} is missing).")
            return None
        except Exception as err:  # a broken panel must not take the workbench down
            self._placeholder(f"The {spec.title} panel failed to load: {type(err).__name__}: {err}",
                              traceback.format_exc())
            return None
        self._layout.addWidget(self.panel)
        return self.panel

    def _placeholder(self, text: str, details: str = "") -> None:
        self.placeholder = QLabel(text)
        self.placeholder.setObjectName("panelPlaceholder")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.placeholder.setToolTip(details)
        self._layout.addWidget(self.placeholder)


class PanelTabs(QTabWidget):
    """One LazyTab per panel; the current tab is built when shown."""

    def __init__(self, context: Callable[[], PanelContext], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tabs: dict[str, LazyTab] = {}
        for spec in PANELS:
            tab = LazyTab(spec, context)
            self.tabs[spec.title] = tab
            self.addTab(tab, spec.title)
        self.currentChanged.connect(self._on_current_changed)

    def panel(self, title: str) -> QWidget | None:
        """The panel of a tab, built now if needed."""
        return self.tabs[title].ensure()

    def set_runs_dir(self, runs_dir: Path) -> None:
        """Tell the panels already built that another runs directory is shown."""
        for tab in self.tabs.values():
            if tab.panel is not None and tab.spec.runs_dir_changed is not None:
                tab.spec.runs_dir_changed(tab.panel, runs_dir)

    def ensure_current(self) -> None:
        tab = self.currentWidget()
        if isinstance(tab, LazyTab):
            tab.ensure()

    def _on_current_changed(self, _index: int) -> None:
        self.ensure_current()
