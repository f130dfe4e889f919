"""Synthetic run directories for probe and report tests, written through the store's writer API."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from engine.rundir import embeddings_store

TAG_NAMES = ["genre:a", "genre:b", "genre:c", "instrument:x", "instrument:y", "mood:m"]


def make_run(run_dir: Path, method: str = "contrastive", signal: float = 3.0, n: int = 200, dim: int = 32,
             segments: int = 4, seed: int = 0, tags_seed: int = 0, splits: list[str] | None = None,
             tag_names: list[str] | None = None, attrs: dict | None = None) -> Path:
    """A finished run whose segment embeddings are `signal` × (tags @ W) + unit noise.

    The tags and splits depend only on `tags_seed` (shared by every run of one corpus); signal 0
    gives embeddings that carry nothing about the tags.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    names = list(tag_names or TAG_NAMES)
    corpus = np.random.default_rng(tags_seed)
    tags = (corpus.random((n, len(names))) < 0.3).astype(np.uint8)
    tags[np.arange(n), corpus.integers(0, len(names), n)] = 1  # every track has a tag
    if splits is None:
        splits = ["train"] * int(0.7 * n) + ["valid"] * int(0.15 * n)
        splits += ["test"] * (n - len(splits))
    table = embeddings_store.TrackTable([f"t{i:04d}" for i in range(n)], [f"audio/t{i:04d}.flac" for i in range(n)],
                             splits, tags, names)
    rng = np.random.default_rng(seed)
    centre = signal * tags @ rng.normal(size=(len(names), dim))
    with embeddings_store.EmbeddingsWriter(run_dir, table, dim, {"method": method, "checkpoint_step": 1, **(attrs or {})}) as writer:
        for i in range(n):
            writer.add_segments(np.full(segments, i), 4.0 * np.arange(segments),
                                centre[i] + rng.normal(size=(segments, dim)))
        writer.finish()
    (run_dir / "status.json").write_text(json.dumps({"state": "done", "method": method}))
    return run_dir
