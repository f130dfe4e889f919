"""engine.data.views: start-time sampling, the multi-view Dataset and its DataLoader."""
from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.data.audio import is_silent, load, rms_db
from engine.data.corpora.base import Track
from engine.data.views import MultiViewDataset, ViewConfig, augment_view, make_loader, sample_starts

SR = 16000
SMALL = ViewConfig(n_views=2, segment_s=1.0, min_gap_s=1.5)  # needs 2.5 s for the full gap
RAMP_SLOPE = 2.0 / (1 << 20)  # per sample; FLAC PCM_24 resolves it to < 0.1 sample


def write(path: Path, x: np.ndarray, sample_rate: int = SR) -> Track:
    sf.write(path, x, sample_rate, subtype="PCM_24")
    return Track(id=path.stem, path=path, split="train", tags=())


def ramp(seconds: float) -> np.ndarray:
    """A signal whose value gives the sample index it was taken from (never silent)."""
    return 0.1 + RAMP_SLOPE * np.arange(round(seconds * SR))


def tone(seconds: float, hz: float, seed: int) -> np.ndarray:
    t = np.arange(round(seconds * SR)) / SR
    noise = 0.05 * np.random.default_rng(seed).standard_normal(len(t))
    return 0.3 * np.sin(2 * np.pi * hz * t) + noise


@pytest.fixture
def tree(tmp_path: Path) -> list[Track]:
    """Six 16 kHz FLAC tracks of 6-8 s in a small folder tree."""
    tracks = []
    for i in range(6):
        folder = tmp_path / f"artist{i % 2}"
        folder.mkdir(exist_ok=True)
        tracks.append(write(folder / f"t{i}.flac", tone(6 + i % 3, 220 * (i + 1), i)))
    return tracks


def pairwise_gaps(starts: np.ndarray) -> list[int]:
    return [abs(int(a) - int(b)) for a, b in itertools.combinations(starts, 2)]


# --- sample_starts ------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    n_views=st.integers(1, 5),
    segment=st.integers(1, 500),
    gap=st.integers(0, 800),
    slack=st.integers(0, 3000),
    seed=st.integers(0, 2**32),
)
def test_full_fit_respects_gap_and_bounds(
    n_views: int, segment: int, gap: int, slack: int, seed: int
) -> None:
    cfg = ViewConfig(n_views=n_views, segment_s=segment / SR, min_gap_s=gap / SR)
    n = segment + (n_views - 1) * gap + slack
    starts, fit = sample_starts(n, cfg, np.random.default_rng(seed))
    assert fit == "full" and starts.shape == (n_views,) and starts.dtype == np.int64
    assert starts.min() >= 0 and starts.max() + segment <= n
    assert all(g >= gap for g in pairwise_gaps(starts))


def test_full_fit_is_uniform_over_valid_pairs() -> None:
    # For two starts >= G apart in [0, G + L], (earlier start, later - G) is a sorted uniform
    # pair in [0, L]: the earlier start has mean L/3 and view 0 comes first half the time.
    cfg = ViewConfig(n_views=2, segment_s=1.0, min_gap_s=1.0)
    rng = np.random.default_rng(0)
    slack = 10 * SR
    draws = np.array([sample_starts(2 * SR + slack, cfg, rng)[0] for _ in range(20000)])
    first, second = draws.min(axis=1), draws.max(axis=1) - SR
    assert first.mean() / slack == pytest.approx(1 / 3, abs=0.01)
    assert second.mean() / slack == pytest.approx(2 / 3, abs=0.01)
    assert (draws[:, 0] < draws[:, 1]).mean() == pytest.approx(0.5, abs=0.015)


def test_short_tracks_shrink_then_overlap_then_pad() -> None:
    rng = np.random.default_rng(0)
    starts, fit = sample_starts(round(2.2 * SR), SMALL, rng)
    assert fit == "gap_shrunk" and sorted(starts) == [0, round(1.2 * SR)]
    starts, fit = sample_starts(round(1.5 * SR), SMALL, rng)
    assert fit == "overlap" and sorted(starts) == [0, round(0.5 * SR)]
    starts, fit = sample_starts(round(0.5 * SR), SMALL, rng)
    assert fit == "padded" and list(starts) == [0, 0]
    three = ViewConfig(n_views=3, segment_s=1.0, min_gap_s=1.0)
    assert sample_starts(round(2.5 * SR), three, rng)[1] == "overlap"
    assert sample_starts(3 * SR, three, rng)[1] == "full"


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="n_views"):
        ViewConfig(n_views=0)
    with pytest.raises(ValueError, match="noise_snr_db"):
        ViewConfig(noise_snr_db=(40.0, 20.0))
    assert ViewConfig().segment_samples == 64000


# --- the dataset --------------------------------------------------------------------------


