"""Bar writers of the demo corpus: turn a style, a chord and a bar index into timed notes and hits.

Times are in seconds from the start of the track; a 16th-note step grid with swing, small timing
jitter and velocity variation, all drawn from the song's numpy Generator.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.data.corpora.styles import Style

MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
CENTER = {"guitar": 57, "piano": 62, "organ": 60, "pad": 55, "bell": 79}  # chord voicing centre


@dataclass(frozen=True)
class Note:
    instrument: str
    start: float  # seconds
    pitch: int  # MIDI
    length: float  # seconds to note-off
    velocity: float
    preset: int = 0  # timbre variant of the instrument in this note's section


@dataclass(frozen=True)
class Hit:
    drum: str
    start: float  # seconds
    velocity: float
    kit: int = 0  # drum kit of this hit's section


def chord(degree: int, major: bool, seventh: bool) -> list[int]:
    """Semitones above the tonic of a diatonic triad or seventh chord (harmonic minor for V)."""
    scale = list(MAJOR if major else MINOR)
    if not major and degree % 7 == 4:
        scale[6] = 11
    return [scale[(degree + 2 * i) % 7] + 12 * ((degree + 2 * i) // 7) for i in range(4 if seventh else 3)]


def _voicing(key: int, tones: list[int], center: int) -> list[int]:
    """Close voicing of the chord's pitch classes within an octave around `center`."""
    low = center - 6
    return sorted(low + (key + t - low) % 12 for t in tones)


