"""Pretext tasks: one loss per file, and the registry that is the one source of a method's identity.

Config validation, the CLI's choices, the GUI's method list, the colours and the per-method defaults
all derive from `PRETEXTS`. This module imports no torch: each entry names its loss file, which
`MethodSpec.build` imports on first use. Every loss takes multi-view tensors shaped (V, B, D) with
V >= 2, returns its total from ``forward`` and its named terms from ``forward_components`` (a
NamedTuple whose first field is ``loss``). Call the losses outside autocast: they are written for float32.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Literal

HeadKind = Literal["projection", "clustering"]
PROJECTION_DIMS = (1024, 1024, 2048)  # head widths of contrastive, Barlow Twins, VICReg, BYOL
BYOL_PREDICTOR_DIMS = (256, 2048)  # on top of the student projection (2048-D)
CLUSTERING_DIMS = (1024, 1024, 256, 4096)  # last width = number of prototypes
UNTRAINED = "random"  # the untrained baseline: a run config method, not a registry entry
OFFICIAL_LOG_CLAMP = -100.0  # the official `log_clap`: log-probabilities floored at -100
RunValues = Any  # an engine.config.RunConfig (config sits above methods in the import layers)


@dataclass(frozen=True)
class MethodSpec:
    """Everything the engine, the CLI and the GUI know about one pretext method.

    The call of the loss follows from the flags: ``loss(z)`` for single-branch methods,
    ``loss(student_prediction, teacher_projection)`` for BYOL, and
    ``loss(student_logits, teacher_logits, teacher_temp)`` then ``loss.update_center(teacher_logits)``
    for clustering.
    """

    module: str  # the method's file; imported by `build`, so that the registry stays torch-free
    loss_class: str  # its nn.Module, built from its config
    config_class: str  # its frozen config dataclass, whose defaults are the paper's values
    from_run: Callable[[RunValues], dict[str, Any]]  # the loss config fields a RunConfig sets
    head: HeadKind  # "projection" -> heads.projection_head(), "clustering" -> heads.clustering_head()
    head_dims: tuple[int, ...]  # output widths of the head's Linear layers (heads.py convention)
    uses_teacher: bool  # an EMA copy of backbone + head provides targets (engine calls ema_update)
    uses_predictor: bool  # the student adds heads.byol_predictor() (2048 -> 256 -> 2048) on its projection
    uses_teacher_temp: bool  # forward takes teacher_temp (schedules.teacher_temp_at) and has update_center
    summary: str  # one line for the GUI and the CLI help
    colour: str  # hex colour of the method in every figure of the engine and the GUI
    variant: dict[str, Any] = field(default_factory=dict)  # loss config fields that differ from the paper's
    defaults: dict[str, Any] = field(default_factory=dict)  # RunConfig values on top of the preset's
    preset_defaults: dict[str, dict[str, Any]] = field(default_factory=dict)  # per preset, after `defaults`

    @property
    def config(self) -> Any:
        """The loss config this method starts from (the paper's values, with its variant applied)."""
        return self._attr(self.config_class)(**self.variant)

    def loss_config(self, run: RunValues) -> Any:
        """The loss config of a run: the method's config with the values its RunConfig sets."""
        return replace(self.config, **self.from_run(run))

    def build(self, **overrides: Any) -> Any:
        """The loss module (an nn.Module) with this method's config, or with some fields replaced."""
        return self._attr(self.loss_class)(replace(self.config, **overrides))

    def build_for(self, run: RunValues) -> Any:
        """The loss module of a run (its RunConfig's method hyper-parameters applied)."""
        return self._attr(self.loss_class)(self.loss_config(run))

    def _attr(self, name: str) -> Any:
        return getattr(importlib.import_module(self.module), name)


def _contrastive(run: RunValues) -> dict[str, Any]:
    return dict(temperature=run.temperature)


def _byol(run: RunValues) -> dict[str, Any]:
    return dict(batch_sum=run.byol_batch_sum)


def _clustering(run: RunValues) -> dict[str, Any]:
    return dict(n_prototypes=run.n_prototypes, student_temp=run.student_temp, center_momentum=run.center_momentum,
                log_clamp=OFFICIAL_LOG_CLAMP if run.clustering_log_clamp else None)


def _barlow_twins(run: RunValues) -> dict[str, Any]:
    return dict(off_diag_weight=run.barlow_lambda, divisor=run.barlow_divisor)


def _vicreg(run: RunValues) -> dict[str, Any]:
    return dict(inv_weight=run.vicreg_inv, var_weight=run.vicreg_var, cov_weight=run.vicreg_cov,
                cov_divisor=run.vicreg_cov_divisor)


def _projection(file: str, prefix: str, from_run: Callable[[RunValues], dict[str, Any]], colour: str, summary: str,
                teacher: bool = False) -> MethodSpec:
    """An entry with a projection head, from a file defining `<prefix>Loss` and `<prefix>Config`;
    `teacher`: an EMA teacher and a predictor on the student (BYOL)."""
    return MethodSpec(module=f"engine.methods.{file}", loss_class=f"{prefix}Loss", config_class=f"{prefix}Config",
                      from_run=from_run, head="projection", head_dims=PROJECTION_DIMS, uses_teacher=teacher,
                      uses_predictor=teacher, uses_teacher_temp=False, colour=colour, summary=summary)


_CLUSTERING = dict(module="engine.methods.clustering", loss_class="ClusteringLoss", config_class="ClusteringConfig",
                   from_run=_clustering, head="clustering", head_dims=CLUSTERING_DIMS, uses_teacher=True,
                   uses_predictor=False, uses_teacher_temp=True)

PRETEXTS: dict[str, MethodSpec] = {
    "contrastive": _projection("contrastive", "Contrastive", _contrastive, "#1f77b4",
                               "SimCLR NT-Xent: views of a track attract, all other items repel"),
    "byol": _projection("byol", "BYOL", _byol, "#9467bd",
                        "BYOL: the student predicts the EMA teacher's projection of another view", teacher=True),
    "clustering": MethodSpec(
        **_CLUSTERING, colour="#d62728",
        summary="DINO-style: the student matches the centred, sharpened teacher over 4,096 prototypes",
        # At the demo preset's lr 1e-3 the backbone loses its rank within 60 steps (RankMe ~1.5) and the
        # teacher drifts towards uniform; lr 3e-5 with the prototypes frozen for the first 10 % keeps the
        # teacher sharp and the backbone's rank (docs/collapse.md).
        preset_defaults={"demo": dict(lr=3e-5, freeze_last_layer_steps=30)}),
    "clustering-collapse": MethodSpec(
        **_CLUSTERING, colour="#ff9896", variant=dict(centering=False),
        summary="clustering without teacher centering, to watch it collapse",
        # No centering, a sharp teacher from the first step and a fast-following teacher: the settings
        # under which DINO-style clustering collapses to one dominant prototype and stays there.
        # (EMA 0.95: at 0.99 an fp32 run kept 4-5 prototypes to the end; at 0.95 one prototype from step 80,
        # and of 0.9 / 0.95 / 0.97 the lowest track-embedding RankMe, docs/collapse.md.)
        defaults=dict(teacher_temp_start=0.04, teacher_temp_end=0.04, ema_start=0.95, ema_end=0.95)),
    "barlow_twins": _projection("barlow_twins", "BarlowTwins", _barlow_twins, "#2ca02c",
                                "Barlow Twins: the cross-correlation of two views is pushed to the identity"),
    "vicreg": _projection("vicreg", "VICReg", _vicreg, "#ff7f0e",
                          "VICReg: invariance between views, variance and decorrelation within each"),
}
METHODS: tuple[str, ...] = (*PRETEXTS, UNTRAINED)  # every value of a run config's `method`


def get_pretext(name: str) -> MethodSpec:
    """The registry entry for ``name``; a ValueError lists the valid names otherwise."""
    try:
        return PRETEXTS[name]
    except KeyError:
        raise ValueError(f"unknown pretext method {name!r} (valid: {', '.join(sorted(PRETEXTS))})") from None


def method_defaults(preset: str, method: str) -> dict[str, Any]:
    """The RunConfig values `method` starts from on top of `preset` (empty for most methods)."""
    spec = PRETEXTS.get(method)
    return {} if spec is None else {**spec.defaults, **spec.preset_defaults.get(preset, {})}


__all__ = [
    "PRETEXTS", "METHODS", "UNTRAINED", "MethodSpec", "HeadKind", "get_pretext", "method_defaults",
    "PROJECTION_DIMS", "BYOL_PREDICTOR_DIMS", "CLUSTERING_DIMS", "OFFICIAL_LOG_CLAMP",
]
