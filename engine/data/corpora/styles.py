"""Genre-like styles of the demo corpus: tempo range, meter, swing, drum grooves, chord and bass rhythms.

Patterns are one bar on a 16th-note grid (16 steps in 4/4, 12 in 3/4). Drums: `X` accent, `x`
normal, `o` ghost, `.` rest. Chords: `x` whole chord, `a` next arpeggio note, `-` hold, `.` rest.
Bass: `R` root, `5` fifth, `8` octave, `W` walking quarter note, `-` hold, `.` rest.
Styles deliberately share tempo ranges, drum sounds and instrument pools: what sets them apart is
where the beats fall, the swing and the chord rhythm, not the spectrum.
"""
from __future__ import annotations

from dataclasses import dataclass

GENRES = ("rock", "electronic", "hiphop", "jazz", "reggae", "ballad", "funk", "waltz")
INSTRUMENTS = ("drums", "bass", "guitar", "piano", "pad", "lead", "organ", "bell")
MOODS = ("happy", "sad", "energetic", "calm", "bright", "dark")

Progression = tuple[int, ...]  # scale degrees (0 = tonic), one chord per bar


@dataclass(frozen=True)
class Style:
    """How one genre is played."""

    tempo: tuple[float, float]  # BPM range
    beats: int  # beats per bar
    swing: tuple[float, float]  # where the off-beat falls inside its pair, 0.5 = straight
    swing_16ths: bool  # swing the 16ths (hip-hop, funk) instead of the 8ths (jazz)
    grooves: tuple[dict[str, str], ...]  # drum patterns, one chosen per track
    comp: tuple[str, ...]  # chord rhythms
    bass: tuple[str, ...]  # bass rhythms
    major: tuple[Progression, ...]
    minor: tuple[Progression, ...]
    major_p: float  # probability of a major key
    sevenths: float  # probability of four-note chords
    melody_density: float  # probability of a melody onset on each 8th
    staccato: bool  # chords are cut short (skank, stabs)
    pool: dict[str, float]  # probability that each instrument joins a track


