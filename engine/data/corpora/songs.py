"""Song plans of the demo corpus (key, chords, sections, notes, drum hits) and their rendering to audio.

A plan is drawn from a genre's style with a numpy Generator, so one seed gives one song. Sections
(intro, verse, chorus, bridge) change instrumentation, density, register and loudness, so two
crops of a track share its tempo, key, groove and instruments but not their exact sound.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from engine.data.corpora import synth
from engine.data.corpora.parts import Hit, Note, Parts, Writer, motif
from engine.data.corpora.styles import STYLES, Style

CHORDS = ("guitar", "piano", "organ", "pad")  # instruments that can comp
MELODY = ("lead", "bell", "guitar", "piano", "organ")  # preference order for the melody
GAIN = {"bass": 0.3, "guitar": 0.26, "piano": 0.15, "pad": 0.12, "lead": 0.25, "organ": 0.09, "bell": 0.16}
DRUM_GAIN = {"kick": 0.9, "snare": 0.6, "rim": 0.35, "clap": 0.55, "hat": 0.22, "open_hat": 0.2,
             "ride": 0.2, "crash": 0.3}
SECTION_GAIN = {"intro": 0.7, "verse": 0.85, "chorus": 1.0, "bridge": 0.8}
BRIGHTNESS = (0.15, 0.5, 0.85)  # timbre brightness of the dark, neutral and bright levels


@dataclass(frozen=True)
class Section:
    kind: str  # intro | verse | chorus | bridge
    start: float  # seconds
    end: float


@dataclass
class Song:
    """Everything needed to render one track and to tag it."""

    genre: str
    tempo: float
    key: int  # pitch class of the tonic
    major: bool
    brightness: int  # 0 dark, 1 neutral, 2 bright
    presets: dict[str, int]  # instrument -> timbre variant (drums -> kit) of the first section; later sections draw anew
    sections: list[Section]
    notes: list[Note]
    hits: list[Hit]

    @property
    def instruments(self) -> tuple[str, ...]:
        """Instruments that actually play at least one note in the track."""
        playing = {n.instrument for n in self.notes} | ({"drums"} if self.hits else set())
        return tuple(sorted(playing))

    def moods(self) -> tuple[str, ...]:
        """Moods from tempo, mode, brightness and drums; every track gets at least one."""
        drums = "drums" in self.instruments
        rules = {
            "happy": self.major and self.tempo >= 90,
            "sad": not self.major and self.tempo < 110,
            "energetic": drums and self.tempo >= 110,
            "calm": self.tempo < 90 or not drums,
            "bright": self.brightness == 2,
            "dark": self.brightness == 0 and not self.major,
        }
        return tuple(m for m, on in rules.items() if on)

    def tags(self) -> list[str]:
        """`genre:...`, then `instrument:...` and `mood:...` tags of the track."""
        return ([f"genre:{self.genre}"] + [f"instrument:{i}" for i in self.instruments]
                + [f"mood:{m}" for m in self.moods()])


def _pick_instruments(style: Style, rng: np.random.Generator) -> list[str]:
    chosen = [i for i, p in style.pool.items() if rng.random() < p]
    if not any(i in CHORDS for i in chosen):
        chosen.append(str(rng.choice(CHORDS)))
    while len(chosen) < 3:
        extra = [i for i in style.pool if i not in chosen]
        chosen.append(str(rng.choice(extra)))
    return chosen


def _sections(seconds: float, bar: float, rng: np.random.Generator) -> list[tuple[str, int, int]]:
    """(kind, first bar, bar count) covering the track: [intro] verse chorus verse chorus bridge chorus..."""
    n_bars = math.ceil(seconds / bar)
    size = 4 if bar <= 2.4 else 2  # sections of about 4-10 s
    out = [("intro", 0, size // 2 if rng.random() < 0.5 else size)] if rng.random() < 0.85 else []
    start = out[0][2] if out else 0
    form = ("verse", "chorus", "verse", "chorus", "bridge", "chorus")  # then repeats from the second verse
    body = 0
    while start < n_bars:
        out.append((form[body if body < len(form) else 2 + (body - 2) % 4], start, size))
        start += size
        body += 1
    return out


def _arrange(kind: str, instruments: list[str], comps: list[str], melody: str | None,
             rng: np.random.Generator) -> tuple[set[str], str]:
    """Who plays in a section (roles: instrument names and "arp"), and the drums: full, light or none."""
    if kind == "intro":
        active = {comps[0]} | ({"bass"} if rng.random() < 0.4 else set())
        drums = "light"
    elif kind == "verse":
        active = {comps[0], "bass"} | ({melody} if melody else set()) | {c for c in comps[1:] if rng.random() < 0.5}
        drums = "full"
    elif kind == "chorus":
        active, drums = set(instruments) | {"arp"}, "full"
    else:  # bridge: the other chord instruments, maybe no melody, thinner drums
        active = set(comps[1:] or comps) | ({"bass"} if rng.random() < 0.7 else set())
        active |= {melody} if melody and rng.random() < 0.5 else set()
        drums = "light" if rng.random() < 0.5 else "full"
    return active & (set(instruments) | {"arp"}), drums if "drums" in instruments else "none"


def plan_song(genre: str, seconds: float, rng: np.random.Generator) -> Song:
    """Draw one song of `genre` lasting `seconds`: all musical choices come from `rng`."""
    style = STYLES[genre]
    tempo = float(rng.uniform(*style.tempo))
    w = Writer(style, tempo, float(rng.uniform(*style.swing)), rng, 0.001 if genre == "electronic" else 0.005)
    major = bool(rng.random() < style.major_p)
    key, brightness = int(rng.integers(12)), int(rng.integers(3))
    instruments = _pick_instruments(style, rng)
    presets = {i: int(rng.integers(synth.VARIANTS)) for i in instruments}
    parts = Parts(w, key, major, bool(rng.random() < style.sevenths))

    melody = next((i for i in MELODY if i in instruments), None)
    comps = [i for i in CHORDS if i in instruments and i != melody]
    if not comps:
        melody, comps = None, [i for i in CHORDS if i in instruments]
    arp = "bell" if melody == "lead" and "bell" in instruments else None
    rng.shuffle(comps)

    progs = style.major if major else style.minor
    kinds = ("intro", "verse", "chorus", "bridge")
    prog = {k: progs[int(rng.integers(len(progs)))] for k in kinds}
    prog["intro"] = prog["verse"]
    comp = {k: style.comp[int(rng.integers(len(style.comp)))] for k in kinds}
    bass = {k: style.bass[int(rng.integers(len(style.bass)))] for k in kinds}
    motifs = {k: motif(rng, style.melody_density * (1.3 if k == "chorus" else 1.0), w.steps) for k in kinds}
    lift = {"intro": 0, "verse": 0, "chorus": int(rng.choice([2, 4, 7])), "bridge": int(rng.choice([-2, 0, 3]))}
    if brightness == 2:
        lift = {k: v + 7 for k, v in lift.items()}
    groove = style.grooves[int(rng.integers(len(style.grooves)))]
    chorus_groove = groove
    if "hat" in groove and "ride" not in groove and rng.random() < 0.4:  # the chorus moves to the ride
        chorus_groove = {("ride" if d == "hat" else d): p for d, p in groove.items()}

    plan = _sections(seconds, w.bar, rng)
    sections = []
    for idx, (kind, bar0, bars) in enumerate(plan):
        nxt = plan[idx + 1][0] if idx + 1 < len(plan) else None
        gain = SECTION_GAIN[kind] * rng.uniform(0.9, 1.1)
        mix = {i: gain * 10.0 ** (rng.uniform(-2.0, 2.0) / 20.0) for i in instruments}
        active, drums = _arrange(kind, instruments, comps, melody, rng)
        w.presets = presets if idx == 0 else {i: int(rng.integers(synth.VARIANTS)) for i in instruments}
        sections.append(Section(kind, bar0 * w.bar, min(seconds, (bar0 + bars) * w.bar)))
        for i in range(bars):
            bar = bar0 + i
            if bar * w.bar >= seconds:
                break
            degree, next_degree = prog[kind][i % len(prog[kind])], prog[kind][(i + 1) % len(prog[kind])]
            if drums != "none":
                parts.drums(chorus_groove if kind == "chorus" else groove, bar, drums, kind == "chorus" and i == 0,
                            drums == "full" and i == bars - 1 and nxt == "chorus", mix["drums"])
            if "bass" in active:
                parts.bass(bass[kind], bar, degree, next_degree, mix["bass"])
            for inst in comps:
                if inst in active:
                    parts.chords(inst, comp[kind], bar, degree, mix[inst])
            if arp and "arp" in active:
                parts.chords("bell", "a...a...a...a..."[: w.steps], bar, degree, mix["bell"])
        if melody and melody in active and kind != "intro":
            parts.melody(melody, motifs[kind], bar0, bars, prog[kind], lift[kind], mix[melody])

    notes = [n for n in w.notes if n.start < seconds]
    hits = [h for h in w.hits if h.start < seconds]
    return Song(genre, tempo, key, major, brightness, presets, sections, notes, hits)


def render(song: Song, seconds: float, only: Iterable[str] | None = None) -> np.ndarray:
    """Mix the song (or only some instruments) to a mono float32 signal of `seconds` at 16 kHz."""
    keep = set(only) if only is not None else set(song.instruments)
    n = int(round(seconds * synth.SR))
    out = np.zeros(n + 2 * synth.SR, np.float32)  # room for release tails, cut at the end
    notes = [x for x in song.notes if x.instrument in keep]
    need: dict[tuple[str, int, int], int] = {}
    for x in notes:
        length = int(x.length * synth.SR) + int(synth.RELEASE_S[x.instrument] * synth.SR)
        need[(x.instrument, x.pitch, x.preset)] = max(need.get((x.instrument, x.pitch, x.preset), 0), length)
    bright = BRIGHTNESS[song.brightness]
    tones = {(i, p, v): synth.tone(i, p, min(m, int(synth.MAX_TONE_S.get(i, 60.0) * synth.SR)), v, bright)
             for (i, p, v), m in need.items()}
    cut: dict[tuple[str, int, int, int], np.ndarray] = {}
    for x in notes:
        on = int(x.length * synth.SR)
        k = (x.instrument, x.pitch, x.preset, on)
        if k not in cut:
            cut[k] = synth.release(tones[(x.instrument, x.pitch, x.preset)], on, x.instrument)
        s = int(x.start * synth.SR)
        w = cut[k][: len(out) - s]
        out[s : s + len(w)] += (x.velocity * GAIN[x.instrument]) * w
    if "drums" in keep:
        samples = {(h.drum, h.kit): synth.drum_hit(h.drum, h.kit) for h in song.hits}
        for h in song.hits:
            s = int(h.start * synth.SR)
            w = samples[(h.drum, h.kit)][: len(out) - s]
            out[s : s + len(w)] += (h.velocity * DRUM_GAIN[h.drum]) * w
    return out[:n]
