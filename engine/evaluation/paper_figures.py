"""The paper's published scores, as one typed table: what `mvssl compare --against paper` sets beside a run.

Meseguer-Brocal, Desblancs, Hennequin, "An Experimental Comparison of Multi-view Self-supervised
Methods for Music Tagging", ICASSP 2024. The paper prints no table of numbers: every value here is
the mean marker of its poster's Fig. 1 (bootstrap of the test set), read off the figure, so each
carries a read-off uncertainty. Pure Python (no torch, no numpy): the GUI's Scores panel uses it too.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Dataset = Literal["mtat", "jamendo-top50", "msd100"]
Metric = Literal["roc_auc", "pr_auc"]

POSTER = ("poster Fig. 1 (mean of the test-set bootstrap), read off the figure: "
          "github.com/deezer/multi-view-ssl-benchmark, poster/poster.pdf")
READ_OFF = 0.005  # the figure's resolution where a marker sits clearly on the axis
READ_OFF_CROWDED = 0.01  # two markers overlapping (MSD100 BYOL and VICReg, both printed as "≈ .162")
DATASET_NAMES: dict[str, str] = {"mtat": "MagnaTagATune top-50 (15,244 / 1,529 / 4,332)",
                                 "jamendo-top50": "MTG-Jamendo top-50, split-0",
                                 "msd100": "MSD100 (Deezer-internal mapping, not reproducible)"}


@dataclass(frozen=True)
class PaperFigure:
    """One published score: a method's macro metric on one dataset, with how well it is known."""

    dataset: Dataset
    metric: Metric
    method: str  # our registry's name of the pretext task
    value: float
    uncertainty: float  # ± of the read-off (not a confidence interval)
    source: str = POSTER
    averaging: str = "macro over the 50 tags (torchmetrics, average='macro')"


def _row(dataset: Dataset, metric: Metric, values: tuple[float, float, float, float, float],
         uncertainty: tuple[float, ...] = (READ_OFF,) * 5) -> tuple[PaperFigure, ...]:
    methods = ("contrastive", "clustering", "barlow_twins", "byol", "vicreg")
    return tuple(PaperFigure(dataset, metric, m, v, u) for m, v, u in zip(methods, values, uncertainty, strict=True))


FIGURES: tuple[PaperFigure, ...] = (
    *_row("mtat", "roc_auc", (0.897, 0.884, 0.864, 0.863, 0.860)),
    *_row("mtat", "pr_auc", (0.435, 0.399, 0.367, 0.366, 0.361)),
    *_row("jamendo-top50", "roc_auc", (0.783, 0.780, 0.776, 0.758, 0.767)),
    *_row("jamendo-top50", "pr_auc", (0.243, 0.237, 0.235, 0.202, 0.215)),
    *_row("msd100", "pr_auc", (0.224, 0.202, 0.178, 0.162, 0.162),
          (READ_OFF, READ_OFF, READ_OFF, READ_OFF_CROWDED, READ_OFF_CROWDED)),
)


def figure(dataset: str, metric: str, method: str) -> PaperFigure | None:
    """The published score of `method` on `dataset` for `metric`, None where the paper has none."""
    found = [f for f in FIGURES if (f.dataset, f.metric, f.method) == (dataset, metric, method)]
    return found[0] if found else None


def datasets() -> list[str]:
    """Datasets with at least one published figure."""
    return sorted({f.dataset for f in FIGURES})