STYLES: dict[str, Style] = {
    "rock": Style(
        tempo=(96, 152), beats=4, swing=(0.5, 0.52), swing_16ths=False,
        grooves=({"kick": "X.......X.x.....", "snare": "....X.......X...", "hat": "x.x.x.x.x.x.x.x."},
                 {"kick": "X.....x.X.......", "snare": "....X.......X...", "hat": "x.x.x.x.x.x.x.x."},
                 {"kick": "X.......X.......", "snare": "....X.......X...", "ride": "x.x.x.x.x.x.x.x."}),
        comp=("x-x-x-x-x-x-x-x-", "x-----x-x-----x-", "x-------x---x---"),
        bass=("R-R-R-R-R-R-R-R-", "R-----R-R---5-R-", "R-R-R-R-5-5-8-8-"),
        major=((0, 4, 5, 3), (0, 3, 4, 3), (0, 5, 3, 4), (0, 3, 0, 4)),
        minor=((0, 5, 2, 6), (0, 6, 5, 6), (0, 3, 6, 5)),
        major_p=0.6, sevenths=0.05, melody_density=0.45, staccato=False,
        pool={"drums": 0.95, "bass": 0.85, "guitar": 0.7, "piano": 0.4, "pad": 0.3, "lead": 0.45,
              "organ": 0.4, "bell": 0.2},
    ),
    "electronic": Style(
        tempo=(114, 136), beats=4, swing=(0.5, 0.5), swing_16ths=True,
        grooves=({"kick": "X...X...X...X...", "clap": "....X.......X...", "open_hat": "..x...x...x...x."},
                 {"kick": "X...X...X...X...", "clap": "....X.......X...", "hat": "XoxoXoxoXoxoXoxo"},
                 {"kick": "X...X...X...X..x", "snare": "....X.......X...", "hat": "..x...x...x...x."}),
        comp=("..x...x...x...x.", "x---------------", "x--.x--.x--.x--."),
        bass=("..R...R...R...R.", "R.R.R.R.R.R.R.R.", "R..R..R..R..R.R."),
        major=((5, 3, 0, 4), (0, 4, 5, 3)),
        minor=((0, 5, 2, 6), (0, 0, 5, 6), (0, 3, 5, 4)),
        major_p=0.45, sevenths=0.2, melody_density=0.4, staccato=False,
        pool={"drums": 0.95, "bass": 0.85, "guitar": 0.2, "piano": 0.4, "pad": 0.55, "lead": 0.55,
              "organ": 0.25, "bell": 0.35},
    ),
    "hiphop": Style(
        tempo=(74, 100), beats=4, swing=(0.56, 0.66), swing_16ths=True,
        grooves=({"kick": "X......x..X.....", "snare": "....X.......X...", "hat": "x.x.x.x.x.x.x.x."},
                 {"kick": "X..x......X..x..", "snare": "....X.......X...", "hat": "xxxxxxxxxxxxxxxx"},
                 {"kick": "X.....x...X....x", "clap": "....X.......X...", "hat": "x.xxx.x.x.xxx.x."}),
        comp=("x---------------", "x-------x-------", "x-----x---------"),
        bass=("R......R..R.....", "R--R......R--R..", "R-------5-----R-"),
        major=((0, 5, 3, 4), (3, 4, 0, 0)),
        minor=((0, 5, 0, 5), (0, 3, 0, 3), (0, 6, 5, 6)),
        major_p=0.35, sevenths=0.6, melody_density=0.35, staccato=False,
        pool={"drums": 0.95, "bass": 0.8, "guitar": 0.25, "piano": 0.5, "pad": 0.45, "lead": 0.3,
              "organ": 0.3, "bell": 0.4},
    ),
    "jazz": Style(
        tempo=(92, 172), beats=4, swing=(0.62, 0.7), swing_16ths=False,
        grooves=({"ride": "X...x.x.X...x.x.", "hat": "....x.......x...", "kick": "o...o...o...o..."},
                 {"ride": "X...x.x.X...x.x.", "hat": "....x.......x...", "snare": "......o.......o."},
                 {"hat": "X...x.x.X...x.x.", "kick": "o.......o.....o.", "snare": "..........o....."}),
        comp=("x-----x-........", "......x-......x-", "x--.......x-....", "x-..x-....x-...."),
        bass=("W...W...W...W...",),
        major=((1, 4, 0, 0), (0, 5, 1, 4), (2, 5, 1, 4)),
        minor=((1, 4, 0, 0), (0, 3, 1, 4)),
        major_p=0.55, sevenths=1.0, melody_density=0.55, staccato=False,
        pool={"drums": 0.85, "bass": 0.85, "guitar": 0.4, "piano": 0.6, "pad": 0.2, "lead": 0.5,
              "organ": 0.35, "bell": 0.2},
    ),
    "reggae": Style(
        tempo=(68, 98), beats=4, swing=(0.5, 0.58), swing_16ths=False,
        grooves=({"kick": "........X.......", "rim": "........X.......", "hat": "x.x.x.x.x.x.x.x."},
                 {"kick": "X...X...X...X...", "rim": "........X.......", "hat": "x.xxx.xxx.xxx.xx"},
                 {"kick": "........X.......", "snare": "........X.......", "hat": "..x...x...x...x."}),
        comp=("..x...x...x...x.", "....x.......x...", "..x.x...x...x.x."),
        bass=("..R.R...5..R.R..", ".....R.R8.5.R...", "R---..R.5-..R..."),
        major=((0, 3, 0, 4), (0, 3, 4, 3), (0, 5, 3, 4)),
        minor=((0, 6, 0, 6), (0, 3, 0, 3), (0, 5, 6, 0)),
        major_p=0.5, sevenths=0.1, melody_density=0.35, staccato=True,
        pool={"drums": 0.95, "bass": 0.9, "guitar": 0.5, "piano": 0.4, "pad": 0.25, "lead": 0.35,
              "organ": 0.5, "bell": 0.2},
    ),
    "ballad": Style(
        tempo=(56, 86), beats=4, swing=(0.5, 0.54), swing_16ths=False,
        grooves=({"kick": "X.......X.......", "rim": "....x.......x...", "hat": "x...x...x...x..."},
                 {"kick": "X.........x.....", "snare": "....x.......x...", "hat": "x.x.x.x.x.x.x.x."}),
        comp=("a-a-a-a-a-a-a-a-", "x---------------", "x-------x-------", "a---a---a---a---"),
        bass=("R-------5-------", "R---------------", "R-----R-5-------"),
        major=((0, 4, 5, 3), (0, 5, 3, 4), (3, 0, 4, 5)),
        minor=((0, 5, 2, 6), (0, 3, 6, 2)),
        major_p=0.5, sevenths=0.3, melody_density=0.3, staccato=False,
        pool={"drums": 0.6, "bass": 0.7, "guitar": 0.45, "piano": 0.6, "pad": 0.5, "lead": 0.35,
              "organ": 0.2, "bell": 0.35},
    ),
    "funk": Style(
        tempo=(90, 118), beats=4, swing=(0.5, 0.56), swing_16ths=True,
        grooves=({"kick": "X.....x...X..x..", "snare": "....X..o.o..X..o", "hat": "XxoxXxoxXxoxXxox"},
                 {"kick": "X..x..x...x....x", "snare": "....X.o.....X.o.", "hat": "x.x.x.x.x.x.x.x."},
                 {"kick": "X.x...x...X.....", "snare": "....X..o....X...", "hat": "xxxxxxxxxxxxxxxx"}),
        comp=("..x..x....x..x..", "x.x..x.x..x..x.x", ".x.x.x...x.x.x.."),
        bass=("R..8..R.R..8.R5.", "R.R...8.R..R.5.8", "R...R.8...R.5..."),
        major=((0, 0, 3, 3), (0, 3, 0, 3)),
        minor=((0, 0, 3, 3), (0, 3, 0, 4), (0, 0, 0, 3)),
        major_p=0.45, sevenths=0.8, melody_density=0.45, staccato=True,
        pool={"drums": 0.95, "bass": 0.9, "guitar": 0.55, "piano": 0.4, "pad": 0.2, "lead": 0.45,
              "organ": 0.4, "bell": 0.15},
    ),
    "waltz": Style(
        tempo=(84, 156), beats=3, swing=(0.5, 0.58), swing_16ths=False,
        grooves=({"kick": "X...........", "snare": "....x...x...", "hat": "x...x...x..."},
                 {"kick": "X.......x...", "rim": "....x...x...", "hat": "x.x.x.x.x.x."}),
        comp=("....x-..x-..", "x-----------", "a-a-a-a-a-a-", "x-..x-..x-.."),
        bass=("R---........", "R---....5---", "R-......5-.."),
        major=((0, 3, 4, 0), (0, 4, 4, 0), (0, 5, 3, 4)),
        minor=((0, 3, 4, 0), (0, 5, 3, 4)),
        major_p=0.55, sevenths=0.1, melody_density=0.4, staccato=False,
        pool={"drums": 0.65, "bass": 0.75, "guitar": 0.45, "piano": 0.5, "pad": 0.35, "lead": 0.4,
              "organ": 0.3, "bell": 0.35},
    ),
}

