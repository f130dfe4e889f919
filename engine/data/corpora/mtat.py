"""MagnaTagATune top-50 with the standard 15,244 / 1,529 / 4,332 split (Lee et al. 2017).

The split folder holds the clip lists (`*_list.txt`), the tag order (`top50_tags.txt`) and the
published valid/test labels (`y_*_pub.npy`). Train labels are rebuilt from MTAT's own
`annotations_final.csv`, which also has to reproduce the published valid/test labels exactly.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from engine.data.corpora.base import SPLITS, Corpus, Problem, Split, Track

TAGS_FILE = "top50_tags.txt"
LIST_FILES: dict[Split, str] = {"train": "train_list.txt", "valid": "valid_list.txt", "test": "test_list.txt"}
PUBLISHED_LABELS: dict[Split, str] = {"valid": "y_valid_pub.npy", "test": "y_test_pub.npy"}
ANNOTATIONS_FILE = "annotations_final.csv"
PATH_COLUMN = "mp3_path"
# The split files write these eight tags in camelCase; annotations_final.csv spells them with spaces.
CSV_TAG_NAMES = {
    "noVocals": "no vocals",
    "maleVocal": "male vocal",
    "noVocal": "no vocal",
    "newAge": "new age",
    "maleVoice": "male voice",
    "femaleVocal": "female vocal",
    "noVoice": "no voice",
    "femaleVoice": "female voice",
}


@dataclass(frozen=True)
class Annotations:
    """MTAT's `annotations_final.csv`: column index per name and the 0/1 row of each mp3 path."""

    path: Path
    columns: dict[str, int]
    rows: dict[str, tuple[int, list[str]]]  # mp3_path -> (line number, fields)


def _lines(path: Path) -> list[str]:
    if not path.is_file():
        raise ValueError(f"mtat: file not found: {path}")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def read_tags(split_dir: Path) -> list[str]:
    """The 50 tag names in label-column order."""
    return _lines(Path(split_dir) / TAGS_FILE)


def read_list(split_dir: Path, split: Split) -> list[str]:
    """Clip paths of one split as the list writes them (`c/name-117-146.npy`)."""
    return _lines(Path(split_dir) / LIST_FILES[split])


def mp3_path(clip: str) -> str:
    """The MTAT mp3 path of a list entry: `c/x.npy` -> `c/x.mp3`."""
    return str(PurePosixPath(clip).with_suffix(".mp3"))


def published_labels(split_dir: Path, split: Split, n_rows: int, n_tags: int) -> np.ndarray:
    """Published binary labels of valid or test, shape (n_rows, n_tags)."""
    path = Path(split_dir) / PUBLISHED_LABELS[split]
    if not path.is_file():
        raise ValueError(f"mtat: file not found: {path}")
    labels = np.load(path, allow_pickle=False)
    if labels.shape != (n_rows, n_tags):
        raise ValueError(f"mtat: {path}: shape {labels.shape}, expected ({n_rows}, {n_tags})")
    return labels


def read_annotations(path: Path) -> Annotations:
    """Parse `annotations_final.csv` (tab-separated as MTAT ships it; comma-separated also read)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"mtat: annotations not found: {path}")
    with open(path, newline="", encoding="utf-8-sig") as f:
        first = f.readline()
        f.seek(0)
        reader = csv.reader(f, delimiter="\t" if "\t" in first else ",")
        header = [h.strip() for h in next(reader, [])]
        columns = {name: i for i, name in enumerate(header)}
        if PATH_COLUMN not in columns:
            raise ValueError(f"{path}:1: missing column '{PATH_COLUMN}'")
        path_index = columns[PATH_COLUMN]
        rows: dict[str, tuple[int, list[str]]] = {}
        for fields in reader:
            if not fields:
                continue
            if len(fields) != len(header):
                raise ValueError(f"{path}:{reader.line_num}: {len(fields)} fields, header has {len(header)}")
            rows[fields[path_index].strip()] = (reader.line_num, fields)
    return Annotations(path=path, columns=columns, rows=rows)


def label_matrix(annotations: Annotations, clips: list[str], tags: list[str]) -> np.ndarray:
    """Binary labels of `clips` (list entries) for `tags` (split-file names), shape (N, T) float64."""
    indices = []
    for tag in tags:
        column = CSV_TAG_NAMES.get(tag, tag)
        if column not in annotations.columns:
            raise ValueError(f"{annotations.path}:1: missing tag column '{column}'")
        indices.append((column, annotations.columns[column]))
    labels = np.zeros((len(clips), len(tags)), dtype=np.float64)
    for i, clip in enumerate(clips):
        entry = annotations.rows.get(mp3_path(clip))
        if entry is None:
            raise ValueError(f"{annotations.path}: no row with {PATH_COLUMN} '{mp3_path(clip)}'")
        line, fields = entry
        for j, (column, k) in enumerate(indices):
            value = fields[k].strip()
            if value not in ("0", "1"):
                raise ValueError(f"{annotations.path}:{line}: {column}: '{value}' is not 0 or 1")
            labels[i, j] = value == "1"
    return labels


def check_rebuild(rebuilt: np.ndarray, published: np.ndarray, clips: list[str], tags: list[str],
                  source: Path, reference: Path) -> None:
    """Raise a one-line ValueError naming the first clip and tag where the two label matrices differ."""
    differ = np.argwhere(rebuilt != published)
    if len(differ) == 0:
        return
    i, j = differ[0]
    n_rows = len(np.unique(differ[:, 0]))
    raise ValueError(
        f"{source} does not reproduce {reference.name}: {n_rows} row(s) differ, first "
        f"'{clips[i]}' tag '{tags[j]}' ({int(rebuilt[i, j])} vs published {int(published[i, j])})"
    )


def _tags_of(row: np.ndarray, tags: list[str]) -> tuple[str, ...]:
    return tuple(tag for tag, on in zip(tags, row) if on)


def catalog(split_dir: Path, audio_root: Path, annotations: Path | None = None) -> Corpus:
    """All clips of the three lists with their tags; audio paths are `AUDIO_ROOT/<dir>/<clip>.mp3`.

    Without `annotations` train clips have no tags and the catalog carries a Problem saying so;
    with it, the rebuilt valid/test labels must equal the published ones (else ValueError).
    """
    split_dir, audio_root = Path(split_dir), Path(audio_root)
    tags = read_tags(split_dir)
    ann = read_annotations(annotations) if annotations is not None else None
    tracks: list[Track] = []
    problems: list[Problem] = []
    for split in SPLITS:
        clips = read_list(split_dir, split)
        labels: np.ndarray | None = None
        if split in PUBLISHED_LABELS:
            labels = published_labels(split_dir, split, len(clips), len(tags))
        if ann is not None:
            rebuilt = label_matrix(ann, clips, tags)
            if labels is not None:
                check_rebuild(rebuilt, labels, clips, tags, ann.path, split_dir / PUBLISHED_LABELS[split])
            labels = rebuilt
        for i, clip in enumerate(clips):
            row_tags = _tags_of(labels[i], tags) if labels is not None else ()
            mp3 = mp3_path(clip)
            tracks.append(Track(id=mp3[: -len(".mp3")], path=audio_root / mp3, split=split, tags=row_tags))
    if ann is None:
        problems.append(Problem(
            Path(ANNOTATIONS_FILE),
            "not given, so train clips have no tags (add it as mtat:SPLIT_DIR:AUDIO_ROOT:ANNOTATIONS_CSV)",
        ))
    return Corpus(name="mtat", tracks=tracks, tag_names=tags, problems=problems)
