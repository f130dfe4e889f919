"""Turn a SOURCE string (`demo`, `folder:...`, `mtat:...`, `jamendo:...`) into a Corpus.

Adapters return a catalog: every track their metadata names. `load_source` keeps the tracks
whose audio is on disk (and, when asked, decodes), listing every other file as a Problem.
"""
from __future__ import annotations

import dataclasses
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from engine.data.corpora import folder, jamendo, mtat
from engine.data.corpora.base import Corpus, Problem, Track

FORMS = ("demo | folder:PATH[:TAGS_CSV] | mtat:SPLIT_DIR:AUDIO_ROOT[:ANNOTATIONS_CSV]"
         " | jamendo:SPLIT_DIR:AUDIO_ROOT:TASK")
MISSING = "missing"
# kind -> (fewest, most) fields after the kind
ARITY = {"demo": (0, 0), "folder": (1, 2), "mtat": (2, 3), "jamendo": (3, 3)}


def _bad(spec: str, why: str) -> ValueError:
    return ValueError(f"bad corpus source '{spec}': {why}; valid forms: {FORMS}")


def parse_source(spec: str) -> tuple[str, list[str]]:
    """Split a SOURCE into its kind and fields, checking the field count."""
    kind, *fields = spec.strip().split(":")
    if kind not in ARITY:
        raise _bad(spec, f"unknown kind '{kind}'")
    fewest, most = ARITY[kind]
    if not fewest <= len(fields) <= most:
        raise _bad(spec, f"{kind} takes {fewest}" + (f" to {most}" if most != fewest else "") + " field(s)")
    if any(not f.strip() for f in fields):
        raise _bad(spec, "empty field")
    return kind, [f.strip() for f in fields]


def catalog_source(spec: str) -> Corpus:
    """Every track the source's metadata names, whether or not its audio is on disk."""
    kind, fields = parse_source(spec)
    if kind == "demo":
        from engine.data.corpora import demo

        return folder.catalog(demo.ensure_demo(), name="demo")
    if kind == "folder":
        return folder.catalog(Path(fields[0]), Path(fields[1]) if len(fields) > 1 else None)
    if kind == "mtat":
        return mtat.catalog(Path(fields[0]), Path(fields[1]), Path(fields[2]) if len(fields) > 2 else None)
    return jamendo.catalog(Path(fields[0]), Path(fields[1]), fields[2])


def present_files(paths: list[Path]) -> list[bool]:
    """Whether each path is a file, listing each directory once (fast on 10^4+ files, and on no root)."""
    listings: dict[Path, set[str]] = {}
    present = []
    for path in paths:
        parent = path.parent
        if parent not in listings:
            try:
                with os.scandir(parent) as entries:
                    listings[parent] = {e.name for e in entries if e.is_file()}
            except OSError:
                listings[parent] = set()
        present.append(path.name in listings[parent])
    return present


def keep_present(corpus: Corpus) -> Corpus:
    """Drop tracks whose file is absent; each one becomes a Problem 'missing'."""
    kept: list[Track] = []
    problems = list(corpus.problems)
    for track, ok in zip(corpus.tracks, present_files([t.path for t in corpus.tracks])):
        if ok:
            kept.append(track)
        else:
            problems.append(Problem(track.path, MISSING))
    return dataclasses.replace(corpus, tracks=kept, problems=problems)


def keep_readable(corpus: Corpus, workers: int | None = None) -> Corpus:
    """Decode the start and end of every file: unreadable ones become Problems, durations are filled."""
    if not corpus.tracks:
        return corpus
    from engine.data import audio

    def check(track: Track) -> Track | Problem:
        try:
            info = audio.check(track.path)
        except audio.AudioError as err:
            return Problem(track.path, err.reason)
        return dataclasses.replace(track, duration=info.duration)

    kept: list[Track] = []
    problems = list(corpus.problems)
    with ThreadPoolExecutor(max_workers=workers or min(8, os.cpu_count() or 1)) as pool:
        for result in pool.map(check, corpus.tracks):
            if isinstance(result, Problem):
                problems.append(result)
            else:
                kept.append(result)
    return dataclasses.replace(corpus, tracks=kept, problems=problems)


def load_source(spec: str, *, check_audio: bool = False) -> Corpus:
    """The usable tracks of a SOURCE; missing (and with `check_audio`, unreadable) files as Problems."""
    corpus = keep_present(catalog_source(spec))
    return keep_readable(corpus) if check_audio else corpus

