"""`mvssl compare`: refuses runs that are not comparable; writes report.html, figures and results.json."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from engine.rundir import analysis_store, embeddings_store
from engine.evaluation.colours import METHOD_COLOURS
from engine.cli import evaluate
from engine.evaluation.metrics import tag_metrics
from engine.collapse.neighbours import knn_tag_hits, unit_rows
from engine.evaluation.compare import compare, method_of, write_report
from tests.engine.fake_runs import TAG_NAMES, make_run

TASK = "all"


def _probe(run_dir: Path, quality: float, seed: int = 0) -> None:
    """Store fake probe draws: predictions = quality × labels + noise, at 10 % (2 draws) and 100 %."""
    with embeddings_store.open_embeddings(run_dir) as emb:
        test = emb.tracks.split_index("test")
        labels, names = emb.tracks.tags[test], emb.tracks.tag_names
    rng = np.random.default_rng(seed)
    for fraction, draw in ((0.1, 0), (0.1, 1), (1.0, 0)):
        pred = quality * fraction * labels + rng.random(labels.shape)
        metrics = tag_metrics(labels, pred, names).to_dict()
        analysis_store.write_probe(run_dir, TASK, fraction, draw, pred, test, names, metrics, {"kind": "fake"})


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("report-runs")
    out = {"contrastive": make_run(root / "contrastive", "contrastive", signal=3.0),
           "random": make_run(root / "random", "random", signal=0.0, seed=1),
           "other-split": make_run(root / "other-split", "byol", signal=1.0,
                                   splits=["test"] * 30 + ["train"] * 140 + ["valid"] * 30),
           "other-tags": make_run(root / "other-tags", "vicreg", signal=1.0, tag_names=TAG_NAMES[:5] + ["mood:z"])}
    for i, (name, run_dir) in enumerate(out.items()):
        _probe(run_dir, quality=2.0 if name == "contrastive" else 0.0, seed=i)
    return out


def test_report_writes_html_figures_and_results(runs: dict[str, Path], tmp_path: Path) -> None:
    page = write_report([runs["contrastive"], runs["random"]], TASK, tmp_path / "report", n_resamples=200)
    assert page == tmp_path / "report" / "report.html"
    html = page.read_text()
    for png in ("bootstrap.png", "limited_data.png", "collapse.png", "knn.png"):
        assert (tmp_path / "report" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f'src="{png}"' in html
    assert "contrastive" in html and "random" in html and "genre:a" in html

    results = json.loads((tmp_path / "report" / "results.json").read_text())
    assert [r["colour"] for r in results["runs"]] == [METHOD_COLOURS["contrastive"], METHOD_COLOURS["random"]]
    pr = results["bootstrap"]["metrics"]["pr_auc"]
    assert len(pr["runs"]["contrastive"]["values"]) == 200
    assert pr["runs"]["contrastive"]["low"] > pr["runs"]["random"]["high"]
    wins = {(p["a"], p["b"]): p for p in pr["pairs"]}
    assert wins[("contrastive", "random")]["a_beats_b"] == 1.0
    assert set(results["limited_data"]["random"]) == {"0.1", "1"}
    assert len(results["limited_data"]["random"]["0.1"]["pr_auc"]["draws"]) == 2
    assert set(results["per_tag"]["random"]["roc_auc"]) == set(TAG_NAMES)
    knn = {(p["a"], p["b"]): p for p in results["knn"]["pairs"]}[("contrastive", "random")]
    assert knn["diff_low"] > 0 and knn["excludes_zero"]
    with embeddings_store.open_embeddings(runs["random"]) as emb:  # every tagged track of any split is a query
        tagged = int((emb.tracks.tags.sum(axis=1) > 0).sum())  # task "all": every tag
        assert results["knn"]["queries"] == tagged > len(emb.tracks.split_index("test"))
    assert results["collapse"]["random"]["rankme"] > 1


def test_compare_refuses_different_test_tracks(runs: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match="apples vs pears: contrastive and other-split .*different test tracks") as err:
        compare([runs["contrastive"], runs["other-split"]], TASK, n_resamples=10)
    assert "\n" not in str(err.value)


def test_compare_refuses_different_tag_sets(runs: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="apples vs pears: contrastive and other-tags have different tag lists"):
        write_report([runs["contrastive"], runs["other-tags"]], TASK, tmp_path / "no", n_resamples=10)
    assert not (tmp_path / "no" / "report.html").exists()


def test_compare_command_via_register(runs: dict[str, Path], tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    evaluate.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["compare", str(runs["contrastive"]), str(runs["random"]), "--task", TASK,
                              "--out", str(tmp_path / "cli"), "--resamples", "50"])
    assert args.handler(args) == 0
    assert (tmp_path / "cli" / "results.json").exists()
    args = parser.parse_args(["compare", str(runs["contrastive"]), "--task", "genre", "--out", str(tmp_path / "x")])
    with pytest.raises(ValueError, match="no 'genre' probe"):
        args.handler(args)


def test_method_comes_from_status_then_config(tmp_path: Path) -> None:
    (tmp_path / "status.json").write_text(json.dumps({"state": "done", "method": "byol"}))
    assert method_of(tmp_path) == "byol"
    (tmp_path / "status.json").write_text("{}")
    (tmp_path / "config.toml").write_text('method = "vicreg"\n')
    assert method_of(tmp_path) == "vicreg"
    assert method_of(tmp_path / "missing", {"method": "logmel"}) == "logmel"


def test_knn_precision_counts_neighbours_sharing_a_tag() -> None:
    # two clusters on the circle; tags follow the clusters except track 3
    z = np.array([[1.0, 0.0], [0.99, 0.1], [0.98, -0.1], [0.0, 1.0], [0.1, 0.99], [-0.1, 0.98]])
    tags = np.array([[1, 0], [1, 0], [1, 0], [1, 0], [0, 1], [0, 1]])
    got = knn_tag_hits(unit_rows(z), tags, np.array([0, 3, 4]), k=2)
    assert got.tolist() == [1.0, 0.0, 0.5]
    with pytest.raises(ValueError, match="k = 6"):
        knn_tag_hits(unit_rows(z), tags, np.array([0]), k=6)


def test_compare_refuses_a_test_set_without_any_evaluable_tag(tmp_path: Path) -> None:
    run = make_run(tmp_path / "one-test-track", splits=["train"] * 150 + ["valid"] * 49 + ["test"])
    _probe(run, quality=1.0)
    with pytest.raises(ValueError, match="no tag has both positive and negative tracks among the 1 test tracks"):
        compare([run], TASK, n_resamples=10)
