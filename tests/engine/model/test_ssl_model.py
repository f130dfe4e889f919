"""SSLModel: one log-mel of the views feeds both student and EMA teacher, with the same loss as separate passes."""
from __future__ import annotations

import copy

import pytest
import torch

from engine import config
from engine.model.ssl_model import SSLModel


def _model(method: str) -> SSLModel:
    torch.manual_seed(0)
    cfg = config.build("demo", overrides={"method": method, "batch_size": 3, "device": "cpu", "n_prototypes": 64})
    return SSLModel(cfg)


def _separate_passes_loss(model: SSLModel, views: torch.Tensor, teacher_temp: float) -> torch.Tensor:
    """The loss with every network computing its own log-mel from the waveform, view by view."""
    student = torch.stack([model.head(model.backbone(v)) for v in views])  # (V, B, D)
    if model.predictor is not None:
        student = torch.stack([model.predictor(z) for z in student])
    with torch.no_grad():
        target = torch.stack([model.teacher["head"](model.teacher["backbone"](v)) for v in views])
    if model.spec.uses_teacher_temp:
        return model.loss_fn(student, target, teacher_temp)
    return model.loss_fn(student, target)


@pytest.mark.parametrize("method", ["byol", "clustering"])
def test_shared_log_mel_gives_the_loss_of_separate_passes(method: str) -> None:
    model = _model(method).eval()  # eval: BatchNorm statistics do not depend on how views are batched
    views = 0.1 * torch.randn(2, 3, 64_000, generator=torch.Generator().manual_seed(1))
    reference = _separate_passes_loss(copy.deepcopy(model), views, 0.04)
    calls = []
    model.teacher["backbone"].frontend.register_forward_hook(lambda *_: calls.append("teacher"))
    model.backbone.frontend.register_forward_hook(lambda *_: calls.append("student"))
    out = model(views, 0.04)
    torch.testing.assert_close(out.loss, reference, atol=1e-5, rtol=1e-5)
    assert calls == ["student"]  # the teacher's front end never ran


def test_after_step_moves_the_center_towards_the_teacher_logits_of_its_forward() -> None:
    model = _model("clustering")
    views = 0.1 * torch.randn(2, 3, 64_000, generator=torch.Generator().manual_seed(2))
    out = model(views, 0.04)
    assert out.teacher_logits.shape == (2, 3, 64) and not out.teacher_logits.requires_grad
    momentum = model.loss_fn.config.center_momentum
    expected = momentum * model.loss_fn.center + (1 - momentum) * out.teacher_logits.mean(dim=(0, 1))
    model.after_step(out, 0.996)
    torch.testing.assert_close(model.loss_fn.center, expected)
    assert _model("vicreg")(views, 0.04).teacher_logits is None  # no center to move
