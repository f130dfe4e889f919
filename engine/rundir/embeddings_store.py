"""The HDF5 layout of a run's `embeddings.h5`: written once by `EmbeddingsWriter`, read through `Embeddings`.

The writer works SWMR into `.embeddings.h5.partial`, then fsyncs and renames the final file into
place; it is never modified afterwards. Tracks that ended with no segment (unreadable audio) are
dropped from it when it is finished and listed in attr `skipped`.

    /tracks/id, /tracks/split, /tracks/path   (N,) UTF-8 strings
    /tracks/tags        (N, T) uint8, attr tag_names
    /tracks/embedding   (N, D) float32, mean of the track's segment embeddings
    /tracks/n_segments  (N,) int32
    /tracks/prototype   (N,) int32, clustering runs only (absent otherwise): each track's prototype,
                        the argmax of its mean segment probabilities over the clustering head's K
                        prototypes (-1: none); attrs n_prototypes, head, temperature, centered
    /segments/embedding (S, D) float16|float32, chunked by whole rows (~2 MB)
    /segments/track     (S,) int32 index into /tracks
    /segments/start_s   (S,) float32
    root attrs: run_id, method, checkpoint_step, precision, sample_rate, segment_seconds, created, corpus,
                store_id (unique per written file), n_skipped, skipped (JSON list of {path, reason}), complete
"""
from __future__ import annotations

import contextlib
import json
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import h5py
import numpy as np

from engine.rundir.disk import room_for, write_error, writing
from engine.rundir.h5files import StoreError, create_h5, discard, fsync_rename, h5_written, locked
from engine.rundir.layout import EMBEDDINGS, EMBEDDINGS_PARTIAL, RunDir
from engine.rundir.tracks import TrackPrototypes, TrackTable, read_tracks, write_tracks

__all__ = ["Embeddings", "EmbeddingsWriter", "StoreError", "TrackPrototypes", "TrackTable", "embedding_progress",
           "open_embeddings"]

_CHUNK_BYTES = 2 << 20  # segment rows are read in blocks of about 2 MB
_FLUSH_SECONDS = 1.0


