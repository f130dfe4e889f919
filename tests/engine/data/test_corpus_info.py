"""`corpus info` and the SOURCE syntax: counts, tags and problem files of each kind of source."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.data.corpora import FORMS, load_source
from engine.data.corpora.info import corpus_info, format_info
from engine.data.corpora.sources import parse_source


@pytest.fixture(scope="module")
def mtat_info(shared_dir: Path) -> dict:
    return corpus_info(f"mtat:{shared_dir / 'data' / 'mtat'}:/nonexistent")


def test_mtat_without_audio_counts_real_lists(mtat_info: dict) -> None:
    assert mtat_info["name"] == "mtat"
    assert mtat_info["tracks"] == {"train": 15_244, "valid": 1_529, "test": 4_332, "total": 21_105}
    assert mtat_info["usable"] == {"train": 0, "valid": 0, "test": 0, "total": 0}
    assert mtat_info["tag_count"] == 50
    assert len(mtat_info["top_tags"]) == 10
    counts = [t["count"] for t in mtat_info["top_tags"]]
    assert counts == sorted(counts, reverse=True) and mtat_info["top_tags"][0]["tag"] == "guitar"


def test_mtat_missing_audio_is_listed_per_file(mtat_info: dict) -> None:
    problems = mtat_info["problems"]
    assert problems["by_kind"] == {"other": 1, "unreadable": 0, "missing": 21_105}
    assert problems["count"] == len(problems["files"]) == 21_105 + 1  # + the note on train labels
    missing = {f["path"] for f in problems["files"] if f["reason"] == "missing"}
    assert "/nonexistent/c/atomic_opera-alpha_and_oranges-01-rain_parade-117-146.mp3" in missing
    assert json.loads(json.dumps(mtat_info)) == mtat_info


def test_format_info_is_short_and_readable(mtat_info: dict) -> None:
    text = format_info(mtat_info)
    assert "train 15,244" in text and "valid 1,529" in text and "test 4,332" in text
    assert "missing 21,105" in text and "guitar (" in text
    assert "... and 21,086 more" in text
    assert len(text.splitlines()) < 30


def test_folder_info_lists_bad_files_with_reasons(tmp_path: Path) -> None:
    noise = (0.1 * np.random.default_rng(0).standard_normal(8_000)).astype(np.float32)
    for name in ("a.wav", "b.wav", "c.flac"):
        sf.write(tmp_path / name, noise, 16_000)
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "fake.mp3").write_text("hello")
    (tmp_path / "tags.csv").write_text("path,tags,split\na.wav,rock;loud,train\nb.wav,rock,valid\n"
                                       "c.flac,jazz,test\ngone.wav,rock,train\n")
    info = corpus_info(f"folder:{tmp_path}")
    assert info["tracks"]["total"] == 6 and info["usable"]["total"] == 3
    assert info["usable"] == {"train": 1, "valid": 1, "test": 1, "total": 3}
    assert info["tag_count"] == 3
    assert info["top_tags"][0] == {"tag": "rock", "count": 3}
    reasons = {Path(f["path"]).name: f["reason"] for f in info["problems"]["files"]}
    assert set(reasons) == {"empty.wav", "fake.mp3", "gone.wav"} and reasons["gone.wav"] == "missing"
    assert "empty" in reasons["empty.wav"]
    kinds = [(Path(f["path"]).name, f["kind"]) for f in info["problems"]["files"]]
    assert kinds == [("empty.wav", "unreadable"), ("fake.mp3", "unreadable"), ("gone.wav", "missing")]
    text = format_info(info)
    assert "fake.mp3" in text and "readable" in text

    quick = corpus_info(f"folder:{tmp_path}", check_audio=False)
    assert quick["usable"]["total"] == 5 and quick["problems"]["count"] == 1


def test_jamendo_info(shared_dir: Path) -> None:
    info = corpus_info(f"jamendo:{shared_dir / 'data' / 'mtg-jamendo'}:/nonexistent:genre")
    assert info["tracks"] == {"train": 32_572, "valid": 11_043, "test": 11_479, "total": 55_094}
    assert info["tag_count"] == 87 and info["top_tags"][0]["tag"] == "genre---electronic"


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ("nope:/x", "unknown kind 'nope'"),
        ("folder", "folder takes 1 to 2 field(s)"),
        ("folder:/a:/b:/c", "folder takes 1 to 2 field(s)"),
        ("mtat:/only-split-dir", "mtat takes 2 to 3 field(s)"),
        ("jamendo:/a:/b", "jamendo takes 3 field(s)"),
        ("mtat::/audio", "empty field"),
        ("demo:/x", "demo takes 0 field(s)"),
    ],
)
def test_bad_source_names_the_problem_and_the_valid_forms(spec: str, why: str) -> None:
    with pytest.raises(ValueError) as err:
        load_source(spec)
    message = str(err.value)
    assert why in message and FORMS in message and spec in message and "\n" not in message


def test_parse_source_fields() -> None:
    assert parse_source("demo") == ("demo", [])
    assert parse_source("folder:/music") == ("folder", ["/music"])
    assert parse_source("mtat:/meta:/audio:/meta/annotations_final.csv") == (
        "mtat", ["/meta", "/audio", "/meta/annotations_final.csv"])
    assert parse_source("jamendo:/meta:/audio:moodtheme") == ("jamendo", ["/meta", "/audio", "moodtheme"])
