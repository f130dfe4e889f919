"""Play a track's segment through sounddevice, without blocking the GUI; no Qt here.

PortAudio is loaded on first use (importing sounddevice initialises it, which scans the audio
devices). When the library or an output device is missing the player says why in `reason`, and
the views disable their play buttons with that text as tooltip.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import soundfile as sf

SEGMENT_SECONDS = 4.0


class PlaybackUnavailable(RuntimeError):
    """No audio output: PortAudio is missing or found no output device."""


class Clip(NamedTuple):
    """Decoded audio: samples (n, channels) float32 at `sample_rate` Hz."""

    samples: np.ndarray
    sample_rate: int

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.sample_rate


def read_segment(path: str | Path, start_s: float, seconds: float = SEGMENT_SECONDS) -> Clip:
    """Decode `seconds` of audio from `start_s` at the file's own rate (a seek, not a full read)."""
    try:
        with sf.SoundFile(str(path)) as f:
            start = min(max(0, int(round(start_s * f.samplerate))), max(0, f.frames - 1))
            f.seek(start)
            samples = f.read(int(round(seconds * f.samplerate)), dtype="float32", always_2d=True)
            rate = f.samplerate
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise ValueError(f"{path}: cannot decode audio ({err})") from None
    if len(samples) == 0:
        raise ValueError(f"{path}: no audio at {start_s:.2f} s")
    return Clip(samples, rate)


def resample(clip: Clip, rate: int) -> Clip:
    """The clip at another sample rate (polyphase filter), for devices that refuse the file's rate."""
    from math import gcd

    from scipy.signal import resample_poly

    if rate == clip.sample_rate:
        return clip
    g = gcd(rate, clip.sample_rate)
    out = resample_poly(clip.samples, rate // g, clip.sample_rate // g, axis=0)
    return Clip(out.astype(np.float32), rate)


class Player:
    """One segment at a time: `play` replaces what is playing and returns at once.

    Args:
        device: a sounddevice output device (index or name); None = the system default.
        seconds: length of the played segment.
    """

    def __init__(self, device: int | str | None = None, seconds: float = SEGMENT_SECONDS) -> None:
        self.device = device
        self.seconds = seconds
        self._sd: Any = None
        self._reason: str | None = None  # None until checked; "" when playback works

    def _check(self) -> None:
        if self._reason is not None:
            return
        try:
            import sounddevice
        except OSError as err:  # the PortAudio library itself is missing
            self._reason = f"no audio: PortAudio library not found ({err})"
            return
        except ImportError as err:
            self._reason = f"no audio: the sounddevice package is not installed ({err})"
            return
        try:
            info = sounddevice.query_devices(self.device, kind="output")
            if int(info["max_output_channels"]) < 1:
                raise ValueError(f"device '{info['name']}' has no output channels")
        except (sounddevice.PortAudioError, ValueError) as err:
            which = "the default output device" if self.device is None else f"output device {self.device!r}"
            self._reason = f"no audio output: PortAudio cannot open {which} ({err})"
            return
        self._sd, self._reason = sounddevice, ""

    @property
    def available(self) -> bool:
        self._check()
        return self._reason == ""

    @property
    def reason(self) -> str:
        """Why playback is unavailable ("" when it works)."""
        self._check()
        return self._reason or ""

    def _fit(self, clip: Clip) -> Clip:
        """The clip in a rate and channel count the device accepts (the file's own when it can)."""
        sd = self._sd
        info = sd.query_devices(self.device, kind="output")
        samples = clip.samples
        if samples.shape[1] > int(info["max_output_channels"]):
            samples = samples.mean(axis=1, keepdims=True)
        clip = Clip(samples, clip.sample_rate)
        try:
            sd.check_output_settings(self.device, channels=samples.shape[1], samplerate=clip.sample_rate)
        except sd.PortAudioError:
            clip = resample(clip, int(info["default_samplerate"]))
        return clip

    def play(self, path: str | Path, start_s: float) -> Clip:
        """Start playing `seconds` of `path` from `start_s` and return the decoded clip; does not wait."""
        if not self.available:
            raise PlaybackUnavailable(self.reason)
        clip = self._fit(read_segment(path, start_s, self.seconds))
        self._sd.play(clip.samples, clip.sample_rate, device=self.device)
        return clip

    def stop(self) -> None:
        if self._sd is not None:
            self._sd.stop()

    @property
    def playing(self) -> bool:
        if self._sd is None:
            return False
        try:
            return bool(self._sd.get_stream().active)
        except RuntimeError:  # nothing played yet
            return False

    def wait(self) -> None:
        """Block until the current clip has finished (scripts and tests; never from the GUI)."""
        if self._sd is not None:
            self._sd.wait()
