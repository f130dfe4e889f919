"""The demo corpus: layout, determinism, tags that match what is heard, sections, and ensure_demo."""
from __future__ import annotations

import csv
import hashlib
import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine.data.corpora import demo, synth
from engine.data.corpora.demo import (DEMO_VERSION, GENRES, INSTRUMENTS, MOODS, TAG_DESCRIPTIONS, default_demo_dir,
                                 ensure_demo, make_demo)
from engine.data.corpora.parts import Writer
from engine.data.corpora.songs import plan_song, render
from engine.data.corpora.styles import STYLES

TRACKS, SECONDS = 12, 10.0
FAMILIES = {"genre": GENRES, "instrument": INSTRUMENTS, "mood": MOODS}


def digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def rows(folder: Path) -> list[dict[str, str]]:
    with open(folder / "tags.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def window_rms(x: np.ndarray) -> np.ndarray:
    return np.sqrt((x[: len(x) // synth.SR * synth.SR].reshape(-1, synth.SR) ** 2).mean(1)) + 1e-12


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demo(tmp_path_factory.mktemp("demo"), tracks=TRACKS, seed=0, seconds=SECONDS, workers=2,
                     progress=False)


def test_vocabularies_have_enough_described_tags() -> None:
    assert len(GENRES) >= 6 and len(INSTRUMENTS) >= 6 and len(MOODS) >= 4
    tags = {f"{family}:{name}" for family, names in FAMILIES.items() for name in names}
    assert len(tags) >= 20
    assert set(TAG_DESCRIPTIONS) == tags and all(len(text) > 20 for text in TAG_DESCRIPTIONS.values())
    assert set(STYLES) == set(GENRES)


def test_layout_and_tags_csv_format(corpus: Path) -> None:
    with open(corpus / "tags.csv", encoding="utf-8") as f:
        assert f.readline().strip() == "path,tags,split"
    table = rows(corpus)
    assert [r["path"] for r in table] == [f"audio/demo{i:04d}.flac" for i in range(TRACKS)]
    assert sorted(p.name for p in (corpus / "audio").iterdir()) == [Path(r["path"]).name for r in table]
    meta = json.loads((corpus / "meta.json").read_text())
    assert meta["version"] == DEMO_VERSION and meta["seed"] == 0 and meta["tracks"] == TRACKS
    assert {r["split"] for r in table} == {"train", "valid", "test"}
    assert not list(corpus.rglob("*.tmp"))


def test_every_track_has_one_genre_instruments_and_moods(corpus: Path) -> None:
    for r in rows(corpus):
        tags = r["tags"].split(";")
        by_family = Counter(t.split(":")[0] for t in tags)
        assert by_family["genre"] == 1 and by_family["instrument"] >= 1 and by_family["mood"] >= 1, r
        for tag in tags:
            family, name = tag.split(":")
            assert name in FAMILIES[family], tag


def test_audio_is_16k_mono_pcm16_loudness_normalised_and_not_silent(corpus: Path) -> None:
    for r in rows(corpus):
        info = sf.info(corpus / r["path"])
        assert (info.samplerate, info.channels, info.subtype, info.format) == (16_000, 1, "PCM_16", "FLAC")
        assert info.frames == int(SECONDS * 16_000)
        audio, _ = sf.read(corpus / r["path"], dtype="float32")
        rms = float(np.sqrt(np.mean(audio**2)))
        assert 0.07 < rms < 0.11, (r["path"], rms)  # same loudness everywhere: no per-track level cue
        assert np.mean(window_rms(audio) > 0.003) > 0.9  # sound over (nearly) the whole track


def test_same_seed_gives_identical_bytes_whatever_the_worker_count(corpus: Path, tmp_path: Path) -> None:
    again = make_demo(tmp_path / "again", tracks=TRACKS, seed=0, seconds=SECONDS, workers=1, progress=False)
    assert digest(again) == digest(corpus)


def test_another_seed_gives_other_audio(corpus: Path, tmp_path: Path) -> None:
    other = make_demo(tmp_path / "other", tracks=TRACKS, seed=1, seconds=SECONDS, workers=1, progress=False)
    a, b = digest(corpus), digest(other)
    assert all(a[k] != b[k] for k in a if k.startswith("audio/"))


def test_splits_are_stratified_80_10_10_by_genre() -> None:
    genres = demo._genres(300, seed=0)
    splits = demo._splits(genres, seed=0)
    per_genre = Counter(genres)
    assert set(per_genre) == set(GENRES) and max(per_genre.values()) - min(per_genre.values()) <= 1
    assert Counter(splits) == {"train": 240, "valid": 30, "test": 30}
    for g in GENRES:
        mine = Counter(s for s, gg in zip(splits, genres) if gg == g)
        assert mine["valid"] >= 3 and mine["test"] >= 3, (g, mine)
    assert splits == demo._splits(genres, seed=0)


@pytest.mark.parametrize("index", range(8))
def test_tagged_instruments_are_audible_and_untagged_ones_silent(index: int) -> None:
    song = plan_song(GENRES[index], 30.0, np.random.default_rng([0, index]))
    mix = window_rms(render(song, 30.0))
    for inst in INSTRUMENTS:
        stem = render(song, 30.0, only=[inst])
        if inst in song.instruments:
            assert (20 * np.log10(window_rms(stem) / mix)).max() > -20.0, inst  # clearly heard somewhere
        else:
            assert not stem.any(), inst


def test_every_plan_has_instruments_moods_and_the_style_tempo() -> None:
    for index in range(64):
        genre = GENRES[index % len(GENRES)]
        song = plan_song(genre, 30.0, np.random.default_rng([3, index]))
        lo, hi = STYLES[genre].tempo
        assert lo <= song.tempo <= hi
        assert len(song.instruments) >= 1 and song.moods(), song.tags()


def test_swing_moves_only_the_off_beats() -> None:
    rng = np.random.default_rng(0)
    eighths = Writer(STYLES["jazz"], tempo=120.0, swing=2 / 3, rng=rng, jitter=0.0)  # beat = 0.5 s
    assert [eighths.time(0, s) for s in (0, 2, 4)] == pytest.approx([0.0, 2 / 3 * 0.5, 0.5])
    sixteenths = Writer(STYLES["hiphop"], tempo=120.0, swing=0.6, rng=rng, jitter=0.0)  # 16th = 0.125 s
    assert [sixteenths.time(1, s) for s in (0, 1, 2, 3)] == pytest.approx([2.0, 2.15, 2.25, 2.4])


def test_grooves_put_the_kick_where_the_genre_says() -> None:
    """Four on the floor, beat 3 of the one-drop (or steppers), and a three-beat bar for the waltz."""
    for genre, needed, allowed in (("electronic", {0, 1, 2, 3}, {0, 1, 2, 3}), ("reggae", {2}, {0, 1, 2, 3}),
                                   ("waltz", {0}, {0, 2})):
        for seed in range(3):
            song = plan_song(genre, 30.0, np.random.default_rng([7, seed]))
            beats = [h.start * song.tempo / 60.0 for h in song.hits if h.drum == "kick"]
            on_beat = {round(b) % STYLES[genre].beats for b in beats if abs(b - round(b)) < 0.05}
            assert needed <= on_beat <= allowed, (genre, seed, on_beat)


def test_sections_change_the_arrangement_so_crops_differ() -> None:
    changed = 0
    for index in range(16):
        song = plan_song(GENRES[index % len(GENRES)], 30.0, np.random.default_rng([5, index]))
        kinds = [s.kind for s in song.sections]
        assert len(kinds) >= 3 and {"verse", "chorus"} <= set(kinds), kinds
        playing = [frozenset(n.instrument for n in song.notes if s.start <= n.start < s.end)
                   | ({"drums"} if any(s.start <= h.start < s.end for h in song.hits) else frozenset())
                   for s in song.sections]
        changed += len(set(playing)) > 1
        audio = render(song, 30.0)
        first, last = audio[: 4 * synth.SR], audio[-4 * synth.SR :]
        spec = [np.log10(np.abs(np.fft.rfft(x))[:-1].reshape(-1, 250).mean(1) + 1e-9) for x in (first, last)]
        assert np.abs(spec[0] - spec[1]).mean() > 0.05  # two 4 s views of one track are not the same sound
    assert changed >= 12  # most tracks change instruments between sections


def test_sections_change_the_sound_so_no_timbre_identifies_a_track() -> None:
    """Presets and drum kit are drawn per section: two crops of a track share rhythm, tempo and key, not a sound."""
    changed = 0
    for index in range(16):
        song = plan_song(GENRES[index % len(GENRES)], 30.0, np.random.default_rng([6, index]))
        per_section = [frozenset((n.instrument, n.preset) for n in song.notes if s.start <= n.start < s.end)
                       | frozenset(("drums", h.kit) for h in song.hits if s.start <= h.start < s.end)
                       for s in song.sections]
        changed += len(set(per_section)) > 1
        first = song.sections[0]
        assert all(n.preset == song.presets[n.instrument] for n in song.notes if n.start < first.end - 0.1)
    assert changed == 16


def band_profile(note: np.ndarray) -> np.ndarray:
    """Share of energy (dB, floored at -60) in 16 log-spaced bands from 60 Hz to 8 kHz."""
    power = np.abs(np.fft.rfft(note, n=synth.SR)) ** 2
    freqs = np.fft.rfftfreq(synth.SR, 1 / synth.SR)
    edges = np.geomspace(60.0, 8000.0, 17)
    bands = np.array([power[(freqs >= a) & (freqs < b)].sum() for a, b in zip(edges, edges[1:])])
    return np.maximum(10 * np.log10(bands / bands.sum() + 1e-12), -60.0)


def test_every_voice_sounds_and_has_its_own_spectrum() -> None:
    profiles = {}
    for inst in synth.PITCHED + ("drums",):
        note = synth.render_note(inst, midi=60, seconds=0.5)
        assert np.isfinite(note).all() and np.sqrt(np.mean(note**2)) > 0.05, inst
        profiles[inst] = band_profile(note)
    names = sorted(profiles)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert np.abs(profiles[a] - profiles[b]).mean() > 3.0, (a, b)  # same pitch, different timbre
    assert np.array_equal(synth.tone("piano", 64, 8000, 1, 0.5), synth.tone("piano", 64, 8000, 1, 0.5))


def test_unknown_instrument_and_bad_sizes_raise() -> None:
    with pytest.raises(ValueError, match="unknown instrument 'kazoo'"):
        synth.tone("kazoo", 60, 100)
    with pytest.raises(ValueError, match="tracks"):
        make_demo(Path("/nonexistent/never-written"), tracks=0)


def test_default_dir_honours_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(demo.ENV_DIR, raising=False)
    assert default_demo_dir().name == f"demo-v{DEMO_VERSION}"
    monkeypatch.setenv(demo.ENV_DIR, str(tmp_path / "mine"))
    assert default_demo_dir() == tmp_path / "mine"
    assert demo.is_complete(default_demo_dir(), tracks=3, seed=0) is False


def test_ensure_demo_keeps_a_complete_corpus_and_rebuilds_an_incomplete_one(tmp_path: Path) -> None:
    out = make_demo(tmp_path / "c", tracks=4, seed=0, seconds=5.0, workers=1, progress=False)
    first = out / "audio" / "demo0000.flac"
    stamp = first.stat().st_mtime_ns
    assert ensure_demo(out, tracks=4, seed=0, progress=False) == out
    assert first.stat().st_mtime_ns == stamp  # nothing regenerated

    (out / "tags.csv").unlink()  # an interrupted run never wrote it
    assert not demo.is_complete(out, tracks=4, seed=0)
    ensure_demo(out, tracks=4, seed=0, progress=False)
    assert (out / "tags.csv").is_file() and first.stat().st_mtime_ns != stamp

    (out / "audio" / "demo0003.flac").unlink()  # a file lost afterwards
    assert not demo.is_complete(out, tracks=4, seed=0)
    assert not demo.is_complete(out, tracks=5, seed=0) and not demo.is_complete(out, tracks=4, seed=1)


def test_a_smaller_corpus_replaces_a_bigger_one_without_leftovers(tmp_path: Path) -> None:
    out = make_demo(tmp_path / "c", tracks=5, seed=0, seconds=2.0, workers=1, progress=False)
    (out / "audio" / "demo0001.flac.tmp").write_bytes(b"half-written")
    make_demo(out, tracks=3, seed=0, seconds=2.0, workers=1, progress=False)
    assert sorted(p.name for p in (out / "audio").iterdir()) == [f"demo{i:04d}.flac" for i in range(3)]
    assert len(rows(out)) == 3


def test_ensure_demo_waits_while_another_process_generates(tmp_path: Path) -> None:
    out = tmp_path / "shared"
    with ThreadPoolExecutor(1) as pool:
        with demo._exclusive(out):  # as if another process were generating
            waiting = pool.submit(ensure_demo, out, 3, 0, False)
            time.sleep(1.0)
            assert not waiting.done() and not (out / "audio").exists()
        assert waiting.result(timeout=120) == out
    assert demo.is_complete(out, tracks=3, seed=0)
