"""Every switch towards the official code, pinned against a plain implementation of the official
formula written here (loops over view pairs, as `ssl_framework` collects them), in float64
unless the deviation only shows in float32."""
from __future__ import annotations

import copy
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from engine import config
from engine.model.backbone import Backbone, BackboneConfig
from engine.model.frontend import OFFICIAL_F_MAX, FrontendConfig
from engine.model.heads import MLPHead
from engine.methods.barlow_twins import BarlowTwinsConfig, BarlowTwinsLoss
from engine.methods.byol import BYOLConfig, BYOLLoss
from engine.methods.clustering import ClusteringConfig, ClusteringLoss
from engine.methods.contrastive import ContrastiveLoss
from engine.methods.ema import ema_update
from engine.methods.vicreg import VICRegConfig, VICRegLoss
from engine.model.ssl_model import SSLModel


def official_bn(x: torch.Tensor) -> torch.Tensor:
    """The official losses' `nn.BatchNorm1d(n_features, affine=False)` in training mode."""
    return nn.BatchNorm1d(x.shape[1], affine=False).to(x.dtype).train()(x)


def official_vicreg(y: torch.Tensor) -> tuple[float, float, float]:
    """FeatureStatsLoss.forward: (inv, var, cov) with the covariance divided by B - 1."""
    d = y.shape[-1]
    mask = torch.eye(d, dtype=torch.bool)
    inv, var, cov = [], [], []
    for i, a in enumerate(y):
        for b in y[i + 1:]:
            for x in (a, b):
                var.append(F.relu(1.0 - torch.sqrt(torch.var(x, dim=0) + 1e-5)).unsqueeze(0))
                c = official_bn(x).T @ official_bn(x) / (x.shape[0] - 1)
                cov.append(c[~mask].pow(2).unsqueeze(0))
            inv.append(torch.square(a - b))
    return (torch.cat(inv).mean().item(), torch.cat(var).mean().item(), torch.cat(cov).mean().item())


def official_barlow(y: torch.Tensor) -> tuple[float, float]:
    """DiagonalLoss.forward: (on_diag, off_diag) of the cross-correlation divided by B - 1."""
    mask = torch.eye(y.shape[-1], dtype=torch.bool)
    on, off = [], []
    for i, a in enumerate(y):
        for b in y[i + 1:]:
            cc = official_bn(a).T @ official_bn(b) / (a.shape[0] - 1)
            on.append((1 - cc[mask]).pow(2).unsqueeze(0))
            off.append(cc[~mask].pow(2).unsqueeze(0))
    return torch.cat(on).mean().item(), torch.cat(off).mean().item()


def official_dino(student: torch.Tensor, teacher: torch.Tensor, student_temp: float, teacher_temp: float) -> float:
    """ClusteringLoss.forward with a zero center: log(softmax) clamped at -100 (`log_clap`)."""
    s_out = F.softmax(student / student_temp, dim=-1)
    t_out = F.softmax(teacher / teacher_temp, dim=-1)
    losses = [torch.sum(-t * torch.clamp(torch.log(s), min=-100), dim=-1)
              for i, t in enumerate(t_out) for j, s in enumerate(s_out) if i != j]
    return torch.cat(losses).mean().item()


def official_byol(student: torch.Tensor, teacher: torch.Tensor) -> float:
    """BYOLLoss.forward: the dot product summed over dim=-0, the batch axis (a bug)."""
    losses = []
    for i, t in enumerate(teacher):
        for j, s in enumerate(student):
            if i != j:
                losses.append(2 - 2 * (F.normalize(t, dim=-1) * F.normalize(s, dim=-1)).sum(dim=-0))
    return torch.cat(losses).mean().item()


@pytest.mark.parametrize("views", [2, 3])
def test_vicreg_divisor_b_minus_one_is_the_official_term_and_default_is_its_square_ratio(views: int) -> None:
    torch.manual_seed(0)
    b = 8
    y = torch.randn(views, b, 16, dtype=torch.float64) @ torch.randn(16, 16, dtype=torch.float64)  # correlated dims
    inv, var, cov = official_vicreg(y)
    parts = VICRegLoss(VICRegConfig(cov_divisor="B-1")).forward_components(y)
    assert parts.inv.item() == pytest.approx(inv, rel=1e-10)
    assert parts.var.item() == pytest.approx(var, rel=1e-10)
    assert parts.cov.item() == pytest.approx(cov, rel=1e-10)
    ours = VICRegLoss().forward_components(y)
    assert ours.cov.item() == pytest.approx(cov * ((b - 1) / b) ** 2, rel=1e-10)  # 0.77x at batch 8


@pytest.mark.parametrize("views", [2, 3])
def test_barlow_divisor_b_minus_one_is_the_official_loss(views: int) -> None:
    torch.manual_seed(1)
    y = torch.randn(views, 8, 12, dtype=torch.float64)
    on, off = official_barlow(y)
    parts = BarlowTwinsLoss(BarlowTwinsConfig(divisor="B-1")).forward_components(y)
    assert parts.on_diag.item() == pytest.approx(on, rel=1e-10)
    assert parts.off_diag.item() == pytest.approx(off, rel=1e-10)


