"""The PRETEXTS registry, the EMA teacher update, and a 2-step CPU run of every method."""
from __future__ import annotations

import copy
import dataclasses
import math

import pytest
import torch
from torch import nn

from engine.config import METHODS
from engine.model.heads import CLUSTERING_DIMS, PROJECTION_DIMS
from engine.methods import PRETEXTS, MethodSpec, get_pretext
from engine.methods.clustering import ClusteringConfig
from engine.methods.ema import ema_update
from engine.training.schedules import ema_momentum_at, teacher_temp_at


def test_registry_names_match_the_config_methods() -> None:
    assert set(PRETEXTS) == set(METHODS) - {"random"}


def test_unknown_name_lists_the_sorted_valid_names() -> None:
    valid = "barlow_twins, byol, clustering, clustering-collapse, contrastive, vicreg"
    with pytest.raises(ValueError, match=f"'simclr'.*{valid}"):
        get_pretext("simclr")
    assert get_pretext("vicreg") is PRETEXTS["vicreg"]


def test_specs_describe_heads_teacher_and_predictor() -> None:
    uses = {name: (spec.head, spec.uses_teacher, spec.uses_predictor, spec.uses_teacher_temp)
            for name, spec in PRETEXTS.items()}
    assert uses == {
        "contrastive": ("projection", False, False, False),
        "byol": ("projection", True, True, False),
        "clustering": ("clustering", True, False, True),
        "clustering-collapse": ("clustering", True, False, True),
        "barlow_twins": ("projection", False, False, False),
        "vicreg": ("projection", False, False, False),
    }
    for spec in PRETEXTS.values():
        assert spec.head_dims == (PROJECTION_DIMS if spec.head == "projection" else CLUSTERING_DIMS)


def test_paper_defaults() -> None:
    assert PRETEXTS["contrastive"].config.temperature == 0.1
    clustering = PRETEXTS["clustering"].config
    assert (clustering.n_prototypes, clustering.student_temp, clustering.center_momentum, clustering.centering) \
        == (CLUSTERING_DIMS[-1], 0.1, 0.9, True)
    assert PRETEXTS["clustering-collapse"].config == dataclasses.replace(clustering, centering=False)
    assert PRETEXTS["barlow_twins"].config.off_diag_weight == 1.0
    vicreg = PRETEXTS["vicreg"].config
    assert (vicreg.inv_weight, vicreg.var_weight, vicreg.cov_weight, vicreg.eps) == (1.0, 1.0, 1.0, 1e-5)


def test_configs_are_frozen_and_build_applies_overrides() -> None:
    spec = PRETEXTS["clustering"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.config.student_temp = 0.2  # type: ignore[misc]
    loss = spec.build(n_prototypes=8)
    assert loss.config == ClusteringConfig(n_prototypes=8) and loss.center.shape == (8,)
    with pytest.raises(TypeError):
        spec.build(no_such_field=1)


def test_ema_update_interpolates_parameters_only() -> None:
    torch.manual_seed(0)
    student = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    teacher = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    teacher[1].running_mean.fill_(5.0)
    before = copy.deepcopy(teacher)
    ema_update(teacher, student, momentum=0.75)
    for (name, t), s, b in zip(teacher.named_parameters(), student.parameters(), before.parameters()):
        assert torch.allclose(t, 0.75 * b + 0.25 * s), name
        assert t.grad_fn is None
    assert torch.equal(teacher[1].running_mean, torch.full((2,), 5.0))
    ema_update(teacher, student, momentum=0.0)
    assert all(torch.equal(t, s) for t, s in zip(teacher.parameters(), student.parameters()))
    frozen = copy.deepcopy(teacher)
    ema_update(teacher, nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2)), momentum=1.0)
    assert all(torch.equal(t, f) for t, f in zip(teacher.parameters(), frozen.parameters()))


def test_ema_update_rejects_bad_momentum_and_mismatched_modules() -> None:
    with pytest.raises(ValueError, match="momentum"):
        ema_update(nn.Linear(2, 2), nn.Linear(2, 2), momentum=1.5)
    with pytest.raises(ValueError, match="different parameters"):
        ema_update(nn.Linear(2, 2), nn.Sequential(nn.Linear(2, 2)), momentum=0.9)
    with pytest.raises(ValueError, match="weight"):
        ema_update(nn.Linear(2, 2), nn.Linear(3, 2), momentum=0.9)


def _step_loss(spec: MethodSpec, loss_fn: nn.Module, student: nn.Module, teacher: nn.Module | None,
               predictor: nn.Module | None, x: torch.Tensor, step: int) -> tuple:
    """One forward of a method as the training step wires it from the spec's flags."""
    z = student(x)  # (V, B, D)
    if not spec.uses_teacher:
        return loss_fn.forward_components(z), None
    with torch.no_grad():
        target = teacher(x)
    if spec.uses_predictor:
        return loss_fn.forward_components(predictor(z), target), target
    return loss_fn.forward_components(z, target, teacher_temp_at(step, warmup_steps=2)), target


@pytest.mark.parametrize("name", sorted(PRETEXTS))
def test_two_step_cpu_run_from_the_registry(name: str) -> None:
    torch.manual_seed(0)
    spec = get_pretext(name)
    dim = 16
    loss_fn = spec.build(n_prototypes=dim) if spec.uses_teacher_temp else spec.build()
    student = nn.Linear(8, dim)
    predictor = nn.Linear(dim, dim) if spec.uses_predictor else None
    teacher = copy.deepcopy(student).requires_grad_(False) if spec.uses_teacher else None
    params = list(student.parameters()) + (list(predictor.parameters()) if predictor else [])
    opt = torch.optim.SGD(params, lr=0.1)
    start = copy.deepcopy(student.state_dict())
    for step in range(2):
        x = torch.randn(2, 6, 8)  # (V, B, features)
        components, target = _step_loss(spec, loss_fn, student, teacher, predictor, x, step)
        opt.zero_grad()
        components.loss.backward()
        opt.step()
        if teacher is not None:
            ema_update(teacher, student, ema_momentum_at(step, total_steps=2))
        if spec.uses_teacher_temp:
            loss_fn.update_center(target)
        assert components._fields[0] == "loss"
        assert all(torch.isfinite(v).all() for v in components)
        assert math.isfinite(components.loss.item())
    assert not torch.equal(student.weight, start["weight"])
    if spec.uses_teacher_temp:
        assert "center" in loss_fn.state_dict()
        assert bool(torch.count_nonzero(loss_fn.center)) == loss_fn.config.centering
