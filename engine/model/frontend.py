"""Log-mel front end as an ``nn.Module``, so the spectrogram runs on the training device.

Paper settings (PAPER.md "Audio and views"): 16 kHz, 128 Slaney mel bins without filter-area
normalisation, n_fft 1024, hop 512, power spectrogram normalised by the window energy, dB with
a 100 dB floor below each item's peak. A 4 s segment (64,000 samples) gives 126 frames.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torchaudio.transforms import AmplitudeToDB, MelSpectrogram

from engine.config import OFFICIAL_F_MAX  # f_max of the official code: the top mel filters are empty at 16 kHz
from engine.model.portable.model import log_mel

__all__ = ["OFFICIAL_F_MAX", "FrontendConfig", "LogMel", "filterbank_f_max"]


@dataclass(frozen=True)
class FrontendConfig:
    """Log-mel settings with the paper's defaults."""

    sample_rate: int = 16_000  # Hz; every corpus is resampled to this
    n_fft: int = 1024  # STFT size and Hann window length (64 ms)
    hop_length: int = 512  # samples between frames (32 ms); torchaudio's default n_fft // 2
    n_mels: int = 128  # mel bins: the height of the image the backbone sees
    f_min: float = 0.0  # Hz, lowest mel filter edge
    f_max: float | None = None  # Hz, highest edge; None = sr / 2; OFFICIAL_F_MAX = the paper's
    top_db: float = 100.0  # dB floor below the loudest bin of each item

    def __post_init__(self) -> None:
        for name in ("sample_rate", "n_fft", "hop_length", "n_mels"):
            if getattr(self, name) <= 0:
                raise ValueError(f"FrontendConfig.{name} must be positive, got {getattr(self, name)}")
        if self.hop_length > self.n_fft:
            raise ValueError(f"FrontendConfig.hop_length {self.hop_length} exceeds n_fft {self.n_fft}")
        if self.f_min < 0 or self.resolved_f_max <= self.f_min:
            raise ValueError(
                f"FrontendConfig needs 0 <= f_min < f_max, got f_min={self.f_min}, f_max={self.f_max}"
            )
        if self.top_db <= 0:
            raise ValueError(f"FrontendConfig.top_db must be positive, got {self.top_db}")

    @property
    def resolved_f_max(self) -> float:
        """The highest filter edge in Hz, sr / 2 unless set."""
        return self.sample_rate / 2 if self.f_max is None else float(self.f_max)

    def n_frames(self, n_samples: int) -> int:
        """Frames for a waveform of ``n_samples`` (centred STFT): 126 for 4 s at 16 kHz."""
        return 1 + n_samples // self.hop_length


class LogMel(nn.Module):
    """Waveform (B, T) at ``sample_rate`` -> log-mel image (B, 1, n_mels, frames) in dB.

    Always computed in float32, also inside an autocast region, because the power spectrum
    spans ~10 orders of magnitude. Has buffers (window, filterbank) but no parameters; the
    torchaudio ``MelSpectrogram`` holds them (and fixes their checkpoint names), the forward
    pass (`engine.model.portable.model.log_mel`) computes the same power mel spectrogram and dB with
    fewer passes over memory; ``to_db`` stays as torchaudio's reference.

    Example:
        >>> LogMel()(torch.randn(2, 64_000)).shape
        torch.Size([2, 1, 128, 126])
    """

    def __init__(self, config: FrontendConfig | None = None) -> None:
        super().__init__()
        self.config = config or FrontendConfig()
        c = self.config
        with warnings.catch_warnings():
            if c.resolved_f_max > c.sample_rate / 2:  # the empty top filters are deliberate
                warnings.filterwarnings("ignore", message="At least one mel filterbank has all zero")
            self.mel = MelSpectrogram(
                sample_rate=c.sample_rate,
                n_fft=c.n_fft,
                hop_length=c.hop_length,
                f_min=c.f_min,
                f_max=c.resolved_f_max,
                n_mels=c.n_mels,
                power=2.0,
                normalized=True,  # divide the STFT by the window's L2 norm
                norm=None,  # the official code keeps torchaudio's default: no Slaney area norm
                mel_scale="slaney",
            )
        self.to_db = AmplitudeToDB(stype="power", top_db=c.top_db)

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args: object) -> None:
        """Refuse a checkpoint whose mel filterbank differs from this front end's (another f_max):
        loading it would silently change what the front end computes while its config says otherwise."""
        error_msgs = args[-1]
        fb = state_dict.get(prefix + "mel.mel_scale.fb")
        own = self.mel.mel_scale.fb
        if fb is not None and (fb.shape != own.shape or not torch.allclose(fb.to(own.dtype), own, atol=1e-6)):
            found = filterbank_f_max(fb, self.config)
            error_msgs.append(  # type: ignore[union-attr]
                f"the checkpoint's mel filterbank is for f_max {found}, this front end uses "
                f"{self.config.resolved_f_max:g} Hz: set f_max to match the checkpoint")
            state_dict[prefix + "mel.mel_scale.fb"] = own  # the filterbank module loads its own values
        super()._load_from_state_dict(state_dict, prefix, *args)  # type: ignore[arg-type]

    def forward(self, wave: Tensor) -> Tensor:
        if wave.dim() != 2:
            raise ValueError(f"LogMel expects a (batch, samples) waveform, got shape {tuple(wave.shape)}")
        c = self.config
        return log_mel(wave, self.mel.spectrogram.window, self.mel.mel_scale.fb, c.n_fft, c.hop_length, c.top_db)


def filterbank_f_max(fb: Tensor, config: FrontendConfig | None = None) -> str:
    """Which f_max a stored (n_fft/2+1, n_mels) filterbank was built with: "8000 Hz" (sr/2),
    "11025 Hz" (official) or "unknown", for the other settings of `config`."""
    config = config or FrontendConfig()
    for f_max in (None, OFFICIAL_F_MAX):
        candidate = LogMel(FrontendConfig(**{**config.__dict__, "f_max": f_max})).mel.mel_scale.fb
        if fb.shape == candidate.shape and torch.allclose(fb.float(), candidate, atol=1e-6):
            return f"{config.sample_rate / 2 if f_max is None else f_max:g} Hz"
    return "unknown (not sr/2 nor the official 11025 Hz)"