def test_official_barlow_penalises_perfect_invariance_and_ours_does_not() -> None:
    torch.manual_seed(2)
    b = 8
    z = torch.randn(1, b, 12, dtype=torch.float64).expand(2, b, 12)  # two identical views
    on, _ = official_barlow(z)
    assert on == pytest.approx(1 / (b - 1) ** 2, rel=1e-3)  # C_ii = B / (B-1), not 1
    assert BarlowTwinsLoss(BarlowTwinsConfig(divisor="B-1")).forward_components(z).on_diag.item() == \
        pytest.approx(on, rel=1e-10)
    assert BarlowTwinsLoss().forward_components(z).on_diag.item() < 1e-8


def test_clustering_log_clamp_is_the_official_loss_when_the_student_is_sharp_in_float32() -> None:
    torch.manual_seed(3)
    student = 30 * torch.randn(2, 16, 64)  # / 0.1: logit gaps of hundreds, softmax underflows in float32
    teacher = torch.randn(2, 16, 64)
    official = official_dino(student, teacher, 0.1, 0.04)
    clamped = ClusteringLoss(ClusteringConfig(n_prototypes=64, log_clamp=-100.0))(student, teacher, 0.04).item()
    exact = ClusteringLoss(ClusteringConfig(n_prototypes=64))(student, teacher, 0.04).item()
    assert clamped == pytest.approx(official, rel=1e-5)
    assert exact > official * 1.5  # the exact log-probabilities go far below -100


def test_clustering_log_clamp_changes_nothing_for_a_soft_student() -> None:
    torch.manual_seed(4)
    student, teacher = torch.randn(2, 8, 32, dtype=torch.float64), torch.randn(2, 8, 32, dtype=torch.float64)
    clamped = ClusteringLoss(ClusteringConfig(n_prototypes=32, log_clamp=-100.0))(student, teacher, 0.04)
    assert clamped.item() == pytest.approx(official_dino(student, teacher, 0.1, 0.04), rel=1e-10)
    assert clamped.item() == pytest.approx(ClusteringLoss(ClusteringConfig(n_prototypes=32))(student, teacher, 0.04)
                                           .item(), rel=1e-10)


@pytest.mark.parametrize("views", [2, 3])
def test_byol_batch_sum_is_the_official_buggy_loss(views: int) -> None:
    torch.manual_seed(5)
    p = torch.randn(1, 6, 10, dtype=torch.float64).expand(views, 6, 10)
    t = p + 0.1 * torch.randn(views, 6, 10, dtype=torch.float64)  # good predictions: ours near 0
    assert BYOLLoss(BYOLConfig(batch_sum=True))(p, t).item() == pytest.approx(official_byol(p, t), rel=1e-10)
    assert BYOLLoss()(p, t).item() < 0.1 < official_byol(p, t) - 0.5  # official ~ 2 - 2 B / D


def _head_with_stats(seed: int) -> MLPHead:
    torch.manual_seed(seed)
    head = MLPHead(6, [5, 4]).double().train()
    head(torch.randn(16, 6, dtype=torch.float64) * (seed + 1))  # running statistics move away from 0 / 1
    return head


def test_ema_buffers_is_the_official_state_dict_average() -> None:
    teacher, student = _head_with_stats(0), _head_with_stats(1)
    expected = copy.deepcopy(teacher.state_dict())
    for key, value in expected.items():  # SSLBYOL.update_teacher, on the entries a float mean is defined for
        if value.is_floating_point():
            value.mul_(0.9).add_((1 - 0.9) * student.state_dict()[key])
    ema_update(teacher, student, 0.9, buffers=True)
    for key, value in teacher.state_dict().items():
        assert torch.allclose(value.double(), expected[key].double(), rtol=0, atol=1e-12), key
    assert teacher.ops[1].num_batches_tracked.item() == 1  # the integer counter is left alone


def test_ema_default_keeps_the_teachers_own_buffers() -> None:
    teacher, student = _head_with_stats(0), _head_with_stats(1)
    before = teacher.ops[1].running_mean.clone()
    ema_update(teacher, student, 0.9)
    assert torch.equal(teacher.ops[1].running_mean, before)


def _model(method: str, **switches: object) -> SSLModel:
    cfg = config.build("demo", overrides={"method": method, "segment_s": 2.0, "min_gap_s": 2.0, **switches})
    torch.manual_seed(0)
    return SSLModel(cfg).double().train()


def test_per_view_forward_is_the_official_one_view_at_a_time_forward() -> None:
    model = _model("contrastive", per_view_forward=True)
    reference = copy.deepcopy(model)
    views = torch.randn(2, 4, 32_000, dtype=torch.float64)
    # SSLModel.forward: for view in x: h = head(backbone(view)); then the loss on the stacked outputs
    z = torch.stack([reference.head(reference.backbone(v)) for v in views])
    expected = ContrastiveLoss()(z).item()
    assert model(views, 0.04).loss.item() == pytest.approx(expected, rel=1e-6)  # the loss runs in float32
    pooled = copy.deepcopy(reference)
    pooled.per_view = False
    assert abs(pooled(views, 0.04).loss.item() - expected) > 1e-4  # train-mode BatchNorm pools the views


