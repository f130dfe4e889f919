"""Run configuration: one typed, validated model with the presets "demo" and "paper", TOML in and out.

This module imports no torch, so the GUI can build its forms from the same schema.
"""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from engine.methods import METHODS, PRETEXTS, method_defaults
from engine.rundir.files import atomic_write_bytes

Method = Literal[METHODS]  # type: ignore[valid-type]  # the registry's methods and the untrained baseline
PRESETS: tuple[str, ...] = ("demo", "paper")
RESOLVED = "resolved"  # config.toml table of what `auto` values resolved to where the run ran (not input)
PROBE_PROTOCOLS: tuple[str, ...] = ("ours", "paper", "paper-released", "marble", "linear")  # engine.evaluation.probe_protocols
OFFICIAL_F_MAX = 11025.0  # Hz: the official mel f_max, above the 8 kHz Nyquist frequency at 16 kHz
OFFICIAL_SCHEDULE_EPOCHS = 999  # get_network_momentum's schedule_epochs: its cosine is not capped at n_epochs
Divisor = Literal["B", "B-1"]  # normaliser of a batch correlation matrix: batch size, or batch size - 1


class ConfigError(ValueError):
    """A config that failed validation; the message is one line naming the field."""


class RunConfig(BaseModel):
    """Everything that defines one pre-training run; saved as `config.toml` in the run directory."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # --- what ---------------------------------------------------------------------------------
    method: Method = Field("contrastive", description="pretext task")
    corpus: str = Field("demo", description="corpus SOURCE: demo, folder:PATH[:CSV], mtat:..., jamendo:...")
    preset: Literal["demo", "paper"] = Field("demo", description="preset the values started from")
    seed: int = Field(0, ge=0, description="seed of weights, sampler and augmentation")
    # --- views ----------------------------------------------------------------------------------
    views: int = Field(2, ge=2, le=8, description="views (crops) per track")
    segment_s: float = Field(4.0, gt=0.5, le=30.0, description="seconds per view")
    min_gap_s: float = Field(4.0, ge=0.0, le=60.0, description="minimum distance between view starts")
    augment: bool = Field(True, description="per-view gain, EQ tilt and noise")
    f_max: float | None = Field(None, gt=0, description="mel f_max in Hz; empty = sr/2 (official code: 11025)")
    # --- optimisation ---------------------------------------------------------------------------
    batch_size: int = Field(32, ge=2, le=65536, description="tracks per step (per device)")
    steps: int = Field(300, ge=1, le=10_000_000, description="optimiser steps")
    warmup_steps: int = Field(30, ge=0, description="linear learning-rate warm-up steps")
    lr: float = Field(1e-3, gt=0, le=1.0, description="peak learning rate (AdamW)")
    final_lr: float = Field(1e-7, ge=0, le=1.0, description="learning rate at the end of the cosine")
    weight_decay_start: float = Field(0.04, ge=0, le=10.0, description="weight decay at step 0")
    weight_decay_end: float = Field(0.4, ge=0, le=10.0, description="weight decay at the last step")
    grad_clip: float = Field(3.0, ge=0, description="max gradient norm; 0 = off")
    # --- momentum teacher (BYOL, clustering) -----------------------------------------------------
    ema_start: float = Field(0.996, ge=0, le=1.0, description="EMA momentum at step 0")
    ema_end: float = Field(1.0, ge=0, le=1.0, description="EMA momentum at the last step")
    # --- method hyper-parameters ------------------------------------------------------------------
    temperature: float = Field(0.1, gt=0, le=10.0, description="NT-Xent temperature")
    n_prototypes: int = Field(4096, ge=2, le=65536, description="clustering prototypes")
    student_temp: float = Field(0.1, gt=0, le=10.0, description="clustering student temperature")
    teacher_temp_start: float = Field(0.02, gt=0, le=10.0, description="teacher temperature at step 0")
    teacher_temp_end: float = Field(0.04, gt=0, le=10.0, description="teacher temperature after warm-up")
    teacher_temp_warmup_epochs: float = Field(10.0, ge=0, description="teacher temperature warm-up (epochs)")
    center_momentum: float = Field(0.9, ge=0, lt=1.0, description="EMA momentum of the teacher center")
    freeze_last_layer_steps: int = Field(0, ge=0, description="clustering: prototypes frozen this long")
    barlow_lambda: float = Field(1.0, ge=0, description="Barlow Twins off-diagonal weight")
    vicreg_inv: float = Field(1.0, ge=0, description="VICReg invariance weight")
    vicreg_var: float = Field(1.0, ge=0, description="VICReg variance weight")
    vicreg_cov: float = Field(1.0, ge=0, description="VICReg covariance weight")
    byol_predictor: bool = Field(True, description="BYOL: the student's predictor; off = the full collapse "
                                                   "it prevents (docs/collapse-calibration.md)")
    # --- where we differ from the official code (docs/differences.md) ------------------------------
    official: bool = Field(False, description="start every switch below from the official code's behaviour "
                                              "(f_max 11025 included; never the BYOL batch-sum bug)")
    byol_batch_sum: bool = Field(False, description="BUG of the official code, only to reproduce its numbers: "
                                                    "BYOL's dot product summed over the batch axis, not the features")
    vicreg_cov_divisor: Divisor = Field("B", description="VICReg correlation matrix divided by B (ours: C_ii = 1) "
                                                         "or B-1 (official; ours is ((B-1)/B)^2 of its term)")
    barlow_divisor: Divisor = Field("B", description="Barlow Twins cross-correlation divided by B (ours) or B-1 "
                                                     "(official: C_ii reaches B/(B-1), penalising perfect invariance)")
    clustering_log_clamp: bool = Field(False, description="clustering: clamp the student log-probabilities at "
                                                          "-100 (official log_clap); ours: exact log-softmax")
    ema_buffers: bool = Field(False, description="EMA teacher also averages BatchNorm running statistics "
                                                 "(official BYOL: the whole state_dict); ours: parameters only")
    per_view_forward: bool = Field(False, description="one forward per view (official SSLModel.forward: BatchNorm "
                                                      "statistics per view); ours: all views in one batch")
    ema_schedule_epochs: float | None = Field(None, gt=0, description="EMA momentum cosine over this many epochs "
                                                                   "whatever the run's length (official 999: the "
                                                                   "momentum stays near ema_start); empty = over the run")
    teacher_temp_per_epoch: bool = Field(False, description="clustering teacher temperature warm-up steps once per "
                                                            "epoch (official); ours: smoothly per step")
    micro_pooling: Literal["evaluable", "all"] = Field("evaluable", description="micro averages pool the evaluable "
                                                       "tags (ours) or every tag column (official torchmetrics)")
    # --- runtime ----------------------------------------------------------------------------------
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="training device")
    precision: Literal["auto", "bf16", "fp16", "fp32"] = Field(
        "auto", description="autocast dtype; auto: bf16 on CUDA (fp16 without bf16), on a CPU the faster one "
                            "as measured on this machine")
    channels_last: bool = Field(True, description="channels_last memory format")
    compile: bool = Field(False, description="torch.compile the backbone")
    num_workers: int = Field(1, ge=0, le=64, description="data loader worker processes")
    log_every: int = Field(10, ge=1, description="steps between events")
    checkpoint_every: int = Field(100, ge=1, description="steps between checkpoints")
    tensorboard: bool = Field(False, description="also write the logged scalars as TensorBoard event files "
                                                 "under RUN_DIR/tensorboard (needs the tensorboard extra)")

    @model_validator(mode="after")
    def _check_relations(self) -> "RunConfig":
        if self.warmup_steps >= self.steps and self.steps > 1:
            raise ValueError(f"warmup_steps must be < steps ({self.steps}), got {self.warmup_steps}")
        if self.final_lr > self.lr:
            raise ValueError(f"final_lr must be <= lr ({self.lr}), got {self.final_lr}")
        if not self.byol_predictor and not (self.method in PRETEXTS and PRETEXTS[self.method].uses_predictor):
            raise ValueError(f"byol_predictor = false needs a method with a predictor (byol), got {self.method}")
        return self


_PRESET_VALUES: dict[str, dict[str, Any]] = {
    # Sized for a 2-core laptop CPU: a few minutes per method on the demo corpus.
    # augment off: on the demo corpus per-view gain/EQ/noise halved what contrastive neighbours share
    # (docs/configuration.md)
    "demo": dict(preset="demo", batch_size=32, steps=300, warmup_steps=30, lr=1e-3, augment=False,
                 num_workers=1, log_every=10, checkpoint_every=100, teacher_temp_warmup_epochs=10.0),
    # The paper's large-batch values for a GPU; batch size and step count are not in the released code.
    "paper": dict(preset="paper", batch_size=256, steps=200_000, warmup_steps=10_000, lr=1e-3,
                  augment=False, num_workers=8, log_every=50, checkpoint_every=5_000),
}


def official_switches(method: str) -> dict[str, Any]:
    """The switch values that reproduce the official code for `method` (`official = true`).

    Left out: `byol_batch_sum` (a bug, only ever set explicitly) and skipped tags (the official
    metric has no defined value for a tag without positives). `ema_buffers` is the official BYOL
    teacher; the official clustering teacher averages parameters only, as ours does.
    """
    return {"f_max": OFFICIAL_F_MAX, "vicreg_cov_divisor": "B-1", "barlow_divisor": "B-1",
            "clustering_log_clamp": True, "ema_buffers": method == "byol", "per_view_forward": True,
            "ema_schedule_epochs": OFFICIAL_SCHEDULE_EPOCHS, "teacher_temp_per_epoch": True, "micro_pooling": "all"}


def _one_line(err: ValidationError) -> str:
    first = err.errors()[0]
    field = (".".join(str(p) for p in first["loc"]) or "config").encode("unicode_escape").decode("ascii")[:80]
    got = first.get("input")
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        return f"unknown config field '{field}' (valid fields: {', '.join(RunConfig.model_fields)})"
    if field == "config":
        return f"invalid config: {msg.removeprefix('Value error, ')}"
    return f"config field '{field}': {msg} (got {got!r})"


def build(preset: str = "demo", base: dict[str, Any] | None = None, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Preset values, then the method's defaults (engine.methods registry), then the official
    switches when `official` is true, then a file's values, then explicit overrides; raises
    ConfigError on any bad field."""
    if preset not in _PRESET_VALUES:
        raise ConfigError(f"unknown preset '{preset}' (valid: {', '.join(PRESETS)})")
    user = {k: v for k, v in {**(base or {}), **(overrides or {})}.items() if k != RESOLVED}
    defaults = {**_PRESET_VALUES[preset], **method_defaults(preset, str(user.get("method", "")))}
    if str(user.get("official", "")).lower() in ("true", "1"):  # a bool from TOML, a string from --set
        defaults.update(official_switches(str(user.get("method", ""))))
    values = {**defaults, **user}
    if "steps" in user:
        # keep the default warm-up and prototype-freeze shares when only the length changes (--set steps=30)
        for field in ("warmup_steps", "freeze_last_layer_steps"):
            if field in user or field not in defaults:
                continue
            try:
                values[field] = int(int(user["steps"]) * defaults[field] / defaults["steps"])
            except (TypeError, ValueError):
                pass  # the bad `steps` value is reported by validation below
    try:
        return RunConfig(**values)
    except ValidationError as err:
        raise ConfigError(_one_line(err)) from None


