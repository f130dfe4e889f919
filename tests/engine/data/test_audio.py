"""engine.data.audio on the real clips in shared/data/real-audio and on broken files built here."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.data import audio
from engine.data.audio import SAMPLE_RATE, AudioError

# name -> (format, channels, duration in s as measured in the data README)
CLIPS = {
    "sorohanro_-_solo-trumpet-06.hq.ogg": ("OGG", 2, 5.33),
    "TinySOL_Cb-ord-A2-mf-2c-N.wav": ("WAV", 1, 5.41),  # PCM16 mono
    # float32
    "Medley-solos-DB_validation-3_d07b1fc0-567d-52c2-fef4-239f31c9d40e.wav": ("WAV", 1, 2.97),
    "IRMAS_[cla][cla]0189__2.wav": ("WAV", 2, 3.00),  # PCM16 stereo
    "madmom_stereo_sample.flac": ("FLAC", 2, 4.15),
}
LONG_OGG = "Karissa_Hobbs_-_Lets_Go_Fishin.hq.ogg"  # 133 s


def reference(path: Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The whole file decoded in one read, down-mixed by hand, then resampled."""
    x, sr = sf.read(path, dtype="float32", always_2d=True)
    return audio.resample(x.mean(axis=1), sr, sample_rate)


@pytest.fixture(params=sorted(CLIPS), ids=lambda n: n.split("_")[0] + Path(n).suffix)
def clip(request, real_audio_dir: Path) -> Path:
    return real_audio_dir / request.param


def test_probe_reads_header(clip: Path) -> None:
    fmt, channels, duration = CLIPS[clip.name]
    info = audio.probe(clip)
    assert (info.path, info.format, info.channels, info.sample_rate) == (clip, fmt, channels, 44100)
    assert info.duration == pytest.approx(duration, abs=0.01)
    assert info.duration == info.frames / 44100
    assert audio.check(clip) == info


def test_load_whole_file_is_mono_float32_at_16k(clip: Path) -> None:
    x = audio.load(clip)
    info = audio.probe(clip)
    assert x.dtype == np.float32 and x.ndim == 1
    assert len(x) == math.ceil(info.duration * SAMPLE_RATE) == audio.output_frames(info)
    np.testing.assert_allclose(x, reference(clip), atol=1e-6)
    assert np.abs(x).max() > 0.01


