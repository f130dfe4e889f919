"""engine.evaluation.projection: PCA preview, UMAP (cached in analysis.h5), cosine nearest neighbours, CLI."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from engine.rundir import analysis_store, embeddings_store
from engine.cli import embed as embed_cmd
from engine.evaluation.projection import (NeighbourIndex, cosine_neighbours, neighbour_index, neighbours, pca_preview, project,
                               umap_2d)

TAGS = ["a", "b", "c", "d"]


def clusters(n: int = 200, dim: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n points around 4 random directions (with random norms); returns (x (n, dim), cluster label (n,))."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((4, dim)) * 3
    label = np.arange(n) % 4
    x = centres[label] + rng.standard_normal((n, dim))
    return (x * rng.uniform(0.5, 5, (n, 1))).astype(np.float32), label


def write_run(run_dir: Path, x: np.ndarray, label: np.ndarray, step: int = 10) -> None:
    n = len(x)
    tags = np.eye(4, dtype=np.uint8)[label]
    tracks = embeddings_store.TrackTable([f"t{i}" for i in range(n)], [f"/m/t{i}.flac" for i in range(n)], ["train"] * n, tags, TAGS)
    with embeddings_store.EmbeddingsWriter(run_dir, tracks, x.shape[1], {"checkpoint_step": step}) as w:
        w.add_segments(np.arange(n), np.zeros(n), x)
        w.finish()


def label_agreement(xy: np.ndarray, label: np.ndarray) -> float:
    """Share of points whose nearest 2-D neighbour has the same cluster label."""
    d = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    return float(np.mean(label[d.argmin(1)] == label))


def test_pca_preview_is_deterministic_scale_free_and_separates_clusters() -> None:
    x, label = clusters()
    xy = pca_preview(x, seed=0)
    assert xy.shape == (200, 2) and xy.dtype == np.float32
    np.testing.assert_array_equal(xy, pca_preview(x, seed=0))
    np.testing.assert_allclose(np.abs(pca_preview(x * 7.0, seed=0)), np.abs(xy), atol=1e-4)  # L2-normalised rows
    assert label_agreement(xy, label) > 0.9
    assert pca_preview(x[:1]).shape == (1, 2)


def test_project_caches_until_params_or_embeddings_change(tmp_path: Path) -> None:
    x, label = clusters()
    write_run(tmp_path, x, label)
    first = project(tmp_path, methods=("pca",))
    stamp = analysis_store.read_projection(tmp_path, "pca")[1]["computed_at"]
    np.testing.assert_allclose(first["pca"], pca_preview(x, 0), atol=1e-5)
    again = project(tmp_path, methods=("pca",))
    assert analysis_store.read_projection(tmp_path, "pca")[1]["computed_at"] == stamp
    np.testing.assert_array_equal(again["pca"], first["pca"])
    attrs = analysis_store.read_projection(tmp_path, "pca")[1]
    assert attrs["method"] == "pca" and attrs["checkpoint_step"] == 10 and attrs["seed"] == 0
    project(tmp_path, methods=("pca",), seed=1)
    stamp_seed = analysis_store.read_projection(tmp_path, "pca")[1]["computed_at"]
    assert stamp_seed != stamp
    write_run(tmp_path, x, label, step=10)  # same step, new file: the map is recomputed
    project(tmp_path, methods=("pca",), seed=1)
    assert analysis_store.read_projection(tmp_path, "pca")[1]["computed_at"] != stamp_seed
    with pytest.raises(ValueError, match="unknown projection 'tsne'"):
        project(tmp_path, methods=("tsne",))


@pytest.mark.slow
def test_umap_on_200_points_is_reproducible_and_keeps_clusters(tmp_path: Path) -> None:
    x, label = clusters()
    xy = umap_2d(x, seed=0)
    assert xy.shape == (200, 2) and xy.dtype == np.float32 and np.isfinite(xy).all()
    np.testing.assert_allclose(umap_2d(x, seed=0), xy, atol=1e-4)
    assert label_agreement(xy, label) > 0.95
    write_run(tmp_path, x, label)
    maps = project(tmp_path)
    assert set(maps) == {"pca", "umap"} and analysis_store.list_projections(tmp_path) == ["pca", "umap"]
    assert analysis_store.read_projection(tmp_path, "umap")[1]["params"] == {"n_neighbors": 15, "min_dist": 0.1,
                                                                   "metric": "cosine"}
    with pytest.raises(ValueError, match="at least 4 tracks"):
        umap_2d(x[:3])


def test_neighbours_exclude_self_are_sorted_and_match_numpy_cosine(tmp_path: Path) -> None:
    x, label = clusters(n=40)
    write_run(tmp_path, x, label)
    found = neighbours(tmp_path, "t5", k=7)
    centred = x - x.mean(axis=0)  # the default: cosine of centred embeddings
    xn = centred / np.linalg.norm(centred, axis=1, keepdims=True)
    cos = xn @ xn[5]
    expected = [i for i in np.argsort(-cos) if i != 5][:7]
    assert [n.id for n in found] == [f"t{i}" for i in expected]
    np.testing.assert_allclose([n.similarity for n in found], cos[expected], rtol=1e-5, atol=1e-6)
    assert all(a.similarity >= b.similarity for a, b in zip(found, found[1:]))
    assert found[0].tags == [TAGS[label[expected[0]]]]
    assert len(neighbours(tmp_path, "t0", k=100)) == 39
    with pytest.raises(ValueError, match="unknown track id 'nope'"):
        neighbours(tmp_path, "nope")


def test_cosine_neighbours_excludes_the_query_even_among_duplicates() -> None:
    x = np.array([[1, 0], [1, 0], [0, 1], [2, 0]], np.float32)
    rows, sims = cosine_neighbours(x, 0, k=3, metric="raw")
    assert 0 not in rows and sorted(rows[:2]) == [1, 3] and rows[2] == 2
    np.testing.assert_allclose(sims, [1, 1, 0], atol=1e-6)


def _stable_sort_neighbours(x: np.ndarray, index: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The former per-query search: normalise every row, stable sort of all similarities."""
    xn = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    sims = xn @ xn[index]
    sims[index] = -np.inf
    order = np.argsort(-sims, kind="stable")[: min(k, len(x) - 1)]
    return order, sims[order]


