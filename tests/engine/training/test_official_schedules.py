"""The official EMA-momentum and teacher-temperature schedules, and torchmetrics' micro pooling,
behind their switches: equal to the official formulas transcribed here, and the size of each difference.

Official source: https://github.com/deezer/multi-view-ssl-benchmark/blob/36ced74cd2d046ec5bf5f5ec86897c7bd7929648/ssl_framework/utils/scheduler.py
(`get_cosine_scheduler`, `get_scheduler`, `get_network_momentum`, `get_temp_teacher_schedule`), and
https://github.com/deezer/multi-view-ssl-benchmark/blob/36ced74cd2d046ec5bf5f5ec86897c7bd7929648/ssl_framework/evaluation/metrics.py
(torchmetrics `AUROC` / `AveragePrecision`, task="multilabel", average="micro": every column flattened).
"""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from engine import config
from engine.evaluation.metrics import resample_counts, resample_indices, resampled_metric, tag_metrics
from engine.training.loop import scheduled_at


# ---- the official formulas (print statements and gin left out) ------------------------------------
def official_cosine(init_value: float, final_value: float, n_epochs: int, n_steps: int) -> np.ndarray:
    iters = np.arange(n_epochs * n_steps)
    return final_value + 0.5 * (init_value - final_value) * (1 + np.cos(np.pi * iters / max(len(iters), 1)))


def official_scheduler(values: list, epochs: list, n_epochs: int, n_steps: int) -> np.ndarray:
    parts = []
    for (init_value, final_value), (init_epoch, final_epoch) in zip(values, epochs):
        parts.append(official_cosine(init_value, final_value, final_epoch - init_epoch, n_steps))
    if final_epoch < n_epochs:  # the official linear tail: the final value held
        parts.append(np.full((n_epochs - final_epoch) * n_steps, final_value))
    return np.concatenate(parts)


def official_network_momentum(n_epochs: int, n_steps: int, momentum_teacher: float = 0.996,
                              final_value: float = 1.0, schedule_epochs: int = 999) -> np.ndarray:
    """get_network_momentum with warmup_epochs=0: schedule_epochs is NOT capped at n_epochs."""
    return official_scheduler([(0.9995, momentum_teacher), (momentum_teacher, final_value)],
                              [(0, 0), (0, schedule_epochs)], n_epochs, n_steps)


def official_teacher_temp(n_epochs: int, temp: float = 0.04, temp_final: float = 0.04, temp_init: float = 0.02,
                          warmup_epochs: int = 10, schedule_epochs: int = 999) -> np.ndarray:
    """get_temp_teacher_schedule: one value per epoch (n_steps = 1)."""
    schedule_epochs = min(schedule_epochs, n_epochs)
    return official_scheduler([(temp_init, temp), (temp, temp_final)],
                              [(0, warmup_epochs), (warmup_epochs, schedule_epochs)], n_epochs, 1)


# ---- EMA momentum ------------------------------------------------------------------------------
def _cfg(**overrides) -> config.RunConfig:
    return config.build("demo", overrides={"method": "byol", **overrides})


@pytest.mark.parametrize("n_epochs, n_steps", [(100, 7), (30, 13), (5, 3)])
def test_ema_schedule_epochs_999_is_the_official_network_momentum(n_epochs: int, n_steps: int) -> None:
    cfg = _cfg(official="true", steps=n_epochs * n_steps, warmup_steps=0)
    assert cfg.ema_schedule_epochs == 999
    official = official_network_momentum(n_epochs, n_steps)
    ours = np.array([scheduled_at(cfg, s, n_steps).momentum for s in range(n_epochs * n_steps)])
    np.testing.assert_allclose(ours, official[: n_epochs * n_steps], rtol=0, atol=1e-15)


def test_the_official_momentum_stays_near_its_start_and_ours_reaches_one() -> None:
    n_epochs, n_steps = 100, 7
    official = official_network_momentum(n_epochs, n_steps)[: n_epochs * n_steps]
    assert official[-1] == pytest.approx(0.996098, abs=1e-6)  # after 100 epochs
    ours = np.array([scheduled_at(_cfg(steps=700, warmup_steps=0), s, n_steps).momentum for s in range(700)])
    assert ours[-1] > 0.99999
    assert np.abs(ours - official).max() == pytest.approx(3.9e-3, abs=1e-4)  # the size of the difference
    # schedule_epochs = n_epochs in the official function is our default schedule
    np.testing.assert_allclose(ours, official_network_momentum(n_epochs, n_steps, schedule_epochs=n_epochs), atol=1e-15)


def test_the_official_momentum_holds_its_end_past_schedule_epochs() -> None:
    cfg = _cfg(official="true", ema_schedule_epochs=2, steps=50, warmup_steps=0)
    values = [scheduled_at(cfg, s, 5).momentum for s in range(50)]
    np.testing.assert_allclose(values, official_network_momentum(10, 5, schedule_epochs=2), atol=1e-15)
    assert values[-1] == 1.0


