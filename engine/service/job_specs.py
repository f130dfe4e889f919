"""What each job kind takes: one frozen spec dataclass per kind, its options parsed like the command line does.

Torch-free: the protocol (and so the GUI) validates job options with these types, and the job process
builds the same spec from its command line. An option left at None takes the engine function's default.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Literal, get_args

from engine.config import PROBE_PROTOCOLS

JobKind = Literal["pretrain", "embed", "diagnose", "project", "probe"]
KINDS: tuple[str, ...] = get_args(JobKind)
ALIASES = {"train": "pretrain"}


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"must be >= 1, got {value}")
    return value


def _segments(text: str) -> str | int:
    return "all" if text == "all" else _positive_int(text)


def _names(text: str) -> tuple[str, ...]:
    values = tuple(v.strip() for v in text.split(",") if v.strip())
    if not values:
        raise ValueError("expects names separated by commas")
    return values


def _flag(text: str) -> bool:
    if text.lower() not in ("true", "false", "1", "0"):
        raise ValueError(f"expects true or false, got {text!r}")
    return text.lower() in ("true", "1")


def _protocol(text: str) -> str:
    if text not in PROBE_PROTOCOLS:
        raise ValueError(f"expects one of {', '.join(PROBE_PROTOCOLS)}, got {text!r}")
    return text


def _percents(text: str) -> tuple[float, ...]:
    values = tuple(float(v) for v in text.split(",") if v.strip())
    if not values or any(not 0 < v <= 100 for v in values):
        raise ValueError(f"expects percentages in (0, 100] separated by commas, got {text!r}")
    return values


def option(parse: Callable[[str], Any], default: Any = None) -> Any:
    """A job option: `parse` turns its command-line text into the value (ValueError when it is bad)."""
    return field(default=default, metadata={"parse": parse})


@dataclass(frozen=True)
class PretrainSpec:
    """Train (or resume) the run from its config.toml."""

    run_dir: Path


@dataclass(frozen=True)
class EmbedSpec:
    """Embed the run's corpus with a frozen checkpoint into embeddings.h5."""

    run_dir: Path
    checkpoint: str | None = option(str)  # "last" or a step checkpoint's name
    segments_per_track: str | int | None = option(_segments)  # "all" or a count
    batch: int | None = option(_positive_int)  # segments per forward pass


@dataclass(frozen=True)
class DiagnoseSpec:
    """Collapse diagnostics of every step checkpoint, stored in analysis.h5."""

    run_dir: Path
    max_tracks: int | None = option(_positive_int)


@dataclass(frozen=True)
class ProjectSpec:
    """2-D maps of the track embeddings (cached in analysis.h5)."""

    run_dir: Path
    methods: tuple[str, ...] | None = option(_names)
    n_neighbors: int | None = option(_positive_int)
    seed: int | None = option(int)
    force: bool | None = option(_flag)  # recompute even when the cached map is still valid


@dataclass(frozen=True)
class ProbeSpec:
    """Probes of one task at every fraction (percent of the training tracks) and draw."""

    run_dir: Path
    task: str = option(str, default="")  # required
    fractions: tuple[float, ...] | None = option(_percents)
    draws: int | None = option(_positive_int)
    seed: int | None = option(int)
    protocol: str | None = option(_protocol)  # ours, paper, paper-released, marble, linear


SPECS: dict[str, type] = {"pretrain": PretrainSpec, "embed": EmbedSpec, "diagnose": DiagnoseSpec,
                          "project": ProjectSpec, "probe": ProbeSpec}
REQUIRED: dict[str, tuple[str, ...]] = {"probe": ("task",)}


def canonical(kind: str) -> str:
    """The kind an alias names (`train` -> `pretrain`); ValueError listing the kinds for an unknown one."""
    kind = ALIASES.get(kind, kind)
    if kind not in SPECS:
        raise ValueError(f"unknown job kind {kind!r} (valid: {', '.join(sorted(SPECS))})")
    return kind


def options_of(kind: str) -> dict[str, Callable[[str], Any]]:
    """option name -> parser of its command-line text, for one kind."""
    return {f.name: f.metadata["parse"] for f in fields(SPECS[canonical(kind)]) if "parse" in f.metadata}


def as_text(value: Any) -> str:
    """An option's value as command-line text (lists joined by commas)."""
    return ",".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)


def check_args(kind: str, args: dict[str, Any]) -> dict[str, Any]:
    """Job options from a request, converted like the command line does; ValueError names a bad one."""
    kind = canonical(kind)
    valid = options_of(kind)
    out = {}
    for key, value in args.items():
        if key not in valid:
            raise ValueError(f"{kind}: unknown option {key!r} (valid: {', '.join(valid) or 'none'})")
        try:
            out[key] = valid[key](as_text(value))
        except ValueError as err:
            raise ValueError(f"{kind}: option {key!r}: {err}") from None
    missing = [k for k in REQUIRED.get(kind, ()) if k not in out]
    if missing:
        raise ValueError(f"{kind}: missing option {missing[0]!r}")
    return out


def make_spec(kind: str, run_dir: Path | str, args: dict[str, Any]) -> Any:
    """The spec of one job: its run directory and its checked options."""
    return SPECS[canonical(kind)](run_dir=Path(run_dir), **check_args(kind, args))


def given(spec: Any) -> dict[str, Any]:
    """The options of a spec that were set (not None), to pass on to the engine function."""
    return {f.name: v for f in fields(spec) if f.name != "run_dir" and (v := getattr(spec, f.name)) is not None}
