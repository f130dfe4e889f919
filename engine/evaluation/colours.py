"""One fixed colour per method, the same in every figure of the engine and the GUI."""
from __future__ import annotations

METHOD_COLOURS: dict[str, str] = {
    "contrastive": "#1f77b4",
    "clustering": "#d62728",
    "clustering-collapse": "#ff9896",
    "barlow_twins": "#2ca02c",
    "byol": "#9467bd",
    "vicreg": "#ff7f0e",
    "random": "#7f7f7f",
    "logmel": "#8c564b",
}
UNKNOWN_COLOUR = "#17becf"  # a method outside the table (e.g. a user's own)


def colour_of(method: str | None) -> str:
    """Hex colour of a method; unknown methods share one distinct colour."""
    return METHOD_COLOURS.get(method or "", UNKNOWN_COLOUR)
