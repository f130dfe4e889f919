"""BYOL: hand values, a loop reference, the official batch-axis bug, stop-gradient, bad shapes."""
from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from engine.methods.byol import BYOLLoss


def reference_byol(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """PAPER.md: 2 - 2 cos(student_pred(v_i), teacher_proj(v_j)) for i != j, averaged."""
    views, batch, _ = prediction.shape
    terms = [2 - 2 * F.cosine_similarity(prediction[i, b], target[j, b], dim=0)
             for i, j in itertools.permutations(range(views), 2) for b in range(batch)]
    return torch.stack(terms).mean()


def official_byol_with_batch_axis_bug(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The official benchmark code: the dot product is summed over dim=-0, the batch axis."""
    losses = []
    for i, t in enumerate(target):
        for j, s in enumerate(prediction):
            if i != j:
                t_n, s_n = F.normalize(t, dim=-1), F.normalize(s, dim=-1)
                losses.append(2 - 2 * (t_n * s_n).sum(dim=-0))
    return torch.cat(losses).mean()


def _pair(views: int, batch: int, dim: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(views, batch, dim, generator=g), torch.randn(views, batch, dim, generator=g)


@pytest.mark.parametrize("views", [2, 3])
def test_matches_loop_reference(views: int) -> None:
    p, t = _pair(views, 5, 7, seed=views)
    assert torch.allclose(BYOLLoss()(p, t), reference_byol(p, t), atol=1e-6)


def test_hand_values() -> None:
    x = torch.tensor([[[1.0, 0.0]], [[0.0, 3.0]]])  # (2 views, 1 track, 2)
    loss = BYOLLoss()
    # target view j is compared with prediction view i != j: swap the views to get equal pairs
    assert loss(x, x.flip(0)).item() == pytest.approx(0.0, abs=1e-6)
    assert loss(x, -x.flip(0)).item() == pytest.approx(4.0, abs=1e-6)
    assert loss(x, x).item() == pytest.approx(2.0, abs=1e-6)  # orthogonal views
    out = loss.forward_components(x, x)
    assert torch.allclose(out.loss, 2 - 2 * out.cosine)


def test_official_batch_axis_sum_is_a_different_batch_dependent_loss() -> None:
    batch, dim = 6, 10
    p, noise = _pair(2, batch, dim, seed=0)
    t = p.flip(0) + 0.5 * noise  # fairly good predictions of the other view
    ours = BYOLLoss()(p, t)
    buggy = official_byol_with_batch_axis_bug(p, t)
    assert abs(buggy.item() - ours.item()) > 0.1
    # exactly an affine map of ours whose scale and offset depend on the batch size
    assert buggy.item() == pytest.approx(2 - batch / dim * (2 - ours.item()), abs=1e-5)
    # perfect predictions: ours is 0, the buggy one is not
    same = p.flip(0)
    assert BYOLLoss()(p, same).item() == pytest.approx(0.0, abs=1e-6)
    assert official_byol_with_batch_axis_bug(p, same).item() == pytest.approx(2 - 2 * batch / dim, abs=1e-5)
    # repeating the batch changes nothing for a per-sample mean, but changes the buggy value
    p2, t2 = torch.cat([p, p], dim=1), torch.cat([t, t], dim=1)
    assert torch.allclose(BYOLLoss()(p2, t2), ours, atol=1e-6)
    assert abs(official_byol_with_batch_axis_bug(p2, t2).item() - buggy.item()) > 0.1


def test_invariant_to_per_sample_scale() -> None:
    p, t = _pair(3, 4, 5, seed=1)
    scale = torch.rand(3, 4, 1, generator=torch.Generator().manual_seed(2)) * 10 + 0.1
    assert torch.allclose(BYOLLoss()(p * scale, t), BYOLLoss()(p, t), atol=1e-6)


def test_teacher_gets_no_gradient() -> None:
    p, t = _pair(2, 4, 5, seed=3)
    p.requires_grad_()
    t.requires_grad_()
    BYOLLoss()(p, t).backward()
    assert p.grad is not None and p.grad.abs().sum() > 0
    assert t.grad is None


def test_loss_falls_under_sgd() -> None:
    p, t = _pair(2, 8, 6, seed=4)
    p.requires_grad_()
    loss = BYOLLoss()
    opt = torch.optim.SGD([p], lr=1.0)
    start = loss(p, t).item()
    for _ in range(20):
        opt.zero_grad()
        loss(p, t).backward()
        opt.step()
    assert loss(p, t).item() < start - 0.5


@pytest.mark.parametrize("p_shape, t_shape, message", [
    ((8, 4), (8, 4), "views, batch, dim"),
    ((1, 8, 4), (1, 8, 4), "at least 2 views"),
    ((2, 8, 4), (2, 8, 5), "same shape"),
    ((2, 8, 4), (3, 8, 4), "same shape"),
])
def test_bad_shapes_raise(p_shape: tuple[int, ...], t_shape: tuple[int, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BYOLLoss()(torch.randn(*p_shape), torch.randn(*t_shape))
