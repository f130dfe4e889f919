"""Decode, crop, down-mix and resample audio files with soundfile; test crops for silence.

Every failure to read a file becomes one `AudioError` naming the file, so callers can skip
bad files without catching libsndfile's own exceptions.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

SAMPLE_RATE = 16_000

# Sinc resampler settings, fixed here so the context margin in `load` matches the kernel.
_LOWPASS_WIDTH = 6
_ROLLOFF = 0.99
_CHECK_BLOCK = 4096  # frames decoded at each end of a file by `check`


class AudioError(Exception):
    """A file that cannot be used as audio; `str(e)` is "path: reason", one line."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = " ".join(reason.split())
        super().__init__(f"{self.path}: {self.reason}")


@dataclass(frozen=True)
class AudioInfo:
    """What the file header says: rate, channels, frame count and container format."""

    path: Path
    sample_rate: int
    channels: int
    frames: int
    format: str

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.frames / self.sample_rate


def _libsndfile_reason(e: Exception) -> str:
    message = getattr(e, "error_string", "") or str(e) or type(e).__name__
    return f"unreadable or unsupported audio ({message.strip()})"


def _check_path(path: Path) -> None:
    if not path.exists():
        raise AudioError(path, "file not found")
    if not path.is_file():
        raise AudioError(path, "not a regular file")
    if path.stat().st_size == 0:
        raise AudioError(path, "empty file (0 bytes)")


def _info_of(f: sf.SoundFile, path: Path) -> AudioInfo:
    info = AudioInfo(path, int(f.samplerate), int(f.channels), int(f.frames), str(f.format))
    if info.frames <= 0:
        raise AudioError(path, "empty: 0 frames")
    return info


def _open(path: Path) -> sf.SoundFile:
    _check_path(path)
    try:
        return sf.SoundFile(path)
    except (sf.SoundFileError, RuntimeError, ValueError, TypeError) as e:
        raise AudioError(path, _libsndfile_reason(e)) from e


def _read(f: sf.SoundFile, path: Path, start: int, frames: int) -> np.ndarray:
    """Seek to `start` and decode exactly `frames` frames as (frames, channels) float32."""
    try:
        f.seek(start)
        x = f.read(frames, dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError, ValueError) as e:
        reason = getattr(e, "error_string", "") or str(e)
        raise AudioError(
            path, f"truncated or corrupt: decoding frames {start}..{start + frames} "
            f"of {f.frames} failed ({reason.strip()})"
        ) from e
    if len(x) != frames:
        raise AudioError(
            path, f"truncated: expected {frames} frames from frame {start}, got {len(x)}"
        )
    return x


def probe(path: str | Path) -> AudioInfo:
    """Read the header only (fast); raises AudioError if the file is missing, empty or not audio."""
    path = Path(path)
    _check_path(path)
    try:
        i = sf.info(str(path))
    except (sf.SoundFileError, RuntimeError, ValueError, TypeError) as e:
        raise AudioError(path, _libsndfile_reason(e)) from e
    info = AudioInfo(path, int(i.samplerate), int(i.channels), int(i.frames), str(i.format))
    if info.frames <= 0:
        raise AudioError(path, "empty: 0 frames")
    return info


def check(path: str | Path) -> AudioInfo:
    """Probe, then decode a block at the start and at the end, so truncated files are caught."""
    path = Path(path)
    with _open(path) as f:
        info = _info_of(f, path)
        block = min(_CHECK_BLOCK, info.frames)
        _read(f, path, 0, block)
        _read(f, path, info.frames - block, block)
    return info


def to_mono(x: np.ndarray) -> np.ndarray:
    """Average the channels of (frames, channels) into (frames,); 1-D input is returned as is."""
    if x.ndim == 1:
        return x.astype(np.float32, copy=False)
    if x.ndim != 2:
        raise ValueError(f"expected (frames,) or (frames, channels), got shape {x.shape}")
    return x.mean(axis=1, dtype=np.float32)


