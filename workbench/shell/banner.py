"""Small status widgets of the main window: the error banner, the engine indicator and the engine's log."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog, QFrame, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QToolButton, QVBoxLayout, QWidget,
)

from engine.service.enginedir import engine_paths
from workbench.link.engine_start import tail

ENGINE_TEXT: dict[str, tuple[str, str]] = {  # client state -> (text, colour of the dot)
    "connected": ("engine connected", "#2ca02c"),
    "starting": ("engine starting…", "#e6a700"),
    "lost": ("engine lost — reconnecting…", "#d62728"),
    "offline": ("no engine", "#7f7f7f"),
}


class ErrorBanner(QFrame):
    """A non-blocking strip above the panels: the latest error in one line; click "Details" for the rest."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("errorBanner")
        self.setStyleSheet("#errorBanner { background: #fde2e1; border: 1px solid #d62728; border-radius: 3px; }")
        self.message = QLabel()
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.setWordWrap(True)
        self.count = QLabel()
        self.details_button = QPushButton("Details")
        self.details_button.setCheckable(True)
        self.details_button.toggled.connect(self._on_details_toggled)
        close = QToolButton(text="✕", toolTip="Dismiss")
        close.clicked.connect(self.dismiss)
        self.details = QPlainTextEdit(readOnly=True)
        self.details.setMaximumHeight(160)
        self.details.hide()
        row = QHBoxLayout()
        row.addWidget(self.message, 1)
        row.addWidget(self.count)
        row.addWidget(self.details_button)
        row.addWidget(close)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 3, 6, 3)
        layout.addLayout(row)
        layout.addWidget(self.details)
        self.history: list[tuple[str, str]] = []
        self.hide()

    def show_error(self, message: str, details: str = "") -> None:
        """Show `message` (one line); `details` (e.g. a log tail) and earlier errors go under "Details"."""
        self.history.append((message, details))
        self.message.setText(message)
        self.count.setText(f"({len(self.history)} errors)" if len(self.history) > 1 else "")
        self.details.setPlainText("\n\n".join(
            m + (f"\n{d}" if d else "") for m, d in reversed(self.history[-20:])))
        self.show()

    def dismiss(self) -> None:
        self.history.clear()
        self.details_button.setChecked(False)
        self.hide()

    def mousePressEvent(self, event) -> None:  # noqa: N802 (Qt name)
        self.details_button.toggle()
        super().mousePressEvent(event)

    def _on_details_toggled(self, on: bool) -> None:
        self.details.setVisible(on)


class EngineIndicator(QLabel):
    """A coloured dot and a word for the engine connection; the tooltip names the socket."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = ""
        self.set_state("offline")

    def set_state(self, state: str, tooltip: str = "") -> None:
        text, colour = ENGINE_TEXT.get(state, (state, "#7f7f7f"))
        self.state = state
        self.setText(f'<span style="color:{colour}">●</span> {text}')
        if tooltip:
            self.setToolTip(tooltip)


def show_engine_log(runs_dir: Path, parent: QWidget) -> QDialog:
    """The last lines of the engine's log, in a window of their own."""
    log = engine_paths(runs_dir).log
    view = QPlainTextEdit(tail(log, 500) or f"{log} is empty or missing", readOnly=True)
    dialog = QDialog(parent, windowTitle=f"Engine log — {log}")
    QVBoxLayout(dialog).addWidget(view)
    dialog.resize(900, 500)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.show()
    return dialog
