"""The player decodes the right segment, says why it cannot play, and really plays through
PortAudio → ALSA into a raw file (in a subprocess: PortAudio reads the ALSA config once)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from workbench.player import Player, read_segment, resample

PROJECT = Path(__file__).resolve().parents[2]
SINK_RATE = 16000  # the ALSA sink converts everything to 16 kHz mono S16_LE


def ramp_file(path: Path, rate: int, seconds: float, channels: int = 1) -> np.ndarray:
    """A file of a 220 Hz tone whose loudness grows with time (no exact zeros), returned as written."""
    t = np.arange(int(rate * seconds)) / rate
    mono = (0.1 + 0.8 * t / seconds) * np.sin(2 * np.pi * 220 * t + 0.3)
    data = np.repeat(mono[:, None], channels, axis=1).astype(np.float32)
    sf.write(path, data, rate, subtype="PCM_16")
    return sf.read(path, dtype="float32", always_2d=True)[0]


def test_read_segment_seeks_to_the_start(tmp_path: Path) -> None:
    data = ramp_file(tmp_path / "a.wav", 16000, 6.0)
    clip = read_segment(tmp_path / "a.wav", 1.5, 4.0)
    assert clip.sample_rate == 16000 and clip.samples.shape == (64000, 1)
    np.testing.assert_array_equal(clip.samples, data[24000:88000])
    assert read_segment(tmp_path / "a.wav", 5.0, 4.0).seconds == pytest.approx(1.0)  # cut at the end


def test_native_rate_is_kept_and_resampling_is_exact_in_length(tmp_path: Path) -> None:
    ramp_file(tmp_path / "b.wav", 44100, 5.0, channels=2)
    clip = read_segment(tmp_path / "b.wav", 0.5)
    assert clip.sample_rate == 44100 and clip.samples.shape == (176400, 2)
    assert resample(clip, 48000).samples.shape == (192000, 2)


def test_bad_audio_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "bad.flac").write_bytes(b"not audio")
    with pytest.raises(ValueError, match="bad.flac: cannot decode audio"):
        read_segment(tmp_path / "bad.flac", 0.0)


def test_missing_device_says_why_and_refuses_to_play(tmp_path: Path) -> None:
    player = Player(device="no such output device")
    assert not player.available and not player.playing
    assert player.reason.startswith("no audio")
    with pytest.raises(RuntimeError, match="no audio"):
        player.play(tmp_path / "x.wav", 0.0)


SINK = """
pcm.rawsink {{
    type file
    slave.pcm "null"
    file "{raw}"
    format "raw"
}}
pcm.!default {{
    type plug
    slave {{ pcm "rawsink"; format S16_LE; rate {rate}; channels 1 }}
}}
"""

SCRIPT = textwrap.dedent("""
    import json, sys, time
    from workbench.player import Player
    player = Player()
    if not player.available:
        print(json.dumps({"available": False, "reason": player.reason}))
        sys.exit(0)
    t0 = time.perf_counter()
    clip = player.play(sys.argv[1], float(sys.argv[2]))
    returned = time.perf_counter() - t0
    player.wait()
    print(json.dumps({"available": True, "returned_s": returned, "frames": len(clip.samples),
                      "rate": clip.sample_rate}))
""")


def play_into_alsa_file(tmp_path: Path, audio: Path, start_s: float) -> tuple[dict, np.ndarray]:
    """Play a segment in a fresh interpreter whose ALSA default device writes raw S16 samples to a file."""
    raw = tmp_path / f"{audio.stem}.raw"
    conf = tmp_path / "asound.conf"
    conf.write_text(SINK.format(raw=raw, rate=SINK_RATE))
    system = Path("/usr/share/alsa/alsa.conf")
    env = {**os.environ, "ALSA_CONFIG_PATH": f"{system}:{conf}", "PYTHONPATH": str(PROJECT)}
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(audio), str(start_s)], capture_output=True, text=True,
                         env=env, cwd=PROJECT, timeout=60)
    if out.returncode != 0 and "PortAudio library not found" in out.stderr + out.stdout:
        pytest.skip("PortAudio is not installed (libportaudio2)")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if not result["available"] and "PortAudio library not found" in result["reason"]:
        pytest.skip(f"PortAudio is not installed: {result['reason']}")
    assert result["available"], result["reason"]
    return result, np.fromfile(raw, dtype="<i2")


def _alsa_config_present() -> None:
    if not Path("/usr/share/alsa/alsa.conf").exists():
        pytest.skip("no ALSA configuration (/usr/share/alsa/alsa.conf): the ALSA runtime is not installed")


def test_plays_the_segment_through_alsa(tmp_path: Path) -> None:
    _alsa_config_present()
    data = ramp_file(tmp_path / "tone.wav", SINK_RATE, 8.0)
    result, written = play_into_alsa_file(tmp_path, tmp_path / "tone.wav", 2.0)
    assert result["returned_s"] < 1.0  # play() starts the stream and returns; it does not wait 4 s
    assert (result["frames"], result["rate"]) == (4 * SINK_RATE, SINK_RATE)
    sound = np.flatnonzero(written)
    assert len(sound) > 0, "nothing but silence reached the device"
    first = sound[0]  # PortAudio primes the device with silence first
    played = written[first:first + 4 * SINK_RATE].astype(np.float64) / 32768
    assert len(played) == 4 * SINK_RATE
    np.testing.assert_allclose(played, data[2 * SINK_RATE:6 * SINK_RATE, 0], atol=2e-4)
    assert not written[first + 4 * SINK_RATE:].any()  # only padding after the segment


def test_plays_a_44k_stereo_file_at_its_own_rate(tmp_path: Path) -> None:
    _alsa_config_present()
    ramp_file(tmp_path / "stereo.wav", 44100, 6.0, channels=2)
    result, written = play_into_alsa_file(tmp_path, tmp_path / "stereo.wav", 1.0)
    assert (result["frames"], result["rate"]) == (4 * 44100, 44100)
    sound = np.flatnonzero(np.abs(written) > 30)
    span = sound[-1] - sound[0] + 1
    assert abs(span - 4 * SINK_RATE) < 0.01 * SINK_RATE  # 4 s, converted to the sink's 16 kHz by ALSA