def resample(x: np.ndarray, orig_sr: int, new_sr: int) -> np.ndarray:
    """Band-limited sinc resampling along axis 0 (time) with torchaudio; float32 out."""
    x = np.asarray(x, dtype=np.float32)
    if orig_sr <= 0 or new_sr <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_sr} -> {new_sr}")
    if orig_sr == new_sr:
        return x
    t = torch.from_numpy(np.ascontiguousarray(x.T))  # (..., time)
    y = AF.resample(t, orig_sr, new_sr, lowpass_filter_width=_LOWPASS_WIDTH, rolloff=_ROLLOFF)
    return np.ascontiguousarray(y.numpy().T)


def _resample_grid(orig_sr: int, new_sr: int) -> tuple[int, int, int]:
    """(input block, output block, margin in blocks) of the resampler's periodic phase grid.

    Output sample j sits at input position j * orig / new; a crop that starts on a multiple of
    the input block keeps that grid, and `margin` blocks of context cover the sinc kernel.
    """
    g = math.gcd(orig_sr, new_sr)
    block_in, block_out = orig_sr // g, new_sr // g
    width = math.ceil(_LOWPASS_WIDTH * block_in / (min(block_in, block_out) * _ROLLOFF))
    return block_in, block_out, math.ceil(width / block_in) + 1


def output_frames(info: AudioInfo, sample_rate: int = SAMPLE_RATE) -> int:
    """Number of samples the whole file has after resampling to `sample_rate`."""
    return math.ceil(info.frames * sample_rate / info.sample_rate)


def load(
    path: str | Path,
    offset_s: float = 0.0,
    duration_s: float | None = None,
    sample_rate: int = SAMPLE_RATE,
) -> np.ndarray:
    """Decode a mono float32 window (n,) at `sample_rate`, reading only the window's frames.

    The window starts at output sample round(offset_s * sample_rate) and has exactly
    round(duration_s * sample_rate) samples (None: to the end of the file). Its samples equal
    those of decoding the whole file, resampling and slicing: a few kernel widths of context
    are read on both sides and trimmed after resampling. Only a window that runs past the end
    of the file is zero-padded (at its end); an offset at or past the end raises AudioError.
    """
    path = Path(path)
    if offset_s < 0 or (duration_s is not None and duration_s <= 0):
        raise ValueError(
            f"{path}: need offset_s >= 0 and duration_s > 0, got {offset_s}, {duration_s}"
        )
    with _open(path) as f:
        info = _info_of(f, path)
        total = output_frames(info, sample_rate)
        start = round(offset_s * sample_rate)
        if start >= total:
            raise AudioError(
                path, f"offset {offset_s:.3f} s is beyond the end ({info.duration:.3f} s)"
            )
        n = total - start if duration_s is None else round(duration_s * sample_rate)
        stop = min(start + n, total)

        if info.sample_rate == sample_rate:
            x = to_mono(_read(f, path, start, stop - start))
        else:
            block_in, block_out, margin = _resample_grid(info.sample_rate, sample_rate)
            first_block = max(start // block_out - margin, 0)
            in_start = first_block * block_in
            in_stop = min(math.ceil(stop * block_in / block_out) + margin * block_in, info.frames)
            chunk = to_mono(_read(f, path, in_start, in_stop - in_start))
            skip = start - first_block * block_out
            x = resample(chunk, info.sample_rate, sample_rate)[skip : skip + stop - start]
    if len(x) < n:
        x = np.pad(x, (0, n - len(x)))
    return x


def rms_db(x: np.ndarray) -> float:
    """Root-mean-square level in dBFS (-inf for digital silence or an empty array)."""
    if x.size == 0:
        return -math.inf
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    return 20.0 * math.log10(rms) if rms > 0 else -math.inf


def is_silent(x: np.ndarray, threshold_db: float = -60.0) -> bool:
    """True when the RMS level of `x` is below `threshold_db` dBFS."""
    return rms_db(x) < threshold_db