class Writer:
    """Turns one song's choices into timed notes and hits."""

    def __init__(self, style: Style, tempo: float, swing: float, rng: np.random.Generator, jitter: float):
        self.style, self.rng, self.jitter = style, rng, jitter
        self.beat = 60.0 / tempo
        self.steps = style.beats * 4
        self.bar = self.beat * style.beats
        self.swing = swing
        self.notes: list[Note] = []
        self.hits: list[Hit] = []
        self.presets: dict[str, int] = {}  # instrument -> timbre variant (drums -> kit) of the current section

    def time(self, bar: int, step: float) -> float:
        """Onset of a 16th-note step (may exceed the bar) with swing applied."""
        beat, sub = divmod(step, 4)
        if self.style.swing_16ths:
            frac = (sub // 2) * 0.5 + (sub % 2) * self.swing * 0.5
        else:
            x = sub / 4
            frac = x / 0.5 * self.swing if x <= 0.5 else self.swing + (x - 0.5) / 0.5 * (1 - self.swing)
        return bar * self.bar + (beat + frac) * self.beat

    def note(self, inst: str, bar: int, step: int, length: float, pitch: int, vel: float, delay: float = 0.0) -> None:
        """Add a note `length` steps long (note-off just before the next step) with jitter and humanised velocity."""
        start = self.time(bar, step) + delay + self.rng.normal(0.0, self.jitter)
        end = self.time(bar, step + length)
        self.notes.append(Note(inst, max(0.0, start), int(pitch), max(0.05, end - start - 0.01),
                               vel * self.rng.uniform(0.85, 1.0), self.presets.get(inst, 0)))

    def hit(self, drum: str, bar: int, step: int, vel: float) -> None:
        """Add a drum hit with jitter and humanised velocity."""
        start = self.time(bar, step) + self.rng.normal(0.0, self.jitter)
        self.hits.append(Hit(drum, max(0.0, start), vel * self.rng.uniform(0.85, 1.0), self.presets.get("drums", 0)))


def runs(pattern: str) -> list[tuple[int, str, int]]:
    """(step, symbol, length in steps) for each onset of a pattern; `-` extends the previous one."""
    out = []
    for i, c in enumerate(pattern):
        if c not in "-.":
            n = 1
            while i + n < len(pattern) and pattern[i + n] == "-":
                n += 1
            out.append((i, c, n))
    return out


def motif(rng: np.random.Generator, density: float, steps: int) -> list[tuple[int, int, int]]:
    """A two-bar melodic idea: (step, length in steps, scale degree) per note, on the 8th grid."""
    onsets = [p for p in range(0, 2 * steps, 2) if rng.random() < density * (1.4 if p % 4 == 0 else 0.7)]
    if len(onsets) < 2:
        onsets = [0, steps]
    degree = int(rng.choice([0, 2, 4]))
    out = []
    for a, b in zip(onsets, onsets[1:] + [2 * steps]):
        out.append((a, min(b - a, 8), degree))
        degree = int(np.clip(degree + rng.choice([-3, -2, -1, -1, 0, 1, 1, 2, 3]), -3, 9))
    return out


def _degree_pitch(degree: int, scale: tuple[int, ...]) -> int:
    return scale[degree % 7] + 12 * (degree // 7)


def _snap(degree: int, root: int) -> int:
    """Nearest chord-tone degree (root, third, fifth of the chord on `root`)."""
    return min((d for d in range(degree - 2, degree + 3) if (d - root) % 7 in (0, 2, 4)),
               key=lambda d: (abs(d - degree), d))


class Parts:
    """Writes the bars of every part (drums, bass, chords, melody) of one song."""

    def __init__(self, w: Writer, key: int, major: bool, seventh: bool):
        self.w, self.key, self.major, self.seventh = w, key, major, seventh
        self.scale = MAJOR if major else MINOR

    def drums(self, groove: dict[str, str], bar: int, mode: str, crash: bool, fill: bool, vel: float) -> None:
        level = {"X": 1.0, "x": 0.75, "o": 0.35}
        for drum, pattern in groove.items():
            for step, c in enumerate(pattern):
                light_ok = drum in ("hat", "ride", "rim") or (drum == "kick" and step == 0)
                if c in level and (mode == "full" or light_ok):
                    self.w.hit(drum, bar, step, level[c] * vel * (1.0 if mode == "full" else 0.7))
        if crash:
            self.w.hit("crash", bar, 0, vel)
        if fill:
            for step, v in zip(range(self.w.steps - 4, self.w.steps), (0.45, 0.6, 0.8, 1.0)):
                self.w.hit("snare", bar, step, v * vel)

    def bass(self, pattern: str, bar: int, degree: int, next_degree: int, vel: float) -> None:
        tones = chord(degree, self.major, self.seventh)
        root = 36 + (self.key + tones[0] - 36) % 12
        next_root = 36 + (self.key + chord(next_degree, self.major, False)[0] - 36) % 12
        for step, c, n in runs(pattern):
            if c == "W":  # walking: root, chord or scale tones, chromatic approach to the next root
                beat = step // 4
                if beat == 0:
                    pitch = root
                elif beat == self.w.style.beats - 1:
                    pitch = next_root + int(self.w.rng.choice([-1, 1]))
                else:
                    pitch = root + int(self.w.rng.choice([t - tones[0] for t in tones[1:]] + [2, 5, 12]))
                self.w.note("bass", bar, step, 4, pitch, vel)
            else:
                self.w.note("bass", bar, step, n, root + {"R": 0, "5": 7, "8": 12}[c], vel)

    def chords(self, inst: str, pattern: str, bar: int, degree: int, vel: float) -> None:
        voicing = _voicing(self.key, chord(degree, self.major, self.seventh), CENTER[inst])
        if inst == "pad":
            pattern = "x" + "-" * (self.w.steps - 1)
        arp = voicing + [voicing[0] + 12]
        k = 0
        for step, c, n in runs(pattern):
            length = 0.6 if self.w.style.staccato and n == 1 else n
            if c == "a":
                self.w.note(inst, bar, step, length, arp[k % len(arp)], vel)
                k += 1
                continue
            for j, pitch in enumerate(voicing):
                self.w.note(inst, bar, step, length, pitch, vel * 0.8, 0.012 * j if inst == "guitar" else 0.0)

    def melody(self, inst: str, motif: list[tuple[int, int, int]], bar0: int, bars: int,
               prog: tuple[int, ...], lift: int, vel: float) -> None:
        base = 67 + (self.key - 67) % 12  # tonic between G4 and F#5
        for phrase in range(0, bars, 2):
            for pos, length, degree in motif:
                bar, step = bar0 + phrase + pos // self.w.steps, pos % self.w.steps
                if bar >= bar0 + bars:
                    continue
                chord_root = prog[(bar - bar0) % len(prog)]
                d = _snap(degree + lift, chord_root) if step % 4 == 0 else degree + lift
                pitch = base + _degree_pitch(d, self.scale)
                while pitch > 93:  # keep the top of the melody below A6
                    pitch -= 12
                self.w.note(inst, bar, step, length, pitch, vel * (1.0 if step % 4 == 0 else 0.85))
