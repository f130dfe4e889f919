"""engine.rundir.embeddings_store: the embeddings.h5 layout, SWMR progress, and crash safety."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from engine.rundir import embeddings_store, layout

ROOT = Path(__file__).resolve().parents[3]
TAGS = ["rock", "jazz", "mood:sad"]


def table(n: int = 4) -> embeddings_store.TrackTable:
    ids = [f"track-{i}" for i in range(n - 1)] + ["ünï/cødé ♫"]
    rng = np.random.default_rng(0)
    return embeddings_store.TrackTable(ids, [f"/music/{i}.flac" for i in ids], (["train", "valid", "test"] * n)[:n],
                            rng.integers(0, 2, (n, len(TAGS))).astype(np.uint8), TAGS)


def write_store(run_dir: Path, dim: int = 8, seed: int = 0, **kw) -> tuple[np.ndarray, np.ndarray]:
    """A complete store where track i has i + 1 segments; returns (segment track rows, embeddings)."""
    tracks = table()
    rows = np.repeat(np.arange(len(tracks)), np.arange(1, len(tracks) + 1))
    emb = np.random.default_rng(seed).standard_normal((len(rows), dim)).astype(np.float32)
    with embeddings_store.EmbeddingsWriter(run_dir, tracks, dim, {"run_id": "r1", "method": "vicreg",
                                                       "checkpoint_step": 7}, **kw) as w:
        w.add_segments(rows[:3], np.arange(3, dtype=np.float32), emb[:3])
        w.add_segments(rows[3:], np.arange(3, len(rows), dtype=np.float32), emb[3:])
        w.finish([])
    return rows, emb


def run_python(code: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def test_layout_has_every_dataset_and_attr_with_shapes_dtypes_and_strings(tmp_path: Path) -> None:
    rows, emb = write_store(tmp_path)
    n, s = 4, len(rows)
    with h5py.File(tmp_path / layout.EMBEDDINGS, "r") as f:
        expected = {"tracks/id": ((n,), "O"), "tracks/split": ((n,), "O"), "tracks/path": ((n,), "O"),
                    "tracks/tags": ((n, 3), np.uint8), "tracks/embedding": ((n, 8), np.float32),
                    "tracks/n_segments": ((n,), np.int32), "segments/embedding": ((s, 8), np.float16),
                    "segments/track": ((s,), np.int32), "segments/start_s": ((s,), np.float32)}
        for name, (shape, dtype) in expected.items():
            assert f[name].shape == shape and f[name].dtype == np.dtype(dtype), name
        assert [t.decode() for t in f["tracks/id"][:]][-1] == "ünï/cødé ♫"
        assert list(f["tracks/tags"].attrs["tag_names"]) == TAGS
        for attr in ("run_id", "method", "checkpoint_step", "created", "store_id", "n_skipped", "skipped", "complete"):
            assert attr in f.attrs, attr
    with embeddings_store.open_embeddings(tmp_path) as e:
        assert e.tracks == table()
        assert e.attrs["method"] == "vicreg" and e.attrs["checkpoint_step"] == 7 and e.attrs["complete"] is True
        assert e.attrs["skipped"] == [] and e.attrs["n_skipped"] == 0
        np.testing.assert_array_equal(e.n_segments, [1, 2, 3, 4])
        np.testing.assert_array_equal(e.segment_track(), rows)
        np.testing.assert_array_equal(e.segment_start_s(), np.arange(s))
        np.testing.assert_allclose(e.segment_embeddings(), emb, rtol=1e-3, atol=1e-3)
        means = np.stack([emb[rows == i].mean(0) for i in range(4)])
        np.testing.assert_allclose(e.track_embeddings(), means, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(e.segment_embeddings(np.array([5, 0, 5])), emb[[5, 0, 5]], atol=1e-3)
        np.testing.assert_array_equal(e.segment_rows([1, 3]), np.flatnonzero(np.isin(rows, [1, 3])))
        np.testing.assert_array_equal(e.tracks.split_index("valid"), [1])


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_segments_are_chunked_by_whole_rows_of_one_to_four_megabytes(tmp_path: Path, dtype: type) -> None:
    tracks = table()
    with embeddings_store.EmbeddingsWriter(tmp_path, tracks, 1024, {}, segment_dtype=dtype) as w:
        w.add_segments(np.zeros(3, int), np.zeros(3), np.ones((3, 1024)))
        w.finish()
    with h5py.File(tmp_path / layout.EMBEDDINGS, "r") as f:
        data = f["segments/embedding"]
        assert data.dtype == dtype and data.chunks[1] == 1024
        assert 1 << 20 <= data.chunks[0] * 1024 * np.dtype(dtype).itemsize <= 4 << 20


def test_tracks_without_segments_are_dropped_and_listed_as_skipped(tmp_path: Path) -> None:
    tracks = table()
    with embeddings_store.EmbeddingsWriter(tmp_path, tracks, 4, {}) as w:
        w.add_segments(np.array([3, 0, 3]), np.zeros(3), np.arange(12).reshape(3, 4))
        w.finish([(tracks.paths[1], "unreadable: not a FLAC file")])
    with embeddings_store.open_embeddings(tmp_path) as e:
        assert e.tracks.ids == [tracks.ids[0], tracks.ids[3]]
        np.testing.assert_array_equal(e.segment_track(), [1, 0, 1])
        np.testing.assert_allclose(e.track_embeddings(), [[4, 5, 6, 7], [4, 5, 6, 7]])
        assert e.attrs["n_skipped"] == 2
        assert e.attrs["skipped"] == [{"path": tracks.paths[1], "reason": "unreadable: not a FLAC file"},
                                      {"path": tracks.paths[2], "reason": "no segments"}]


def test_clustering_prototypes_are_stored_per_kept_track_and_absent_otherwise(tmp_path: Path) -> None:
    tracks = table()
    found = embeddings_store.TrackPrototypes(np.array([17, 3, -1, 4095], np.int32), 4096, "teacher", 0.04, False)
    with embeddings_store.EmbeddingsWriter(tmp_path, tracks, 4, {}) as w:
        w.add_segments(np.array([0, 3, 3]), np.zeros(3), np.ones((3, 4)))
        with pytest.raises(ValueError, match=r"\(3,\) prototypes for 4 tracks"):
            w.finish(prototypes=embeddings_store.TrackPrototypes(np.zeros(3, np.int32), 4096, "teacher", 0.04, False))
        w.finish(prototypes=found)
    with h5py.File(tmp_path / layout.EMBEDDINGS, "r") as f:
        assert f["tracks/prototype"].dtype == np.int32
    with embeddings_store.open_embeddings(tmp_path) as e:
        stored = e.track_prototypes()
    assert stored.prototype.tolist() == [17, 4095]  # tracks 1 and 2 had no segments
    assert stored.attrs() == found.attrs() == {"n_prototypes": 4096, "head": "teacher", "temperature": 0.04,
                                              "centered": False}
    (tmp_path / "vicreg").mkdir()
    write_store(tmp_path / "vicreg")
    with embeddings_store.open_embeddings(tmp_path / "vicreg") as e:
        assert e.track_prototypes() is None


def test_open_embeddings_names_the_file_when_missing_corrupt_or_incomplete(tmp_path: Path) -> None:
    with pytest.raises(embeddings_store.StoreError, match="embeddings.h5: no embeddings yet"):
        embeddings_store.open_embeddings(tmp_path)
    (tmp_path / layout.EMBEDDINGS).write_bytes(b"not hdf5 at all" * 10)
    with pytest.raises(embeddings_store.StoreError, match="embeddings.h5: unreadable"):
        embeddings_store.open_embeddings(tmp_path)
    with h5py.File(tmp_path / layout.EMBEDDINGS, "w", libver="latest") as f:
        f.attrs["complete"] = False
    with pytest.raises(embeddings_store.StoreError, match="embeddings.h5: corrupt"):
        embeddings_store.open_embeddings(tmp_path)


def test_writer_error_removes_partial_and_keeps_the_old_store(tmp_path: Path) -> None:
    _, emb = write_store(tmp_path)
    with pytest.raises(ValueError, match="add_segments"):
        with embeddings_store.EmbeddingsWriter(tmp_path, table(), 8, {}) as w:
            w.add_segments(np.zeros(2, int), np.zeros(2), np.zeros((2, 5)))  # wrong dim
    assert not (tmp_path / layout.EMBEDDINGS_PARTIAL).exists()
    with embeddings_store.open_embeddings(tmp_path) as e:
        np.testing.assert_allclose(e.segment_embeddings(), emb, atol=1e-3)


def test_a_second_writer_of_the_same_run_is_refused(tmp_path: Path) -> None:
    with embeddings_store.EmbeddingsWriter(tmp_path, table(), 4, {}) as w:
        with pytest.raises(embeddings_store.StoreError, match="another process is writing"):
            embeddings_store.EmbeddingsWriter(tmp_path, table(), 4, {})
        w.abort()
    embeddings_store.EmbeddingsWriter(tmp_path, table(), 4, {}).abort()  # the lock was released


def test_swmr_reader_in_another_process_sees_progress_while_writing(tmp_path: Path) -> None:
    tracks = table()
    reader = run_python(f"""
        import sys
        from engine.rundir import embeddings_store, layout
        seen = []
        for line in sys.stdin:  # one line per flush of the writer
            with embeddings_store.Embeddings({str(tmp_path / layout.EMBEDDINGS_PARTIAL)!r}) as e:
                seen.append((len(e.segment_track()), int((e.n_segments > 0).sum()), e.complete))
            print(seen[-1], flush=True)
        """, stdin=subprocess.PIPE)
    with embeddings_store.EmbeddingsWriter(tmp_path, tracks, 4, {}) as w:
        w.add_segments(np.array([0, 0]), np.zeros(2), np.ones((2, 4)))
        w.flush()
        reader.stdin.write("go\n"); reader.stdin.flush()
        first = reader.stdout.readline().strip()
        w.add_segments(np.array([1, 2, 3]), np.zeros(3), np.ones((3, 4)))
        w.flush()
        assert embeddings_store.embedding_progress(tmp_path) == {"tracks": 4, "tracks_done": 4, "segments": 5}
        reader.stdin.write("go\n"); reader.stdin.flush()
        second = reader.stdout.readline().strip()
        path = w.finish()  # a reader may still hold the partial file open
    reader.stdin.close()
    assert reader.wait(timeout=30) == 0, reader.stderr.read()
    assert (first, second) == ("(2, 1, False)", "(5, 4, False)")
    assert path.exists() and embeddings_store.embedding_progress(tmp_path) is None


WRITE_FOREVER = """
    import sys, numpy as np
    from engine.rundir import embeddings_store
    tracks = embeddings_store.TrackTable(["a", "b"], ["/a", "/b"], ["train", "test"], np.zeros((2, 1), np.uint8), ["x"])
    w = embeddings_store.EmbeddingsWriter(sys.argv[1], tracks, 64, {"method": "new"})
    while True:
        w.add_segments(np.array([0, 1] * 32), np.zeros(64), np.full((64, 64), 9.0))
        w.flush()
        print("writing", flush=True)
"""


def test_writer_killed_mid_write_leaves_the_previous_store_readable_and_intact(tmp_path: Path) -> None:
    rows, emb = write_store(tmp_path)
    before = (tmp_path / layout.EMBEDDINGS).read_bytes()
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(WRITE_FOREVER), str(tmp_path)], cwd=ROOT,
                            text=True, stdout=subprocess.PIPE)
    for _ in range(5):  # several flushes in: the partial file is large and open for writing
        assert proc.stdout.readline().strip() == "writing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (tmp_path / layout.EMBEDDINGS_PARTIAL).exists()
    assert (tmp_path / layout.EMBEDDINGS).read_bytes() == before
    with embeddings_store.open_embeddings(tmp_path) as e:
        assert e.attrs["method"] == "vicreg" and e.tracks == table()
        np.testing.assert_array_equal(e.segment_track(), rows)
        np.testing.assert_allclose(e.segment_embeddings(), emb, atol=1e-3)
    write_store(tmp_path, seed=1)  # the dead writer's lock and partial file do not block the next one
    assert not (tmp_path / layout.EMBEDDINGS_PARTIAL).exists()
