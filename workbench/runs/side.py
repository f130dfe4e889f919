"""The main window's left side: the New run and demo buttons, the first-run estimate and the runs tree."""
from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from workbench.shell.geometry import RUNS_WIDTH
from workbench.runs.tree import RunsTreeModel
from workbench.runs.view import RunsView
from workbench.runs.selection import RunSelection

EMPTY_TEXT = ("No runs yet. <b>Start the demo study</b> to pre-train and compare every method on the built-in "
              "demo corpus, or make a <b>New run</b>.")


class RunsSide(QWidget):
    """Buttons above the runs tree; the window connects them."""

    def __init__(self, model: RunsTreeModel, selection: RunSelection, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runs_view = RunsView(model, selection)
        self.empty_label = QLabel(EMPTY_TEXT, wordWrap=True)
        self.demo_button = QPushButton("Start the demo study")
        self.new_button = QPushButton("New run…")
        self.estimate_label = QLabel(wordWrap=True)
        self.estimate_label.setObjectName("demoEstimate")
        self.estimate_label.hide()
        buttons = QHBoxLayout()
        buttons.addWidget(self.demo_button)
        buttons.addWidget(self.new_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(buttons)
        layout.addWidget(self.estimate_label)
        layout.addWidget(self.empty_label)
        layout.addWidget(self.runs_view, 1)
        self.setMinimumWidth(RUNS_WIDTH[0] - 60)