def test_per_view_forward_runs_predictor_and_teacher_one_view_at_a_time() -> None:
    model = _model("byol", per_view_forward=True, byol_batch_sum=False)
    reference = copy.deepcopy(model)
    views = torch.randn(2, 4, 32_000, dtype=torch.float64)
    prediction = torch.stack([reference.predictor(reference.head(reference.backbone(v))) for v in views])
    with torch.no_grad():
        target = torch.stack([reference.teacher["head"](reference.teacher["backbone"](v)) for v in views])
    assert model(views, 0.04).loss.item() == pytest.approx(BYOLLoss()(prediction, target).item(), rel=1e-6)


def test_ema_buffers_reaches_the_byol_teacher() -> None:
    model = _model("byol", ema_buffers=True)
    out = model(torch.randn(2, 4, 32_000, dtype=torch.float64), 0.04)  # moves the student's running statistics
    student_mean = model.backbone.resnet.bn1.running_mean.clone()
    teacher_mean = model.teacher["backbone"].resnet.bn1.running_mean.clone()
    model.after_step(out, 0.5)
    assert torch.allclose(model.teacher["backbone"].resnet.bn1.running_mean, 0.5 * teacher_mean + 0.5 * student_mean)


def test_official_group_sets_every_switch_but_the_byol_bug_and_explicit_values_win() -> None:
    cfg = config.build("demo", overrides={"method": "byol", "official": "true"})
    assert (cfg.f_max, cfg.vicreg_cov_divisor, cfg.barlow_divisor) == (OFFICIAL_F_MAX, "B-1", "B-1")
    assert cfg.clustering_log_clamp and cfg.ema_buffers and cfg.per_view_forward
    assert not cfg.byol_batch_sum
    assert not config.build("demo", overrides={"method": "clustering", "official": True}).ema_buffers
    mixed = config.build("demo", overrides={"method": "vicreg", "official": "true", "per_view_forward": "false"})
    assert mixed.official and not mixed.per_view_forward and mixed.vicreg_cov_divisor == "B-1"
    ours = config.build("demo", overrides={"method": "vicreg"})
    assert (ours.f_max, ours.vicreg_cov_divisor, ours.per_view_forward, ours.byol_batch_sum) == (None, "B", False, False)


def test_bad_divisor_names_the_field() -> None:
    with pytest.raises(config.ConfigError, match="vicreg_cov_divisor"):
        config.build("demo", overrides={"vicreg_cov_divisor": "B-2"})


def test_a_filterbank_of_another_f_max_is_refused_and_left_unchanged() -> None:
    ours = Backbone()
    official = Backbone(BackboneConfig(frontend=FrontendConfig(f_max=OFFICIAL_F_MAX)))
    before = ours.frontend.mel.mel_scale.fb.clone()
    with pytest.raises(RuntimeError, match="f_max 11025 Hz, this front end uses 8000 Hz"):
        ours.load_state_dict(official.state_dict())
    assert torch.equal(ours.frontend.mel.mel_scale.fb, before)


def test_official_f_max_front_end_is_the_official_spec_module() -> None:
    import torchaudio

    from engine.model.frontend import LogMel

    torch.manual_seed(6)
    wave = torch.randn(2, 64_000) * torch.tensor([[1.0], [1e-3]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchaudio warns about the empty filters above Nyquist
        # SpecModule(mono=True, duration=4, sr=16000) with its defaults, input (batch, channels, samples)
        spec = torchaudio.transforms.MelSpectrogram(sample_rate=16000, n_fft=1024, f_min=0, f_max=11025, n_mels=128,
                                                    normalized=True, mel_scale="slaney")
        to_db = torchaudio.transforms.AmplitudeToDB(top_db=100)
        official = to_db(spec(wave.unsqueeze(1)))  # (batch, 1, n_mels, frames)
    ours = LogMel(FrontendConfig(f_max=OFFICIAL_F_MAX))(wave)
    torch.testing.assert_close(ours, official, atol=1e-3, rtol=0)
    default = LogMel()(wave)
    assert (default - official).abs().max() > 1.0  # our default front end is another input


@pytest.mark.slow
@pytest.mark.parametrize("method", ["byol", "clustering"])
def test_a_run_trains_with_every_official_switch(tmp_path, tiny_config, method: str) -> None:
    from engine.config import prepare_run
    from engine.training.loop import train

    cfg = tiny_config(method=method, official="true", steps=2, checkpoint_every=2, precision="bf16")
    assert cfg.per_view_forward and cfg.clustering_log_clamp and cfg.ema_buffers == (method == "byol")
    prepare_run(cfg, tmp_path / "run")
    assert train(tmp_path / "run", progress=False) == "done"
    assert config.load(tmp_path / "run" / "config.toml").f_max == OFFICIAL_F_MAX
