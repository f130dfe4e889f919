"""What the New-run dialog offers and checks, with no Qt: the engine's options and config validation.

Methods, presets, stages, tasks and the config form come from the engine's hello or, offline, from
the same torch-free engine modules (the methods from the engine.methods registry).
"""
from __future__ import annotations

import re
from typing import Any

from engine.service.contract import Forms


def offline_info() -> Forms:
    """What the engine's hello would say, from the engine's own (torch-free) modules."""
    from engine.service import protocol

    return Forms.model_validate(protocol.forms_info())


def comparison_methods(methods: list[str]) -> list[str]:
    """The methods of a comparison: every method but the variants of another (`clustering-collapse`)."""
    return [m for m in methods if not any(m.startswith(f"{other}-") for other in methods if other != m)]


def defaults_tooltip(preset: str, method: str) -> str:
    """The tooltip of a method's box: the values it brings on top of the preset (empty when none)."""
    from engine.methods import method_defaults

    own = ", ".join(f"{k} = {v:g}" if isinstance(v, float) else f"{k} = {v}"
                    for k, v in method_defaults(preset, method).items())
    return f"{method} starts from its own {own} unless you change them" if own else ""


def numbers(text: str, cast: type, what: str) -> list:
    """Comma- or space-separated numbers; a ValueError says what is wrong with them."""
    try:
        values = [cast(v) for v in re.split(r"[,\s]+", text.strip()) if v]
    except ValueError:
        raise ValueError(f"{what}: comma-separated numbers, e.g. 0,1,2") from None
    if not values:
        raise ValueError(f"{what}: give at least one")
    if len(set(values)) != len(values):
        raise ValueError(f"{what}: duplicates")
    return values


def config_errors(values: dict[str, Any]) -> dict[str, str]:
    """Errors of a full config by field, as the engine's RunConfig validation finds them."""
    from pydantic import ValidationError

    from engine.config import RunConfig

    try:
        RunConfig.model_validate(values)
    except ValidationError as err:
        errors: dict[str, str] = {}
        for e in err.errors():
            message = e["msg"].removeprefix("Value error, ")
            field = str(e["loc"][0]) if e["loc"] else next(
                (w for w in re.findall(r"\w+", message) if w in RunConfig.model_fields), "config")
            if e["type"] != "extra_forbidden":
                errors.setdefault(field, message)
        return errors
    return {}
