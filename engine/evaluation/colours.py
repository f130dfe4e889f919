"""One fixed colour per method, the same in every figure of the engine and the GUI.

A pretext method's colour is a field of its registry entry (engine.methods.PRETEXTS); the
baselines, which are not in the registry, have theirs here.
"""
from __future__ import annotations

from engine.methods import PRETEXTS, UNTRAINED

BASELINE_COLOURS: dict[str, str] = {UNTRAINED: "#7f7f7f", "logmel": "#8c564b"}
METHOD_COLOURS: dict[str, str] = {**{name: spec.colour for name, spec in PRETEXTS.items()}, **BASELINE_COLOURS}
UNKNOWN_COLOUR = "#17becf"  # a method outside the table (e.g. a user's own)


def colour_of(method: str | None) -> str:
    """Hex colour of a method; unknown methods share one distinct colour."""
    return METHOD_COLOURS.get(method or "", UNKNOWN_COLOUR)
