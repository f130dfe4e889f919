"""The diagnose job on tiny real runs: every checkpoint diagnosed and stored, clustering statistics from the
teacher with the run's center, k-NN precision from embeddings.h5, and the `mvssl diagnose` command."""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from engine import config

from engine.rundir import analysis_store, embeddings_store
from engine.collapse import diagnostics as dg
from engine.collapse import clustering as dc
from engine.model.checkpoints import load_checkpoint, step_checkpoints
from engine.cli import diagnose as diagnose_cmd
from engine.data.corpora import load_source
from engine.collapse.diagnose import diagnose, diagnosis_tracks, fixed_views, forward_views
from engine.model.ssl_model import SSLModel
from engine.config import prepare_run as prepare_run_dir
from engine.training.loop import train

K = 64  # prototypes of the tiny clustering run
TRACKS = 8  # tracks whose view pairs the clustering run's checkpoints embed


def _config(corpus: Path, **overrides) -> config.RunConfig:
    values = dict(corpus=f"folder:{corpus}", steps=2, batch_size=4, log_every=2, checkpoint_every=1,
                  num_workers=0, precision="fp32", device="cpu", n_prototypes=K)
    return config.build("demo", overrides={**values, **overrides})


def _write_embeddings(run_dir: Path, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A complete embeddings.h5 of 24 tracks in 3 tag groups; returns its (N, D) embeddings and (N, T) tags."""
    g = torch.Generator().manual_seed(0)
    groups = torch.arange(24) % 3
    tags = torch.nn.functional.one_hot(groups, 3).to(torch.uint8)
    emb = torch.randn(3, 16, generator=g)[groups] + 0.8 * torch.randn(24, 16, generator=g)
    table = embeddings_store.TrackTable([f"t{i}" for i in range(24)], [f"/x/t{i}.flac" for i in range(24)], ["test"] * 24,
                             tags.numpy(), ["a", "b", "c"])
    with embeddings_store.EmbeddingsWriter(run_dir, table, dim=16, attrs={"checkpoint_step": step}, segment_dtype=np.float32) as w:
        w.add_segments(np.arange(24), np.zeros(24, np.float32), emb.numpy())
        w.finish()
    return emb, tags


slow = pytest.mark.slow  # the clustering run takes 10-60 s to train and diagnose on a 2-core CPU


@pytest.fixture(scope="module")
def clustering_run(tiny_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A 2-step clustering run with a checkpoint per step, embeddings at step 2, diagnosed once."""
    run = tmp_path_factory.mktemp("diagnose") / "clustering"
    prepare_run_dir(_config(tiny_corpus, method="clustering"), run)
    assert train(run, progress=False) == "done"
    _write_embeddings(run, step=2)
    return run, diagnose(run, progress=False, max_tracks=TRACKS)


@slow
def test_every_checkpoint_is_diagnosed_and_stored(clustering_run) -> None:
    run, result = clustering_run
    assert sorted(result["steps"]) == sorted(step_checkpoints(run)) == [1, 2]
    assert result["tracks"] == TRACKS and result["views"] == 2 * TRACKS
    stored = analysis_store.read_diagnostics(run)
    assert sorted(stored) == [1, 2]
    for step, (scalars, arrays) in stored.items():
        assert scalars == pytest.approx(result["steps"][step], nan_ok=True)
        assert arrays["spectrum"].shape == (2 * TRACKS,)  # min(2N, D) eigenvalues
        assert np.all(np.diff(arrays["spectrum"]) <= 1e-9)
        assert arrays["usage"].shape == (K,) and int(arrays["usage"].sum()) == 2 * TRACKS
        assert scalars["embedding_state"] in ("healthy", "dimensional", "full")
        assert scalars["clustering_state"] in ("healthy", "dominant", "uniform")
        assert 1.0 <= scalars["rankme"] <= 2 * TRACKS and 0 <= scalars["alignment"] <= 4 and scalars["uniformity"] <= 0
        assert scalars["prototype_pairs"] == K * (K - 1) // 2
        assert 0 <= scalars["near_duplicate_pairs"] <= scalars["prototype_pairs"]
        assert scalars["max_entropy"] == pytest.approx(math.log(K)) and math.isfinite(scalars["kl"])
    assert result["steps"][1]["rankme"] != result["steps"][2]["rankme"]  # each step its own weights


@slow
def test_statistics_come_from_the_checkpoint_teacher_and_center(clustering_run, tiny_corpus: Path) -> None:
    run, result = clustering_run
    cfg = config.load(run / "config.toml")
    views = fixed_views(diagnosis_tracks(load_source(cfg.corpus), TRACKS), cfg)  # (2, N, T)
    model = SSLModel(cfg).eval()
    model.load_state_dict(load_checkpoint(step_checkpoints(run)[2])["model"])
    assert model.loss_fn.center.abs().sum() > 0  # the checkpoint's center, not a fresh zero buffer
    with torch.no_grad():
        z = model.embed(views)  # (2, N, D) all at once, not in batches
        teacher = model.teacher_logits(views)
    batched = forward_views(model, views, torch.device("cpu"), batch_tracks=3)
    assert torch.allclose(batched.embeddings, z, atol=1e-4)
    assert torch.allclose(batched.teacher_logits, teacher, atol=1e-4)
    stats = dc.prototype_stats(teacher, cfg.teacher_temp_end, center=model.loss_fn.center)
    scalars = result["steps"][2]
    assert scalars["teacher_entropy"] == pytest.approx(stats.teacher_entropy, rel=1e-4)
    assert scalars["effective_prototypes"] == pytest.approx(stats.effective_prototypes, rel=1e-4)
    assert scalars["rankme"] == pytest.approx(dg.rankme(z.reshape(2 * TRACKS, -1)), rel=1e-4)
    centred = z - z.reshape(2 * TRACKS, -1).mean(dim=0)
    assert scalars["alignment"] == pytest.approx(dg.alignment(centred[0], centred[1]), rel=1e-4)
    assert scalars["spread"] == pytest.approx(dg.spread(z.reshape(2 * TRACKS, -1)), rel=1e-4)
    assert scalars["centred_rankme"] == pytest.approx(dg.centred_rankme(z.reshape(2 * TRACKS, -1)), rel=1e-4)
    weight = model.teacher["head"].ops[-1].weight
    assert scalars["near_duplicate_pairs"] == dc.near_duplicate_prototypes(weight)


@slow
def test_knn_precision_of_the_stored_track_embeddings(clustering_run) -> None:
    run, result = clustering_run
    with embeddings_store.open_embeddings(run) as emb:
        expected = dg.knn_tag_precision(torch.from_numpy(emb.track_embeddings()), torch.from_numpy(emb.tracks.tags))
    assert result["knn_step"] == 2
    assert result["steps"][2]["knn_precision_at_10"] == pytest.approx(expected.precision)
    assert result["steps"][2]["knn_chance"] == pytest.approx(7 / 23)
    assert "knn_precision_at_10" not in result["steps"][1]


def test_fixed_views_are_seeded_and_non_overlapping(tiny_corpus: Path) -> None:
    cfg = _config(tiny_corpus, method="contrastive")
    corpus = load_source(cfg.corpus)
    tracks = diagnosis_tracks(corpus, max_tracks=3)
    assert [t.split for t in tracks] == sorted((t.split for t in tracks), key=["valid", "test", "train"].index)
    assert tracks[0].split != "train"  # held-out tracks first
    a, b = fixed_views(tracks, cfg), fixed_views(tracks, cfg)
    assert a.shape == (2, 3, 64000) and torch.equal(a, b)
    assert not torch.equal(a[0], a[1])


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mvssl")
    diagnose_cmd.register(parser.add_subparsers(dest="command", required=True))
    return parser


def test_random_run_and_the_command(tmp_path: Path, tiny_corpus: Path, capsys) -> None:
    run = tmp_path / "random"
    prepare_run_dir(_config(tiny_corpus, method="random"), run)
    assert train(run, progress=False) == "done"
    args = _parser().parse_args(["diagnose", "--run-dir", str(run), "--json", "--tracks", "2"])
    assert args.handler(args) == 0
    result = json.loads(capsys.readouterr().out)
    assert list(result["steps"]) == ["0"] and result["views"] == 4
    assert "teacher_entropy" not in result["steps"]["0"] and result["steps"]["0"]["embedding_state"] == "untrained"
    assert result["verdict"]["kind"] == "untrained" and not result["verdict"]["stop_advised"]
    assert sorted(analysis_store.read_diagnostics(run)) == [0]

    args = _parser().parse_args(["diagnose", "--run-dir", str(run), "--tracks", "2"])
    assert args.handler(args) == 0
    table = capsys.readouterr().out.splitlines()
    assert "RankMe" in table[1] and "H nats" not in table[1]
    assert table[2].split()[0] == "0" and len(table) == 4
    assert table[3].startswith("verdict at step 0: untrained. untrained backbone: ")


@slow
def test_table_has_clustering_columns_and_knn_line(clustering_run) -> None:
    _, result = clustering_run
    lines = diagnose_cmd.format_table(result).splitlines()
    assert "H nats" in lines[1] and "dup pairs" in lines[1]
    assert [line.split()[0] for line in lines[2:4]] == ["1", "2"]
    knn = next(line for line in lines if line.startswith("k-NN"))
    assert knn.startswith("k-NN tag precision@10 at step 2 over 24 tracks") and "centred" in knn and "raw cosine" in knn
    assert lines[-1].startswith(f"verdict at step 2: {result['verdict']['kind']}")


def test_errors(tmp_path: Path, tiny_corpus: Path) -> None:
    run = tmp_path / "empty"
    prepare_run_dir(_config(tiny_corpus, method="contrastive"), run)
    with pytest.raises(ValueError, match="no step checkpoints"):
        diagnose(run, progress=False)
    with pytest.raises(SystemExit):
        _parser().parse_args(["diagnose", "--run-dir", str(run), "--tracks", "0"])
