"""Probes: task columns, limited-data draws, training on synthetic stores, the `mvssl probe` command."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import pytest

from engine.rundir import analysis_store, embeddings_store
from engine.cli import evaluate
from engine.evaluation.probe import ProbeConfig, draw_tracks, draws_at, run_probe, task_columns, track_mean
from tests.engine.fake_runs import make_run

DEMO = ["genre:rock", "genre:jazz", "instrument:drums", "instrument:bass", "mood:minor"]
JAMENDO = ["genre---rock", "instrument---piano", "mood/theme---happy", "mood/theme---sad"]


def test_task_columns_select_by_family_prefix() -> None:
    assert task_columns("genre", DEMO).tolist() == [0, 1]
    assert task_columns("instrument", DEMO).tolist() == [2, 3]
    assert task_columns("mood", DEMO).tolist() == [4]
    assert task_columns("all", DEMO).tolist() == [0, 1, 2, 3, 4]
    assert task_columns("genre", JAMENDO).tolist() == [0]
    assert task_columns("moodtheme", JAMENDO).tolist() == [2, 3]
    assert task_columns("top50", [f"t{i}" for i in range(50)]).tolist() == list(range(50))


def test_task_columns_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="unknown probe task 'tempo'"):
        task_columns("tempo", DEMO)
    with pytest.raises(ValueError, match="no tag starts with"):
        task_columns("moodtheme", ["genre:rock"])
    with pytest.raises(ValueError, match="top-50 store"):
        task_columns("top50", [f"genre---g{i}" for i in range(87)])


def _tags(n: int = 500, t: int = 20, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((n, t)) < rng.uniform(0.005, 0.3, t)).astype(np.uint8)


@pytest.mark.parametrize("fraction", [0.01, 0.05, 0.2])
def test_draws_keep_a_positive_for_every_tag_and_reach_the_fraction(fraction: float) -> None:
    tags = _tags()
    tags[:, 3] = 0  # a tag without positives cannot be covered, and must not break the draw
    for draw in range(4):
        rows = draw_tracks(tags, fraction, seed=0, draw=draw)
        assert len(np.unique(rows)) == len(rows) >= round(fraction * len(tags))
        covered = tags[rows].any(axis=0)
        assert np.array_equal(covered, tags.any(axis=0))


def test_draws_are_reproducible_by_seed_and_differ_between_draws() -> None:
    tags = _tags()
    a = draw_tracks(tags, 0.1, seed=7, draw=1)
    assert np.array_equal(a, draw_tracks(tags, 0.1, seed=7, draw=1))
    assert not np.array_equal(a, draw_tracks(tags, 0.1, seed=7, draw=2))
    assert not np.array_equal(a, draw_tracks(tags, 0.1, seed=8, draw=1))
    assert np.array_equal(draw_tracks(tags, 1.0, seed=7, draw=0), np.arange(len(tags)))
    assert draws_at(1.0, 4) == 1 and draws_at(0.05, 4) == 4
    with pytest.raises(ValueError, match="fraction"):
        draw_tracks(tags, 0.0, seed=0, draw=0)


def test_track_mean_averages_each_tracks_segments() -> None:
    values = np.array([[1.0], [3.0], [10.0], [5.0]])
    segment_track = np.array([4, 4, 7, 9])
    assert track_mean(values, segment_track, np.array([9, 4])).ravel().tolist() == [5.0, 2.0]
    with pytest.raises(ValueError, match="no segment"):
        track_mean(values, segment_track, np.array([4, 5]))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("probe-runs")
    return {"separable": make_run(root / "separable", signal=3.0), "noise": make_run(root / "noise", signal=0.0)}


def test_probe_learns_separable_tags_and_not_noise(runs: dict[str, Path]) -> None:
    good = run_probe(runs["separable"], "all", fractions=(100,), draws=1)
    noise = run_probe(runs["noise"], "all", fractions=(100,), draws=1)
    assert good[1.0][0]["macro"]["roc_auc"] > 0.95
    assert abs(noise[1.0][0]["macro"]["roc_auc"] - 0.5) < 0.12


def test_probe_stores_every_draw_with_predictions_and_metrics(runs: dict[str, Path]) -> None:
    run_probe(runs["separable"], "genre", fractions=(10, 100), draws=2, seed=1, config=ProbeConfig.of("linear"))
    probe = analysis_store.read_probes(runs["separable"], "genre")["genre"]
    assert probe.tag_names == ["genre:a", "genre:b", "genre:c"]
    assert probe.fractions() == [0.1, 1.0]
    assert [d.draw for d in probe.at(0.1)] == [0, 1] and [d.draw for d in probe.at(1.0)] == [0]
    with embeddings_store.open_embeddings(runs["separable"]) as emb:
        assert np.array_equal(probe.test_index, emb.tracks.split_index("test"))
    draw = probe.at(0.1)[1]
    assert draw.pred.shape == (len(probe.test_index), 3) and ((draw.pred >= 0) & (draw.pred <= 1)).all()
    assert set(draw.metrics) >= {"roc_auc", "pr_auc", "macro", "micro", "skipped"}
    assert draw.info["protocol"] == "linear" and draw.info["seed"] == 1
    assert draw.info["n_train_tracks"] >= round(0.1 * 140)
    assert draw.info["precision"] == "fp32"  # what precision=auto gives in the test environment


def test_probe_trains_in_float32_whatever_precision_training_picks(runs: dict[str, Path], monkeypatch) -> None:
    """Where the training's precision decision picks bf16, the probe still runs without autocast and says fp32."""
    from engine.training import precision

    monkeypatch.setenv(precision.ENV, "bf16")
    seen: list[torch.dtype] = []
    original = torch.nn.Linear.forward
    monkeypatch.setattr(torch.nn.Linear, "forward", lambda self, x: seen.append(torch.get_autocast_dtype("cpu")
                                                                                 if torch.is_autocast_enabled("cpu")
                                                                                 else x.dtype)
                        or original(self, x))
    result = run_probe(runs["separable"], "genre", fractions=(100,), draws=1, seed=2)
    assert seen and set(seen) == {torch.float32}
    assert analysis_store.read_probes(runs["separable"], "genre")["genre"].at(1.0)[0].info["precision"] == "fp32"
    assert result[1.0][0]["macro"]["roc_auc"] > 0.9


