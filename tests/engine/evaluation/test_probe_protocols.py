"""Probe protocols: the official head and track score against a plain reading of the official
downstream code, MARBLE's settings, labels stored with every draw, and a compare report that
refuses to mix protocols unless asked."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from engine.rundir import analysis_store, embeddings_store
from engine.cli import main
from engine.evaluation.probe import ProbeConfig, ProbeData, Split, predict, run_probe, train_probe
from engine.evaluation.probe_protocols import (
    PROTOCOLS, ThresholdDropout, build_model, official_loss, official_softmax_loss,
)
from engine.evaluation.compare import compare
from tests.engine.fake_runs import make_run


def test_paper_head_is_the_official_head_without_dropout() -> None:
    model = build_model(1024, 50, ProbeConfig.of("paper"))
    # Head(feature_dim=1024, layers_feature_dim=[512, 50]): Linear(no bias), BatchNorm1d, ReLU, Linear(no bias)
    assert [type(m) for m in model] == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear]
    assert model[0].bias is None and model[3].bias is None
    assert (model[0].in_features, model[0].out_features, model[3].out_features) == (1024, 512, 50)
    assert not any(isinstance(m, (nn.Dropout, ThresholdDropout)) for m in model.modules())
    ours = build_model(1024, 50, ProbeConfig.of("ours"))
    assert [type(m) for m in ours] == [nn.Linear, nn.ReLU, ThresholdDropout, nn.Linear] and ours[2].p == 0.5
    marble = build_model(1024, 50, ProbeConfig.of("marble"))
    assert [m.p for m in marble if isinstance(m, ThresholdDropout)] == [0.2] and marble[0].out_features == 512


def test_threshold_dropout_has_the_semantics_of_nn_dropout() -> None:
    """Train: zeros with probability p, the rest scaled by 1 / (1 - p), and the same mask in the gradient;
    eval and p = 0: identity."""
    torch.manual_seed(0)
    x = torch.rand(400, 500) + 0.5
    x.requires_grad_()
    drop = ThresholdDropout(0.3)
    y = drop(x)
    kept = y != 0
    assert abs(1 - kept.float().mean().item() - 0.3) < 0.01
    assert torch.allclose(y[kept], x[kept] / 0.7)
    y.sum().backward()
    assert torch.allclose(x.grad, kept.float() / 0.7)
    assert abs(y.mean().item() / x.mean().item() - 1) < 0.01  # the expectation is kept, as nn.Dropout keeps it
    assert not torch.equal(drop(x) != 0, kept)  # a new mask every call
    drop.eval()
    assert drop(x) is x
    assert ThresholdDropout(0.0)(x) is x
    with pytest.raises(ValueError, match="dropout"):
        ThresholdDropout(1.0)


def test_paper_released_is_one_bias_free_linear_and_the_softmax_loss() -> None:
    model = build_model(1024, 50, ProbeConfig.of("paper-released"))
    # DownstreamModel(head_feature_dim=[]): Head(feature_dim, [n_classes]) is one Linear without bias
    assert isinstance(model, nn.Linear) and model.bias is None and model.weight.shape == (50, 1024)
    torch.manual_seed(2)
    logits = torch.randn(6, 5, dtype=torch.float64) * 3
    target = (torch.rand(6, 5) < 0.4).double()
    # DownstreamLoss(loss_type=["multilabel"], activation=["softmax"], temp=1.0)
    v = torch.softmax(logits / 1.0, dim=-1)
    log_clap = lambda t: torch.clamp(torch.log(t), min=-100)  # noqa: E731
    expected = -1 * torch.mean((target * log_clap(v)) + (1 - target) * log_clap(1 - v), dim=-1).mean()
    assert official_softmax_loss(logits, target).item() == pytest.approx(expected.item(), rel=1e-12)
    assert abs(official_softmax_loss(logits, target).item() - official_loss(logits, target).item()) > 1e-2
    split = Split(torch.randn(4, 1024), np.array([0, 0, 1, 1]), np.array([0, 1]), np.zeros((2, 50), np.uint8))
    got = predict(model.eval(), split, track_score="embedding", output="softmax")
    assert np.allclose(got.sum(axis=1), 1.0, atol=1e-5)  # softmax scores of each track's mean embedding


def test_marble_trains_on_one_mean_pooled_embedding_per_track(runs: dict[str, Path]) -> None:
    data = ProbeData.load(runs["a"], "all", standardise=False)
    picked = np.arange(5)
    x, y = data.training_set(picked, "tracks")
    rows = data.train.rows[picked]
    assert x.shape[0] == 5 and np.array_equal(y.numpy(), data.train.labels[picked])
    first = data.train.x[torch.from_numpy(data.train.segment_track == rows[0])].mean(0)
    assert torch.allclose(x[0], first, atol=1e-6)


def test_paper_track_score_is_the_head_of_the_mean_embedding() -> None:
    torch.manual_seed(0)
    model = build_model(8, 3, ProbeConfig.of("paper")).eval()
    x = torch.randn(5, 8)
    split = Split(x, np.array([2, 2, 2, 7, 7]), np.array([7, 2]), np.zeros((2, 3), np.uint8))
    got = predict(model, split, track_score="embedding")
    # DownstreamModel.forward(x, mean_embedding=True): head(backbone(x).mean(dim=0)), per track
    expected = [torch.sigmoid(model(x[[3, 4]].mean(dim=0, keepdim=True))), torch.sigmoid(model(x[:3].mean(0, True)))]
    assert np.allclose(got, torch.cat(expected).detach().numpy(), atol=1e-6)
    ours = predict(model, split)  # mean of segment probabilities: not the same number
    assert not np.allclose(got, ours, atol=1e-4)


def test_official_loss_is_the_official_clamped_bce() -> None:
    torch.manual_seed(1)
    logits = torch.randn(6, 4, dtype=torch.float64) * 20
    target = (torch.rand(6, 4) < 0.4).double()
    v = torch.sigmoid(torch.clamp(logits, min=-10))
    log_clap = lambda t: torch.clamp(torch.log(t), min=-100)  # noqa: E731
    expected = -1 * torch.mean((target * log_clap(v)) + (1 - target) * log_clap(1 - v), dim=-1).mean()
    assert official_loss(logits, target).item() == pytest.approx(expected.item(), rel=1e-12)


def test_protocol_values() -> None:
    paper, marble = ProbeConfig.of("paper"), ProbeConfig.of("marble")
    assert (paper.standardise, paper.track_score, paper.dropout, paper.loss) == (False, "embedding", 0.0, "official")
    assert (marble.dropout, marble.criterion, marble.plateau_factor, marble.lr, marble.hidden) == \
        (0.2, "roc_auc", 0.5, 1e-3, 512)
    # MARBLE configs/mert/MERT-v1-330M/MTT.yaml: batch 64, lr_scheduler_patience 3, earlystop_patience 10,
    # max_epochs 100 (one validation per epoch), features mean-pooled over the whole clip
    assert (marble.batch_size, marble.plateau_patience, marble.patience, marble.max_evals, marble.min_steps_per_eval,
            marble.train_on, marble.track_score) == (64, 3, 10, 100, 1, "tracks", "embedding")
    released = ProbeConfig.of("paper-released")
    assert (released.loss, released.output, released.track_score, released.standardise) == \
        ("official-softmax", "softmax", "embedding", False)
    for protocol in PROTOCOLS:  # every parameter printed by `mvssl probe` and the report
        assert ProbeConfig.of(protocol).describe()["protocol"] == protocol
    assert ProbeConfig.of("mlp").protocol == "ours"
    with pytest.raises(ValueError, match="unknown probe protocol 'svm'"):
        ProbeConfig.of("svm")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("protocol-runs")
    return {"a": make_run(root / "a", signal=3.0), "b": make_run(root / "b", "random", signal=0.5, seed=1)}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_every_protocol_runs_learns_and_is_recorded(runs: dict[str, Path], protocol: str) -> None:
    result = run_probe(runs["a"], "all", fractions=(100,), draws=1, config=ProbeConfig.of(protocol))
    assert result[1.0][0]["macro"]["roc_auc"] > 0.9
    probe = analysis_store.read_probes(runs["a"], "all")["all"]
    assert probe.protocol == protocol and probe.draws[0].info["protocol"] == protocol
    assert probe.draws[0].info["prediction"] == ProbeConfig.of(protocol).prediction


def test_marble_halves_the_learning_rate_on_a_plateau_and_ours_keeps_it(runs: dict[str, Path]) -> None:
    for protocol, check in (("marble", lambda lr: lr <= 5e-4), ("ours", lambda lr: lr == 1e-3)):
        run_probe(runs["b"], "all", fractions=(100,), draws=1, config=ProbeConfig.of(protocol))
        info = analysis_store.read_probes(runs["b"], "all")["all"].draws[0].info
        assert info["criterion"] == ("roc_auc" if protocol == "marble" else "pr_auc")
        assert check(info["lr_end"]), (protocol, info["lr_end"], info["steps"])


def test_another_protocol_replaces_a_tasks_draws(runs: dict[str, Path]) -> None:
    run_probe(runs["b"], "genre", fractions=(50, 100), draws=1, config=ProbeConfig.of("ours"))
    run_probe(runs["b"], "genre", fractions=(100,), draws=1, config=ProbeConfig.of("paper"))
    probe = analysis_store.read_probes(runs["b"], "genre")["genre"]
    assert probe.protocol == "paper" and probe.fractions() == [1.0]  # no 'ours' draw left beside it


def test_compare_refuses_mixed_protocols_unless_asked(runs: dict[str, Path], tmp_path: Path) -> None:
    run_probe(runs["a"], "mood", fractions=(100,), draws=1, config=ProbeConfig.of("marble"))
    run_probe(runs["b"], "mood", fractions=(100,), draws=1, config=ProbeConfig.of("ours"))
    with pytest.raises(ValueError, match="a was probed with the 'marble' protocol, b with 'ours'"):
        compare([runs["a"], runs["b"]], "mood", n_resamples=10)
    results = compare([runs["a"], runs["b"]], "mood", n_resamples=10, mix_protocols=True)
    assert results["probe_protocols"] == ["marble", "ours"]
    assert [r["probe_protocol"] for r in results["runs"]] == ["marble", "ours"]
    assert main(["compare", str(runs["a"]), str(runs["b"]), "--task", "mood", "--out", str(tmp_path / "r"),
                 "--resamples", "10"]) == 2
    assert main(["compare", str(runs["a"]), str(runs["b"]), "--task", "mood", "--out", str(tmp_path / "r"),
                 "--resamples", "10", "--mix-protocols"]) == 0
    assert "Mixed probe protocols (marble, ours)" in (tmp_path / "r" / "report.html").read_text()
    assert json.loads((tmp_path / "r" / "results.json").read_text())["probe_protocols"] == ["marble", "ours"]


def test_probe_command_takes_a_protocol(runs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["probe", "--run-dir", str(runs["a"]), "--task", "instrument", "--fractions", "100",
                 "--draws", "1", "--probe", "paper", "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["protocol"] == "paper"
    assert analysis_store.read_probes(runs["a"], "instrument")["instrument"].protocol == "paper"


def test_old_stores_without_a_protocol_read_as_ours_or_linear(tmp_path: Path) -> None:
    run = make_run(tmp_path / "old")
    with embeddings_store.open_embeddings(run) as emb:
        test, names = emb.tracks.split_index("test"), emb.tracks.tag_names
    pred = np.zeros((len(test), len(names)), np.float32)
    analysis_store.write_probe(run, "all", 1.0, 0, pred, test, names, {}, {"kind": "linear"})  # older draws had no protocol

    def drop(f) -> None:  # an older store: no protocol attribute on the task
        del f["probes"]["all"].attrs["protocol"]
    analysis_store.update_analysis(run, drop)
    assert analysis_store.read_probes(run, "all")["all"].protocol == "linear"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_no_batch_of_one_reaches_batchnorm_with_257_training_segments(protocol: str) -> None:
    # 257 = 256 + 1 = 4 x 64 + 1: the last slice of an epoch would hold one item at batch 256 and at 64
    torch.manual_seed(0)
    x, y = torch.randn(257, 16), (torch.rand(257, 3) < 0.5).float()
    valid = Split(torch.randn(12, 16), np.arange(12), np.arange(12), (np.arange(36).reshape(12, 3) % 2).astype(np.uint8))
    config = ProbeConfig.of(protocol, max_evals=3, min_steps_per_eval=1)
    model, log = train_probe(x, y, valid, config, seed=0)
    assert log["steps"] == 3 * -(-257 // config.batch_size)  # every step ran, the one-item remainder skipped
    with pytest.raises(ValueError, match="at least 2 training segments"):
        train_probe(x[:1], y[:1], valid, config, seed=0)
    with pytest.raises(ValueError, match="batch_size must be >= 2"):
        ProbeConfig.of(protocol, batch_size=1)


@pytest.mark.parametrize("loss", [official_loss, official_softmax_loss])
def test_official_losses_keep_their_value_and_a_finite_gradient_where_they_saturate(loss) -> None:
    logits = torch.tensor([[40.0, -3.0, 0.5], [2.0, 200.0, -50.0]], requires_grad=True)  # float32: sigmoid(40) == 1
    target = torch.tensor([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    v = torch.sigmoid(torch.clamp(logits, min=-10)) if loss is official_loss else torch.softmax(logits, dim=-1)
    log_clap = lambda t: torch.clamp(torch.log(t), min=-100)  # noqa: E731  (the official DownstreamLoss)
    expected = -1 * torch.mean((target * log_clap(v)) + (1 - target) * log_clap(1 - v), dim=-1).mean()
    value = loss(logits, target)
    assert value.item() == pytest.approx(expected.item(), rel=1e-6)
    value.backward()
    assert torch.isfinite(logits.grad).all()
    logits.grad = None
    expected.backward()
    assert not torch.isfinite(logits.grad).all()  # the official form: NaN, and the probe would become NaN


def test_the_paper_probe_trains_on_large_unstandardised_inputs(runs: dict[str, Path]) -> None:
    torch.manual_seed(0)
    x = torch.randn(300, 16) * 80 - 60  # log-mel statistics in dB: large, far from zero
    y = (x[:, :3] > -60).float()
    valid = Split(torch.randn(12, 16) * 80 - 60, np.arange(12), np.arange(12), (np.arange(36).reshape(12, 3) % 2).astype(np.uint8))
    for protocol in ("paper", "paper-released"):
        model, _ = train_probe(x, y, valid, ProbeConfig.of(protocol, max_evals=5), seed=0)
        assert np.isfinite(predict(model, valid, track_score="embedding")).all()