TAG_DESCRIPTIONS: dict[str, str] = {
    "genre:rock": "straight 8th-note hi-hat or ride, kick on 1 and 3, snare on 2 and 4, driving "
                  "8th-note chords and root bass, 96-152 BPM",
    "genre:electronic": "four-on-the-floor kick, clap on 2 and 4, off-beat hats, chord stabs or "
                        "held pads, pumping off-beat bass, strictly in time, 114-136 BPM",
    "genre:hiphop": "syncopated boom-bap kick, snare on 2 and 4, swung 16th-note hats, long "
                    "chords changing once or twice a bar, 74-100 BPM",
    "genre:jazz": "swung ride (or closed hi-hat) pattern, hi-hat pedal on 2 and 4, walking quarter-note bass, "
                  "syncopated comping of seventh chords (ii-V-I), 92-172 BPM",
    "genre:reggae": "one-drop drums (kick and rim together on beat 3 only) or steppers (kick on every "
                    "beat), short off-beat chord skanks, syncopated bass that rests on the downbeat, 68-98 BPM",
    "genre:ballad": "slow, soft or no drums, arpeggiated or held chords, long bass notes, 56-86 BPM",
    "genre:funk": "busy 16th-note hats and ghost notes, syncopated kick, short 16th-note chord "
                  "stabs over one- or two-chord vamps, octave-jumping bass, 90-118 BPM",
    "genre:waltz": "three beats to the bar: bass on 1, chords on 2 and 3 (oom-pah-pah), 84-156 BPM",
    "instrument:drums": "noise and pitch-swept hits: kick, snare, rim, clap, closed and open hi-hat, "
                        "ride, crash (three kits shared by all genres)",
    "instrument:bass": "low additive tone (about 65-250 Hz) with a plucked attack that darkens as it decays",
    "instrument:guitar": "Karplus-Strong plucked string: strummed chords, or the melody when no lead or bell plays",
    "instrument:piano": "additive piano: hammer click, bright attack, two-stage decay, slightly detuned string pair",
    "instrument:pad": "three detuned band-limited saw waves with a slow attack and a slow swell, held chords",
    "instrument:lead": "monophonic saw, square or flute-like tone with delayed vibrato, plays melodies",
    "instrument:organ": "drawbar organ (sums of octave and fifth harmonics) with rotary tremolo and key click",
    "instrument:bell": "two-operator FM tone with inharmonic partials and a long ring; melody or arpeggios",
    "mood:happy": "major key at 90 BPM or faster",
    "mood:sad": "minor key below 110 BPM",
    "mood:energetic": "drums at 110 BPM or faster",
    "mood:calm": "below 90 BPM, or no drums",
    "mood:bright": "bright timbres (more high harmonics in every instrument) and the melody an octave higher",
    "mood:dark": "dark timbres (few high harmonics) in a minor key",
}
