"""`mvssl export --format tsv|parquet`: a run's track embeddings with ids, paths, split and tags.

- tsv: the TensorBoard projector's pair, `vectors.tsv` (one tab-separated row of floats per track, no
  header) and `metadata.tsv` (header `id split tags path`, tags `;`-separated), same row order;
- parquet: `embeddings.parquet`, one row per track: id, path, split, tags (list of strings), n_segments,
  prototype (clustering runs), embedding (fixed-size list of float32); the run id, method, checkpoint
  step and corpus in the schema metadata. pandas, Spotlight and DuckDB read it.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from engine.rundir import embeddings_store

TSV_FILES = ("vectors.tsv", "metadata.tsv")
PARQUET_FILE = "embeddings.parquet"


def _cell(text: str) -> str:
    return " ".join(str(text).split())  # no tab or newline inside a TSV field


def _tags(tracks: embeddings_store.TrackTable) -> list[list[str]]:
    return [[name for name, on in zip(tracks.tag_names, row) if on] for row in tracks.tags]


def export_tsv(run_dir: Path, out: Path) -> list[Path]:
    """Write the projector pair into `out`; returns the two paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with embeddings_store.open_embeddings(run_dir) as emb:
        tracks, vectors = emb.tracks, emb.track_embeddings()
    vec_path, meta_path = out / TSV_FILES[0], out / TSV_FILES[1]
    np.savetxt(vec_path, vectors, fmt="%.7g", delimiter="\t")
    lines = ["id\tsplit\ttags\tpath"]
    lines += [f"{_cell(i)}\t{_cell(s)}\t{_cell(';'.join(t))}\t{_cell(p)}"
              for i, s, t, p in zip(tracks.ids, tracks.splits, _tags(tracks), tracks.paths)]
    meta_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [vec_path, meta_path]


def export_parquet(run_dir: Path, out: Path) -> Path:
    """Write `embeddings.parquet` into `out`; returns its path."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ValueError("Parquet export needs pyarrow: pip install 'mvssl-workbench[parquet]'") from None
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with embeddings_store.open_embeddings(run_dir) as emb:
        tracks, vectors, n_segments = emb.tracks, emb.track_embeddings(), emb.n_segments
        prototypes, attrs = emb.track_prototypes(), emb.attrs
    columns = {
        "id": pa.array(tracks.ids, pa.string()),
        "path": pa.array(tracks.paths, pa.string()),
        "split": pa.array(tracks.splits, pa.string()),
        "tags": pa.array(_tags(tracks), pa.list_(pa.string())),
        "n_segments": pa.array(n_segments.astype(np.int32)),
    }
    if prototypes is not None:
        columns["prototype"] = pa.array(prototypes.prototype.astype(np.int32))
    dim = vectors.shape[1]
    flat = pa.array(np.ascontiguousarray(vectors, np.float32).reshape(-1), pa.float32())
    columns["embedding"] = pa.FixedSizeListArray.from_arrays(flat, dim)
    meta = {k: attrs.get(k) for k in ("run_id", "method", "checkpoint_step", "corpus", "sample_rate",
                                      "segment_seconds")}
    table = pa.table(columns).replace_schema_metadata({"mvssl": json.dumps(meta, default=str),
                                                       "tag_names": json.dumps(tracks.tag_names)})
    path = out / PARQUET_FILE
    pq.write_table(table, path)
    return path
