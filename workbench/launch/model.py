"""What the New-run dialog offers and checks, with no Qt: the engine's options and config validation.

Methods, presets, stages, tasks and the config form come from the engine's hello or, offline, from
the same torch-free engine modules (the methods from the engine.methods registry).
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from engine.service.contract import Forms

if TYPE_CHECKING:
    from engine.training.slurm_options import SlurmOptions


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


SHARED_WITH_STEPS = ("warmup_steps", "freeze_last_layer_steps")  # fields a preset sets as a share of its steps


def scaled_shares(preset: dict[str, Any], old_steps: int, new_steps: int, current: dict[str, Any]) -> dict[str, int]:
    """The fields of `current` still at their preset share of `old_steps`, at that share of `new_steps`
    (what `mvssl train --set steps=N` does); a value the user set is left out."""
    if new_steps == old_steps or not preset.get("steps"):
        return {}
    shares = {f: preset[f] / preset["steps"] for f in SHARED_WITH_STEPS if f in preset and f in current}
    return {f: int(new_steps * share) for f, share in shares.items() if current[f] == int(old_steps * share)}


def provisional_note(measurement: dict[str, Any]) -> str:
    """", provisional: …" when the step time was measured on a busy machine (likely too slow)."""
    if not measurement.get("provisional"):
        return ""
    load = measurement.get("loadavg")
    busy = f" at load {float(load):.0f}" if isinstance(load, (int, float)) else ""
    return f"; provisional: measured while the machine was busy{busy}, measured again at the next training"


def run_seconds(measurement: dict[str, Any], steps: int, batch_size: int) -> float:
    """Seconds one run's training takes here: its steps at the measured step time, scaled to its batch."""
    measured_batch = int(measurement.get("batch_size") or 32)
    return steps * float(measurement["step_s"]) * batch_size / measured_batch


def describe_run(measurement: dict[str, Any] | None, steps: int, batch_size: int, runs: int = 1) -> str:
    """The New run dialog's line: how long the training of its runs takes on this machine."""
    if measurement is None:
        return "No time estimate yet: this machine's training speed is measured at its first training."
    minutes = run_seconds(measurement, steps, batch_size) * runs / 60
    length = f"about {minutes:.0f} min" if minutes >= 1 else "under a minute"
    each = f" ({runs} runs, one after the other)" if runs > 1 else ""
    return (f"Training takes {length} here{each} at {float(measurement['step_s']):.2f} s per step of 32 tracks"
            f"{provisional_note(measurement)}; embedding and probes follow.")


def latest_measurement() -> dict[str, Any] | None:
    """This machine's measured training speed (engine.training.speed_cache), or None when unreadable or absent."""
    from engine.training.speed_cache import latest_measurement as latest

    try:
        found = latest()
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return found if found and isinstance(found.get("step_s"), (int, float)) else None


def slurm_options(values: dict[str, Any], extra: str) -> "SlurmOptions":
    """The dialog's Slurm fields as engine SlurmOptions (0 or empty: the partition's default); `extra` is
    `key=value` pairs separated by commas or spaces. A ValueError names the bad field."""
    from pydantic import ValidationError

    from engine.training.slurm_options import SlurmOptions

    pairs = {}
    for item in (p for p in re.split(r"[,\s]+", extra.strip()) if p):
        key, sep, value = item.partition("=")
        if not sep or not key.strip("-"):
            raise ValueError(f"extra sbatch options: key=value, got {item!r}")
        pairs[key.strip("-")] = value
    given = {k: v for k, v in values.items() if v not in (0, "", None)}
    try:
        return SlurmOptions(**given, extra=pairs)
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "slurm"
        raise ValueError(f"{field}: {first['msg'].removeprefix('Value error, ')}") from None
