"""Clustering (DINO-style): hand values, a loop reference, centering, the center buffer, bad shapes."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from engine.methods.clustering import ClusteringConfig, ClusteringLoss

K = 6


def reference_clustering(student: torch.Tensor, teacher: torch.Tensor, center: torch.Tensor,
                         student_temp: float, teacher_temp: float) -> dict[str, torch.Tensor]:
    """PAPER.md: cross-entropy H(teacher_i, student_j), i != j, teacher centred then sharpened;
    plus the diagnostics of "Collapse diagnostics", each from its definition."""
    views, batch, k = student.shape
    terms, entropies, usage = [], [], [0] * k
    mean_probs = torch.zeros(k, dtype=student.dtype)
    for i in range(views):
        for b in range(batch):
            t = F.softmax((teacher[i, b] - center) / teacher_temp, dim=0)
            entropies.append(-(t * torch.log(t)).sum())
            mean_probs += t / (views * batch)
            usage[int(torch.argmax(t))] += 1
            for j in range(views):
                if i != j:
                    log_s = F.log_softmax(student[j, b] / student_temp, dim=0)
                    terms.append(-(t * log_s).sum())
    loss = torch.stack(terms).mean()
    entropy = torch.stack(entropies).mean()
    return {"loss": loss, "teacher_entropy": entropy, "kl": loss - entropy,
            "effective_prototypes": torch.exp(-(mean_probs * torch.log(mean_probs)).sum()),
            "usage": torch.tensor(usage)}


def _logits(views: int, batch: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(views, batch, K, generator=g, dtype=torch.float64), \
        torch.randn(views, batch, K, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("views", [2, 3])
@pytest.mark.parametrize("centering", [True, False])
def test_matches_loop_reference(views: int, centering: bool) -> None:
    student, teacher = _logits(views, 5, seed=views)
    loss = ClusteringLoss(ClusteringConfig(n_prototypes=K, centering=centering)).double()
    loss.center.copy_(torch.linspace(-1, 1, K))
    out = loss.forward_components(student, teacher, teacher_temp=0.04)
    center = loss.center if centering else torch.zeros(K, dtype=torch.float64)
    expected = reference_clustering(student, teacher, center, 0.1, 0.04)
    for name, value in expected.items():
        assert torch.allclose(getattr(out, name).to(value.dtype), value, atol=1e-9), name


def test_hand_values() -> None:
    ln3 = math.log(3)
    teacher = torch.tensor([[[0.0, ln3]], [[ln3, 0.0]]])  # probs [1/4, 3/4] and [3/4, 1/4]
    student = torch.tensor([[[0.0, 0.0]], [[0.0, ln3]]])  # probs [1/2, 1/2] and [1/4, 3/4]
    loss = ClusteringLoss(ClusteringConfig(n_prototypes=2, student_temp=1.0))
    out = loss.forward_components(student, teacher, teacher_temp=1.0)
    h = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))  # H(teacher_0, student_1) = H(teacher_0)
    assert out.loss.item() == pytest.approx((h + math.log(2)) / 2, abs=1e-6)
    assert out.teacher_entropy.item() == pytest.approx(h, abs=1e-6)
    assert out.kl.item() == pytest.approx((math.log(2) - h) / 2, abs=1e-6)
    assert out.effective_prototypes.item() == pytest.approx(2.0, abs=1e-6)
    assert out.usage.tolist() == [1, 1]


def test_uniform_collapse_sits_at_log_k() -> None:
    k = 4096
    flat = torch.zeros(2, 3, k)
    out = ClusteringLoss().forward_components(flat, flat, teacher_temp=0.04)
    assert out.loss.item() == pytest.approx(math.log(k), abs=1e-4)  # ln 4096 = 8.3178
    assert out.kl.item() == pytest.approx(0.0, abs=1e-4)
    assert out.effective_prototypes.item() == pytest.approx(k, rel=1e-4)


def test_dominant_collapse_shows_in_usage_and_effective_prototypes() -> None:
    teacher = torch.zeros(2, 4, K)
    teacher[..., 3] = 5.0  # every sample picks prototype 3
    out = ClusteringLoss(ClusteringConfig(n_prototypes=K)).forward_components(torch.zeros(2, 4, K), teacher, 0.04)
    assert out.usage.tolist() == [0, 0, 0, 8, 0, 0]
    assert out.effective_prototypes.item() == pytest.approx(1.0, abs=1e-3)
    assert out.teacher_entropy.item() == pytest.approx(0.0, abs=1e-3)


def test_centering_removes_the_center_only_when_enabled() -> None:
    teacher = torch.tensor([[[2.0, 0.0]], [[2.0, 0.0]]])
    for centering, expected_entropy in [(True, math.log(2)), (False, 0.0)]:
        loss = ClusteringLoss(ClusteringConfig(n_prototypes=2, centering=centering))
        loss.center.copy_(torch.tensor([2.0, 0.0]))
        out = loss.forward_components(torch.zeros(2, 1, 2), teacher, teacher_temp=0.04)
        assert out.teacher_entropy.item() == pytest.approx(expected_entropy, abs=1e-6)


def test_update_center_is_an_ema_of_mean_teacher_logits_saved_in_state_dict() -> None:
    loss = ClusteringLoss(ClusteringConfig(n_prototypes=3))
    teacher = torch.tensor([[[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]], [[0.0, 0.0, 0.0], [4.0, 4.0, 4.0]]])  # mean 2
    loss.update_center(teacher)
    assert torch.allclose(loss.center, torch.full((3,), 0.2))
    loss.update_center(teacher)
    assert torch.allclose(loss.center, torch.full((3,), 0.9 * 0.2 + 0.1 * 2))
    restored = ClusteringLoss(ClusteringConfig(n_prototypes=3))
    restored.load_state_dict(loss.state_dict())
    assert torch.equal(restored.center, loss.center)
    assert "center" in loss.state_dict()


def test_forward_leaves_the_center_alone_and_collapse_variant_never_moves_it() -> None:
    student, teacher = _logits(2, 4, seed=0)
    loss = ClusteringLoss(ClusteringConfig(n_prototypes=K)).double()
    loss(student, teacher, 0.04)
    assert torch.count_nonzero(loss.center) == 0
    collapse = ClusteringLoss(ClusteringConfig(n_prototypes=K, centering=False)).double()
    collapse.update_center(teacher)
    assert torch.count_nonzero(collapse.center) == 0


def test_teacher_gets_no_gradient() -> None:
    student, teacher = _logits(2, 4, seed=1)
    student.requires_grad_()
    teacher.requires_grad_()
    ClusteringLoss(ClusteringConfig(n_prototypes=K)).double()(student, teacher, 0.04).backward()
    assert student.grad is not None and student.grad.abs().sum() > 0
    assert teacher.grad is None


def test_loss_falls_under_sgd() -> None:
    student, teacher = _logits(2, 8, seed=2)
    student.requires_grad_()
    loss = ClusteringLoss(ClusteringConfig(n_prototypes=K)).double()
    opt = torch.optim.SGD([student], lr=0.05)
    start = loss(student, teacher, 0.04).item()
    for _ in range(20):
        opt.zero_grad()
        loss(student, teacher, 0.04).backward()
        opt.step()
    assert loss(student, teacher, 0.04).item() < start - 0.5


@pytest.mark.parametrize("s_shape, t_shape, message", [
    ((8, K), (8, K), "views, batch, dim"),
    ((1, 8, K), (1, 8, K), "at least 2 views"),
    ((2, 8, K), (2, 7, K), "same shape"),
    ((2, 8, K + 1), (2, 8, K + 1), "n_prototypes"),
])
def test_bad_shapes_raise(s_shape: tuple[int, ...], t_shape: tuple[int, ...], message: str) -> None:
    loss = ClusteringLoss(ClusteringConfig(n_prototypes=K))
    with pytest.raises(ValueError, match=message):
        loss(torch.randn(*s_shape), torch.randn(*t_shape), 0.04)


def test_bad_teacher_temperature_center_shape_and_config_raise() -> None:
    loss = ClusteringLoss(ClusteringConfig(n_prototypes=K))
    with pytest.raises(ValueError, match="teacher_temp"):
        loss(torch.randn(2, 4, K), torch.randn(2, 4, K), 0.0)
    with pytest.raises(ValueError, match="n_prototypes"):
        loss.update_center(torch.randn(2, 4, K + 1))
    with pytest.raises(ValueError, match="center_momentum"):
        ClusteringConfig(center_momentum=1.0)
    with pytest.raises(ValueError, match="student_temp"):
        ClusteringConfig(student_temp=-0.1)


def test_bfloat16_logits_are_scored_in_the_float32_of_the_center() -> None:
    student, teacher = _logits(2, 4, seed=3)
    loss = ClusteringLoss(ClusteringConfig(n_prototypes=K))
    low = loss.forward_components(student.bfloat16(), teacher.bfloat16(), 0.04)
    full = loss.forward_components(student.bfloat16().float(), teacher.bfloat16().float(), 0.04)
    assert low.loss.dtype == torch.float32 and low.usage.dtype == torch.int64
    assert torch.equal(low.loss, full.loss)
