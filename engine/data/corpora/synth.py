"""Instrument voices of the demo corpus: numpy synthesis of single notes and drum hits at 16 kHz.

Every sound is a deterministic function of (instrument, variant, brightness, pitch): no per-track
randomness lives here, so two tracks that share an instrument preset share its timbre exactly and
no track carries a private acoustic fingerprint.
"""
from __future__ import annotations

from functools import partial

import numpy as np
from scipy.signal import lfilter

SR = 16_000
TABLE = 2048  # wavetable length (one period)
NYQUIST_GUARD = 7_600.0  # highest partial kept, Hz

PITCHED = ("bass", "guitar", "piano", "pad", "lead", "organ", "bell")
DRUM_NAMES = ("kick", "snare", "rim", "clap", "hat", "open_hat", "ride", "crash")
VARIANTS = 3  # presets per instrument (and drum kits)
RELEASE_S = {"bass": 0.06, "guitar": 0.12, "piano": 0.2, "pad": 0.7, "lead": 0.08, "organ": 0.03,
             "bell": 0.9}
MAX_TONE_S = {"bass": 2.5, "guitar": 2.0, "piano": 3.0, "bell": 3.0}  # decaying voices stop here


def midi_hz(midi: float) -> float:
    """Equal-tempered frequency of a MIDI note number."""
    return 440.0 * 2.0 ** ((midi - 69.0) / 12.0)


def _time(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.float32) / SR  # (n,)


