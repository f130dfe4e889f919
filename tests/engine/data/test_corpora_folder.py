"""The folder adapter: discovery, tags CSV, hash split, missing and unreadable files."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.data.corpora import load_source
from engine.data.corpora.folder import catalog, hash_split, read_tags_csv

SR = 16_000


def _write(path: Path, seconds: float = 1.0, fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(path.name))
    sf.write(path, (0.1 * rng.standard_normal(int(SR * seconds))).astype(np.float32), SR, format=fmt)
    return path


def _csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_hash_split_is_fixed_and_near_80_10_10() -> None:
    names = [f"artist{i % 37}/song_{i}.flac" for i in range(20_000)]
    splits = [hash_split(n) for n in names]
    assert splits == [hash_split(n) for n in names]
    share = {k: v / len(names) for k, v in Counter(splits).items()}
    assert share["train"] == pytest.approx(0.8, abs=0.015)
    assert share["valid"] == pytest.approx(0.1, abs=0.01)
    assert share["test"] == pytest.approx(0.1, abs=0.01)
    # SHA-1 based, so the same on every machine and Python process (Python's hash() is salted).
    pinned = {"song_0.wav": "train", "song_1.wav": "train", "song_10.wav": "valid", "song_23.wav": "valid",
              "song_52.wav": "test"}
    assert {name: hash_split(name) for name in pinned} == pinned


def test_finds_audio_recursively_case_insensitive(tmp_path: Path) -> None:
    _write(tmp_path / "rock" / "a.WAV")
    _write(tmp_path / "rock" / "deep" / "b.Flac")
    _write(tmp_path / "c.ogg", fmt="OGG")
    (tmp_path / "notes.txt").write_text("not audio")
    corpus = load_source(f"folder:{tmp_path}")
    assert sorted(t.id for t in corpus.tracks) == ["c", "rock/a", "rock/deep/b"]
    assert {t.id: t.path for t in corpus.tracks}["rock/deep/b"] == tmp_path / "rock" / "deep" / "b.Flac"
    assert all(t.tags == () for t in corpus.tracks)
    assert {t.id: t.split for t in corpus.tracks} == {
        "c": hash_split("c.ogg"), "rock/a": hash_split("rock/a.WAV"), "rock/deep/b": hash_split("rock/deep/b.Flac")}
    assert corpus.tag_names == [] and corpus.problems == []
    assert corpus.name == tmp_path.name


def test_csv_with_split_column_sets_tags_and_splits(tmp_path: Path) -> None:
    for name in ("a.wav", "b.wav", "sub/c.flac", "untagged.wav"):
        _write(tmp_path / name)
    _csv(tmp_path / "tags.csv", "path,tags,split\na.wav,rock;guitar,test\nb.wav, jazz ; piano ,valid\n"
                                "sub/c.flac,,train\n")
    corpus = load_source(f"folder:{tmp_path}")
    by_id = {t.id: t for t in corpus.tracks}
    assert by_id["a"].tags == ("rock", "guitar") and by_id["a"].split == "test"
    assert by_id["b"].tags == ("jazz", "piano") and by_id["b"].split == "valid"
    assert by_id["sub/c"].tags == () and by_id["sub/c"].split == "train"
    assert by_id["untagged"].tags == () and by_id["untagged"].split == hash_split("untagged.wav")
    assert corpus.tag_names == ["guitar", "jazz", "piano", "rock"]


def test_csv_without_split_column_uses_hash_split(tmp_path: Path) -> None:
    names = [f"s{i}.wav" for i in range(12)]
    for name in names:
        _write(tmp_path / name, seconds=0.1)
    elsewhere = _csv(tmp_path.parent / f"{tmp_path.name}-labels.csv",
                     "path,tags\n" + "".join(f"{n},{'odd' if i % 2 else 'even'}\n" for i, n in enumerate(names)))
    corpus = load_source(f"folder:{tmp_path}:{elsewhere}")
    assert {t.id: t.split for t in corpus.tracks} == {n[:-4]: hash_split(n) for n in names}
    assert {t.id: t.tags for t in corpus.tracks}["s3"] == ("odd",)
    assert corpus.tag_names == ["even", "odd"]


def test_csv_rows_without_file_are_reported_missing(tmp_path: Path) -> None:
    _write(tmp_path / "here.wav")
    _csv(tmp_path / "tags.csv", "path,tags\nhere.wav,a\ngone.wav,b\nsub/gone2.flac,b\n")
    listed = catalog(tmp_path)
    assert sorted(t.id for t in listed.tracks) == ["gone", "here", "sub/gone2"]
    corpus = load_source(f"folder:{tmp_path}")
    assert [t.id for t in corpus.tracks] == ["here"]
    assert sorted((p.path, p.reason) for p in corpus.problems) == [
        (tmp_path / "gone.wav", "missing"), (tmp_path / "sub" / "gone2.flac", "missing")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("file,tags\na.wav,x\n", ":1: missing column 'path'"),
        ("path,labels\na.wav,x\n", ":1: missing column 'tags'"),
        ("path,tags,split\na.wav,x,train\nb.wav,y,validation\n", ":3: split: 'validation' is not one of"),
        ("path,tags\na.wav,x\n,y\n", ":3: path: empty"),
        ("path,tags\na.wav,x\nb.wav,y\n./a.wav,z\n", ":4: path: 'a.wav' already listed on line 2"),
    ],
)
def test_bad_csv_raises_one_line_error_naming_file_line_field(tmp_path: Path, text: str, expected: str) -> None:
    path = _csv(tmp_path / "tags.csv", text)
    with pytest.raises(ValueError, match=r"tags\.csv") as err:
        read_tags_csv(path)
    assert expected in str(err.value)
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="tags.csv"):
        load_source(f"folder:{tmp_path}")


def test_missing_folder_or_csv_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="folder not found"):
        load_source(f"folder:{tmp_path / 'nope'}")
    with pytest.raises(ValueError, match="tags CSV not found"):
        load_source(f"folder:{tmp_path}:{tmp_path / 'nope.csv'}")


def test_two_files_with_one_id_keep_the_first(tmp_path: Path) -> None:
    _write(tmp_path / "x.flac")
    _write(tmp_path / "x.wav")
    corpus = load_source(f"folder:{tmp_path}")
    assert [t.path.name for t in corpus.tracks] == ["x.flac"]
    assert len(corpus.problems) == 1 and "same track id 'x'" in corpus.problems[0].reason


def test_check_audio_drops_bad_files_with_reasons(tmp_path: Path) -> None:
    good = [_write(tmp_path / "good.wav", seconds=1.5), _write(tmp_path / "sub" / "good.flac", seconds=2.0)]
    whole = _write(tmp_path / "whole.flac", seconds=2.0).read_bytes()
    (tmp_path / "whole.flac").unlink()
    (tmp_path / "truncated.flac").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "text.mp3").write_text("this is not an mp3 file\n" * 20)

    unchecked = load_source(f"folder:{tmp_path}")
    assert len(unchecked.tracks) == 5 and unchecked.problems == []

    corpus = load_source(f"folder:{tmp_path}", check_audio=True)
    assert sorted(t.path for t in corpus.tracks) == sorted(good)
    assert {t.id: t.duration for t in corpus.tracks} == {"good": 1.5, "sub/good": 2.0}
    reasons = {p.path.name: p.reason for p in corpus.problems}
    assert set(reasons) == {"truncated.flac", "empty.wav", "text.mp3"}
    assert "truncated" in reasons["truncated.flac"]
    assert "empty" in reasons["empty.wav"]
    assert reasons["text.mp3"]