def test_views_are_segments_of_the_track_at_least_gap_apart(tmp_path: Path) -> None:
    track = write(tmp_path / "ramp.flac", ramp(8.0))
    ds = MultiViewDataset([track], SMALL, seed=3)
    for epoch in range(20):
        ds.set_epoch(epoch)
        views = ds[0]
        assert views.shape == (2, SR) and views.dtype == torch.float32
        starts = np.round((views[:, 0].numpy() - 0.1) / RAMP_SLOPE).astype(int)
        for v, s in zip(views.numpy(), starts):
            np.testing.assert_allclose(v, ramp(8.0)[s : s + SR], atol=1e-6)
        assert all(g >= 1.5 * SR for g in pairwise_gaps(starts))
    assert ds.stats.items == 20 and ds.stats.gap_shrunk == ds.stats.overlap == 0


def test_default_config_on_a_real_clip(real_audio_dir: Path) -> None:
    path = next(real_audio_dir.glob("Hungarian_Dance_number_5_*.ogg"))  # 45.8 s, 44.1 kHz stereo
    track = Track(id="hungarian", path=path, split="train", tags=())  # duration probed lazily
    ds = MultiViewDataset([track], ViewConfig(), seed=0)
    views = ds[0]
    assert views.shape == (2, 64000)
    # Each view is the 16 kHz crop at its start: find it in the decoded track.
    full = load(path)
    starts, _ = sample_starts(len(full), ViewConfig(), np.random.default_rng((0, 0, 0, 0)))
    for v, s in zip(views.numpy(), starts):
        np.testing.assert_allclose(v, full[s : s + 64000], atol=1e-4)
    assert abs(int(starts[0]) - int(starts[1])) >= 64000


def test_reproducible_by_seed_and_epoch(tree: list[Track]) -> None:
    a, b, c = (MultiViewDataset(tree, SMALL, seed=s) for s in (7, 7, 8))
    items = [a[i] for i in range(len(tree))]
    assert all(torch.equal(x, b[i]) for i, x in enumerate(items))
    assert not any(torch.equal(x, c[i]) for i, x in enumerate(items))
    a.set_epoch(1)
    assert not any(torch.equal(x, a[i]) for i, x in enumerate(items))
    a.set_epoch(0)
    assert all(torch.equal(x, a[i]) for i, x in enumerate(items))


def test_loader_batches_identical_for_0_and_2_workers(tree: list[Track]) -> None:
    runs = []
    for workers in (0, 2):
        ds = MultiViewDataset(tree, SMALL, seed=1)
        loader = make_loader(ds, batch_size=2, num_workers=workers, seed=5)
        batches = []
        for epoch in (0, 1):
            ds.set_epoch(epoch)
            batches += list(loader)
        runs.append(batches)
        assert ds.stats.items == 2 * len(tree)  # counted in the workers, summed here
    assert len(runs[0]) == 6 and runs[0][0].shape == (2, 2, SR)
    assert all(torch.equal(x, y) for x, y in zip(*runs))
    assert not torch.equal(torch.cat(runs[0][:3]), torch.cat(runs[0][3:]))  # epochs differ


def test_silent_crops_are_rejected(tmp_path: Path) -> None:
    x = tone(4.0, 440, 0)
    x[: 3 * SR] = 0.0  # only the last second sounds
    track = write(tmp_path / "late.flac", x)
    cfg = ViewConfig(n_views=1, segment_s=0.5, min_gap_s=0.0, max_tries=50)
    ds = MultiViewDataset([track], cfg, seed=0)
    for epoch in range(20):
        ds.set_epoch(epoch)
        assert not is_silent(ds[0][0].numpy())
    assert ds.stats.silent_rejected > 10 and ds.stats.silent_kept == 0

    silent = write(tmp_path / "silent.flac", np.zeros(3 * SR))
    ds = MultiViewDataset([silent], SMALL, seed=0)
    assert not ds[0].any()
    assert ds.stats.silent_rejected == SMALL.max_tries and ds.stats.silent_kept == 1


