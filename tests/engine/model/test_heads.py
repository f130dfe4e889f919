"""Heads: Linear(no bias)-BN-ReLU structure, paper widths, hand-counted parameters."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from engine.model.heads import MLPHead, byol_predictor, clustering_head, projection_head


def layer_kinds(head: MLPHead) -> list[str]:
    return [type(m).__name__ for m in head.ops]


def linear_shapes(head: MLPHead) -> list[tuple[int, int]]:
    return [(m.in_features, m.out_features) for m in head.ops if isinstance(m, nn.Linear)]


@pytest.mark.parametrize(
    ("factory", "shapes", "n_params"),
    [
        (projection_head, [(1024, 1024), (1024, 1024), (1024, 2048)],
         1024 * 1024 + 2 * 1024 + 1024 * 1024 + 2 * 1024 + 1024 * 2048),
        (byol_predictor, [(2048, 256), (256, 2048)], 2048 * 256 + 2 * 256 + 256 * 2048),
        (clustering_head, [(1024, 1024), (1024, 1024), (1024, 256), (256, 4096)],
         1024 * 1024 + 2 * 1024 + 1024 * 1024 + 2 * 1024 + 1024 * 256 + 2 * 256 + 256 * 4096),
    ],
)
def test_paper_heads_have_the_paper_widths_and_parameter_counts(factory, shapes, n_params) -> None:
    head = factory()
    assert linear_shapes(head) == shapes
    assert sum(p.numel() for p in head.parameters()) == n_params
    out = head.train()(torch.randn(4, shapes[0][0]))
    assert out.shape == (4, shapes[-1][1])


def test_structure_is_linear_bn_relu_with_a_bare_last_linear() -> None:
    head = MLPHead(8, [16, 12, 4])
    assert layer_kinds(head) == [
        "Linear", "BatchNorm1d", "ReLU", "Linear", "BatchNorm1d", "ReLU", "Linear",
    ]
    assert all(m.bias is None for m in head.ops if isinstance(m, nn.Linear))
    assert [m.num_features for m in head.ops if isinstance(m, nn.BatchNorm1d)] == [16, 12]
    assert (head.in_dim, head.out_dim) == (8, 4)


def test_single_layer_head_is_one_linear() -> None:
    head = MLPHead(8, [4])
    assert layer_kinds(head) == ["Linear"]


def test_last_layer_output_is_not_rectified_and_gradients_flow() -> None:
    torch.manual_seed(0)
    head = MLPHead(8, [16, 4]).train()
    out = head(torch.randn(32, 8))
    assert (out < 0).any()  # no ReLU after the last Linear
    out.square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in head.parameters())


def test_rejects_wrong_input_width_and_empty_dims() -> None:
    with pytest.raises(ValueError, match=r"\(batch, 8\)"):
        MLPHead(8, [4])(torch.randn(2, 9))
    with pytest.raises(ValueError, match="MLPHead"):
        MLPHead(8, [])
