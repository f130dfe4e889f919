"""Small corpora laid out on disk exactly as MagnaTagATune and MTG-Jamendo ship, with synthetic music.

MTAT: `AUDIO_ROOT/0/` ... `f/` folders of 16 kHz mono MP3 clips named as in the real split lists of
`../shared/data/mtat` (train from folders 0-b, valid from c, test from d-f), and `annotations_final.csv`
as MTAT ships it: tab-separated, every field quoted, `clip_id`, the 188 tag columns in the real file's
order, `mp3_path`; one row per listed clip (valid/test rows reproduce the published labels) and a few
unlisted clips. MTG-Jamendo: `AUDIO_ROOT/NN/ID.mp3` at 44.1 kHz stereo, and a metadata folder with
`split-0/autotagging_<task>-<split>.tsv` (real rows of the real files, CRLF kept, DURATION set to the
length of the generated audio) and `tags/top50.txt`, `tags/moodtheme_split.txt`.

Each clip's music is a demo-corpus song whose style follows its tags (rock, electronic, classical...),
and each layout returns the tags every present clip must end up with.
"""
from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from engine.data.audio import resample
from engine.data.corpora import jamendo, mtat
from engine.data.corpora.demo import make_track

# The columns of MTAT's annotations_final.csv between clip_id and mp3_path, in the file's order.
MTAT_TAG_COLUMNS = (
    "no voice", "singer", "duet", "plucking", "hard rock", "world", "bongos", "harpsichord", "female singing",
    "clasical", "sitar", "chorus", "female opera", "male vocal", "vocals", "clarinet", "heavy", "silence",
    "beats", "men", "woodwind", "funky", "no strings", "chimes", "foreign", "no piano", "horns", "classical",
    "female", "no voices", "soft rock", "eerie", "spacey", "jazz", "guitar", "quiet", "no beat", "banjo",
    "electric", "solo", "violins", "folk", "female voice", "wind", "happy", "ambient", "new age", "synth",
    "funk", "no singing", "middle eastern", "trumpet", "percussion", "drum", "airy", "voice", "repetitive",
    "birds", "space", "strings", "bass", "harpsicord", "medieval", "male voice", "girl", "keyboard",
    "acoustic", "loud", "classic", "string", "drums", "electronic", "not classical", "chanting", "no violin",
    "not rock", "no guitar", "organ", "no vocal", "talking", "choral", "weird", "opera", "soprano", "fast",
    "acoustic guitar", "electric guitar", "male singer", "man singing", "classical guitar", "country",
    "violin", "electro", "reggae", "tribal", "dark", "male opera", "no vocals", "irish", "electronica", "horn",
    "operatic", "arabic", "lol", "low", "instrumental", "trance", "chant", "strange", "drone", "synthesizer",
    "heavy metal", "modern", "disco", "bells", "man", "deep", "fast beat", "industrial", "hard", "harp",
    "no flute", "jungle", "pop", "lute", "female vocal", "oboe", "mellow", "orchestral", "viola", "light",
    "echo", "piano", "celtic", "male vocals", "orchestra", "eastern", "old", "flutes", "punk", "spanish",
    "sad", "sax", "slow", "male", "blues", "vocal", "indian", "no singer", "scary", "india", "woman",
    "woman singing", "rock", "dance", "piano solo", "guitars", "no drums", "jazzy", "singing", "cello", "calm",
    "female vocals", "voices", "different", "techno", "clapping", "house", "monks", "flute", "not opera",
    "not english", "oriental", "beat", "upbeat", "soft", "noise", "choir", "female singer", "rap", "metal",
    "hip hop", "quick", "water", "baroque", "women", "fiddle", "english",
)
# Demo-corpus style of a clip from its tags (first match), and the MTAT top-50 tags a generated train clip gets.
STYLE_OF_TAGS = (("rock", ("rock", "metal", "genre---rock", "genre---metal", "genre---punkrock")),
                 ("electronic", ("techno", "electronic", "dance", "beat", "genre---electronic", "genre---techno",
                                 "genre---house", "genre---dance", "genre---trance")),
                 ("waltz", ("classical", "strings", "violin", "harpsichord", "cello", "genre---classical")),
                 ("jazz", ("genre---jazz",)), ("hiphop", ("genre---hiphop", "genre---rap")))
TRAIN_TAGS = {"rock": ("rock", "guitar", "drums", "loud", "fast"),
              "electronic": ("electronic", "techno", "beat", "synth", "dance"),
              "waltz": ("classical", "strings", "violin", "slow"),
              "ballad": ("slow", "soft", "quiet", "piano")}
MTAT_FOLDERS = {"train": "0123456789ab", "valid": "c", "test": "def"}


@dataclass(frozen=True)
class Layout:
    """A laid-out corpus: its SOURCE string, audio root, and the tags each present track must carry."""

    source: str
    audio_root: Path
    expected_tags: dict[str, tuple[str, ...]]  # track id -> tags, in the source's tag order
    expected_split: dict[str, str]
    paths: dict[Path, str]  # audio file -> track id

    def track_id(self, path: Path) -> str | None:
        return self.paths.get(Path(path))


def style_of(tags: tuple[str, ...] | list[str]) -> str:
    for style, markers in STYLE_OF_TAGS:
        if any(t in markers for t in tags):
            return style
    return "ballad"


def _pick(clips: list[str], folders: str, n: int) -> list[str]:
    """n clips spread over `folders` (round robin), each folder's in list order."""
    by_folder = {f: [c for c in clips if c.startswith(f + "/")] for f in folders}
    picked: list[str] = []
    while len(picked) < n:
        for f in folders:
            if by_folder[f] and len(picked) < n:
                picked.append(by_folder[f].pop(0))
    return picked