class EmbeddingsWriter:
    """Write embeddings.h5 once: SWMR into a partial file, then `finish` renames it into place.

    Leaving the `with` block on an exception removes the partial file; an older
    embeddings.h5 is untouched until `finish` replaces it atomically. A failed write (a full disk)
    discards the partial file and raises a one-line WriteFailed naming embeddings.h5.
    """

    def __init__(self, run_dir: Path, tracks: TrackTable, dim: int, attrs: dict[str, Any],
                 segment_dtype: Any = np.float16) -> None:
        self.run_dir = Path(run_dir)
        self.tracks, self.dim = tracks, int(dim)
        run = RunDir(self.run_dir)
        self.partial = run.embeddings_partial
        self._lock = locked(run.embeddings_lock, EMBEDDINGS, blocking=False)
        self._lock.__enter__()
        self._final_tmp = self.run_dir / f".{EMBEDDINGS}.final"
        self._final = run.embeddings
        self.partial.unlink(missing_ok=True)
        self._final_tmp.unlink(missing_ok=True)
        self._sums = np.zeros((len(tracks), self.dim), np.float32)
        self._counts = np.zeros(len(tracks), np.int64)
        self._n = 0
        self._last_flush = time.monotonic()
        self._file: h5py.File | None = None
        try:  # a signal anywhere in here (the partial file exists) must not leave it behind
            self._create(attrs, segment_dtype)
            self._seg = {name: self._file["segments"][name] for name in ("embedding", "track", "start_s")}
            self._seg_counts = self._file["tracks/n_segments"]
        except BaseException as err:
            self.abort()
            if isinstance(err, (OSError, RuntimeError)):
                raise write_error(run.embeddings, err) from None
            raise

    def _create(self, attrs: dict[str, Any], segment_dtype: Any) -> None:
        """The partial file with every dataset created (empty, resizable), in SWMR mode."""
        room_for(self.partial, 0, self._final)
        self._file = f = create_h5(self.partial, libver="latest")
        f.attrs.update({"created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                        "store_id": uuid.uuid4().hex, "n_skipped": 0, "skipped": "[]", "complete": False})
        f.attrs.update({k: v for k, v in attrs.items() if v is not None})
        t = f.create_group("tracks")
        write_tracks(t, self.tracks)
        t.create_dataset("n_segments", data=np.zeros(len(self.tracks), np.int32))
        rows = min(8192, max(1, _CHUNK_BYTES // (self.dim * np.dtype(segment_dtype).itemsize)))
        s = f.create_group("segments")
        s.create_dataset("embedding", (0, self.dim), segment_dtype, maxshape=(None, self.dim),
                         chunks=(rows, self.dim))
        s.create_dataset("track", (0,), np.int32, maxshape=(None,), chunks=(16384,))
        s.create_dataset("start_s", (0,), np.float32, maxshape=(None,), chunks=(16384,))
        f.swmr_mode = True

    def __enter__(self) -> EmbeddingsWriter:
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is not None:
            self.abort()

    @property
    def n_segments(self) -> int:
        return self._n

    def add_segments(self, track_index: np.ndarray, start_s: np.ndarray, emb: np.ndarray) -> None:
        """Append segments: track rows (B,), start times (B,) in seconds, embeddings (B, D)."""
        track_index = np.asarray(track_index, np.int64)
        emb = np.asarray(emb, np.float32)
        b = len(track_index)
        if emb.shape != (b, self.dim) or len(start_s) != b:
            raise ValueError(f"add_segments: {b} tracks, {len(start_s)} starts, embeddings {emb.shape}, dim {self.dim}")
        if b and (track_index.min() < 0 or track_index.max() >= len(self.tracks)):
            raise ValueError(f"add_segments: track index outside 0..{len(self.tracks) - 1}")
        lo, hi = self._n, self._n + b
        with self._writing():
            room_for(self.partial, b * (self.dim * self._seg["embedding"].dtype.itemsize + 8), self._final)
            for name, value in (("embedding", emb), ("track", track_index), ("start_s", start_s)):
                self._seg[name].resize(hi, axis=0)
                self._seg[name][lo:hi] = value
        np.add.at(self._sums, track_index, emb)
        np.add.at(self._counts, track_index, 1)
        self._n = hi
        if time.monotonic() - self._last_flush > _FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Make everything added so far visible to SWMR readers."""
        with self._writing():
            self._seg_counts[:] = self._counts
            self._file.flush()
        self._last_flush = time.monotonic()

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """A failed write of the partial file discards it and raises the one-line WriteFailed."""
        try:
            yield
        except (OSError, RuntimeError) as err:
            self.abort()
            raise write_error(RunDir(self.run_dir).embeddings, err) from None

    def finish(self, skipped: list[tuple[str, str]] = (), prototypes: TrackPrototypes | None = None) -> Path:
        """Copy the partial file into the final layout (track means, tracks without segments
        dropped, complete=True) and rename it into place; SWMR readers of the partial are unaffected.

        `prototypes` (clustering runs) holds one prototype per track of the writer's table, in its order.
        """
        if prototypes is not None and prototypes.prototype.shape != (len(self.tracks),):
            raise ValueError(f"finish: {prototypes.prototype.shape} prototypes for {len(self.tracks)} tracks")
        self.flush()
        del self._seg, self._seg_counts
        with self._writing():
            self._file.close()
        keep = np.flatnonzero(self._counts > 0)
        skipped = [{"path": str(p), "reason": str(r)} for p, r in skipped]
        listed = {s["path"] for s in skipped}
        skipped += [{"path": self.tracks.paths[i], "reason": "no segments"}
                    for i in np.flatnonzero(self._counts == 0) if self.tracks.paths[i] not in listed]
        remap = np.full(len(self.tracks), -1, np.int32)
        remap[keep] = np.arange(len(keep))
        final = RunDir(self.run_dir).embeddings
        try:
            room_for(self._final_tmp, self.partial.stat().st_size + self._sums.nbytes, final)
            self._write_final(final, skipped, keep, remap, prototypes)
            with writing(final, self._final_tmp):
                fsync_rename(self._final_tmp, final)
        except BaseException:
            self.abort()
            raise
        self.partial.unlink(missing_ok=True)
        self._lock.__exit__(None, None, None)
        self._lock = None
        return final

    def _write_final(self, final: Path, skipped: list[dict[str, str]], keep: np.ndarray, remap: np.ndarray,
                     prototypes: TrackPrototypes | None) -> None:
        with h5py.File(self.partial, "r", swmr=True, libver="latest") as src, \
                h5_written(final, self._final_tmp, libver="latest") as dst:
            dst.attrs.update(src.attrs)
            dst.attrs.update({"n_skipped": len(skipped), "skipped": json.dumps(skipped), "complete": True})
            group = dst.create_group("tracks")
            write_tracks(group, self.tracks.take(keep))
            group.create_dataset("n_segments", data=self._counts[keep].astype(np.int32))
            group.create_dataset("embedding", data=(self._sums[keep] / self._counts[keep, None]).astype(np.float32))
            if prototypes is not None:
                group.create_dataset("prototype", data=prototypes.prototype[keep].astype(np.int32))
                group["prototype"].attrs.update(prototypes.attrs())
            seg = dst.create_group("segments")
            src.copy(src["segments/embedding"], seg, "embedding")
            src.copy(src["segments/start_s"], seg, "start_s")
            seg.create_dataset("track", data=remap[src["segments/track"][:]], chunks=True)

    def abort(self) -> None:
        """Close and remove the partial file; the previous embeddings.h5 stays. Safe to call twice."""
        if self._file is not None:
            discard(self._file)  # before its datasets are freed: freeing one flushes it
        self.__dict__.pop("_seg", None)
        self.__dict__.pop("_seg_counts", None)
        self.partial.unlink(missing_ok=True)
        self._final_tmp.unlink(missing_ok=True)
        if self._lock is not None:
            self._lock.__exit__(None, None, None)
            self._lock = None


class Embeddings:
    """A read-only (SWMR) view of embeddings.h5; use as a context manager or call `close`."""

    def __init__(self, path: Path, live: bool | None = None) -> None:
        """`live` (default: a partial file) opens it SWMR, as it is still being written; a finished store opens
        without SWMR, so that HDF5 checks its length and a cut file is refused."""
        self.path = Path(path)
        live = self.path.name == EMBEDDINGS_PARTIAL if live is None else live
        try:
            self._file = h5py.File(self.path, "r", swmr=live, libver="latest")
        except FileNotFoundError:
            raise StoreError(f"{self.path}: no embeddings yet (run `mvssl embed`)") from None
        except OSError as err:
            raise StoreError(f"{self.path}: unreadable embeddings file ({err})") from None
        try:
            self.tracks = read_tracks(self._file["tracks"])
            self.attrs = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in self._file.attrs.items()}
            self.attrs["skipped"] = json.loads(self.attrs.get("skipped", "[]"))
        except (KeyError, OSError, ValueError, RuntimeError) as err:
            self._file.close()
            raise StoreError(f"{self.path}: corrupt embeddings file ({err})") from None

    def __enter__(self) -> Embeddings:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    @property
    def complete(self) -> bool:
        return bool(self.attrs.get("complete", False))

    @property
    def dim(self) -> int:
        return int(self._file["segments/embedding"].shape[1])

    @property
    def n_segments(self) -> np.ndarray:
        """Segments per track (N,) int32."""
        return self._file["tracks/n_segments"][:]

    def track_embeddings(self) -> np.ndarray:
        """(N, D) float32 mean segment embedding per track."""
        return self._file["tracks/embedding"][:]

    def track_prototypes(self) -> TrackPrototypes | None:
        """Each track's clustering prototype, or None for a run without a clustering head."""
        if "prototype" not in self._file["tracks"]:
            return None
        data = self._file["tracks/prototype"]
        a = data.attrs
        return TrackPrototypes(data[:].astype(np.int32), int(a["n_prototypes"]), str(a["head"]),
                               float(a["temperature"]), bool(a["centered"]))

    def segment_embeddings(self, rows: np.ndarray | slice | None = None) -> np.ndarray:
        """(S, D) float32 segment embeddings, or only `rows` (sorted index array or slice)."""
        data = self._file["segments/embedding"]
        if rows is None:
            return data[:].astype(np.float32)
        if isinstance(rows, slice):
            return data[rows].astype(np.float32)
        uniq, inverse = np.unique(np.asarray(rows, np.int64), return_inverse=True)
        block = data[:][uniq] if len(uniq) > data.shape[0] // 8 else data[uniq]  # h5py point reads are slow
        return block.astype(np.float32)[inverse]

    def segment_track(self) -> np.ndarray:
        """(S,) int32 track row of each segment."""
        return self._file["segments/track"][:]

    def segment_start_s(self) -> np.ndarray:
        """(S,) float32 start time of each segment in seconds."""
        return self._file["segments/start_s"][:]

    def segment_rows(self, track_rows: np.ndarray) -> np.ndarray:
        """Sorted segment rows (int64) that belong to any of `track_rows`."""
        return np.flatnonzero(np.isin(self.segment_track(), np.asarray(track_rows)))


def open_embeddings(run_dir: Path) -> Embeddings:
    """Open RUN_DIR/embeddings.h5 read-only; a missing, corrupt or incomplete file raises StoreError."""
    emb = Embeddings(RunDir(run_dir).embeddings)
    if not emb.complete:
        emb.close()
        raise StoreError(f"{emb.path}: incomplete embeddings file")
    return emb


def embedding_progress(run_dir: Path) -> dict[str, int] | None:
    """Progress of an `embed` in flight (tracks, tracks_done, segments), or None when none is."""
    try:
        with Embeddings(RunDir(run_dir).embeddings_partial) as emb:
            return {"tracks": len(emb.tracks), "tracks_done": int((emb.n_segments > 0).sum()),
                    "segments": int(emb._file["segments/track"].shape[0])}
    except StoreError:
        return None
