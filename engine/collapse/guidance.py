"""What each collapse verdict means, what usually fixes it, and whether to stop: one typed table.

Torch-free, so the GUI's Collapse panel shows the same text as `mvssl diagnose`. The help page
is docs/collapse-calibration.md, whose section per kind has the anchor `DOCS_PAGE#<kind>`.
"""
from __future__ import annotations

from typing import Literal, NamedTuple

Kind = Literal["healthy", "untrained", "dominant", "uniform", "dimensional", "full"]
DOCS_PAGE = "docs/collapse-calibration.md"


class Guidance(NamedTuple):
    """The text of one verdict."""

    title: str  # a few words, for a banner
    meaning: str  # what the measurement says
    fixes: tuple[str, ...]  # what usually fixes it, most likely first
    stop: bool  # stopping the run is advised: more steps rarely undo it

    def link(self, kind: Kind) -> str:
        return f"{DOCS_PAGE}#{kind}"


GUIDANCE: dict[Kind, Guidance] = {
    "healthy": Guidance("no collapse", "the embeddings vary between inputs in many directions", (), stop=False),
    "untrained": Guidance(
        "untrained backbone",
        "the embeddings are those of the initial weights: not collapsed, simply not trained yet "
        "(raw cosines near 1 and a low RankMe come from the shared post-ReLU mean)",
        ("train it, or read it as the random baseline it is",), stop=False),
    "dominant": Guidance(
        "dominant collapse",
        "one prototype takes every sample: the teacher is sharp and always picks the same one",
        ("turn teacher centering on (center momentum 0.9)", "raise the EMA momentum (0.996 -> 1) so the teacher "
         "follows the student slowly", "warm the teacher temperature up from 0.02 instead of starting sharp",
         "lower the learning rate"),
        stop=True),
    "uniform": Guidance(
        "uniform collapse",
        "the teacher output is near uniform over the prototypes: centering without enough sharpening",
        ("lower the teacher temperature (0.04, or hold it at 0.02)", "keep the teacher temperature below the "
         "student's (0.1)", "freeze the last layer for the first steps", "lower the learning rate"),
        stop=True),
    "dimensional": Guidance(
        "dimensional collapse",
        "the embeddings vary in only a few directions: features are redundant copies of each other",
        ("restore the decorrelation term (Barlow Twins λ, VICReg covariance weight)",
         "restore VICReg's variance term", "use a wider or shallower projector", "lower the learning rate"),
        stop=True),
    "full": Guidance(
        "full collapse",
        "every input maps to nearly the same point: the loss is met by a constant output",
        ("BYOL: keep the predictor and the EMA teacher (0.996 -> 1)", "VICReg: keep the variance term",
         "lower the learning rate", "check the augmentations leave the views different"),
        stop=True),
}


def guidance(kind: Kind) -> Guidance:
    """The table entry of `kind`; a ValueError lists the kinds otherwise."""
    try:
        return GUIDANCE[kind]
    except KeyError:
        raise ValueError(f"no guidance for verdict {kind!r} (valid: {', '.join(GUIDANCE)})") from None


def advice(kind: Kind) -> str:
    """One paragraph for an alarm: the meaning, the usual fixes, whether to stop, the help page."""
    g = guidance(kind)
    text = f"{g.title}: {g.meaning}."
    if g.fixes:
        text += " Usually fixed by: " + "; ".join(g.fixes) + "."
    if g.stop:
        text += " Stopping the run is advised: more steps rarely undo it."
    return f"{text} See {g.link(kind)}."
