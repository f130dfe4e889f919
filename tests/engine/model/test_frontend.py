"""LogMel against a plain STFT + mel filterbank + dB computation, and its paper settings."""
from __future__ import annotations

import math
import warnings

import pytest
import torch
import torchaudio.functional as AF

from engine.model.frontend import OFFICIAL_F_MAX, FrontendConfig, LogMel

SR = 16_000


def reference_log_mel(wave: torch.Tensor, f_max: float) -> torch.Tensor:
    """(B, T) -> (B, 1, 128, frames), written out step by step in float64."""
    wave = wave.double()
    window = torch.hann_window(1024, dtype=torch.float64)
    stft = torch.stft(wave, 1024, hop_length=512, window=window, center=True, pad_mode="reflect",
                      return_complex=True)  # (B, 513, frames)
    power = (stft / window.pow(2).sum().sqrt()).abs() ** 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fb = AF.melscale_fbanks(513, 0.0, f_max, 128, SR, norm=None, mel_scale="slaney").double()
    mel = torch.einsum("bft,fm->bmt", power, fb)  # (B, 128, frames)
    db = 10 * torch.log10(mel.clamp(min=1e-10))
    floor = db.amax(dim=(1, 2), keepdim=True) - 100.0  # per item
    return torch.maximum(db, floor).unsqueeze(1)


def noisy_tones(batch: int, n: int = 64_000) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    t = torch.arange(n) / SR
    tones = torch.stack([torch.sin(2 * math.pi * (220 * (i + 1)) * t) for i in range(batch)])
    return 0.5 * tones + 0.05 * torch.randn(batch, n, generator=g)


def test_shape_for_a_4_s_segment_is_128_by_126() -> None:
    out = LogMel()(noisy_tones(3))
    assert out.shape == (3, 1, 128, 126)
    assert FrontendConfig().n_frames(64_000) == 126
    assert out.dtype == torch.float32


@pytest.mark.parametrize("f_max", [None, OFFICIAL_F_MAX])
def test_matches_plain_stft_melscale_db(f_max: float | None) -> None:
    wave = noisy_tones(2)
    out = LogMel(FrontendConfig(f_max=f_max))(wave)
    ref = reference_log_mel(wave, SR / 2 if f_max is None else f_max)
    torch.testing.assert_close(out.double(), ref, atol=1e-4, rtol=0)


@pytest.mark.parametrize("f_max", [None, OFFICIAL_F_MAX])
def test_equals_torchaudio_melspectrogram_and_amplitude_to_db(f_max: float | None) -> None:
    """The power spectrum as re^2 + im^2 (not a complex abs) gives the former torchaudio result."""
    lm = LogMel(FrontendConfig(f_max=f_max))
    wave = torch.cat([noisy_tones(3), 1e-4 * noisy_tones(1), torch.zeros(1, 64_000)])
    before = lm.to_db(lm.mel(wave.unsqueeze(1)))  # torchaudio's MelSpectrogram(power=2) + AmplitudeToDB
    torch.testing.assert_close(lm(wave), before, atol=1e-4, rtol=0)


def test_official_f_max_leaves_empty_top_filters_and_default_does_not() -> None:
    official = LogMel(FrontendConfig(f_max=OFFICIAL_F_MAX)).mel.mel_scale.fb  # (513, 128)
    default = LogMel().mel.mel_scale.fb
    empty_official = (official.amax(dim=0) == 0).nonzero().flatten()
    assert (default.amax(dim=0) > 0).all()
    assert empty_official.tolist() == list(range(117, 128))  # the top 11 bands lie above 8 kHz (PAPER.md)
    # an empty band carries no energy: it sits on the item's dB floor
    out = LogMel(FrontendConfig(f_max=OFFICIAL_F_MAX))(noisy_tones(1))[0, 0]  # (128, frames)
    assert torch.allclose(out[empty_official], out.max() - 100.0)


def test_top_db_floor_is_per_item_not_per_batch() -> None:
    loud, quiet = noisy_tones(1), 1e-4 * noisy_tones(1)
    lm = LogMel()
    together = lm(torch.cat([loud, quiet]))
    torch.testing.assert_close(together[1:], lm(quiet))
    assert together[1].max() - together[1].min() <= 100.0 + 1e-4


def test_runs_in_float32_inside_autocast() -> None:
    wave = noisy_tones(2)
    lm = LogMel()
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        out = lm(wave)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, lm(wave))


def test_has_buffers_but_no_parameters() -> None:
    lm = LogMel()
    assert list(lm.parameters()) == []
    assert {"mel.spectrogram.window", "mel.mel_scale.fb"} <= set(lm.state_dict())


def test_rejects_a_waveform_without_batch_axis() -> None:
    with pytest.raises(ValueError, match=r"\(batch, samples\)"):
        LogMel()(torch.zeros(64_000))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"n_mels": 0}, "n_mels"), ({"f_max": 0.0}, "f_min < f_max"), ({"top_db": -1.0}, "top_db"),
     ({"hop_length": 2048}, "hop_length")],
)
def test_config_rejects_bad_values(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        FrontendConfig(**kwargs)
