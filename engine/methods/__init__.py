"""Pretext tasks: one loss per file, and the registry the engine, CLI and GUI pick them from.

Every loss takes multi-view tensors shaped (V, B, D) with V >= 2, returns its total from
``forward`` and its named terms from ``forward_components`` (a NamedTuple whose first field is
``loss``). Call the losses outside autocast: they are written for float32.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from torch import nn

from engine.methods.barlow_twins import BarlowTwinsComponents, BarlowTwinsConfig, BarlowTwinsLoss
from engine.methods.byol import BYOLComponents, BYOLConfig, BYOLLoss
from engine.methods.clustering import ClusteringComponents, ClusteringConfig, ClusteringLoss
from engine.methods.contrastive import ContrastiveComponents, ContrastiveConfig, ContrastiveLoss
from engine.methods.ema import ema_update
from engine.methods.vicreg import VICRegComponents, VICRegConfig, VICRegLoss

HeadKind = Literal["projection", "clustering"]
PROJECTION_DIMS = (1024, 1024, 2048)  # head widths of contrastive, Barlow Twins, VICReg, BYOL
BYOL_PREDICTOR_DIMS = (256, 2048)  # on top of the student projection (2048-D)
CLUSTERING_DIMS = (1024, 1024, 256, 4096)  # last width = number of prototypes


@dataclass(frozen=True)
class MethodSpec:
    """What the training step needs to know about one pretext method.

    The call of the loss follows from the flags: ``loss(z)`` for single-branch methods,
    ``loss(student_prediction, teacher_projection)`` for BYOL, and
    ``loss(student_logits, teacher_logits, teacher_temp)`` then ``loss.update_center(teacher_logits)``
    for clustering.
    """

    loss: type[nn.Module]  # the loss class, built with ``config``
    config: Any  # the method's frozen config dataclass with the paper's values
    head: HeadKind  # "projection" -> heads.projection_head(), "clustering" -> heads.clustering_head()
    head_dims: tuple[int, ...]  # output widths of the head's Linear layers (heads.py convention)
    uses_teacher: bool  # an EMA copy of backbone + head provides targets (engine calls ema_update)
    uses_predictor: bool  # the student adds heads.byol_predictor() (2048 -> 256 -> 2048) on its projection
    uses_teacher_temp: bool  # forward takes teacher_temp (schedules.teacher_temp_at) and has update_center
    summary: str  # one line for the GUI and the CLI help

    def build(self, **overrides: Any) -> nn.Module:
        """The loss module with the paper's config, or with some fields replaced."""
        return self.loss(replace(self.config, **overrides))


PRETEXTS: dict[str, MethodSpec] = {
    "contrastive": MethodSpec(
        loss=ContrastiveLoss, config=ContrastiveConfig(), head="projection", head_dims=PROJECTION_DIMS,
        uses_teacher=False, uses_predictor=False, uses_teacher_temp=False,
        summary="SimCLR NT-Xent: views of a track attract, all other items repel"),
    "byol": MethodSpec(
        loss=BYOLLoss, config=BYOLConfig(), head="projection", head_dims=PROJECTION_DIMS,
        uses_teacher=True, uses_predictor=True, uses_teacher_temp=False,
        summary="BYOL: the student predicts the EMA teacher's projection of another view"),
    "clustering": MethodSpec(
        loss=ClusteringLoss, config=ClusteringConfig(), head="clustering", head_dims=CLUSTERING_DIMS,
        uses_teacher=True, uses_predictor=False, uses_teacher_temp=True,
        summary="DINO-style: the student matches the centred, sharpened teacher over 4,096 prototypes"),
    "clustering-collapse": MethodSpec(
        loss=ClusteringLoss, config=ClusteringConfig(centering=False), head="clustering",
        head_dims=CLUSTERING_DIMS, uses_teacher=True, uses_predictor=False, uses_teacher_temp=True,
        summary="clustering without teacher centering, to watch it collapse"),
    "barlow_twins": MethodSpec(
        loss=BarlowTwinsLoss, config=BarlowTwinsConfig(), head="projection", head_dims=PROJECTION_DIMS,
        uses_teacher=False, uses_predictor=False, uses_teacher_temp=False,
        summary="Barlow Twins: the cross-correlation of two views is pushed to the identity"),
    "vicreg": MethodSpec(
        loss=VICRegLoss, config=VICRegConfig(), head="projection", head_dims=PROJECTION_DIMS,
        uses_teacher=False, uses_predictor=False, uses_teacher_temp=False,
        summary="VICReg: invariance between views, variance and decorrelation within each"),
}


def get_pretext(name: str) -> MethodSpec:
    """The registry entry for ``name``; a ValueError lists the valid names otherwise."""
    try:
        return PRETEXTS[name]
    except KeyError:
        raise ValueError(f"unknown pretext method {name!r} (valid: {', '.join(sorted(PRETEXTS))})") from None


__all__ = [
    "PRETEXTS", "MethodSpec", "HeadKind", "get_pretext", "ema_update",
    "ContrastiveLoss", "ContrastiveConfig", "ContrastiveComponents",
    "BYOLLoss", "BYOLConfig", "BYOLComponents",
    "ClusteringLoss", "ClusteringConfig", "ClusteringComponents",
    "BarlowTwinsLoss", "BarlowTwinsConfig", "BarlowTwinsComponents",
    "VICRegLoss", "VICRegConfig", "VICRegComponents",
]