def test_native_rate_load_is_channel_mean(clip: Path) -> None:
    raw, sr = sf.read(clip, dtype="float32", always_2d=True)
    x = audio.load(clip, 1.0, 0.5, sample_rate=sr)
    np.testing.assert_array_equal(x, raw[sr : sr + sr // 2].mean(axis=1))


@pytest.mark.parametrize(
    "offset_s, duration_s", [(0.0, 1.0), (0.37, 1.5), (1.003, 0.25), (1.9, 0.8)]
)
def test_crop_equals_full_decode_resampled_and_sliced(
    clip: Path, offset_s: float, duration_s: float
) -> None:
    full = reference(clip)
    x = audio.load(clip, offset_s, duration_s)
    start = round(offset_s * SAMPLE_RATE)
    assert len(x) == round(duration_s * SAMPLE_RATE)
    np.testing.assert_allclose(x, full[start : start + len(x)], atol=1e-4)


def test_crop_past_the_end_is_zero_padded_at_the_end(clip: Path) -> None:
    full = reference(clip)
    offset_s = len(full) / SAMPLE_RATE - 0.5
    x = audio.load(clip, offset_s, 2.0)
    start = round(offset_s * SAMPLE_RATE)
    tail = full[start:]
    assert len(x) == 2 * SAMPLE_RATE
    np.testing.assert_allclose(x[: len(tail)], tail, atol=1e-4)
    assert not x[len(tail) :].any()


def test_crop_of_long_ogg_matches_and_reads_only_the_window(
    real_audio_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = real_audio_dir / LONG_OGG
    asked: list[int] = []
    real_read = sf.SoundFile.read

    def recording_read(self, frames=-1, *args, **kwargs):
        asked.append(frames)
        return real_read(self, frames, *args, **kwargs)

    monkeypatch.setattr(sf.SoundFile, "read", recording_read)
    x = audio.load(path, 100.0, 4.0)
    window = 4 * 44100
    assert len(asked) == 1 and window <= asked[0] <= window + 0.05 * 44100  # context margin only
    assert asked[0] < audio.probe(path).frames / 30

    asked.clear()
    audio.load(path, 100.0, 4.0, sample_rate=44100)
    assert asked == [window]  # no resampling, no margin

    monkeypatch.undo()
    full = reference(path)
    np.testing.assert_allclose(x, full[100 * SAMPLE_RATE : 104 * SAMPLE_RATE], atol=1e-4)


def test_to_mono_and_resample_shapes() -> None:
    stereo = np.array([[1.0, 0.0], [0.5, -0.5], [0.2, 0.4]], dtype=np.float32)
    np.testing.assert_allclose(audio.to_mono(stereo), [0.5, 0.0, 0.3])
    mono = np.arange(4, dtype=np.float32)
    assert audio.to_mono(mono) is mono
    with pytest.raises(ValueError, match="shape"):
        audio.to_mono(np.zeros((2, 2, 2)))
    assert audio.resample(np.zeros((44100, 2)), 44100, 16000).shape == (16000, 2)
    assert audio.resample(mono, 16000, 16000) is mono


def test_resample_keeps_a_sine_in_band() -> None:
    t = np.arange(44100) / 44100
    y = audio.resample(np.sin(2 * np.pi * 1000 * t), 44100, 16000)
    expected = np.sin(2 * np.pi * 1000 * np.arange(16000) / 16000)
    np.testing.assert_allclose(y[200:-200], expected[200:-200], atol=2e-3)
    above_nyquist = audio.resample(np.sin(2 * np.pi * 12000 * t), 44100, 16000)
    assert np.abs(above_nyquist[200:-200]).max() < 0.01  # filtered, not aliased


def test_mp3_decodes_through_libsndfile(tmp_path: Path) -> None:
    if "MP3" not in sf.available_formats():
        pytest.skip("this libsndfile cannot write MP3")
    path = tmp_path / "tone.mp3"
    t = np.arange(3 * 16000) / 16000
    sf.write(path, 0.5 * np.sin(2 * np.pi * 440 * t), 16000, format="MP3")
    info = audio.check(path)
    assert info.format == "MP3" and info.duration == pytest.approx(3.0, abs=0.1)
    x = audio.load(path, 1.0, 1.0)
    assert len(x) == SAMPLE_RATE
    assert np.argmax(np.abs(np.fft.rfft(x))) == 440  # 1 Hz bins over 1 s

    cut = tmp_path / "cut.mp3"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(AudioError, match="truncated"):
        audio.check(cut)


# --- broken files: each raises one AudioError naming the file, with a one-line reason -------


def assert_audio_error(exc: pytest.ExceptionInfo[AudioError], path: Path, reason: str) -> None:
    e = exc.value
    assert e.path == path
    assert str(e) == f"{path}: {e.reason}"
    assert "\n" not in str(e)
    assert reason in e.reason, e.reason


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.wav"
    for fn in (audio.probe, audio.check, audio.load):
        with pytest.raises(AudioError) as exc:
            fn(path)
        assert_audio_error(exc, path, "not found")


def test_empty_files(tmp_path: Path) -> None:
    zero_bytes = tmp_path / "zero-bytes.wav"
    zero_bytes.write_bytes(b"")
    no_frames = tmp_path / "no-frames.wav"
    sf.write(no_frames, np.zeros((0, 1), dtype=np.float32), 16000)
    for path, reason in [(zero_bytes, "0 bytes"), (no_frames, "0 frames")]:
        for fn in (audio.probe, audio.check, audio.load):
            with pytest.raises(AudioError) as exc:
                fn(path)
            assert_audio_error(exc, path, reason)


def test_text_named_mp3_and_garbage_wav(tmp_path: Path) -> None:
    text = tmp_path / "song.mp3"
    text.write_text("this is not audio\n" * 50)
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(np.random.default_rng(0).bytes(5000))
    for path in (text, garbage):
        for fn in (audio.probe, audio.check, audio.load):
            with pytest.raises(AudioError) as exc:
                fn(path)
            assert_audio_error(exc, path, "unreadable or unsupported audio")


def test_truncated_flac(tmp_path: Path, real_audio_dir: Path) -> None:
    data = (real_audio_dir / "madmom_stereo_sample.flac").read_bytes()
    path = tmp_path / "cut.flac"
    path.write_bytes(data[: len(data) // 2])
    info = audio.probe(path)  # the header still promises the full length
    assert info.duration == pytest.approx(4.15, abs=0.01)
    with pytest.raises(AudioError) as exc:
        audio.check(path)
    assert_audio_error(exc, path, "truncated")
    with pytest.raises(AudioError) as exc:
        audio.load(path, 3.0, 1.0)
    assert_audio_error(exc, path, "truncated")
    assert len(audio.load(path, 0.0, 1.0)) == SAMPLE_RATE  # the intact first half still decodes


def test_offset_beyond_end_and_bad_arguments(real_audio_dir: Path) -> None:
    path = real_audio_dir / "madmom_stereo_sample.flac"
    with pytest.raises(AudioError) as exc:
        audio.load(path, 4.2, 1.0)
    assert_audio_error(exc, path, "beyond the end")
    with pytest.raises(ValueError, match="offset_s"):
        audio.load(path, -1.0, 1.0)
    with pytest.raises(ValueError, match="duration_s"):
        audio.load(path, 0.0, 0.0)


# --- silence ------------------------------------------------------------------------------


def test_is_silent() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    sine = np.sin(2 * np.pi * 440 * t)  # RMS -3 dBFS
    assert audio.is_silent(np.zeros(16000))
    assert audio.is_silent(np.zeros(0))
    assert not audio.is_silent(0.1 * rng.standard_normal(16000))
    assert audio.is_silent(10 ** (-70 / 20) * sine)
    assert not audio.is_silent(10 ** (-50 / 20) * sine)
    assert audio.is_silent(10 ** (-50 / 20) * sine, threshold_db=-40.0)
    assert audio.rms_db(sine) == pytest.approx(-3.01, abs=0.01)
