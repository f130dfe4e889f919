"""`mvssl export --format tsv|parquet`: the projector's TSV pair and one Parquet table of track embeddings."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from engine import cli

from engine.rundir import embeddings_store


def test_tsv_pair_has_one_row_per_track_in_store_order(export_runs, tmp_path) -> None:
    run = export_runs["contrastive"]
    assert cli.main(["export", "--run-dir", str(run), "--format", "tsv", "--out", str(tmp_path)]) == 0
    vectors = np.loadtxt(tmp_path / "vectors.tsv", delimiter="\t", dtype=np.float32)
    meta = pd.read_csv(tmp_path / "metadata.tsv", sep="\t", keep_default_na=False)
    with embeddings_store.open_embeddings(run) as emb:
        tracks, want = emb.tracks, emb.track_embeddings()
    np.testing.assert_allclose(vectors, want, rtol=1e-6)
    assert list(meta.columns) == ["id", "split", "tags", "path"]
    assert meta["id"].tolist() == tracks.ids and meta["split"].tolist() == tracks.splits
    assert meta["path"].tolist() == tracks.paths
    for row, tags in enumerate(meta["tags"]):
        assert tags.split(";") == [n for n, on in zip(tracks.tag_names, tracks.tags[row]) if on]


def test_parquet_table_opens_in_pandas_with_embeddings_and_tags(export_runs, tmp_path) -> None:
    run = export_runs["logmel"]
    assert cli.main(["export", "--run-dir", str(run), "--format", "parquet", "--out", str(tmp_path)]) == 0
    path = tmp_path / "embeddings.parquet"
    frame = pd.read_parquet(path)
    with embeddings_store.open_embeddings(run) as emb:
        tracks, want, n_segments = emb.tracks, emb.track_embeddings(), emb.n_segments
    assert frame["id"].tolist() == tracks.ids and frame["split"].tolist() == tracks.splits
    np.testing.assert_array_equal(np.stack(frame["embedding"].to_numpy()), want)
    np.testing.assert_array_equal(frame["n_segments"].to_numpy(), n_segments)
    assert [list(t) for t in frame["tags"]] == [[n for n, on in zip(tracks.tag_names, r) if on] for r in tracks.tags]
    meta = pq.read_schema(path).metadata
    assert json.loads(meta[b"mvssl"])["method"] == "logmel"
    assert json.loads(meta[b"tag_names"]) == tracks.tag_names


def test_export_without_embeddings_says_so(tmp_path, capsys) -> None:
    assert cli.main(["export", "--run-dir", str(tmp_path), "--format", "parquet", "--out", str(tmp_path / "o")]) == 2
    assert "no embeddings yet" in capsys.readouterr().err