def _table(amps: np.ndarray) -> np.ndarray:
    """One period of sum_k amps[k] sin(2 pi (k+1) x), plus a wrap-around sample for interpolation."""
    spec = np.zeros(TABLE // 2 + 1, np.complex128)
    spec[1 : len(amps) + 1] = -0.5j * TABLE * np.asarray(amps, np.float64)
    wave = np.fft.irfft(spec, TABLE)
    return np.append(wave, wave[0]).astype(np.float32)  # (TABLE + 1,)


def _osc(table: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """Linear-interpolated wavetable lookup; `phase` is in cycles (float64, any range)."""
    x = (phase % 1.0) * TABLE
    i = x.astype(np.int32)
    frac = (x - i).astype(np.float32)
    lo = table[i]
    return lo + frac * (table[i + 1] - lo)


def _phase(freq: float, n: int, vibrato: np.ndarray | None = None) -> np.ndarray:
    """Phase in cycles of a tone at `freq` Hz, optionally frequency-modulated by (1 + vibrato)."""
    if vibrato is None:
        return np.arange(n, dtype=np.float64) * (freq / SR)
    return np.cumsum(freq / SR * (1.0 + vibrato.astype(np.float64)))


def _harmonics(freq: float, limit: int = 40) -> np.ndarray:
    """Harmonic numbers 1..K below the band limit (at least the fundamental)."""
    return np.arange(1, max(1, min(limit, int(NYQUIST_GUARD / freq))) + 1, dtype=np.float64)


def _noise(n: int, key: int) -> np.ndarray:
    return np.random.default_rng(key).standard_normal(n).astype(np.float32)


def _one_pole(x: np.ndarray, cutoff_hz: float, high: bool = False) -> np.ndarray:
    """First-order low-pass (or its high-pass complement), applied twice for a 12 dB/oct slope."""
    a = float(np.exp(-2.0 * np.pi * cutoff_hz / SR))
    y = lfilter([1.0 - a], [1.0, -a], lfilter([1.0 - a], [1.0, -a], x)).astype(np.float32)
    return x - y if high else y


# ---------------------------------------------------------------- pitched voices


def _bass(f: float, n: int, variant: int, bright: float) -> np.ndarray:
    """Additive bass: a pluck of upper harmonics over a body that darkens as it decays."""
    t, k = _time(n), _harmonics(f, 14)
    slope = (1.6, 1.0, 2.6)[variant]
    body = _table(k**-slope * np.exp(-(k - 1) * (0.9 - 0.5 * bright)))
    click = _table(k**-1.0 * (k > 1))
    ph = _phase(f, n)
    attack = np.minimum(1.0, t / 0.006)
    decay = (1.0, 0.5, 2.0)[variant]
    env_click = np.exp(-t / (0.03 + 0.08 * bright + 0.1 * (variant == 1)))
    return attack * (_osc(body, ph) * (0.45 + 0.55 * np.exp(-t / decay)) + 0.5 * _osc(click, ph) * env_click)


def _guitar(f: float, n: int, variant: int, bright: float) -> np.ndarray:
    """Karplus-Strong plucked string, computed one period per numpy step."""
    period = SR / f
    p = max(2, int(period - 0.5))
    frac = period - 0.5 - p  # fractional delay realised by linear interpolation in the loop filter
    t60 = (2.8, 1.6, 4.0)[variant] * (110.0 / f) ** 0.5
    g = 10.0 ** (-3.0 / (t60 * f))
    c0, c1, c2 = g * 0.5 * (1.0 - frac), g * 0.5, g * 0.5 * frac
    burst = _noise(p, 1000 + variant)
    burst = _one_pole(burst, 1500.0 + 5000.0 * bright) if bright < 0.9 else burst
    pick = int(p * (0.13, 0.3, 0.08)[variant])
    burst = burst - np.roll(burst, pick)  # pluck position comb
    buf = np.zeros(p + 2 + n, np.float32)
    buf[p + 2 : p + 2 + min(p, n)] = burst[: min(p, n)]
    for s in range(p + 2, p + 2 + n, p):
        e = min(s + p, p + 2 + n)
        buf[s:e] += c0 * buf[s - p : e - p] + c1 * buf[s - p - 1 : e - p - 1] + c2 * buf[s - p - 2 : e - p - 2]
    y = buf[p + 2 :]
    return y / (np.abs(burst).max() + 1e-9)


def _piano(f: float, n: int, variant: int, bright: float) -> np.ndarray:
    """Additive piano: hammer click, bright attack layer, two-stage body decay, a detuned second string."""
    t, k = _time(n), _harmonics(f, 24)
    strike = np.abs(np.sin(np.pi * k / (7.3, 8.7, 5.9)[variant]))  # hammer position comb
    body = _table(k**-(1.9 - 0.8 * bright) * strike)
    attack = _table(k**-(1.3 - 0.5 * bright) * strike)
    tau = 1.1 * (262.0 / f) ** 0.45
    ph = _phase(f, n)
    detuned = _phase(f * 1.0009, n)  # a second string slightly out of tune: slow beating
    env_body = 0.65 * np.exp(-t / tau) + 0.35 * np.exp(-t / (4.0 * tau))
    y = (_osc(body, ph) + 0.6 * _osc(body, detuned)) * env_body
    y += 0.8 * _osc(attack, ph) * np.exp(-t / 0.09)
    hammer = _one_pole(_noise(min(n, 160), 2000 + variant), 2500.0) * np.exp(-_time(min(n, 160)) / 0.003)
    y[: len(hammer)] += 0.5 * hammer
    return y * np.minimum(1.0, t / 0.002)


def _pad(f: float, n: int, variant: int, bright: float) -> np.ndarray:
    """Three detuned band-limited saws (hollow square-ish for variant 1), slow attack and swell."""
    t, k = _time(n), _harmonics(f, 30)
    cut = 800.0 + 3000.0 * bright
    amps = k**-1.0 * np.exp(-k * f / cut) * np.where(k % 2 == 0, 1.0 - 0.8 * (variant == 1), 1.0)
    amps[0] += 0.6 * (variant == 2)
    table = _table(amps)
    y = sum(_osc(table, _phase(f * 2.0 ** (c / 1200.0), n)) for c in (-9.0, 0.0, 8.0))
    swell = 1.0 + 0.15 * np.sin(2.0 * np.pi * (0.3 + 0.2 * variant) * t)
    return y * np.minimum(1.0, t / (0.25 + 0.25 * variant)) * swell / 3.0


def _lead(f: float, n: int, variant: int, bright: float) -> np.ndarray:
    """Monophonic saw, square or flute-like tone with a delayed vibrato."""
    t, k = _time(n), _harmonics(f, 30)
    if variant == 0:  # saw
        amps = k**-1.0 * np.exp(-k * f / (2000.0 + 4000.0 * bright))
    elif variant == 1:  # square, clarinet-like
        amps = np.where(k % 2 == 1, k**-1.0, 0.0) * np.exp(-k * f / (1500.0 + 4000.0 * bright))
    else:  # flute-like: nearly sine
        amps = np.exp(-(k - 1) * (2.2 - 1.2 * bright))
    vibrato = 0.006 * np.sin(2.0 * np.pi * 5.5 * t) * np.clip((t - 0.15) / 0.3, 0.0, 1.0)
    y = _osc(_table(amps), _phase(f, n, vibrato))
    if variant == 2:
        y += 0.12 * _one_pole(_noise(n, 3002), 3000.0) * np.exp(-t / 0.08)
    return y * np.minimum(1.0, t / 0.02) * (0.8 + 0.2 * np.exp(-t / 0.2))


_DRAWBARS = (  # footages 16, 8, 5 1/3, 4, 2 2/3, 2, 1 3/5, 1 1/3, 1 as harmonics of the sub-octave
    (8, 8, 8, 0, 0, 0, 0, 0, 0),
    (8, 8, 0, 0, 0, 0, 0, 0, 8),
    (0, 8, 8, 6, 0, 0, 0, 0, 0),
)
_DRAWBAR_HARMONIC = (1, 2, 3, 4, 6, 8, 10, 12, 16)


def _organ(f: float, n: int, variant: int, bright: float) -> np.ndarray:
    """Drawbar organ: fixed harmonic registration, rotary-speaker tremolo, key click, no decay."""
    sub = f / 2.0
    amps = np.zeros(16)
    for level, h in zip(_DRAWBARS[variant], _DRAWBAR_HARMONIC):
        if level and h * sub < NYQUIST_GUARD:
            amps[h - 1] += 10.0 ** ((level - 8) * 3.0 / 20.0) * (1.0 if h <= 4 else 0.4 + 0.6 * bright)
    t = _time(n)
    y = _osc(_table(amps), _phase(sub, n, 0.002 * np.sin(2.0 * np.pi * 6.3 * t)))
    y *= 1.0 + 0.12 * np.sin(2.0 * np.pi * 6.3 * t)  # rotating-speaker tremolo
    clicks = min(n, 64)
    y[:clicks] += 0.3 * _noise(clicks, 4000 + variant) * np.exp(-_time(clicks) / 0.001)
    return y * np.minimum(1.0, t / 0.004)


def _bell(f: float, n: int, variant: int, bright: float) -> np.ndarray:
    """Two-operator FM with a decaying modulation index."""
    t = _time(n).astype(np.float64)
    ratio = (3.5, 1.4, 2.0)[variant]
    index = (1.5 + 3.0 * bright) * np.exp(-t / 0.5)
    tau = 1.3 * (523.0 / f) ** 0.3
    mod = np.sin(2.0 * np.pi * ratio * f * t)
    y = np.sin(2.0 * np.pi * f * t + index * mod) * np.exp(-t / tau)
    y += 0.25 * np.sin(2.0 * np.pi * 2.76 * f * t) * np.exp(-t / (0.3 * tau)) * (2.76 * f < NYQUIST_GUARD)
    return (y * np.minimum(1.0, t / 0.001)).astype(np.float32)


_VOICES = {"bass": _bass, "guitar": _guitar, "piano": _piano, "pad": _pad, "lead": _lead,
           "organ": _organ, "bell": _bell}


def tone(instrument: str, midi: int, n: int, variant: int = 0, brightness: float = 0.5) -> np.ndarray:
    """The raw sound of one held note, `n` samples long, before its note-off release."""
    if instrument not in _VOICES:
        raise ValueError(f"unknown instrument {instrument!r}; expected one of {sorted(_VOICES)}")
    y = _VOICES[instrument](midi_hz(midi), n, variant % VARIANTS, brightness).astype(np.float32)
    return y / _loudest_frame_rms(y)  # every tone peaks at the same short-term loudness; the mix sets levels


def _loudest_frame_rms(y: np.ndarray, frame: int = 320) -> float:
    """Highest RMS over 20 ms frames: the loudness of a tone at its loudest moment."""
    count = len(y) // frame
    frames = y[: count * frame].reshape(count, frame) if count else y[None, :]
    return max(float(np.sqrt((frames**2).mean(1)).max()), 1e-9)


def release(tone_: np.ndarray, on: int, instrument: str) -> np.ndarray:
    """Cut a tone at note-off `on` (samples) with the instrument's release ramp; returns a new array."""
    rel = int(RELEASE_S[instrument] * SR)
    out = tone_[: on + rel].copy()
    if len(out) > on:
        out[on:] *= np.linspace(1.0, 0.0, rel, dtype=np.float32)[: len(out) - on] ** 2
    return out


def render_note(instrument: str, midi: int = 60, seconds: float = 0.5, variant: int = 0,
                brightness: float = 0.5) -> np.ndarray:
    """One complete note (or a drum hit, `instrument="drums"` with variant as kit) for inspection."""
    if instrument == "drums":  # kick, hat, snare, hat spread over `seconds`
        out = np.zeros(int((seconds + 0.5) * SR), np.float32)
        for name, at in (("kick", 0.0), ("hat", 0.25), ("snare", 0.5), ("hat", 0.75)):
            start = int(at * seconds * SR)
            hit = drum_hit(name, variant)[: len(out) - start]
            out[start : start + len(hit)] += hit
        return out
    on = int(seconds * SR)
    return release(tone(instrument, midi, on + int(RELEASE_S[instrument] * SR), variant, brightness), on,
                   instrument)


# ---------------------------------------------------------------- drums


def _kick(n_key: int, kit: int) -> np.ndarray:
    """Sine with a fast downward pitch sweep and a click."""
    f_hi, f_lo, sweep, decay = ((140.0, 52.0, 0.03, 0.18), (110.0, 45.0, 0.05, 0.4), (170.0, 60.0, 0.02, 0.12))[kit]
    t = _time(int(0.45 * SR)).astype(np.float64)
    freq = f_lo + (f_hi - f_lo) * np.exp(-t / sweep)
    y = np.sin(2.0 * np.pi * np.cumsum(freq) / SR) * np.exp(-t / decay)
    y[:48] += 0.4 * _noise(48, n_key)
    return y


def _snare(n_key: int, kit: int) -> np.ndarray:
    """Short drum-head tone plus band-passed noise (the wires)."""
    decay, tone_hz = ((0.14, 190.0), (0.1, 230.0), (0.2, 170.0))[kit]
    n = int(0.3 * SR)
    t = _time(n)
    wires = _one_pole(_one_pole(_noise(n, n_key), 900.0, high=True), 6000.0 if kit != 2 else 3000.0)
    return 0.5 * np.sin(2.0 * np.pi * tone_hz * t) * np.exp(-t / 0.05) + 1.4 * wires * np.exp(-t / decay)


def _rim(n_key: int, kit: int) -> np.ndarray:
    """Cross-stick click: a high tone and a burst of high-passed noise."""
    n = int(0.08 * SR)
    t = _time(n)
    return (np.sin(2.0 * np.pi * (820.0 + 60.0 * kit) * t) + _one_pole(_noise(n, n_key), 1500.0, high=True)) \
        * np.exp(-t / 0.015)


def _clap(n_key: int, kit: int) -> np.ndarray:
    """Three quick noise bursts and a short tail, band-passed around 1-2 kHz."""
    n = int(0.35 * SR)
    t = _time(n)
    bursts = sum(np.exp(-np.maximum(t - d, 0.0) / 0.006) * (t >= d) for d in (0.0, 0.011, 0.023))
    return _one_pole(_one_pole(_noise(n, n_key), 800.0, high=True), 2500.0 - 300.0 * kit) * (np.exp(-t / 0.12) + bursts)


_CYMBALS = {"hat": (0.09, 0.025, 6000.0), "open_hat": (0.45, 0.18, 5500.0), "ride": (1.2, 0.45, 3500.0),
            "crash": (1.8, 0.7, 2500.0)}  # seconds, decay, high-pass corner


def _cymbal(name: str, n_key: int, kit: int) -> np.ndarray:
    """High-passed mix of noise and inharmonic square waves (metallic ring)."""
    seconds, decay, corner = _CYMBALS[name]
    n = int(seconds * SR)
    t = _time(n)
    metal = sum(np.sign(np.sin(2.0 * np.pi * fr * t)) for fr in (2960.0, 3510.0, 4170.0, 5230.0)) / 4.0
    mix = 0.7 if name == "ride" else (0.3, 0.5, 0.2)[kit]
    y = _one_pole((1.0 - mix) * _noise(n, n_key) + mix * metal, 0.5 * corner * (1.0, 1.15, 0.7)[kit], high=True)
    if kit == 2:  # lo-fi: dull top
        y = _one_pole(y, 5000.0)
    return y * np.exp(-t / decay) * np.minimum(1.0, t / 0.001)


_DRUMS = {"kick": _kick, "snare": _snare, "rim": _rim, "clap": _clap, **{c: partial(_cymbal, c) for c in _CYMBALS}}


def drum_hit(name: str, kit: int) -> np.ndarray:
    """One drum sound of kit 0 (acoustic), 1 (electronic) or 2 (lo-fi), peak 1."""
    if name not in _DRUMS:
        raise ValueError(f"unknown drum {name!r}; expected one of {sorted(_DRUMS)}")
    y = _DRUMS[name](5000 + 10 * DRUM_NAMES.index(name) + kit % VARIANTS, kit % VARIANTS).astype(np.float32)
    return y / max(float(np.abs(y).max()), 1e-9)
