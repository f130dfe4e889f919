"""engine.evaluation.embed: segments of every track through a frozen checkpoint into embeddings.h5."""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from engine import config as config_mod
from engine.rundir import embeddings_store, layout
from engine.data.audio import load
from engine.model.checkpoints import save_checkpoint
from engine.cli import embed as embed_cmd
from engine.evaluation.embed import embed, embed_logmel
from engine.evaluation.segments import SegmentPlan, cut_segments
from engine.model.frontend import LogMel
from engine.rundir.files import read_status
from engine.model.ssl_model import SSLModel
from engine.config import prepare_run as prepare_run_dir

SR = 16000
BATCH = 8  # one batch shape for every embed of this file (each new shape costs a kernel warm-up)
TONE_THEN_SILENCE = "d"  # 12 s of tone, then 12 s of digital silence


def tone(seconds: float, hz: float) -> np.ndarray:
    t = np.arange(round(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * hz * t) + 0.02 * np.random.default_rng(int(hz)).standard_normal(len(t)))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Five files: 9 s, 8 s + 4 s silence + 4.5 s, a 2 s short one, 12 s + 12 s silence, and a corrupt one."""
    folder = tmp_path_factory.mktemp("corpus")
    audio = {
        "a": tone(9, 220),
        "b": np.concatenate([tone(8, 330), np.zeros(4 * SR), tone(4.5, 440)]),
        "c": tone(2, 550),
        TONE_THEN_SILENCE: np.concatenate([tone(12, 660), np.zeros(12 * SR)]),
    }
    for name, x in audio.items():
        sf.write(folder / f"{name}.flac", x, SR, subtype="PCM_24")
    (folder / "bad.flac").write_bytes(b"this is not audio" * 100)
    rows = ["path,tags,split", "a.flac,rock;sad,train", "b.flac,jazz,train", "bad.flac,rock,train",
            "c.flac,rock,valid", f"{TONE_THEN_SILENCE}.flac,jazz;sad,test"]
    (folder / "tags.csv").write_text("\n".join(rows) + "\n")
    return f"folder:{folder}"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, corpus: str) -> Path:
    """A contrastive run whose only checkpoint (step 5) holds seeded initial weights of every module."""
    run = tmp_path_factory.mktemp("runs") / "contrastive-1"
    cfg = config_mod.build("demo", {}, {"method": "contrastive", "corpus": corpus, "seed": 3})
    prepare_run_dir(cfg, run)
    torch.manual_seed(0)
    save_checkpoint(run, 5, SSLModel(cfg), None, None, epoch=0)
    return run


def backbone_of(run: Path) -> torch.nn.Module:
    cfg = config_mod.load(run / "config.toml")
    model = SSLModel(cfg)
    model.load_state_dict(torch.load(run / "checkpoints" / "step-000005.pt", weights_only=True)["model"])
    return model.backbone.eval()


def test_cut_segments_all_drops_silence_k_is_seeded_and_short_tracks_are_padded() -> None:
    rng = np.random.default_rng(0)
    wave = np.concatenate([tone(8, 100), np.zeros(4 * SR), tone(5, 200)]).astype(np.float32)
    starts, crops = cut_segments(wave, SegmentPlan(per_track="all"), rng)
    np.testing.assert_array_equal(starts, [0, 4, 12])  # 8-12 s is silent; the last 1 s is no full segment
    np.testing.assert_array_equal(crops[2], wave[12 * SR : 16 * SR])
    starts, crops = cut_segments(np.zeros(10 * SR, np.float32), SegmentPlan(per_track="all"), rng)
    assert len(starts) == 2  # all silent: kept rather than losing the track
    k = SegmentPlan(per_track=6, seed=1)
    half_silent = np.concatenate([tone(12, 100), np.zeros(12 * SR)]).astype(np.float32)
    a = cut_segments(half_silent, k, np.random.default_rng((1, 7)))
    b = cut_segments(half_silent, k, np.random.default_rng((1, 7)))
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1].shape == (6, 4 * SR) and np.all(a[0] < 12)  # 40 % of the start range gives silent crops
    starts, crops = cut_segments(tone(1.5, 300).astype(np.float32), k, rng)
    assert starts.tolist() == [0.0] and crops.shape == (1, 4 * SR) and not crops[0, 2 * SR :].any()
    with pytest.raises(ValueError, match="segments per track"):
        SegmentPlan(per_track=0)


def test_embed_all_segments_skips_the_corrupt_file_and_matches_the_backbone(run_dir: Path, corpus: str) -> None:
    path = embed(run_dir, checkpoint="5", segments_per_track="all", batch=BATCH, progress=False, bf16=False)
    assert path == run_dir / layout.EMBEDDINGS and not (run_dir / layout.EMBEDDINGS_PARTIAL).exists()
    with embeddings_store.open_embeddings(run_dir) as e:
        assert e.tracks.ids == ["a", "b", "c", TONE_THEN_SILENCE]
        assert e.tracks.splits == ["train", "train", "valid", "test"]
        assert e.tracks.tag_names == ["jazz", "rock", "sad"]
        np.testing.assert_array_equal(e.tracks.tags, [[0, 1, 1], [1, 0, 0], [0, 1, 0], [1, 0, 1]])
        assert e.attrs["n_skipped"] == 1 and e.attrs["skipped"][0]["path"].endswith("bad.flac")
        assert e.attrs["method"] == "contrastive" and e.attrs["checkpoint_step"] == 5 and e.attrs["corpus"] == corpus
        assert e.attrs["run_id"] == "contrastive-1" and e.attrs["sample_rate"] == SR and e.attrs["segment_seconds"] == 4.0
        np.testing.assert_array_equal(e.n_segments, [2, 3, 1, 3])
        np.testing.assert_array_equal(e.segment_track(), [0, 0, 1, 1, 1, 2, 3, 3, 3])
        np.testing.assert_array_equal(e.segment_start_s(), [0, 4, 0, 4, 12, 0, 0, 4, 8])
        seg = e.segment_embeddings()
        assert seg.shape == (9, 1024)
        np.testing.assert_allclose(e.track_embeddings()[1], seg[2:5].mean(0), rtol=2e-3, atol=2e-3)
        assert e.track_prototypes() is None  # no clustering head, no prototypes
        b_path = e.tracks.paths[1]
    with torch.no_grad():
        x = torch.zeros(BATCH, 4 * SR)  # the batch size embed used: no new kernel warm-up
        x[0] = torch.from_numpy(load(b_path, 12.0, 4.0))
        direct = backbone_of(run_dir)(x)[0].numpy()
    np.testing.assert_allclose(seg[4], direct, rtol=2e-3, atol=2e-3 * np.abs(direct).max())


def test_embed_k_random_segments_are_non_silent_and_reproducible(run_dir: Path) -> None:
    def starts() -> np.ndarray:
        embed(run_dir, checkpoint="last", segments_per_track=3, batch=BATCH, progress=False, bf16=False)
        with embeddings_store.open_embeddings(run_dir) as e:
            np.testing.assert_array_equal(e.n_segments, [3, 3, 1, 3])
            assert e.attrs["segments_per_track"] == "3"
            return e.segment_start_s(), e.segment_track(), e.attrs["store_id"]
    (s1, t1, id1), (s2, t2, id2) = starts(), starts()
    np.testing.assert_array_equal(s1, s2)
    assert id1 != id2
    assert np.all(s1[t1 == 3] < 12)  # track d is silent from 12 s on
    assert np.all(s1[t1 == 0] <= 5) and len(set(s1[t1 == 0])) == 3


def test_train_segments_cut_the_training_tracks_only_as_the_paper_does(run_dir: Path) -> None:
    embed(run_dir, checkpoint="last", train_segments=5, batch=BATCH, progress=False, bf16=False)
    with embeddings_store.open_embeddings(run_dir) as e:
        # a, b: training tracks, 5 random segments each; c (valid) and the test track: every loud segment
        np.testing.assert_array_equal(e.n_segments, [5, 5, 1, 3])
        assert (e.attrs["segments_per_track"], e.attrs["train_segments_per_track"]) == ("all", "5")
        starts, track = e.segment_start_s(), e.segment_track()
    np.testing.assert_array_equal(starts[track == 3], [0, 4, 8])  # in order, over the whole test track
    assert len(set(starts[track == 0])) == 5


def test_logmel_baseline_is_a_pseudo_run_embedded_like_any_other(tmp_path: Path, corpus: str) -> None:
    run = tmp_path / "logmel"
    embed_logmel(run, corpus=corpus, progress=False)
    assert json.loads((run / "baseline.json").read_text())["method"] == "logmel"
    assert read_status(run)["method"] == "logmel" and read_status(run)["state"] == "done"
    with embeddings_store.open_embeddings(run) as e:
        assert e.attrs["method"] == "logmel" and e.dim == 256 and e.attrs["n_skipped"] == 1
        seg, rows, starts = e.segment_embeddings(), e.segment_track(), e.segment_start_s()
        a_path = e.tracks.paths[0]
    mel = LogMel()(torch.from_numpy(load(a_path, float(starts[1]), 4.0))[None])[0, 0]  # (128, frames)
    expected = torch.cat([mel.mean(-1), mel.std(-1)]).numpy()
    assert rows[1] == 0
    np.testing.assert_allclose(seg[1], expected, rtol=2e-3, atol=0.05)
    embed(run, progress=False)  # `embed` accepts the pseudo-run itself
    trained = tmp_path / "trained"
    trained.mkdir()
    (trained / "config.toml").write_text("method = 'vicreg'\n")
    with pytest.raises(ValueError, match="holds a trained run"):
        embed_logmel(trained, corpus=corpus)


def test_embed_refuses_a_directory_without_run_or_checkpoint(tmp_path: Path, corpus: str) -> None:
    with pytest.raises(ValueError, match="not a run directory"):
        embed(tmp_path, corpus=corpus, progress=False)
    cfg = config_mod.build("demo", {}, {"method": "random", "corpus": corpus})
    prepare_run_dir(cfg, tmp_path / "r")
    with pytest.raises(ValueError, match="no checkpoints yet"):
        embed(tmp_path / "r", progress=False)
    assert not (tmp_path / "r" / layout.EMBEDDINGS).exists()


def test_cli_embed_prints_a_summary_and_rejects_bad_segment_counts(run_dir: Path, capsys) -> None:
    parser = argparse.ArgumentParser(prog="mvssl")
    embed_cmd.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["embed", "--run-dir", str(run_dir), "--segments-per-track", "2", "--batch", str(BATCH),
                              "--precision", "fp32"])
    assert args.handler(args) == 0
    assert "4 tracks, 7 segments, 1 skipped" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        parser.parse_args(["embed", "--run-dir", str(run_dir), "--segments-per-track", "0"])


def calibrated_teacher_head(model: SSLModel, seg: np.ndarray) -> None:
    """Put the teacher head's BatchNorm statistics on these embeddings: after two steps they are still
    near their initial values, and every track would get the same prototype."""
    head = model.teacher["head"]
    for layer in head.modules():
        if isinstance(layer, torch.nn.BatchNorm1d):
            layer.reset_running_stats()
            layer.momentum = None  # a plain average over the one batch below
    with torch.no_grad():
        head.train()(torch.from_numpy(seg))
    head.eval()


def test_clustering_runs_store_each_tracks_prototype_as_the_head_assigns_it(tmp_path: Path, tiny_config) -> None:
    from engine.training.loop import train

    cfg = tiny_config(method="clustering", steps=2, checkpoint_every=2)
    run = tmp_path / "clustering"
    prepare_run_dir(cfg, run)
    assert train(run, progress=False) == "done"
    embed(run, segments_per_track=2, batch=BATCH, progress=False, bf16=False)
    with embeddings_store.open_embeddings(run) as e:
        seg = e.segment_embeddings()
    model = SSLModel(cfg)
    model.load_state_dict(torch.load(run / "checkpoints" / "step-000002.pt", weights_only=True)["model"])
    calibrated_teacher_head(model, seg)
    save_checkpoint(run, 3, model, None, None, epoch=0)

    embed(run, checkpoint="3", segments_per_track=2, batch=BATCH, progress=False, bf16=False)
    with embeddings_store.open_embeddings(run) as e:
        found = e.track_prototypes()
        seg, seg_track, n_tracks = e.segment_embeddings(), e.segment_track(), len(e.tracks)
    assert found is not None and found.prototype.shape == (n_tracks,) and found.prototype.dtype == np.int32
    assert (found.n_prototypes, found.head, found.temperature, found.centered) == (64, "teacher", 0.04, True)
    with torch.no_grad():
        logits = model.teacher["head"](torch.from_numpy(seg)) - model.loss_fn.center  # (S, 64)
        probs = torch.softmax(logits / cfg.teacher_temp_end, dim=-1).numpy()
    expected = [int(np.argmax(probs[seg_track == t].mean(axis=0))) for t in range(n_tracks)]
    assert found.prototype.tolist() == expected
    assert len(set(expected)) > 3  # the head tells tracks apart, so a wrong head, center or mean would show


def test_an_embed_job_reports_each_track_and_a_cancel_keeps_the_previous_store(tmp_path: Path, run_dir: Path) -> None:
    from engine.rundir.layout import RunDir
    from engine.service import jobs

    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    report = jobs.LocalReport()
    assert jobs.run_job("embed", run, {}, report).state == "done"
    assert report.fractions == pytest.approx([1 / 5, 2 / 5, 3 / 5, 4 / 5, 1.0])  # five files, the corrupt one too
    before = RunDir(run).embeddings.read_bytes()

    stopping = jobs.LocalReport(on_progress=lambda fraction: stopping.cancel() if fraction >= 0.4 else None)
    outcome = jobs.run_job("embed", run, {"segments_per_track": 2}, stopping)
    assert outcome.state == "cancelled" and stopping.fractions == pytest.approx([1 / 5, 2 / 5])
    assert RunDir(run).embeddings.read_bytes() == before
    assert not RunDir(run).embeddings_partial.exists()