# ---- teacher temperature -----------------------------------------------------------------------
@pytest.mark.parametrize("n_epochs, n_steps", [(20, 7), (12, 3)])
def test_teacher_temp_per_epoch_is_the_official_schedule(n_epochs: int, n_steps: int) -> None:
    cfg = config.build("demo", overrides={"method": "clustering", "official": "true", "steps": n_epochs * n_steps,
                                          "warmup_steps": 0})
    assert cfg.teacher_temp_per_epoch
    official = np.repeat(official_teacher_temp(n_epochs), n_steps)
    ours = np.array([scheduled_at(cfg, s, n_steps).teacher_temp for s in range(n_epochs * n_steps)])
    np.testing.assert_allclose(ours, official, rtol=0, atol=1e-15)
    smooth = config.build("demo", overrides={"method": "clustering", "steps": n_epochs * n_steps, "warmup_steps": 0})
    per_step = np.array([scheduled_at(smooth, s, n_steps).teacher_temp for s in range(n_epochs * n_steps)])
    gap = np.abs(per_step - official).max()
    assert 0 < gap < 3.2e-3 and per_step[10 * n_steps:].tolist() == official[10 * n_steps:].tolist()


# ---- micro pooling -----------------------------------------------------------------------------
def _scores_with_an_all_negative_tag() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    y = (rng.random((60, 6)) < 0.3).astype(np.uint8)
    y[:, 2] = 0  # no positive: skipped by the macro average and by our micro
    y[:, 4] = 1  # no negative
    s = rng.random((60, 6)) + 0.4 * y
    s[:, 2] += 0.5  # the all-negative column scores high: pooling it costs ROC-AUC
    return y, s


def test_micro_pooling_all_is_torchmetrics_micro_over_every_column() -> None:
    y, s = _scores_with_an_all_negative_tag()
    pooled = tag_metrics(y, s, micro_pooling="all")
    assert pooled.micro["roc_auc"] == pytest.approx(roc_auc_score(y.ravel(), s.ravel()), abs=1e-12)
    assert pooled.micro["pr_auc"] == pytest.approx(average_precision_score(y.ravel(), s.ravel()), abs=1e-12)
    ours = tag_metrics(y, s)
    keep = [0, 1, 3, 5]
    assert ours.micro["roc_auc"] == pytest.approx(roc_auc_score(y[:, keep].ravel(), s[:, keep].ravel()), abs=1e-12)
    assert ours.macro == pooled.macro and pooled.skipped == ours.skipped == ["2", "4"]
    assert abs(ours.micro["roc_auc"] - pooled.micro["roc_auc"]) > 1e-2  # the size of the difference here
    counts = resample_counts(resample_indices(60, 5, seed=1))
    first = resampled_metric(y, s, counts, "roc_auc", "micro", micro_pooling="all")
    rows = resample_indices(60, 5, seed=1)[0]
    assert first[0] == pytest.approx(roc_auc_score(y[rows].ravel(), s[rows].ravel()), abs=1e-12)


def test_the_new_switches_are_typed_fields_that_official_sets_and_explicit_values_win() -> None:
    ours = _cfg()
    assert (ours.ema_schedule_epochs, ours.teacher_temp_per_epoch, ours.micro_pooling) == (None, False, "evaluable")
    mixed = _cfg(official="true", micro_pooling="evaluable", ema_schedule_epochs="50")
    assert (mixed.ema_schedule_epochs, mixed.teacher_temp_per_epoch, mixed.micro_pooling) == (50, True, "evaluable")
    with pytest.raises(config.ConfigError, match="micro_pooling"):
        _cfg(micro_pooling="some")
    with pytest.raises(config.ConfigError, match="ema_schedule_epochs"):
        _cfg(ema_schedule_epochs="0")


@pytest.mark.slow
def test_a_30_step_official_byol_run_ends_with_the_official_momentum(tmp_path, tiny_config) -> None:
    from engine.config import prepare_run
    from engine.data.corpora import load_source
    from engine.rundir.events import iter_events
    from engine.training.loop import train

    cfg = tiny_config(method="byol", official="true", steps=30, batch_size=2, segment_s=1.0, min_gap_s=1.0,
                      log_every=30, checkpoint_every=30)
    prepare_run(cfg, tmp_path / "run")
    assert train(tmp_path / "run", progress=False) == "done"
    last = [e for e in iter_events(tmp_path / "run" / "events.jsonl") if e["type"] == "train"][-1]
    steps_per_epoch = len(load_source(cfg.corpus).split("train")) // 2  # the cosine spans 999 of these epochs
    assert last["step"] == 30 and last["momentum"] == pytest.approx(0.996, abs=1e-5)
    assert last["momentum"] == pytest.approx(official_network_momentum(30, steps_per_epoch)[29], abs=1e-15)
