"""The Scores panel's "vs paper" toggle and view: the selected runs beside the paper's published figures
(paper_model), shown only while the toggle is on."""
from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QTextBrowser, QWidget

from engine.evaluation.metrics import PairedBootstrap
from engine.evaluation.seeds import MethodComparison
from workbench.panels.scores import paper_model
from workbench.panels.scores.model import RunScores


class PaperView:
    """A checkbox for the panel's bar and a text view for its layout; the view follows the panel's data."""

    def __init__(self, parent: QWidget | None = None) -> None:
        self.toggle = QCheckBox("vs paper", parent)
        self.toggle.setToolTip("the runs' macro scores beside the paper's published figures (poster Fig. 1), "
                               "with every protocol difference: mvssl compare --against paper")
        self.view = QTextBrowser(parent)
        self.view.setVisible(False)
        self.view.setMaximumHeight(260)
        self._data: tuple[list[RunScores], PairedBootstrap | None, MethodComparison | None] = ([], None, None)
        self.toggle.toggled.connect(self._on_toggled)

    def show_runs(self, runs: list[RunScores], boot: PairedBootstrap | None = None,
                  seeds: MethodComparison | None = None) -> None:
        self._data = (list(runs), boot, seeds)
        if self.toggle.isChecked():
            self._render()

    def _on_toggled(self, on: bool) -> None:
        self.view.setVisible(on)
        if on:
            self._render()

    def _render(self) -> None:
        reports, problems = paper_model.paper_reports(*self._data)
        self.view.setHtml(paper_model.to_html(reports, problems))
