"""The MTG-Jamendo split-0 adapter on the real TSVs, plus a tiny audio tree."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.data.corpora import load_source
from engine.data.corpora.jamendo import catalog, read_tsv

# rows (train, validation, test) and distinct tags, from the dataset README's table
EXPECTED = {
    "top50": ((32_136, 10_888, 11_356), 50),
    "genre": ((32_572, 11_043, 11_479), 87),
    "instrument": ((14_395, 5_466, 5_115), 40),
    "moodtheme": ((9_949, 3_802, 4_231), 56),
}


@pytest.fixture(scope="module")
def meta_dir(shared_dir: Path) -> Path:
    return shared_dir / "data" / "mtg-jamendo"


@pytest.mark.parametrize("task", list(EXPECTED))
def test_rows_and_tags_per_task(meta_dir: Path, task: str) -> None:
    corpus = catalog(meta_dir, Path("/nonexistent"), task)
    rows, n_tags = EXPECTED[task]
    assert tuple(len(corpus.split(s)) for s in ("train", "valid", "test")) == rows
    assert len(corpus.tag_names) == n_tags
    for split in ("train", "valid", "test"):
        assert {tag for t in corpus.split(split) for tag in t.tags} == set(corpus.tag_names)
    assert corpus.name == f"jamendo-{task}"
    assert corpus.problems == []


def test_tag_column_order(meta_dir: Path) -> None:
    def lines(name: str) -> list[str]:
        return (meta_dir / "tags" / name).read_text().split()

    assert catalog(meta_dir, Path("/a"), "top50").tag_names == lines("top50.txt")
    assert catalog(meta_dir, Path("/a"), "moodtheme").tag_names == lines("moodtheme_split.txt")
    for task in ("genre", "instrument"):
        names = catalog(meta_dir, Path("/a"), task).tag_names
        assert names == sorted(names) and all(n.startswith(f"{task}---") for n in names)


def test_track_fields_from_first_row(meta_dir: Path) -> None:
    corpus = catalog(meta_dir / "split-0", Path("/audio"), "moodtheme")  # the split-0 folder works too
    first = corpus.tracks[0]
    assert first.id == "track_0000948"
    assert first.path == Path("/audio/48/948.mp3")
    assert first.split == "train"
    assert first.duration == 212.7
    assert first.tags == ("mood/theme---background",)  # no trailing '\r' from the CRLF lines
    assert all(not tag.endswith("\r") for t in corpus.tracks for tag in t.tags)


def test_multi_tag_row_keeps_every_tag_column(meta_dir: Path) -> None:
    rows = read_tsv(meta_dir / "split-0" / "autotagging_top50tags-train.tsv")
    widest = max(rows, key=lambda r: len(r.tags))
    line = next(text for text in (meta_dir / "split-0" / "autotagging_top50tags-train.tsv").read_text().splitlines()
                if text.startswith(widest.track_id + "\t"))
    assert widest.tags == tuple(line.rstrip("\r").split("\t")[5:]) and len(widest.tags) > 5


def test_bad_task_and_bad_folders_are_clear_errors(meta_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown task 'mood'.*top50, genre, instrument, moodtheme"):
        catalog(meta_dir, tmp_path, "mood")
    with pytest.raises(ValueError, match="no split-0 TSVs"):
        catalog(tmp_path, tmp_path, "top50")


def test_bad_tsv_lines_name_file_and_line(tmp_path: Path) -> None:
    header = "TRACK_ID\tARTIST_ID\tALBUM_ID\tPATH\tDURATION\tTAGS\n"
    bad = tmp_path / "x.tsv"
    bad.write_text(header + "track_1\ta\tb\t01/1.mp3\t12.5\tgenre---rock\ntrack_2\ta\tb\t02/2.mp3\tlong\tgenre---pop\n")
    with pytest.raises(ValueError, match=r"x\.tsv:3: DURATION: 'long'"):
        read_tsv(bad)
    bad.write_text("id\tpath\n")
    with pytest.raises(ValueError, match=r"x\.tsv:1: header"):
        read_tsv(bad)
    bad.write_text(header + "track_1\ta\tb\n")
    with pytest.raises(ValueError, match=r"x\.tsv:2: 3 fields"):
        read_tsv(bad)


def test_present_audio_is_used_and_missing_reported_per_file(meta_dir: Path, tmp_path: Path) -> None:
    listed = catalog(meta_dir, tmp_path, "instrument")
    a, b = listed.split("test")[:2]
    noise = (0.1 * np.random.default_rng(0).standard_normal(16_000)).astype(np.float32)
    rel_a = a.path.relative_to(tmp_path)
    (tmp_path / rel_a).parent.mkdir(parents=True, exist_ok=True)
    sf.write(tmp_path / rel_a, noise, 16_000, format="MP3")
    low_b = tmp_path / str(b.path.relative_to(tmp_path)).replace(".mp3", ".low.mp3")
    low_b.parent.mkdir(parents=True, exist_ok=True)
    sf.write(low_b, noise, 16_000, format="MP3")

    corpus = load_source(f"jamendo:{meta_dir}:{tmp_path}:instrument")
    assert {t.id: t.path for t in corpus.tracks} == {a.id: a.path, b.id: low_b}
    assert [t.duration for t in corpus.tracks] == [a.duration, b.duration]  # from the TSV, not the file
    assert len(corpus.problems) == 24_976 - 2
    assert all(p.reason == "missing" for p in corpus.problems)
    assert listed.split("train")[0].path in {p.path for p in corpus.problems}
