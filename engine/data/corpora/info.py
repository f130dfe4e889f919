"""`mvssl corpus info`: what a SOURCE holds (tracks per split, tags) and which files it cannot use."""
from __future__ import annotations

from collections import Counter
from typing import Any

from engine.data.corpora.base import SPLITS
from engine.data.corpora.sources import catalog_source, keep_present, keep_readable

TOP_TAGS = 10


def corpus_info(spec: str, *, check_audio: bool = True) -> dict[str, Any]:
    """JSON-ready summary of a source; with `check_audio` every present file is also decoded."""
    catalog = catalog_source(spec)
    present = keep_present(catalog)
    usable = keep_readable(present) if check_audio else present
    # Each stage appends its problems, so the slices tell notes, missing and unreadable files apart.
    n_catalog, n_present = len(catalog.problems), len(present.problems)
    kinds = {
        "other": usable.problems[:n_catalog],
        "unreadable": usable.problems[n_present:],
        "missing": usable.problems[n_catalog:n_present],
    }
    tag_counts = Counter(tag for track in catalog.tracks for tag in track.tags)
    return {
        "source": spec,
        "name": catalog.name,
        "tracks": {split: len(catalog.split(split)) for split in SPLITS} | {"total": len(catalog.tracks)},
        "usable": {split: len(usable.split(split)) for split in SPLITS} | {"total": len(usable.tracks)},
        "audio_checked": check_audio,
        "tag_count": len(catalog.tag_names),
        "top_tags": [{"tag": tag, "count": n} for tag, n in tag_counts.most_common(TOP_TAGS)],
        "problems": {
            "count": len(usable.problems),
            "by_kind": {kind: len(problems) for kind, problems in kinds.items()},
            "files": [{"path": str(p.path), "kind": kind, "reason": p.reason}
                      for kind, problems in kinds.items() for p in problems],
        },
    }


def _counts(counts: dict[str, int]) -> str:
    return "   ".join(f"{split} {counts[split]:,}" for split in SPLITS) + f"   (total {counts['total']:,})"


def format_info(d: dict[str, Any], *, max_files: int = 20) -> str:
    """Human-readable text of `corpus_info`, listing at most `max_files` problem files."""
    usable_label = "readable" if d["audio_checked"] else "on disk"
    top = ", ".join(f"{t['tag']} ({t['count']:,})" for t in d["top_tags"]) or "-"
    problems = d["problems"]
    lines = [
        f"{d['name']}  ({d['source']})",
        f"tracks     {_counts(d['tracks'])}",
        f"{usable_label:<10} {_counts(d['usable'])}",
        f"tags       {d['tag_count']}",
        f"top tags   {top}",
        f"problems   {problems['count']:,} ("
        + ", ".join(f"{kind} {n:,}" for kind, n in problems["by_kind"].items()) + ")",
    ]
    lines += [f"  {f['path']}: {f['reason']}" for f in problems["files"][:max_files]]
    if problems["count"] > max_files:
        lines.append(f"  ... and {problems['count'] - max_files:,} more (--json lists them all)")
    return "\n".join(lines)