def parse_set(items: list[str]) -> dict[str, str]:
    """`key=value` strings from the command line (values stay strings; pydantic converts them)."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value, got {item!r}")
        out[key.strip()] = value.strip()
    return out


def to_toml(config: RunConfig, resolved: dict[str, Any] | None = None) -> str:
    values: dict[str, Any] = {k: v for k, v in config.model_dump().items() if v is not None}
    if resolved:
        values[RESOLVED] = resolved
    return tomli_w.dumps(values)


def save(config: RunConfig, path: Path, resolved: dict[str, Any] | None = None) -> None:
    """Write atomically so a crash never leaves a half config; `resolved` becomes its [resolved] table."""
    atomic_write_bytes(Path(path), to_toml(config, resolved).encode())


def prepare_run(config: RunConfig, run_dir: Path, study: str | None = None) -> None:
    """Create a queued run directory with this config (no torch needed: the GUI's engine does it too)."""
    from engine.rundir.summary import create_run

    create_run(Path(run_dir), to_toml(config), config.method, config.steps, study)


def record_resolved(path: Path, **values: Any) -> None:
    """Write what `auto` fields resolved to (e.g. precision) into the [resolved] table of a run's config."""
    current = load_values(path).get(RESOLVED, {})
    save(load(path), Path(path), {**current, **values})


def resolved_values(path: Path) -> dict[str, Any]:
    """The [resolved] table of a run's config.toml (empty when it has none)."""
    table = load_values(path).get(RESOLVED, {})
    return table if isinstance(table, dict) else {}


def load(path: Path) -> RunConfig:
    """Read a run's `config.toml`; a missing or invalid file raises ConfigError naming it."""
    values = load_values(path)
    values.pop(RESOLVED, None)
    try:
        loaded = RunConfig(**values)
    except ValidationError as err:
        raise ConfigError(f"{path}: {_one_line(err)}") from None
    if "method" not in values:  # a run's config is written whole: an empty or cut file is damaged, not defaults
        raise ConfigError(f"{path}: no 'method' (empty or cut short?)")
    return loaded


def load_or_none(path: Path) -> RunConfig | None:
    """A run's config, or None where there is none or it does not load (a baseline pseudo-run, a store alone)."""
    try:
        return load(path)
    except ConfigError:
        return None


def micro_pooling_at(path: Path) -> Literal["evaluable", "all"]:
    """`micro_pooling` of the run whose config.toml is `path` (official: every column); ours where none loads."""
    cfg = load_or_none(path)
    return cfg.micro_pooling if cfg is not None else "evaluable"


def load_values(path: Path) -> dict[str, Any]:
    """A config file as raw values (a run's [resolved] table included; `build` drops it)."""
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text (byte {err.object[err.start]:#04x} at offset {err.start})") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML ({err})") from None
    except OSError as err:
        raise ConfigError(f"{path}: unreadable ({err.strerror or err})") from None


def schema() -> dict[str, Any]:
    """JSON schema of RunConfig, for generated forms."""
    return RunConfig.model_json_schema()