def _write_mp3(path: Path, audio: np.ndarray, sample_rate: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio, sample_rate, format="MP3", subtype="MPEG_LAYER_III")


def make_mtat(root: Path, split_dir: Path, counts: dict[str, int], seconds: float = 10.0) -> Layout:
    """MTAT on disk under `root` (audio/ and annotations_final.csv) for the real split folder `split_dir`."""
    top50 = mtat.read_tags(split_dir)
    csv_name = [mtat.CSV_TAG_NAMES.get(t, t) for t in top50]
    column = {name: j for j, name in enumerate(MTAT_TAG_COLUMNS)}
    assert len(MTAT_TAG_COLUMNS) == 188 and all(n in column for n in csv_name)
    rng = np.random.default_rng(0)
    rows: dict[str, np.ndarray] = {}  # mp3 path -> (188,) 0/1
    lists = {split: mtat.read_list(split_dir, split) for split in MTAT_FOLDERS}
    published = {split: np.load(split_dir / mtat.PUBLISHED_LABELS[split]) for split in ("valid", "test")}
    for split, clips in lists.items():
        for i, clip in enumerate(clips):
            row = (rng.random(188) < 0.02).astype(np.uint8)  # the other 138 columns: sparse noise
            top = published[split][i] if split in published else (rng.random(50) < 0.08)
            row[[column[n] for n in csv_name]] = np.asarray(top, np.uint8)
            rows[mtat.mp3_path(clip)] = row
    expected, splits, paths = {}, {}, {}
    audio_root = root / "audio"
    index = 0
    for split, n in counts.items():
        for clip in _pick(lists[split], MTAT_FOLDERS[split], n):
            mp3 = mtat.mp3_path(clip)
            if split == "train":  # a train clip's tags follow the music generated for it
                style = ("rock", "electronic", "waltz", "ballad")[index % 4]
                rows[mp3][[column[n] for n in csv_name]] = 0
                rows[mp3][[column[mtat.CSV_TAG_NAMES.get(t, t)] for t in TRAIN_TAGS[style]]] = 1
            tags = tuple(t for t, name in zip(top50, csv_name) if rows[mp3][column[name]])
            style = style_of(tags) if split != "train" else style
            audio, _ = make_track(index, style, seed=11, seconds=seconds)
            _write_mp3(audio_root / mp3, audio, 16000)
            expected[mp3[: -len(".mp3")]], splits[mp3[: -len(".mp3")]] = tags, split
            paths[audio_root / mp3] = mp3[: -len(".mp3")]
            index += 1
    unlisted = {f"{f}/unlisted_artist-unlisted_album-01-track-0-29.mp3": (rng.random(188) < 0.05).astype(np.uint8)
                for f in "0cf"}
    annotations = root / "annotations_final.csv"
    with open(annotations, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow(["clip_id", *MTAT_TAG_COLUMNS, "mp3_path"])
        for clip_id, (mp3, row) in enumerate(sorted({**rows, **unlisted}.items())):
            writer.writerow([clip_id + 2, *row.tolist(), mp3])
    return Layout(f"mtat:{split_dir}:{audio_root}:{annotations}", audio_root, expected, splits, paths)


def make_jamendo(root: Path, shared: Path, counts: dict[str, int], seconds: float = 10.0,
                 sample_rate: int = 44100) -> Layout:
    """MTG-Jamendo split-0 on disk under `root` (audio/ and metadata/) from real rows of `shared`'s TSVs."""
    meta, audio_root = root / "metadata", root / "audio"
    (meta / "split-0").mkdir(parents=True)
    shutil.copytree(shared / "tags", meta / "tags")
    chosen: dict[str, tuple[str, str]] = {}  # track id -> (split, PATH)
    expected, splits, paths = {}, {}, {}
    index = 0
    for split, n in counts.items():
        lines = jamendo.tsv_path(shared / "split-0", "top50", split).read_bytes().splitlines(keepends=True)
        rows = [line.decode().rstrip("\r\n").split("\t") for line in lines[1:]]
        step = max(1, len(rows) // n)
        for fields in rows[::step][:n]:
            tags = tuple(t for t in fields[5:] if t)
            audio, _ = make_track(index, style_of(tags), seed=12, seconds=seconds)
            wide = resample(audio, 16000, sample_rate)
            stereo = np.stack([wide, 0.8 * np.roll(wide, 7)], axis=1)  # two different channels
            _write_mp3(audio_root / fields[3], stereo, sample_rate)
            chosen[fields[0]] = (split, fields[3])
            expected[fields[0]], splits[fields[0]] = tags, split
            paths[audio_root / fields[3]] = fields[0]
            index += 1
    duration = f"{seconds:.1f}".encode()
    for task in jamendo.TASKS:  # every task's TSVs: the header and the real rows of the chosen tracks
        for split in jamendo.FILE_SPLIT:
            lines = jamendo.tsv_path(shared / "split-0", task, split).read_bytes().splitlines(keepends=True)
            keep = [lines[0]]
            for line in lines[1:]:
                fields = line.split(b"\t")
                if fields[0].decode() in chosen:
                    fields[4] = duration
                    keep.append(b"\t".join(fields))
            jamendo.tsv_path(meta / "split-0", task, split).write_bytes(b"".join(keep))
    return Layout(f"jamendo:{meta}:{audio_root}:top50", audio_root, expected, splits, paths)
