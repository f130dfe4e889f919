"""End to end on the real datasets' on-disk layouts: MagnaTagATune (`0/`...`f/` MP3 clips named as in the
real split lists, annotations_final.csv) and MTG-Jamendo (`NN/ID.mp3` at 44.1 kHz stereo, autotagging TSVs),
each with a few dozen synthetic songs (tests/e2e/layouts.py). A study through the engine pre-trains
contrastive and the random control, embeds and probes; with the log-mel baseline (`mvssl embed --logmel`,
`mvssl probe`) `mvssl compare` reports on the three; every stored track
carries the tags of its own clip and its embedding is that of its own (resampled) audio."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from engine import cli

from engine.rundir import embeddings_store
from engine.api import load_run
from engine.data.audio import load
from engine.data.corpora.sources import MISSING
from tests.e2e.layouts import Layout, make_jamendo, make_mtat
from tests.e2e.test_engine_e2e import _start_engine, _stop
from tests.engine.service.test_server import wait_push

COUNTS = {"train": 16, "valid": 6, "test": 8}
CONFIG = dict(steps=4, batch_size=4, num_workers=0, log_every=2, checkpoint_every=4, precision="fp32",
              device="cpu", segment_s=4.0, min_gap_s=2.0)
TIMEOUT = 900.0


def run_study(layout: Layout, task: str, tmp_path: Path) -> list[Path]:
    runs = tmp_path / "runs"
    engine, client = _start_engine(runs)
    try:
        study = client.request("submit_study", methods=["contrastive", "random"], corpus=layout.source,
                               config=CONFIG, stages=["pretrain", "embed", "probe"], tasks=[task],
                               fractions=[100], draws=1, name="layout")["study"]
        done = wait_push(client, lambda p: p["type"] == "study" and p["study"]["state"] != "running",
                         timeout=TIMEOUT)
        assert done["study"]["state"] == "done", done["study"]
    finally:
        _stop(engine, client)
    return [runs / b["run"] for b in study["branches"]]


def check_tracks(layout: Layout, run_dir: Path) -> None:
    """Every present clip is stored once, in its split, with its own tags, path and the embedding of its own
    decoded audio: exactly for the log-mel baseline (float32, and no other track is closer), within the bf16
    rounding that `mvssl embed` may use for a backbone."""
    with embeddings_store.open_embeddings(run_dir) as emb:
        tracks, vectors = emb.tracks, emb.track_embeddings()
        skipped = emb.attrs["skipped"]  # the listed clips that are not on disk, and nothing else
    assert {s["reason"] for s in skipped} <= {MISSING}
    assert not {layout.track_id(Path(s["path"])) for s in skipped} & set(layout.expected_tags)
    assert sorted(tracks.ids) == sorted(layout.expected_tags)
    for row, track_id in enumerate(tracks.ids):
        got = tuple(n for n, on in zip(tracks.tag_names, tracks.tags[row]) if on)
        assert got == layout.expected_tags[track_id], track_id
        assert tracks.splits[row] == layout.expected_split[track_id]
        assert layout.track_id(Path(tracks.paths[row])) == track_id
    run = load_run(run_dir)
    exact = run.method == "logmel"
    for row in range(len(tracks)) if exact else (0, len(tracks) - 1):
        wave = load(tracks.paths[row])  # decoded, mixed down and resampled to 16 kHz
        assert len(wave) == 10 * 16000
        got = run.embed_audio(wave)
        if exact:
            np.testing.assert_allclose(got, vectors[row], rtol=1e-5, atol=1e-4)
            assert np.argmin(np.linalg.norm(vectors - got, axis=1)) == row
        else:
            assert np.abs(got - vectors[row]).max() < 0.02 * np.abs(vectors[row]).max()


def baseline(layout: Layout, task: str, tmp_path: Path) -> Path:
    """The log-mel baseline of the same corpus, embedded and probed with `mvssl`."""
    run_dir = tmp_path / "runs" / "logmel"
    assert cli.main(["embed", "--run-dir", str(run_dir), "--logmel", "--corpus", layout.source]) == 0
    assert cli.main(["probe", "--run-dir", str(run_dir), "--task", task, "--fractions", "100", "--draws", "1",
                     "--probe", "linear", "--quiet"]) == 0
    return run_dir


def compare(run_dirs: list[Path], task: str, out: Path) -> dict:
    # the log-mel baseline is probed linearly (as in the demo study), the trained runs with ours
    assert cli.main(["compare", *map(str, run_dirs), "--task", task, "--out", str(out), "--mix-protocols"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert [r["method"] for r in results["runs"]] == ["contrastive", "random", "logmel"]
    assert results["n_test"] == COUNTS["test"]
    for metric in results["bootstrap"]["metrics"].values():
        for interval in metric["runs"].values():
            assert math.isfinite(interval["mean"])
    return results


@pytest.mark.slow
def test_magnatagatune_layout_end_to_end(shared_dir: Path, tmp_path: Path) -> None:
    split_dir = shared_dir / "data" / "mtat"
    layout = make_mtat(tmp_path / "mtat", split_dir, COUNTS)
    run_dirs = [*run_study(layout, "all", tmp_path), baseline(layout, "all", tmp_path)]
    for run_dir in run_dirs:
        check_tracks(layout, run_dir)
    results = compare(run_dirs, "all", tmp_path / "report")
    top50 = (split_dir / "top50_tags.txt").read_text().split()
    assert results["tag_names"] == top50
    # published test labels reach the probe's test set unchanged
    published = np.load(split_dir / "y_test_pub.npy")
    listed = (split_dir / "test_list.txt").read_text().split()
    with embeddings_store.open_embeddings(run_dirs[0]) as emb:
        for row in emb.tracks.split_index("test"):
            clip = emb.tracks.ids[row] + ".npy"
            np.testing.assert_array_equal(emb.tracks.tags[row], published[listed.index(clip)])


@pytest.mark.slow
def test_mtg_jamendo_layout_end_to_end_resampling_44k_stereo(shared_dir: Path, tmp_path: Path) -> None:
    layout = make_jamendo(tmp_path / "jamendo", shared_dir / "data" / "mtg-jamendo", COUNTS)
    info = __import__("soundfile").info(next(layout.audio_root.glob("*/*.mp3")))
    assert (info.samplerate, info.channels, info.format) == (44100, 2, "MP3")
    run_dirs = [*run_study(layout, "top50", tmp_path), baseline(layout, "top50", tmp_path)]
    for run_dir in run_dirs:
        check_tracks(layout, run_dir)
    results = compare(run_dirs, "top50", tmp_path / "report")
    top50 = (shared_dir / "data" / "mtg-jamendo" / "tags" / "top50.txt").read_text().split()
    assert results["tag_names"] == top50
