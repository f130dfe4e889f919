"""Multi-view crops of one track (PAPER.md "Audio and views") as a torch Dataset and DataLoader.

Each item is `n_views` segments of the same track whose start times lie at least `min_gap_s`
apart. All randomness of item `i` comes from a numpy Generator seeded with
(seed, epoch, i, attempt), so batches are the same for any number of DataLoader workers.
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, get_worker_info

from engine.data.audio import SAMPLE_RATE, AudioError, check, is_silent, load, output_frames
from engine.data.audio_cache import AudioCache
from engine.data.corpora.base import Track
from engine.data.workers import ignore_stop_signals

Fit = Literal["full", "gap_shrunk", "overlap", "padded"]
MAX_WORKERS = 64  # DataLoader workers whose counters `MultiViewDataset.stats` can hold
_TILT_LOW_HZ = 50.0  # the EQ tilt is flat below this frequency


@dataclass(frozen=True)
class ViewConfig:
    """How views are cut from a track and, optionally, augmented (each view on its own)."""

    n_views: int = 2  # segments per track
    segment_s: float = 4.0  # length of each segment
    min_gap_s: float = 4.0  # least distance between any two start times (4 s: no overlap)
    sample_rate: int = 16000  # output rate in Hz
    augment: bool = False  # apply gain, EQ tilt and noise to each view independently
    gain_db: float = 6.0  # gain drawn uniformly in [-gain_db, +gain_db]
    tilt_db: float = 6.0  # level difference Nyquist vs 50 Hz, drawn in [-tilt_db, +tilt_db]
    noise_snr_db: tuple[float, float] = (20.0, 40.0)  # white-noise SNR range, dB
    max_tries: int = 10  # draws per item before a silent crop is accepted
    silence_db: float = -60.0  # a crop with RMS below this (dBFS) counts as silent

    def __post_init__(self) -> None:
        lo, hi = self.noise_snr_db
        checks = {
            "n_views": self.n_views >= 1,
            "segment_s": self.segment_s > 0,
            "min_gap_s": self.min_gap_s >= 0,
            "sample_rate": self.sample_rate > 2 * _TILT_LOW_HZ,
            "gain_db": self.gain_db >= 0,
            "tilt_db": self.tilt_db >= 0,
            "noise_snr_db": lo <= hi,
            "max_tries": self.max_tries >= 1,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"ViewConfig.{name}: invalid value {getattr(self, name)!r}")

    @property
    def segment_samples(self) -> int:
        return round(self.segment_s * self.sample_rate)

    @property
    def gap_samples(self) -> int:
        return round(self.min_gap_s * self.sample_rate)


def sample_starts(
    n_samples: int, config: ViewConfig, rng: np.random.Generator
) -> tuple[np.ndarray, Fit]:
    """Draw `n_views` start samples (V,) int64 for a track of `n_samples`, and how they fit.

    "full": every pair of starts is >= gap apart and the configuration is uniform over all such
    configurations: V points uniform in [0, slack] are sorted, the i-th is shifted by i * gap
    (a volume-preserving map onto the valid set), then assigned to views in random order.
    Shorter tracks: "gap_shrunk" spaces the starts evenly as far apart as the track allows
    (crops still disjoint); "overlap" does the same when even V segments do not fit (crops
    overlap); "padded" starts all views at 0 of a track shorter than one segment.
    """
    v, seg, gap = config.n_views, config.segment_samples, config.gap_samples
    if n_samples < seg:
        return np.zeros(v, dtype=np.int64), "padded"
    slack = n_samples - seg - (v - 1) * gap
    if slack >= 0:
        u = np.floor(np.sort(rng.uniform(0.0, slack, size=v))).astype(np.int64)
        fit: Fit = "full"
        starts = u + np.arange(v, dtype=np.int64) * gap
    else:
        spacing = (n_samples - seg) // (v - 1)
        fit = "gap_shrunk" if spacing >= seg else "overlap"
        starts = np.arange(v, dtype=np.int64) * spacing
    return rng.permutation(starts), fit


def augment_view(x: np.ndarray, config: ViewConfig, rng: np.random.Generator) -> np.ndarray:
    """Random EQ tilt (linear in log-frequency, via rfft), gain and white noise at a random SNR.

    The tilt is level-neutral at the geometric middle of 50 Hz..Nyquist. Always draws the same
    number of random values, so later draws from `rng` do not depend on the signal.
    """
    tilt = rng.uniform(-config.tilt_db, config.tilt_db)
    gain = rng.uniform(-config.gain_db, config.gain_db)
    snr = rng.uniform(*config.noise_snr_db)
    noise = rng.standard_normal(len(x))

    nyquist = config.sample_rate / 2
    freqs = np.fft.rfftfreq(len(x), d=1.0 / config.sample_rate)
    octaves = np.log2(np.clip(freqs, _TILT_LOW_HZ, nyquist) / _TILT_LOW_HZ)
    curve_db = tilt * (octaves / math.log2(nyquist / _TILT_LOW_HZ) - 0.5)  # -tilt/2 .. +tilt/2
    y = np.fft.irfft(np.fft.rfft(x) * 10.0 ** (curve_db / 20.0), n=len(x))
    y *= 10.0 ** (gain / 20.0)
    power = float(np.mean(np.square(y)))
    y = y + noise * math.sqrt(power / 10.0 ** (snr / 10.0))
    return y.astype(np.float32)


@dataclass(frozen=True)
class ViewStats:
    """Counters of what the sampler had to work around."""

    items: int = 0  # items returned
    unreadable: int = 0  # times an unreadable track was met and replaced by a substitute
    gap_shrunk: int = 0  # items whose track was too short for the gap (crops still disjoint)
    overlap: int = 0  # items whose crops overlap: the track is shorter than the views end to end
    padded: int = 0  # items whose track is shorter than one segment (views zero-padded)
    silent_rejected: int = 0  # draws rejected because one of their crops was silent
    silent_kept: int = 0  # items still holding a silent crop after max_tries draws


_STAT_NAMES = tuple(f.name for f in fields(ViewStats))


class MultiViewDataset(Dataset[torch.Tensor]):
    """Item i: (n_views, segment samples) float32 crops of track i, drawn afresh each epoch.

    Silent crops (RMS below `silence_db`) are redrawn up to `max_tries` times, then kept.
    An unreadable track (AudioError) is replaced by the next readable one in an order seeded by
    (seed, epoch, index), so the substitute is the same in every worker; the path and reason
    are kept in `skipped` (this process only). `Track.duration` is trusted when set; otherwise
    `audio.check` measures the track (and catches truncation) once per process.
    `stats` sums counters of this process and of every DataLoader worker that ran (one row
    each in a small shared-memory tensor, so no worker's counts are lost). With an `AudioCache`
    (16 kHz output only), the crops of cached, unchanged tracks are read from it, not decoded.
    """

    def __init__(self, tracks: Sequence[Track], config: ViewConfig, seed: int = 0,
                 cache: AudioCache | None = None) -> None:
        if not tracks:
            raise ValueError("MultiViewDataset needs at least one track")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.tracks = list(tracks)
        self.config = config
        self.seed = seed
        self.epoch = 0
        self.cache = cache if config.sample_rate == SAMPLE_RATE else None
        self.skipped: dict[Path, str] = {}
        self._lengths: dict[Path, int | str] = {}  # samples, or why `check` failed
        # (1 + MAX_WORKERS, stats): row 0 this process, row w + 1 DataLoader worker w
        self._counts = torch.zeros(1 + MAX_WORKERS, len(_STAT_NAMES), dtype=torch.int64)
        self._counts.share_memory_()

    def __len__(self) -> int:
        return len(self.tracks)

    def set_epoch(self, epoch: int) -> None:
        """Select the crops of `epoch`; call before iterating a DataLoader over this dataset."""
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self.epoch = epoch

    @property
    def stats(self) -> ViewStats:
        """Counters summed over this process and every DataLoader worker that has run."""
        return ViewStats(*(int(c) for c in self._counts.sum(dim=0)))

    def __getitem__(self, index: int) -> torch.Tensor:
        if not 0 <= index < len(self.tracks):
            raise IndexError(f"index {index} out of range for {len(self.tracks)} tracks")
        for attempt, j in enumerate(self._candidates(index)):
            track = self.tracks[j]
            rng = np.random.default_rng((self.seed, self.epoch, index, attempt))
            try:
                views = self._views(track, rng)  # (V, T)
            except AudioError as e:
                self.skipped[track.path] = e.reason
                self._count("unreadable")
                continue
            self._count("items")
            return torch.from_numpy(views)
        raise RuntimeError(
            f"item {index}: none of the {len(self.tracks)} tracks is readable, "
            f"e.g. {track.path}: {self.skipped[track.path]}"
        )

    def _candidates(self, index: int) -> Iterator[int]:
        """Track `index`, then every other track in an order seeded by (seed, epoch, index)."""
        yield index
        order = np.random.default_rng((self.seed, self.epoch, index)).permutation(len(self.tracks))
        yield from (int(j) for j in order if j != index)

    def _views(self, track: Track, rng: np.random.Generator) -> np.ndarray:
        cfg = self.config
        n_samples = self._length(track)
        for _ in range(cfg.max_tries):
            starts, fit = sample_starts(n_samples, cfg, rng)
            crops = [self._crop(track, int(s)) for s in starts]
            if not any(is_silent(c, cfg.silence_db) for c in crops):
                break
            self._count("silent_rejected")
        else:
            self._count("silent_kept")
        if fit != "full":
            self._count(fit)
        if cfg.augment:
            crops = [augment_view(c, cfg, rng) for c in crops]
        return np.stack(crops)

    def _crop(self, track: Track, start: int) -> np.ndarray:
        """`segment_samples` from `start`: from the cache when it holds the track, else decoded."""
        cfg = self.config
        if self.cache is not None:
            x = self.cache.crop(track.path, start, cfg.segment_samples)
            if x is not None:
                return x
        return load(track.path, start / cfg.sample_rate, cfg.segment_s, cfg.sample_rate)

    def _length(self, track: Track) -> int:
        """Track length in output samples: `Track.duration` if set, else `check` once per process.

        `check` is a pure function of the file, so caching its error keeps items independent of
        what this process has read before.
        """
        if track.duration is not None:
            return math.floor(track.duration * self.config.sample_rate)
        cached = self.cache.length(track.path) if self.cache is not None else None
        if cached is not None:
            return cached
        if track.path not in self._lengths:
            try:
                info = check(track.path)
                self._lengths[track.path] = output_frames(info, self.config.sample_rate)
            except AudioError as e:
                self._lengths[track.path] = e.reason
        length = self._lengths[track.path]
        if isinstance(length, str):
            raise AudioError(track.path, length)
        return length

    def _count(self, name: str) -> None:
        worker = get_worker_info()
        row = 0 if worker is None else worker.id + 1
        if row > MAX_WORKERS:
            raise RuntimeError(f"DataLoader worker {worker.id} exceeds MAX_WORKERS={MAX_WORKERS}")
        self._counts[row, _STAT_NAMES.index(name)] += 1


class EpochShuffle(Sampler[int]):
    """A permutation of the dataset seeded by (seed, dataset.epoch): resumable at any epoch."""

    def __init__(self, dataset: MultiViewDataset, seed: int) -> None:
        self.dataset = dataset
        self.seed = seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __iter__(self):
        rng = np.random.default_rng((self.seed, self.dataset.epoch))
        return iter(rng.permutation(len(self.dataset)).tolist())


def make_loader(
    dataset: MultiViewDataset,
    batch_size: int,
    num_workers: int,
    seed: int,
    drop_last: bool = True,
    pin_memory: bool = False,
) -> DataLoader:
    """Shuffled batches (B, V, T); call `dataset.set_epoch(e)` before iterating epoch e.

    Workers are not persistent: each epoch's workers start from the dataset as it is then,
    so `set_epoch` reaches them.
    """
    if not 0 <= num_workers <= MAX_WORKERS:
        raise ValueError(f"num_workers must be in 0..{MAX_WORKERS}, got {num_workers}")
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=EpochShuffle(dataset, seed),
        num_workers=num_workers,
        drop_last=drop_last,
        pin_memory=pin_memory,
        persistent_workers=False,
        worker_init_fn=ignore_stop_signals,
    )