def test_probe_sets_the_threads_it_is_given_and_restores_them(runs: dict[str, Path], monkeypatch) -> None:
    seen: list[int] = []
    original = torch.nn.Linear.forward
    monkeypatch.setattr(torch.nn.Linear, "forward", lambda self, x: seen.append(torch.get_num_threads())
                        or original(self, x))
    before = torch.get_num_threads()
    run_probe(runs["separable"], "mood", fractions=(100,), draws=1, threads=1)
    assert set(seen) == {1} and torch.get_num_threads() == before
    with pytest.raises(ValueError, match="threads must be >= 1"):
        run_probe(runs["separable"], "mood", fractions=(100,), draws=1, threads=0)


def test_probe_is_reproducible(runs: dict[str, Path]) -> None:
    a = run_probe(runs["noise"], "instrument", fractions=(20,), draws=1, seed=3)
    b = run_probe(runs["noise"], "instrument", fractions=(20,), draws=1, seed=3)
    assert a[0.2][0]["pr_auc"] == b[0.2][0]["pr_auc"]


def test_probe_command_via_register(runs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    evaluate.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["probe", "--run-dir", str(runs["separable"]), "--task", "mood", "--fractions", "50,100",
                              "--draws", "1", "--threads", "1", "--quiet"])
    assert args.handler(args) == 0
    assert '"mean_macro"' in capsys.readouterr().out
    assert analysis_store.read_probes(runs["separable"], "mood")["mood"].fractions() == [0.5, 1.0]
    with pytest.raises(SystemExit):
        parser.parse_args(["probe", "--run-dir", "x", "--task", "mood", "--fractions", "0,150"])


def test_probe_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="protocol"):
        ProbeConfig(protocol="svm")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dropout"):
        ProbeConfig(dropout=1.0)
    with pytest.raises(ValueError, match="patience"):
        ProbeConfig(patience=0)