def test_short_tracks_are_served_and_counted(tmp_path: Path) -> None:
    tracks = [write(tmp_path / f"{s}.flac", tone(s, 330, 0)) for s in (2.2, 1.5, 0.5)]
    ds = MultiViewDataset(tracks, SMALL, seed=0)
    items = [ds[i] for i in range(3)]
    assert all(v.shape == (2, SR) for v in items)
    assert ds.stats.gap_shrunk == ds.stats.overlap == ds.stats.padded == 1
    padded = items[2].numpy()
    assert np.array_equal(padded[0], padded[1])
    assert rms_db(padded[0, : SR // 2]) > -20 and not padded[0, SR // 2 :].any()


def test_unreadable_track_is_replaced_and_counted(tmp_path: Path, tree: list[Track]) -> None:
    good = tree[0]
    cut = tmp_path / "cut.flac"
    cut.write_bytes(good.path.read_bytes()[:3000])
    missing = Track("missing", tmp_path / "missing.flac", "train", (), duration=30.0)
    bad = Track(id="cut", path=cut, split="train", tags=())
    ds = MultiViewDataset([good, bad, missing], SMALL, seed=0)
    items = [ds[i] for i in range(3)]
    assert all(v.shape == (2, SR) and not is_silent(v.numpy()) for v in items)
    assert ds.stats.unreadable >= 2 and set(ds.skipped) == {cut, missing.path}
    assert "not found" in ds.skipped[missing.path]
    again = MultiViewDataset([good, bad, missing], SMALL, seed=0)
    assert torch.equal(again[2], items[2])  # the substitute is deterministic

    loader = make_loader(MultiViewDataset(tree + [bad], SMALL, seed=0), 7, num_workers=2, seed=0)
    assert next(iter(loader)).shape == (7, 2, SR)
    assert loader.dataset.stats.unreadable >= 1

    with pytest.raises(RuntimeError, match="none of the 2 tracks is readable"):
        MultiViewDataset([bad, missing], SMALL)[0]


def test_items_do_not_depend_on_what_was_read_before(tmp_path: Path, tree: list[Track]) -> None:
    data = tree[1].path.read_bytes()
    cut = tmp_path / "cut.flac"
    cut.write_bytes(data[: len(data) * 3 // 4])
    part = Track("cut", cut, "train", (), duration=7.0)  # only crops in the first 5 s decode
    tracks = tree + [part, part]
    forward, backward = (MultiViewDataset(tracks, SMALL, seed=2) for _ in range(2))
    for epoch in range(4):
        forward.set_epoch(epoch)
        backward.set_epoch(epoch)
        a = [forward[i] for i in range(len(tracks))]
        b = [backward[i] for i in reversed(range(len(tracks)))][::-1]
        assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert 0 < forward.stats.unreadable < 8  # the cut track failed for some items, not all
    assert forward.stats == backward.stats


# --- augmentation -------------------------------------------------------------------------


def test_augment_gain_tilt_and_noise_each_do_what_they_say() -> None:
    x = tone(2.0, 1000, 0).astype(np.float32)
    quiet_noise = (300.0, 300.0)
    only_gain = ViewConfig(tilt_db=0.0, noise_snr_db=quiet_noise)
    rngs = [np.random.default_rng(s) for s in range(50)]
    gains = [rms_db(augment_view(x, only_gain, rng)) - rms_db(x) for rng in rngs]
    assert max(map(abs, gains)) <= 6.0 and np.std(gains) > 2.0

    impulse = np.zeros(4096, dtype=np.float32)
    impulse[0] = 1.0
    only_tilt = ViewConfig(gain_db=0.0, noise_snr_db=quiet_noise)
    freqs = np.fft.rfftfreq(4096, 1 / SR)
    band = freqs >= 50.0
    spans = []
    for seed in range(20):
        y = augment_view(impulse, only_tilt, np.random.default_rng(seed))
        response_db = 20 * np.log10(np.abs(np.fft.rfft(y)))[band]  # the tilt curve itself
        position = np.log(freqs[band] / 50.0) / np.log(8000 / 50.0)  # 0 at 50 Hz, 1 at Nyquist
        slope, middle = np.polyfit(position, response_db, 1)
        np.testing.assert_allclose(response_db, slope * position + middle, atol=1e-3)  # log-linear
        assert middle == pytest.approx(-slope / 2, abs=1e-3)  # level-neutral at the middle
        spans.append(slope)
    assert max(map(abs, spans)) <= 6.0 and np.std(spans) > 2.0

    only_noise = ViewConfig(gain_db=0.0, tilt_db=0.0, noise_snr_db=(30.0, 30.0))
    y = augment_view(x, only_noise, np.random.default_rng(2))
    assert rms_db(x) - rms_db(y - x) == pytest.approx(30.0, abs=0.3)


def test_augmentation_is_per_view(tmp_path: Path) -> None:
    t = np.arange(6 * SR) / SR
    track = write(tmp_path / "steady.flac", 0.3 * np.sin(2 * np.pi * 500 * t))
    cfg = ViewConfig(n_views=3, segment_s=1.0, min_gap_s=1.0)
    plain = MultiViewDataset([track], cfg, seed=4)
    augmented = MultiViewDataset([track], replace(cfg, augment=True), seed=4)
    for epoch in range(3):
        plain.set_epoch(epoch)
        augmented.set_epoch(epoch)
        p, a = plain[0].numpy(), augmented[0].numpy()
        assert np.ptp([rms_db(v) for v in p]) < 0.05  # a steady tone: views equally loud
        level_change = [rms_db(av) - rms_db(pv) for av, pv in zip(a, p)]
        assert np.ptp(level_change) > 0.5  # each view got its own gain
        assert torch.equal(augmented[0], torch.from_numpy(a))  # still reproducible
