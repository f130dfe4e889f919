"""The trained object of one run: student backbone + head (+ predictor), EMA teacher, and the loss.

All views of a batch go through the backbone in one forward: (V, B, T) is flattened to (V*B, T).
The log-mel of the views is computed once and fed to both the student and the EMA teacher.
"""
from __future__ import annotations

import copy
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from engine.backbone import Backbone, BackboneConfig
from engine.config import RunConfig
from engine.frontend import FrontendConfig
from engine.heads import MLPHead, byol_predictor
from engine.pretext import MethodSpec, get_pretext


class StepOutput(NamedTuple):
    """Total loss (with grad) and the method's named terms (detached, for the curves)."""

    loss: Tensor
    components: dict[str, Tensor]


def loss_overrides(cfg: RunConfig) -> dict[str, Any]:
    """RunConfig fields that reach each method's loss config."""
    return {
        "contrastive": dict(temperature=cfg.temperature),
        "byol": {},
        "clustering": dict(n_prototypes=cfg.n_prototypes, student_temp=cfg.student_temp,
                           center_momentum=cfg.center_momentum),
        "clustering-collapse": dict(n_prototypes=cfg.n_prototypes, student_temp=cfg.student_temp,
                                    center_momentum=cfg.center_momentum),
        "barlow_twins": dict(off_diag_weight=cfg.barlow_lambda),
        "vicreg": dict(inv_weight=cfg.vicreg_inv, var_weight=cfg.vicreg_var, cov_weight=cfg.vicreg_cov),
    }[cfg.method]


def build_backbone(cfg: RunConfig) -> Backbone:
    frontend = FrontendConfig(f_max=cfg.f_max)
    samples = int(round(cfg.segment_s * frontend.sample_rate))
    return Backbone(BackboneConfig(segment_samples=samples, frontend=frontend))


class SSLModel(nn.Module):
    """Student, optional EMA teacher and loss of one pretext method ("random": backbone only)."""

    def __init__(self, cfg: RunConfig) -> None:
        super().__init__()
        self.method = cfg.method
        self.backbone = build_backbone(cfg)
        self.spec: MethodSpec | None = None if cfg.method == "random" else get_pretext(cfg.method)
        self.head: nn.Module = nn.Identity()
        self.predictor: nn.Module | None = None
        self.teacher: nn.ModuleDict | None = None
        self.loss_fn: nn.Module | None = None
        if self.spec is None:
            return
        dims = list(self.spec.head_dims)
        if self.spec.head == "clustering":
            dims[-1] = cfg.n_prototypes
        self.head = MLPHead(self.backbone.config.output_dim, dims)
        if self.spec.uses_predictor:
            self.predictor = byol_predictor(in_dim=dims[-1])
        if self.spec.uses_teacher:
            self.teacher = nn.ModuleDict({"backbone": copy.deepcopy(self.backbone), "head": copy.deepcopy(self.head)})
            self.teacher.requires_grad_(False)
        self.loss_fn = self.spec.build(**loss_overrides(cfg))

    def student_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.named_parameters() if not n.startswith("teacher.") and p.requires_grad]

    def embed(self, views: Tensor) -> Tensor:
        """(V, B, T) waveforms -> (V, B, 1024) backbone embeddings, one forward for all views."""
        v, b, t = views.shape
        return self.backbone(views.reshape(v * b, t)).reshape(v, b, -1)

    def _log_mel(self, views: Tensor) -> Tensor:
        """(V, B, T) -> (V*B, 1, n_mels, frames): the front end has no weights, so student and teacher share it."""
        v, b, t = views.shape
        return self.backbone.frontend(views.reshape(v * b, t))

    @staticmethod
    def _project(backbone: Backbone, head: nn.Module, mel: Tensor, views: int) -> Tensor:
        return head(backbone.forward_features(mel)).reshape(views, mel.shape[0] // views, -1)  # (V, B, D)

    def teacher_logits(self, views: Tensor) -> Tensor:
        """(V, B, D) teacher outputs (EMA weights, no gradient)."""
        return self._teacher_from_mel(self._log_mel(views), views.shape[0])

    def _teacher_from_mel(self, mel: Tensor, views: int) -> Tensor:
        assert self.teacher is not None
        with torch.no_grad():
            return self._project(self.teacher["backbone"], self.teacher["head"], mel, views)

    def forward(self, views: Tensor, teacher_temp: float) -> StepOutput:
        """Loss of one batch of views (V, B, T). The loss itself runs in float32, outside autocast."""
        assert self.spec is not None and self.loss_fn is not None, "the random control does not train"
        mel = self._log_mel(views)
        z = self._project(self.backbone, self.head, mel, views.shape[0])  # (V, B, D)
        if self.predictor is not None:
            v, b, d = z.shape
            z = self.predictor(z.reshape(v * b, d)).reshape(v, b, -1)
        target = self._teacher_from_mel(mel, views.shape[0]) if self.teacher is not None else None
        with torch.autocast(device_type=views.device.type, enabled=False):
            z = z.float()
            if self.spec.uses_teacher_temp:
                assert target is not None
                parts = self.loss_fn.forward_components(z, target.float(), teacher_temp)
                self._last_teacher = target.detach()
            elif target is not None:
                parts = self.loss_fn.forward_components(z, target.float())
            else:
                parts = self.loss_fn.forward_components(z)
        components = {k: v.detach() for k, v in parts._asdict().items() if k != "loss"}
        return StepOutput(parts.loss, components)

    @torch.no_grad()
    def after_step(self, momentum: float) -> None:
        """EMA teacher and center updates, after the optimiser step."""
        if self.teacher is not None:
            from engine.pretext import ema_update

            ema_update(self.teacher["backbone"], self.backbone, momentum)
            ema_update(self.teacher["head"], self.head, momentum)
        if self.spec is not None and self.spec.uses_teacher_temp and hasattr(self, "_last_teacher"):
            self.loss_fn.update_center(self._last_teacher.float())
            del self._last_teacher
