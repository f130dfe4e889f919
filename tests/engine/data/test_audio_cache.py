"""The decoded audio cache: crops equal decoded crops, builds resume after interruption, changed and bad files."""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from engine.data import audio_cache
from engine.data.audio import load
from engine.cli import main
from engine.data.corpora.sources import load_source
from engine.data.views import MultiViewDataset, ViewConfig

ROOT = Path(__file__).resolve().parents[3]
INT16_STEP = 1.0 / 32768  # the cache's rounding is half of this


def _tone(seconds: float, sr: int, freq: float, seed: int) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    noise = np.random.default_rng(seed).standard_normal(len(t))
    return (0.4 * np.sin(2 * np.pi * freq * t) + 0.05 * noise).astype(np.float32)


def _corpus(root: Path, seconds: float = 6.0) -> Path:
    """FLAC at 16 kHz, FLAC at 22.05 kHz (stereo, resampled on read) and, where libsndfile writes it, MP3."""
    root.mkdir(parents=True, exist_ok=True)
    for i in range(3):
        sf.write(root / f"a{i}.flac", _tone(seconds, 16_000, 220 + 50 * i, i), 16_000)
        stereo = np.stack([_tone(seconds, 22_050, 330 + 40 * i, 10 + i)] * 2, axis=1)
        sf.write(root / f"b{i}.flac", stereo, 22_050)
    if "MP3" in sf.available_formats():
        sf.write(root / "c0.mp3", _tone(seconds, 16_000, 440, 20), 16_000, format="MP3")
    return root


def _build(root: Path, out: Path, workers: int | None = None) -> audio_cache.BuildResult:
    return audio_cache.build(load_source(f"folder:{root}").tracks, out, progress=False, workers=workers)


