"""The panel tabs of the main window, each built on first show so the window opens before pyqtgraph loads.

A panel whose module is missing or fails to build becomes a tab that says so instead of a crash.
"""
from __future__ import annotations

import importlib
import importlib.util
import traceback
from dataclasses import dataclass
from typing import Any, Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QTabWidget, QVBoxLayout, QWidget


@dataclass(frozen=True)
class PanelSpec:
    """A tab: its title, the panel's module and class, and its constructor arguments (by name)."""

    title: str
    module: str
    cls: str
    args: tuple[str, ...]  # names in the context dict handed to LazyTab
    kwargs: tuple[str, ...] = ()


PANELS: tuple[PanelSpec, ...] = (
    PanelSpec("Training", "workbench.panels.training", "TrainingPanel", ("selection", "store")),
    PanelSpec("Map", "workbench.panels.embedding_map", "EmbeddingMapPanel", ("selection", "player"), ("watch",)),
    PanelSpec("Collapse", "workbench.panels.collapse", "CollapsePanel", ("selection",), ("runs_dir", "watch")),
    PanelSpec("Scores", "workbench.panels.scores", "ScoresPanel", ("selection",), ("watch",)),
)


def available(spec: PanelSpec) -> bool:
    return importlib.util.find_spec(spec.module) is not None


class LazyTab(QWidget):
    """Holds one panel, built by `ensure()` (on first show); a placeholder text when it cannot be built."""

    def __init__(self, spec: PanelSpec, context: Callable[[], dict[str, Any]], parent: QWidget | None = None) -> None:
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
        if not available(spec):
            self._placeholder(f"The {spec.title} panel is not part of this build "
                              f"({spec.module.replace('.', '/')}.py is missing).")
            return None
        context = self._context()
        try:
            cls = getattr(importlib.import_module(spec.module), spec.cls)
            self.panel = cls(*(context[a] for a in spec.args), **{k: context[k] for k in spec.kwargs})
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

    def __init__(self, context: Callable[[], dict[str, Any]], parent: QWidget | None = None) -> None:
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

    def ensure_current(self) -> None:
        tab = self.currentWidget()
        if isinstance(tab, LazyTab):
            tab.ensure()

    def _on_current_changed(self, _index: int) -> None:
        self.ensure_current()
