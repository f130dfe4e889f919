"""The backbone: official parameter count, shapes, pooling maths, gradients, derived grid."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from engine.model.backbone import AttentionPool2d, Backbone, BackboneConfig, parameter_counts
from engine.model.frontend import FrontendConfig, LogMel


@pytest.fixture(scope="module")
def backbone() -> Backbone:
    torch.manual_seed(0)
    return Backbone()


def waves(batch: int, n: int = 64_000) -> torch.Tensor:
    return torch.randn(batch, n, generator=torch.Generator().manual_seed(1))


def test_parameter_count_is_the_official_2_800_392(backbone: Backbone) -> None:
    assert sum(p.numel() for p in backbone.parameters()) == 2_800_392


def test_parameter_counts_reports_backbone_and_paper_heads() -> None:
    assert parameter_counts() == {
        "backbone": 2_800_392,
        "projection_head": 4_198_400,
        "byol_predictor": 1_049_088,
        "clustering_head": 3_412_480,
    }


def test_default_config_derives_a_4_by_3_grid_and_512_channels() -> None:
    config = BackboneConfig()
    assert config.input_size == (128, 126)
    assert config.grid == (4, 3)
    assert config.embed_dim == 512


def test_layout_and_names_follow_the_official_model(backbone: Backbone) -> None:
    shapes = {k: tuple(v.shape) for k, v in backbone.resnet.state_dict().items()}
    assert shapes["conv1.weight"] == (8, 1, 3, 3)
    assert shapes["conv3.weight"] == (16, 8, 3, 3)
    assert shapes["layer2.0.downsample.0.weight"] == (128, 64, 1, 1)
    assert shapes["layer4.2.conv3.weight"] == (512, 128, 1, 1)
    assert shapes["attnpool.positional_embedding"] == (13, 512)
    assert shapes["attnpool.c_proj.weight"] == (1024, 512)
    assert [len(s) for s in (backbone.resnet.layer1, backbone.resnet.layer2,
                             backbone.resnet.layer3, backbone.resnet.layer4)] == [3, 4, 6, 3]
    assert list(backbone.frontend.parameters()) == []


def test_train_mode_batch_gives_1024_d_embeddings_and_gradients_reach_every_parameter() -> None:
    torch.manual_seed(0)
    model = Backbone().train()
    out = model(waves(3))
    assert out.shape == (3, 1024)
    out.square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_eval_mode_batch_of_one_matches_the_same_item_in_a_batch(backbone: Backbone) -> None:
    backbone.eval()
    x = waves(3)
    with torch.no_grad():
        single = backbone(x[:1])
        batch = backbone(x)
    assert single.shape == (1, 1024)
    torch.testing.assert_close(single, batch[:1], atol=1e-4, rtol=1e-4)


def test_channels_last_gives_the_same_embedding(backbone: Backbone) -> None:
    backbone.eval()
    mel = backbone.frontend(waves(2))
    with torch.no_grad():
        plain = backbone.forward_features(mel)
        cl_model = Backbone(backbone.config)
        cl_model.load_state_dict(backbone.state_dict())
        cl_model.eval().to(memory_format=torch.channels_last)
        cl = cl_model.forward_features(mel.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(cl, plain, atol=1e-4, rtol=1e-4)


def test_attention_pool_equals_clip_formulation_with_all_tokens_as_queries() -> None:
    torch.manual_seed(0)
    pool = AttentionPool2d((4, 3), embed_dim=64, heads=8, output_dim=32)
    x = torch.randn(5, 64, 4, 3)  # (B, C, H, W)
    tokens = x.flatten(2).permute(2, 0, 1)  # (HW, B, C)
    tokens = torch.cat([tokens.mean(dim=0, keepdim=True), tokens]) + pool.positional_embedding[:, None]
    ref, _ = F.multi_head_attention_forward(
        tokens, tokens, tokens, 64, 8,
        in_proj_weight=None,
        in_proj_bias=torch.cat([pool.q_proj.bias, pool.k_proj.bias, pool.v_proj.bias]),
        bias_k=None, bias_v=None, add_zero_attn=False, dropout_p=0.0,
        out_proj_weight=pool.c_proj.weight, out_proj_bias=pool.c_proj.bias,
        use_separate_proj_weight=True, q_proj_weight=pool.q_proj.weight,
        k_proj_weight=pool.k_proj.weight, v_proj_weight=pool.v_proj.weight, need_weights=False,
    )  # (HW+1, B, 32)
    torch.testing.assert_close(pool(x), ref[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("segment_samples", [48_000, 64_512, 40_000])
def test_grid_is_derived_for_other_segment_lengths(segment_samples: int) -> None:
    config = BackboneConfig(width=8, segment_samples=segment_samples)
    model = Backbone(config).eval()
    with torch.no_grad():
        assert model(waves(2, segment_samples)).shape == (2, 1024)


def test_anti_aliased_downsampling_uses_avgpool_and_stride_1_convs(backbone: Backbone) -> None:
    block = backbone.resnet.layer2[0]
    assert isinstance(block.avgpool, nn.AvgPool2d) and isinstance(block.downsample_pool, nn.AvgPool2d)
    strides = {m.stride for m in backbone.resnet.modules() if isinstance(m, nn.Conv2d)}
    assert strides == {(1, 1), (2, 2)}
    assert backbone.resnet.conv1.stride == (2, 2)


def test_rejects_the_wrong_segment_length(backbone: Backbone) -> None:
    with pytest.raises(ValueError, match="64000"):
        backbone(waves(2, 32_000))
    with pytest.raises(ValueError, match="log-mel"):
        backbone.forward_features(torch.zeros(2, 1, 128, 63))


def test_uses_the_configured_frontend() -> None:
    config = BackboneConfig(width=8, frontend=FrontendConfig(n_mels=64))
    model = Backbone(config)
    assert isinstance(model.frontend, LogMel) and model.frontend.config.n_mels == 64
    assert model.resnet.attnpool.positional_embedding.shape == (2 * 3 + 1, 256)


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="layers"):
        BackboneConfig(layers=(3, 4, 6))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="heads"):
        BackboneConfig(heads=7)
    with pytest.raises(ValueError, match="too small"):
        BackboneConfig(segment_samples=4096)