def test_cached_crops_equal_decoded_crops(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audio_cache, "_BLOCK_S", 1.3)  # tracks are decoded in blocks: crops span their seams
    root = _corpus(tmp_path / "c")
    result = _build(root, tmp_path / "cache", workers=1)
    cache = audio_cache.AudioCache(tmp_path / "cache")
    files = sorted(root.iterdir())
    assert result.cached == len(files) == len(cache) and not result.failed
    n = 16_000
    for path in files:
        length = cache.length(path)
        info = sf.info(str(path))
        assert length == math.ceil(info.frames * 16_000 / info.samplerate)
        for start in (0, 12_345, length - n, length - n // 3):  # the last one runs past the end: zero-padded
            got = cache.crop(path, start, n)
            want = load(path, start / 16_000, 1.0)
            assert got.dtype == np.float32 and got.shape == (n,)
            np.testing.assert_allclose(got, want, rtol=0, atol=INT16_STEP)
        assert not np.any(cache.crop(path, length - n // 3, n)[n // 3 + 1:])


def test_dataset_items_are_the_same_with_the_cache_in_workers(tmp_path: Path) -> None:
    root = _corpus(tmp_path / "c")
    tracks = load_source(f"folder:{root}").tracks
    _build(root, tmp_path / "cache")
    config = ViewConfig(n_views=2, segment_s=1.0, min_gap_s=1.0, augment=True)
    plain = MultiViewDataset(tracks, config, seed=3)
    cached = MultiViewDataset(tracks, config, seed=3, cache=audio_cache.AudioCache(tmp_path / "cache"))
    loader = torch.utils.data.DataLoader(cached, batch_size=len(tracks), num_workers=1)
    from_workers = next(iter(loader))
    for i in range(len(tracks)):
        np.testing.assert_allclose(from_workers[i].numpy(), plain[i].numpy(), rtol=0, atol=4 * INT16_STEP)
    assert cached.stats.items == len(tracks) and not cached.skipped


def test_an_interrupted_write_is_dropped_and_the_build_continues(tmp_path: Path) -> None:
    root = _corpus(tmp_path / "c")
    tracks = load_source(f"folder:{root}").tracks
    out = tmp_path / "cache"
    audio_cache.build(tracks[:2], out, progress=False)
    with open(out / "shard-0000.pcm", "ab") as f:  # what a kill in the middle of the third track leaves
        f.write(os.urandom(5_000))
    with open(out / audio_cache.INDEX, "a") as f:
        f.write('{"path": "' + str(tracks[2].path))
    result = audio_cache.build(tracks, out, progress=False)
    assert (result.reused, result.cached) == (2, len(tracks) - 2)
    cache = audio_cache.AudioCache(out)
    assert len(cache) == len(tracks)
    assert (out / "shard-0000.pcm").stat().st_size == 2 * sum(e.length for e in cache.entries.values())
    for t in tracks:
        np.testing.assert_allclose(cache.crop(t.path, 0, 8000), load(t.path, 0, 0.5), rtol=0, atol=INT16_STEP)


def test_a_deleted_shard_falls_back_to_decoding(tmp_path: Path) -> None:
    root = _corpus(tmp_path / "c")
    _build(root, tmp_path / "cache")
    tracks = load_source(f"folder:{root}").tracks
    cache = audio_cache.AudioCache(tmp_path / "cache")
    (tmp_path / "cache" / "shard-0000.pcm").unlink()
    assert cache.crop(tracks[0].path, 0, 100) is None
    dataset = MultiViewDataset(tracks, ViewConfig(segment_s=1.0, min_gap_s=1.0), cache=cache)
    assert dataset[0].shape == (2, 16_000) and not dataset.skipped


def test_a_changed_file_is_decoded_again(tmp_path: Path) -> None:
    root = _corpus(tmp_path / "c")
    out = tmp_path / "cache"
    _build(root, out)
    changed = root / "a1.flac"
    sf.write(changed, _tone(4.0, 16_000, 1000, 99), 16_000)
    os.utime(changed, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert audio_cache.AudioCache(out).crop(changed, 0, 100) is None  # stale: the loader decodes instead
    result = _build(root, out)
    assert result.cached == 1
    cache = audio_cache.AudioCache(out)
    assert cache.length(changed) == 64_000
    np.testing.assert_allclose(cache.crop(changed, 1000, 4000), load(changed, 1000 / 16_000, 0.25),
                               rtol=0, atol=INT16_STEP)


def test_cli_skips_a_corrupt_file_with_one_line_and_training_finds_the_cache(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("MVSSL_CACHE_DIR", str(tmp_path / "user-cache"))
    root = _corpus(tmp_path / "c")
    bad = root / "broken.flac"
    bad.write_bytes(b"fLaC" + os.urandom(3000))
    source = f"folder:{root}"
    assert audio_cache.find(source) is None
    assert main(["corpus", "cache", source, "--quiet"]) == 0
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if "broken.flac" in line]
    assert len(lines) == 1 and lines[0].startswith(f"mvssl: skipped {bad}: ")
    good = len(list(root.iterdir())) - 1
    assert f"{good} tracks decoded, 0 already cached, 1 unreadable" in out
    cache = audio_cache.find(source)
    assert cache is not None and len(cache) == good
    assert str(bad) not in cache.entries
    assert main(["corpus", "cache", source, "--quiet"]) == 0
    assert f"0 tracks decoded, {good} already cached, 1 unreadable" in capsys.readouterr().out


def test_a_real_interruption_resumes_where_it_stopped(tmp_path: Path) -> None:
    root = tmp_path / "c"
    root.mkdir()
    for i in range(12):
        sf.write(root / f"t{i:02d}.flac", _tone(20.0, 22_050, 200 + 30 * i, i), 22_050)
    out = tmp_path / "cache"
    cmd = [sys.executable, "-m", "engine.cli", "corpus", "cache", f"folder:{root}", "--out", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if (out / audio_cache.INDEX).is_file() and (out / audio_cache.INDEX).read_text().count("\n") >= 1:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    done = len(audio_cache.read_index(out))
    assert done >= 1
    result = audio_cache.build(load_source(f"folder:{root}").tracks, out, progress=False)
    assert (result.reused, result.cached) == (done, 12 - done)
    cache = audio_cache.AudioCache(out)
    lines = (out / audio_cache.INDEX).read_text().splitlines()
    assert len(lines) == 12 and all(json.loads(line)["length"] == 320_000 for line in lines)
    for path in sorted(root.iterdir()):
        np.testing.assert_allclose(cache.crop(path, 300_000, 20_000), load(path, 300_000 / 16_000, 1.25),
                                   rtol=0, atol=INT16_STEP)


def test_a_second_builder_is_refused(tmp_path: Path) -> None:
    import fcntl

    out = tmp_path / "cache"
    out.mkdir()
    with open(out / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with pytest.raises(OSError, match="another process is building this cache"):
            audio_cache.build([], out, progress=False)


def test_real_recordings_resampled_from_44_1_khz(real_audio_dir: Path, tmp_path: Path) -> None:
    tracks = [t for t in load_source(f"folder:{real_audio_dir}").tracks if t.path.suffix == ".ogg"][:2]
    result = audio_cache.build(tracks, tmp_path / "cache", progress=False)
    assert result.cached == 2
    cache = audio_cache.AudioCache(tmp_path / "cache")
    for t in tracks:
        assert sf.info(str(t.path)).samplerate != 16_000
        length = cache.length(t.path)
        for start in (0, length // 2 + 7, length - 32_000):
            np.testing.assert_allclose(cache.crop(t.path, start, 32_000), load(t.path, start / 16_000, 2.0),
                                       rtol=0, atol=INT16_STEP)


@pytest.mark.slow
def test_training_reads_its_corpus_from_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from engine import config
    from engine.rundir.files import read_status
    from engine.config import prepare_run as prepare_run_dir
    from engine.training.loop import train

    monkeypatch.setenv("MVSSL_CACHE_DIR", str(tmp_path / "user-cache"))
    root = tmp_path / "c"
    root.mkdir()
    for i in range(8):
        sf.write(root / f"t{i}.flac", _tone(12.0, 16_000, 200 + 60 * i, i), 16_000)
    (root / "tags.csv").write_text("path,tags,split\n" + "".join(f"t{i}.flac,g{i % 2},train\n" for i in range(8)))
    source = f"folder:{root}"
    assert main(["corpus", "cache", source, "--quiet"]) == 0
    damaged = root / "t3.flac"  # unreadable from now on, with the size and mtime the cache knows
    st = damaged.stat()
    with open(damaged, "r+b") as f:
        f.write(b"\0" * 64)
    os.utime(damaged, ns=(st.st_atime_ns, st.st_mtime_ns))
    cfg = config.build("demo", overrides=dict(corpus=source, method="contrastive", steps=2, batch_size=4,
                                              log_every=1, checkpoint_every=2, num_workers=0, precision="fp32",
                                              device="cpu", n_prototypes=64))
    for name in ("cached", "decoded"):
        prepare_run_dir(cfg, tmp_path / name)
        assert train(tmp_path / name, progress=False) == "done"
        shutil.rmtree(audio_cache.cache_dir(source), ignore_errors=True)
    assert read_status(tmp_path / "cached")["skipped_audio"] == 0
    assert read_status(tmp_path / "decoded")["skipped_audio"] >= 1
