"""Run config: presets, validation messages naming the field, TOML round trip."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine import config


def test_presets_validate_and_differ() -> None:
    demo, paper = config.build("demo"), config.build("paper")
    assert demo.preset == "demo" and paper.preset == "paper"
    assert paper.batch_size > demo.batch_size and paper.steps > demo.steps
    assert not demo.augment and not paper.augment  # the demo corpus has no per-track channel to undo (docs/configuration.md)
    # paper defaults of PAPER.md
    assert (demo.temperature, demo.student_temp, demo.n_prototypes) == (0.1, 0.1, 4096)
    assert (demo.teacher_temp_start, demo.teacher_temp_end, demo.center_momentum) == (0.02, 0.04, 0.9)
    assert (demo.weight_decay_start, demo.weight_decay_end, demo.ema_start, demo.ema_end) == (0.04, 0.4, 0.996, 1.0)
    assert demo.final_lr == 1e-7


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"lr": "-1"}, "'lr'"),
        ({"views": "1"}, "'views'"),
        ({"method": "simsiam"}, "'method'"),
        ({"no_such_field": "1"}, "unknown config field 'no_such_field'"),
        ({"batch_size": "many"}, "'batch_size'"),
    ],
)
def test_bad_values_name_the_field(overrides: dict, needle: str) -> None:
    with pytest.raises(config.ConfigError) as err:
        config.build("demo", overrides=overrides)
    message = str(err.value)
    assert needle in message and "\n" not in message


def test_short_runs_keep_a_valid_warmup() -> None:
    cfg = config.build("demo", overrides={"steps": "30"})
    assert cfg.steps == 30 and 0 <= cfg.warmup_steps < 30


def test_toml_round_trip(tmp_path: Path) -> None:
    cfg = config.build("demo", overrides={"method": "vicreg", "f_max": "11025"})
    config.save(cfg, tmp_path / "config.toml")
    assert config.load(tmp_path / "config.toml") == cfg
    no_fmax = config.build("demo")
    config.save(no_fmax, tmp_path / "b.toml")
    assert config.load(tmp_path / "b.toml").f_max is None


def test_bad_file_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("lr = -3\n")
    with pytest.raises(config.ConfigError, match="bad.toml.*'lr'"):
        config.load(path)
    with pytest.raises(config.ConfigError, match="not found"):
        config.load(tmp_path / "missing.toml")


def test_parse_set() -> None:
    assert config.parse_set(["lr=0.1", " steps = 5 "]) == {"lr": "0.1", "steps": "5"}
    with pytest.raises(config.ConfigError, match="key=value"):
        config.parse_set(["lr"])


def test_method_defaults_sit_between_preset_and_explicit_values() -> None:
    collapse = config.build("demo", overrides={"method": "clustering-collapse"})
    assert (collapse.teacher_temp_start, collapse.teacher_temp_end, collapse.ema_start, collapse.ema_end) == \
        (0.04, 0.04, 0.95, 0.95)
    assert config.build("demo", overrides={"method": "clustering"}).teacher_temp_start == 0.02
    assert config.build("demo", overrides={"method": "clustering-collapse", "ema_start": "0.9"}).ema_start == 0.9
    assert config.build("demo", base={"method": "clustering-collapse"}).ema_end == 0.95


def test_demo_clustering_is_tuned_only_for_the_demo_preset() -> None:
    demo = config.build("demo", overrides={"method": "clustering"})
    assert (demo.lr, demo.freeze_last_layer_steps) == (3e-5, 30)
    collapse = config.build("demo", overrides={"method": "clustering-collapse"})
    assert (collapse.lr, collapse.freeze_last_layer_steps) == (1e-3, 0)
    paper = config.build("paper", overrides={"method": "clustering"})
    assert (paper.lr, paper.freeze_last_layer_steps) == (1e-3, 0)
    assert config.build("demo", overrides={"method": "clustering", "lr": "1e-3"}).lr == 1e-3


def test_a_shorter_run_keeps_the_warmup_and_freeze_shares() -> None:
    short = config.build("demo", overrides={"method": "clustering", "steps": 30})
    assert (short.warmup_steps, short.freeze_last_layer_steps) == (3, 3)
    pinned = config.build("demo", overrides={"method": "clustering", "steps": 30, "freeze_last_layer_steps": 0})
    assert pinned.freeze_last_layer_steps == 0
    assert config.build("demo", overrides={"method": "contrastive", "steps": 30}).freeze_last_layer_steps == 0