@pytest.mark.parametrize("k", [1, 3, 10, 60])
def test_index_query_equals_a_stable_sort_of_all_rows_ties_included(k: int) -> None:
    x, _ = clusters(n=60, dim=8)
    x = np.concatenate([x, x[:10], 3 * x[:10], np.zeros((2, 8), np.float32)])  # exact ties and zero rows
    index = NeighbourIndex(x, metric="raw")
    for row in (0, 5, 64, 80, 81):
        rows, sims = index.query(row, k)
        expected_rows, expected_sims = _stable_sort_neighbours(x, row, k)
        np.testing.assert_array_equal(rows, expected_rows)
        np.testing.assert_allclose(sims, expected_sims, atol=1e-6)


def test_centred_neighbours_rank_by_the_cosine_after_the_mean_is_subtracted() -> None:
    rng = np.random.default_rng(3)
    x = (rng.normal(size=(50, 6)) + 20.0).astype(np.float32)  # a large shared mean, as post-ReLU embeddings have
    _, raw = cosine_neighbours(x, 0, k=10, metric="raw")
    rows, centred = cosine_neighbours(x, 0, k=10)
    assert raw.min() > 0.99  # every raw cosine near 1, whatever the tracks
    expected_rows, expected = _stable_sort_neighbours(x - x.mean(axis=0), 0, 10)
    np.testing.assert_array_equal(rows, expected_rows)
    np.testing.assert_allclose(centred, expected, atol=1e-5)
    assert centred[0] - centred[-1] > 0.2  # the cosines spread
    with pytest.raises(ValueError, match="valid: centred, raw"):
        NeighbourIndex(x, metric="euclid")  # type: ignore[arg-type]


def test_neighbour_index_is_kept_until_embeddings_h5_is_replaced(tmp_path: Path) -> None:
    x, label = clusters(n=40)
    write_run(tmp_path, x, label)
    first = neighbour_index(tmp_path)
    assert neighbour_index(tmp_path) is first  # normalised once, not per query
    before = neighbours(tmp_path, "t5", k=5)
    write_run(tmp_path, x[::-1].copy(), label[::-1].copy())  # a new embeddings.h5, same ids
    assert neighbour_index(tmp_path) is not first
    after = neighbours(tmp_path, "t5", k=5)
    reversed_x = x[::-1]
    expected, _ = _stable_sort_neighbours(reversed_x - reversed_x.mean(axis=0), 5, 5)
    assert [n.id for n in after] == [f"t{i}" for i in expected] != [n.id for n in before]


def test_cli_neighbours_json_and_project(tmp_path: Path, capsys) -> None:
    x, label = clusters(n=20)
    write_run(tmp_path, x, label)
    parser = argparse.ArgumentParser(prog="mvssl")
    embed_cmd.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["neighbours", "--run-dir", str(tmp_path), "--track", "t3", "-k", "2", "--json"])
    assert args.handler(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert [n["id"] for n in out] == [n.id for n in neighbours(tmp_path, "t3", k=2)]
    args = parser.parse_args(["project", "--run-dir", str(tmp_path), "--method", "pca"])
    assert args.handler(args) == 0
    assert "pca: 20 points" in capsys.readouterr().out and analysis_store.list_projections(tmp_path) == ["pca"]
