"""The MTAT adapter on the real split files, a synthetic annotations_final.csv and a tiny audio tree."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.data.corpora import load_source
from engine.data.corpora.mtat import CSV_TAG_NAMES, catalog, label_matrix, read_annotations, read_list, read_tags

DECOYS = ("hard rock", "no beat", "jazz")


@pytest.fixture(scope="module")
def split_dir(shared_dir: Path) -> Path:
    return shared_dir / "data" / "mtat"


@pytest.fixture(scope="module")
def listed(split_dir: Path):
    return catalog(split_dir, Path("/nonexistent"))


def _write_annotations(path: Path, labels: dict[str, np.ndarray], tags: list[str], delimiter: str = "\t") -> Path:
    """An annotations_final.csv as MTAT ships it: quoted, spaced tag names, other columns between."""
    rng = np.random.default_rng(1)
    csv_names = [CSV_TAG_NAMES.get(t, t) for t in tags]
    columns = list(DECOYS) + csv_names
    order = rng.permutation(len(columns))
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter=delimiter, quoting=csv.QUOTE_ALL)
        writer.writerow(["clip_id"] + [columns[k] for k in order] + ["mp3_path"])
        for clip_id, (mp3, row) in enumerate(labels.items()):
            values = list(rng.integers(0, 2, len(DECOYS))) + [int(v) for v in row]
            writer.writerow([clip_id] + [values[k] for k in order] + [mp3])
    return path


@pytest.fixture(scope="module")
def train_labels(split_dir: Path) -> np.ndarray:
    n_train = len(read_list(split_dir, "train"))
    return (np.random.default_rng(0).random((n_train, 50)) < 0.08).astype(np.float64)


@pytest.fixture(scope="module")
def annotation_rows(split_dir: Path, train_labels: np.ndarray) -> dict[str, np.ndarray]:
    """mp3_path -> 0/1 row over top50 order: train random, valid/test from the published .npy."""
    rows: dict[str, np.ndarray] = {"0/unlisted-clip-0-29.mp3": np.ones(50)}
    labels = {"train": train_labels, "valid": np.load(split_dir / "y_valid_pub.npy"),
              "test": np.load(split_dir / "y_test_pub.npy")}
    for split, matrix in labels.items():
        for clip, row in zip(read_list(split_dir, split), matrix):
            rows[clip[:-4] + ".mp3"] = row
    return rows


@pytest.fixture(scope="module")
def annotations(tmp_path_factory: pytest.TempPathFactory, split_dir: Path, annotation_rows) -> Path:
    path = tmp_path_factory.mktemp("mtat") / "annotations_final.csv"
    return _write_annotations(path, annotation_rows, read_tags(split_dir))


def test_real_split_counts_ids_and_paths(listed) -> None:
    assert [len(listed.split(s)) for s in ("train", "valid", "test")] == [15_244, 1_529, 4_332]
    assert len(listed.tag_names) == 50
    assert listed.tag_names[:3] == ["guitar", "classical", "slow"] and "femaleVoice" in listed.tag_names
    first_valid = listed.split("valid")[0]
    assert first_valid.id == "c/atomic_opera-alpha_and_oranges-01-rain_parade-117-146"
    assert first_valid.path == Path("/nonexistent/c/atomic_opera-alpha_and_oranges-01-rain_parade-117-146.mp3")
    assert len({t.id for t in listed.tracks}) == 21_105
    folders = {s: {t.id.split("/")[0] for t in listed.split(s)} for s in ("train", "valid", "test")}
    assert folders == {"train": set("0123456789ab"), "valid": {"c"}, "test": set("def")}


def test_published_labels_give_valid_test_tags(listed) -> None:
    assert sum(len(t.tags) for t in listed.split("valid")) == 5_058
    assert sum(len(t.tags) for t in listed.split("test")) == 14_149
    assert all(t.tags for t in listed.split("valid") + listed.split("test"))
    assert set(listed.split("valid")[0].tags) <= set(listed.tag_names)


def test_without_annotations_train_has_no_tags_and_a_problem(listed) -> None:
    assert all(t.tags == () for t in listed.split("train"))
    assert [p.path.name for p in listed.problems] == ["annotations_final.csv"]
    assert "train" in listed.problems[0].reason


def test_rebuild_reproduces_published_labels_exactly(split_dir: Path, annotations: Path) -> None:
    ann = read_annotations(annotations)
    tags = read_tags(split_dir)
    for split in ("valid", "test"):
        rebuilt = label_matrix(ann, read_list(split_dir, split), tags)
        assert np.array_equal(rebuilt, np.load(split_dir / f"y_{split}_pub.npy"))


def test_annotations_give_train_tags(split_dir: Path, annotations: Path, train_labels: np.ndarray) -> None:
    corpus = catalog(split_dir, Path("/nonexistent"), annotations)
    tags = corpus.tag_names
    train = corpus.split("train")
    assert [t.tags for t in train[:200]] == [tuple(tags[j] for j in np.flatnonzero(r)) for r in train_labels[:200]]
    assert sum(len(t.tags) for t in train) == int(train_labels.sum())
    assert sum(len(t.tags) for t in corpus.split("valid")) == 5_058
    assert corpus.problems == []


def test_tampered_valid_row_is_detected(tmp_path: Path, split_dir: Path, annotation_rows) -> None:
    clip = read_list(split_dir, "valid")[7]
    rows = dict(annotation_rows)
    rows[clip[:-4] + ".mp3"] = rows[clip[:-4] + ".mp3"].copy()
    rows[clip[:-4] + ".mp3"][21] = 1 - rows[clip[:-4] + ".mp3"][21]  # column 21 = noVocals ("no vocals")
    path = _write_annotations(tmp_path / "annotations_final.csv", rows, read_tags(split_dir))
    with pytest.raises(ValueError, match="y_valid_pub.npy") as err:
        catalog(split_dir, Path("/nonexistent"), path)
    assert "1 row(s) differ" in str(err.value) and clip in str(err.value) and "'noVocals'" in str(err.value)
    assert "\n" not in str(err.value)


def test_bad_annotation_files_raise_clear_errors(tmp_path: Path, split_dir: Path) -> None:
    tags = read_tags(split_dir)
    clips = read_list(split_dir, "valid")[:3]
    rows = {c[:-4] + ".mp3": np.zeros(50) for c in clips}
    comma = _write_annotations(tmp_path / "comma.csv", rows, tags, delimiter=",")
    assert label_matrix(read_annotations(comma), clips, tags).shape == (3, 50)
    with pytest.raises(ValueError, match="no row with mp3_path 'c/"):
        label_matrix(read_annotations(comma), read_list(split_dir, "valid")[:4], tags)

    text = comma.read_text().splitlines()
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(text[:2] + [text[2].replace('"0"', '"2"')] + text[3:]) + "\n")
    with pytest.raises(ValueError, match=r"bad\.csv:3: .*'2' is not 0 or 1"):
        label_matrix(read_annotations(bad), clips, tags)
    nocol = tmp_path / "nocol.csv"
    nocol.write_text(text[0].replace('"female voice"', '"femaleVoice"') + "\n" + "\n".join(text[1:]) + "\n")
    with pytest.raises(ValueError, match="missing tag column 'female voice'"):
        label_matrix(read_annotations(nocol), clips, tags)


def test_present_audio_is_used_and_missing_reported_per_file(tmp_path: Path, split_dir: Path, listed) -> None:
    root = tmp_path / "audio"
    picks = [listed.split("train")[5], listed.split("valid")[3], listed.split("test")[9]]
    noise = (0.1 * np.random.default_rng(0).standard_normal(16_000 * 2)).astype(np.float32)
    for track in picks:
        target = root / f"{track.id}.mp3"
        target.parent.mkdir(parents=True, exist_ok=True)
        sf.write(target, noise, 16_000, format="MP3")
    corrupt = listed.split("test")[10]
    (root / f"{corrupt.id}.mp3").write_bytes(b"\x00" * 500)
    spec = f"mtat:{split_dir}:{root}"

    corpus = load_source(spec)
    assert sorted(t.id for t in corpus.tracks) == sorted(t.id for t in picks + [corrupt])
    missing = [p for p in corpus.problems if p.reason == "missing"]
    assert len(missing) == 21_105 - 4
    assert root / f"{listed.split('train')[0].id}.mp3" in {p.path for p in missing}

    checked = load_source(spec, check_audio=True)
    assert sorted(t.id for t in checked.tracks) == sorted(t.id for t in picks)
    assert {t.id: t.tags for t in checked.tracks} == {t.id: t.tags for t in picks}
    assert all(t.duration == pytest.approx(2.0, abs=0.1) for t in checked.tracks)
    unreadable = [p for p in checked.problems if p.reason != "missing" and p.path.suffix == ".mp3"]
    assert [p.path for p in unreadable] == [root / f"{corrupt.id}.mp3"]


def test_missing_split_files_are_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"mtat: file not found: .*top50_tags\.txt"):
        catalog(tmp_path, tmp_path)
