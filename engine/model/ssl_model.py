"""The trained object of one run: student backbone + head (+ predictor), EMA teacher, and the loss.

All views of a batch go through the backbone in one forward: (V, B, T) is flattened to (V*B, T),
so train-mode BatchNorm statistics pool the views; `per_view_forward` runs one view at a time, as
the official `SSLModel.forward` does. The log-mel of the views is computed once and fed to both
the student and the EMA teacher (the front end has no weights and no batch statistics).
"""
from __future__ import annotations

import copy
from typing import NamedTuple

import torch
from torch import Tensor, nn

from engine.model.backbone import Backbone, BackboneConfig
from engine.config import RunConfig
from engine.model.frontend import FrontendConfig
from engine.model.heads import MLPHead, byol_predictor
from engine.methods import MethodSpec, get_pretext


class StepOutput(NamedTuple):
    """Total loss (with grad), the method's named terms (detached, for the curves) and what
    `after_step` needs from this forward."""

    loss: Tensor
    components: dict[str, Tensor]
    teacher_logits: Tensor | None = None  # (V, B, K) detached, for the clustering center; else None


def build_backbone(cfg: RunConfig) -> Backbone:
    frontend = FrontendConfig(f_max=cfg.f_max)
    samples = int(round(cfg.segment_s * frontend.sample_rate))
    return Backbone(BackboneConfig(segment_samples=samples, frontend=frontend))


class SSLModel(nn.Module):
    """Student, optional EMA teacher and loss of one pretext method ("random": backbone only)."""

    def __init__(self, cfg: RunConfig) -> None:
        super().__init__()
        self.method = cfg.method
        self.per_view = cfg.per_view_forward
        self.ema_buffers = cfg.ema_buffers
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
        if self.spec.uses_predictor and cfg.byol_predictor:
            self.predictor = byol_predictor(in_dim=dims[-1])
        if self.spec.uses_teacher:
            self.teacher = nn.ModuleDict({"backbone": copy.deepcopy(self.backbone), "head": copy.deepcopy(self.head)})
            self.teacher.requires_grad_(False)
        self.loss_fn = self.spec.build_for(cfg)

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

    def _project(self, backbone: Backbone, head: nn.Module, mel: Tensor, views: int) -> Tensor:
        """(V*B, 1, n_mels, frames) -> (V, B, D) head outputs, in one batch or one view at a time."""
        if self.per_view:
            return torch.stack([head(backbone.forward_features(m)) for m in mel.chunk(views)])
        return head(backbone.forward_features(mel)).reshape(views, mel.shape[0] // views, -1)

    def _predict(self, z: Tensor) -> Tensor:
        """BYOL's predictor on (V, B, D) projections, per view when `per_view_forward`."""
        assert self.predictor is not None
        if self.per_view:
            return torch.stack([self.predictor(view) for view in z])
        v, b, d = z.shape
        return self.predictor(z.reshape(v * b, d)).reshape(v, b, -1)

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
            z = self._predict(z)
        target = self._teacher_from_mel(mel, views.shape[0]) if self.teacher is not None else None
        with torch.autocast(device_type=views.device.type, enabled=False):
            z = z.float()
            if self.spec.uses_teacher_temp:
                assert target is not None
                parts = self.loss_fn.forward_components(z, target.float(), teacher_temp)
            elif target is not None:
                parts = self.loss_fn.forward_components(z, target.float())
            else:
                parts = self.loss_fn.forward_components(z)
        components = {k: v.detach() for k, v in parts._asdict().items() if k != "loss"}
        teacher_logits = target.detach() if self.spec.uses_teacher_temp else None
        return StepOutput(parts.loss, components, teacher_logits)

    @torch.no_grad()
    def after_step(self, out: StepOutput, momentum: float) -> None:
        """EMA teacher and center updates, after the optimiser step, from the step's `forward` output."""
        if self.teacher is not None:
            from engine.methods.ema import ema_update

            ema_update(self.teacher["backbone"], self.backbone, momentum, self.ema_buffers)
            ema_update(self.teacher["head"], self.head, momentum, self.ema_buffers)
        if out.teacher_logits is not None:
            self.loss_fn.update_center(out.teacher_logits.float())
