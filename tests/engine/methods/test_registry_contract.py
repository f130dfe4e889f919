"""What every registry entry promises: shared loss invariants over the single-branch methods, each
entry reaching config validation, the CLI, the GUI and the colours, and a torch-free registry."""
from __future__ import annotations

import dataclasses
import subprocess
import sys
from typing import Callable

import pytest
import torch

from engine import config
from engine.cli import build_parser
from engine.evaluation.colours import METHOD_COLOURS, UNKNOWN_COLOUR, colour_of
from engine.methods import METHODS, PRETEXTS, UNTRAINED, get_pretext, method_defaults

SINGLE_BRANCH = sorted(name for name, spec in PRETEXTS.items() if not spec.uses_teacher)
VIEW_SHAPES = [((8, 4), "views, batch, dim"), ((1, 8, 4), "at least 2 views")]
STANDARDISED_SHAPES = [((2, 1, 4), "batch of at least 2"), ((2, 8, 1), "at least 2 dimensions")]

# (V, B, D, seed, lr, did the loss fall enough from start to end?)
SGD_CASES: dict[str, tuple[int, int, int, int, float, Callable[[float, float], bool]]] = {
    "contrastive": (2, 8, 6, 2, 0.5, lambda start, end: end < start - 0.5),
    "barlow_twins": (2, 16, 8, 1, 1.0, lambda start, end: end < 0.5 * start),
    "vicreg": (2, 16, 8, 1, 1.0, lambda start, end: end < 0.5 * start),
}
BAD_CONFIGS = {"contrastive": ("temperature", 0.0), "barlow_twins": ("off_diag_weight", -1.0),
               "vicreg": ("var_weight", -1.0)}


def test_single_branch_methods_are_the_ones_with_their_own_cases() -> None:
    assert SINGLE_BRANCH == sorted(SGD_CASES) == sorted(BAD_CONFIGS) == ["barlow_twins", "contrastive", "vicreg"]


@pytest.mark.parametrize("name", SINGLE_BRANCH)
def test_loss_falls_under_sgd(name: str) -> None:
    views, batch, dim, seed, lr, fell = SGD_CASES[name]
    z = torch.randn(views, batch, dim, generator=torch.Generator().manual_seed(seed)).requires_grad_()
    loss = get_pretext(name).build()
    opt = torch.optim.SGD([z], lr=lr)
    start = loss(z).item()
    for _ in range(20):
        opt.zero_grad()
        loss(z).backward()
        opt.step()
    assert fell(start, loss(z).item())


@pytest.mark.parametrize("name, shape, message", [
    *((name, shape, message) for name in SINGLE_BRANCH for shape, message in VIEW_SHAPES),
    *((name, shape, message) for name in ("barlow_twins", "vicreg") for shape, message in STANDARDISED_SHAPES),
])
def test_bad_shapes_raise(name: str, shape: tuple[int, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        get_pretext(name).build()(torch.randn(*shape))


@pytest.mark.parametrize("name", SINGLE_BRANCH)
def test_bad_config_raises(name: str) -> None:
    field, value = BAD_CONFIGS[name]
    with pytest.raises(ValueError, match=field):
        get_pretext(name).build(**{field: value})


@pytest.mark.parametrize("name", sorted(PRETEXTS))
def test_every_run_field_an_entry_reads_reaches_its_loss_config(name: str) -> None:
    spec = get_pretext(name)
    run = config.build("demo", overrides={"method": name})
    read = spec.from_run(run)
    assert read and set(read) <= {f.name for f in dataclasses.fields(spec.config)}
    loss = spec.build_for(run)
    assert loss.config == spec.loss_config(run) == dataclasses.replace(spec.config, **read)
    assert {k: v for k, v in dataclasses.asdict(spec.config).items() if k not in read} \
        == {k: v for k, v in dataclasses.asdict(loss.config).items() if k not in read}


def test_run_values_change_the_loss_config() -> None:
    cases = {"contrastive": ({"temperature": 0.3}, "temperature", 0.3),
             "byol": ({"byol_batch_sum": True}, "batch_sum", True),
             "clustering": ({"clustering_log_clamp": True}, "log_clamp", -100.0),
             "clustering-collapse": ({"student_temp": 0.2}, "student_temp", 0.2),
             "barlow_twins": ({"barlow_lambda": 0.005}, "off_diag_weight", 0.005),
             "vicreg": ({"vicreg_cov_divisor": "B-1"}, "cov_divisor", "B-1")}
    assert set(cases) == set(PRETEXTS)
    for name, (values, field, expected) in cases.items():
        run = config.build("demo", overrides={"method": name, **values})
        assert getattr(get_pretext(name).loss_config(run), field) == expected, name
    assert get_pretext("clustering").loss_config(config.build("demo", overrides={"method": "clustering"})).log_clamp \
        is None


def test_clustering_collapse_is_clustering_without_centering_and_with_its_own_run_defaults() -> None:
    assert PRETEXTS["clustering-collapse"].config == dataclasses.replace(PRETEXTS["clustering"].config, centering=False)
    assert method_defaults("demo", "clustering-collapse") == dict(
        teacher_temp_start=0.04, teacher_temp_end=0.04, ema_start=0.95, ema_end=0.95)
    assert method_defaults("paper", "clustering") == {} and method_defaults("demo", "contrastive") == {}
    assert method_defaults("demo", "clustering") == dict(lr=3e-5, freeze_last_layer_steps=30)
    run = config.build("demo", overrides={"method": "clustering-collapse"})
    assert (run.teacher_temp_start, run.ema_start, run.lr) == (0.04, 0.95, config.build("demo").lr)


def test_every_entry_reaches_config_validation_and_the_cli() -> None:
    assert METHODS == (*PRETEXTS, UNTRAINED) == config.METHODS
    assert set(config.RunConfig.model_json_schema()["properties"]["method"]["enum"]) == set(METHODS)
    for name in METHODS:
        assert config.build("demo", overrides={"method": name}).method == name
    with pytest.raises(config.ConfigError, match="'method'"):
        config.build("demo", overrides={"method": "simclr"})
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    imported = next(a for a in commands["import"]._actions if a.dest == "method")
    assert list(imported.choices) == list(PRETEXTS)
    train = next(a for a in commands["train"]._actions if a.dest == "method")
    assert train.help.split(" | ") == list(METHODS)


def test_colours_come_from_the_entries_with_the_baselines_and_a_fallback() -> None:
    assert {name: spec.colour for name, spec in PRETEXTS.items()} == {
        "contrastive": "#1f77b4", "byol": "#9467bd", "clustering": "#d62728", "clustering-collapse": "#ff9896",
        "barlow_twins": "#2ca02c", "vicreg": "#ff7f0e"}
    assert all(colour_of(name) == spec.colour for name, spec in PRETEXTS.items())
    assert (colour_of("random"), colour_of("logmel")) == ("#7f7f7f", "#8c564b")
    assert colour_of("my_method") == colour_of(None) == UNKNOWN_COLOUR
    assert len(set(METHOD_COLOURS.values()) | {UNKNOWN_COLOUR}) == len(METHOD_COLOURS) + 1


def test_the_registry_and_config_import_no_torch() -> None:
    code = ("import sys, engine.config, engine.methods, engine.evaluation.colours, workbench.launch.model; "
            "engine.methods.PRETEXTS['clustering'].summary; print(sorted(m for m in sys.modules if m.startswith('torch')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
