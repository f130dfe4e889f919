"""The embedding map's colours: palettes per kind of colouring, each point's brush and the legend line."""
from __future__ import annotations

import numpy as np
from PySide6.QtGui import QBrush, QColor

from workbench.panels.map import model as mm

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7",
           "#dbdb8d", "#9edae5"]
TAG_COLOURS = ["#b4b4b450", "#d62728"]  # without / with the tag
PROTOTYPE_COLOURS = [c for c in PALETTE if c not in ("#7f7f7f", "#c7c7c7")][:mm.TOP_PROTOTYPES]  # no greys
OTHER_PROTOTYPES = "#d9d9d9"  # every prototype beyond the most used ones
COLOURS = {"tag": TAG_COLOURS, "category": PALETTE, "prototype": PROTOTYPE_COLOURS + [OTHER_PROTOTYPES]}


class MapColours:
    """One brush per palette colour, shared by every point (thousands of points, a few brushes)."""

    def __init__(self) -> None:
        self.palettes = {name: np.array([QBrush(QColor(c)) for c in colours], dtype=object)
                         for name, colours in COLOURS.items()}

    def index(self, kind: str, n: int) -> tuple[str, np.ndarray]:
        """The palette of a colouring of `kind` with `n` categories, and each category's index into it."""
        if kind == "prototype":  # the most used prototypes in colour, the last category ("other") grey
            return kind, np.r_[np.arange(n - 1), len(PROTOTYPE_COLOURS)] if n else np.zeros(0, np.int64)
        palette = "tag" if kind == "tag" else "category"
        return palette, np.arange(n) % len(self.palettes[palette])

    def brushes(self, kind: str, n: int, codes: np.ndarray, n_points: int) -> list:
        """The brush of each of `n_points` points of category `codes` (the first colour when they disagree)."""
        palette, index = self.index(kind, n)
        brushes = self.palettes[palette]
        if len(codes) != n_points or not len(index):
            return [brushes[0]] * n_points
        return list(brushes[index[codes]])

    def legend(self, kind: str, names: list[str], codes: np.ndarray) -> str:
        """A coloured square, the name and the count of every category some point has."""
        palette, index = self.index(kind, len(names))
        counts = np.bincount(codes, minlength=len(names))
        return "&nbsp;&nbsp; ".join(  # an entry never wraps between its square and its name
            f'<span style="white-space:nowrap"><span style="color:{COLOURS[palette][index[i]][:7]}">■</span>'
            f"&nbsp;{name} ({counts[i]})</span>" for i, name in enumerate(names) if counts[i] > 0)
