"""Frozen backbone -> segment and track embeddings of every track of a corpus -> embeddings.h5.

Each track is decoded once (16 kHz mono) and cut into 4 s segments: "all" takes every
non-overlapping segment from the start and drops silent ones (unless all are silent); an
integer K takes K segments at seeded random positions, redrawing a silent one up to
`MAX_TRIES` times. A track shorter than one segment gives one zero-padded segment. Segments of
consecutive tracks are batched together; unreadable files are skipped and listed in the store.

Clustering runs also get each track's prototype (`PrototypeHead`, `PrototypeVotes`): the teacher
head (the student's when no teacher is stored) maps every segment embedding, as stored, to K
prototype probabilities (teacher center subtracted, softmax at the final teacher temperature); a
track's prototype is the argmax of its mean segment probabilities. The GUI colours its map by it.

The log-mel statistics baseline (`embed_logmel`) is a pseudo-run: a run directory holding
`baseline.json` ({"method": "logmel", ...}) and status.json (state done, method logmel)
instead of config.toml and checkpoints; `embed` treats it like any other run.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from engine.training import precision

from engine.rundir import embeddings_store
from engine.data.audio import SAMPLE_RATE, AudioError, is_silent, load
from engine.data.corpora.base import Corpus
from engine.data.corpora.sources import load_source
from engine.rundir.files import atomic_write_bytes, write_status
from engine.rundir.layout import BASELINE, RunDir

if TYPE_CHECKING:
    from engine.config import RunConfig

SegmentsPerTrack = int | Literal["all"]
Encoder = Callable[[torch.Tensor], torch.Tensor]  # (B, samples) waveforms -> (B, D) embeddings
LOGMEL_DIM = 256  # mean and std over time of 128 log-mel bins
MAX_TRIES = 10  # random draws per segment before a silent one is kept
SILENCE_DB = -60.0


@dataclass(frozen=True)
class SegmentPlan:
    """Where segments are cut: length, "all" or K random ones per track, and the seed of K."""

    segment_s: float = 4.0
    per_track: SegmentsPerTrack = "all"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.per_track != "all" and not (isinstance(self.per_track, int) and self.per_track >= 1):
            raise ValueError(f"segments per track must be 'all' or a positive integer, got {self.per_track!r}")

    @property
    def samples(self) -> int:
        return round(self.segment_s * SAMPLE_RATE)


def cut_segments(wave: np.ndarray, plan: SegmentPlan, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A decoded track (n,) -> (start seconds (k,) float32, segments (k, samples) float32)."""
    seg = plan.samples
    if len(wave) < seg:
        return np.zeros(1, np.float32), np.pad(wave, (0, seg - len(wave)))[None].astype(np.float32)
    if plan.per_track == "all":
        k = len(wave) // seg
        crops = wave[: k * seg].reshape(k, seg)
        starts = np.arange(k) * seg
        loud = np.array([not is_silent(c, SILENCE_DB) for c in crops])
        if loud.any():
            crops, starts = crops[loud], starts[loud]
    else:
        starts = np.empty(plan.per_track, np.int64)
        for i in range(plan.per_track):
            for _ in range(MAX_TRIES):
                starts[i] = rng.integers(0, len(wave) - seg + 1)
                if not is_silent(wave[starts[i] : starts[i] + seg], SILENCE_DB):
                    break
        crops = np.stack([wave[s : s + seg] for s in starts])
    return (starts / SAMPLE_RATE).astype(np.float32), crops.astype(np.float32, copy=False)


class TrackSegments(Dataset):
    """Item i: (i, start seconds (k,), segments (k, samples)), or (i, reason) for an unreadable file."""

    def __init__(self, paths: list[str], plan: SegmentPlan) -> None:
        self.paths, self.plan = paths, plan

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple:
        try:
            wave = load(self.paths[i])
        except AudioError as err:
            return i, err.reason
        return (i, *cut_segments(wave, self.plan, np.random.default_rng((self.plan.seed, i))))


def _as_is(item: tuple) -> tuple:
    return item


def track_table(corpus: Corpus) -> embeddings_store.TrackTable:
    """The corpus's tracks with multi-hot tags (N, T) in `corpus.tag_names` order."""
    column = {name: j for j, name in enumerate(corpus.tag_names)}
    tags = np.zeros((len(corpus.tracks), len(corpus.tag_names)), np.uint8)
    for i, track in enumerate(corpus.tracks):
        tags[i, [column[t] for t in track.tags]] = 1
    return embeddings_store.TrackTable([t.id for t in corpus.tracks], [str(t.path) for t in corpus.tracks],
                            [t.split for t in corpus.tracks], tags, list(corpus.tag_names))


# --------------------------------------------------------------------------------------------------
# encoders

def logmel_stats(frontend: torch.nn.Module) -> Encoder:
    """Log-mel statistics: per-bin mean and std over time, (B, samples) -> (B, 256)."""
    def encode(wave: torch.Tensor) -> torch.Tensor:
        mel = frontend(wave).squeeze(1)  # (B, n_mels, frames)
        return torch.cat([mel.mean(-1), mel.std(-1)], dim=1)  # (B, 2 * n_mels)
    return encode


def read_baseline(run_dir: Path) -> dict | None:
    """baseline.json of a pseudo-run, or None for a trained run."""
    path = RunDir(run_dir).baseline
    return json.loads(path.read_text()) if path.exists() else None


class PrototypeHead:
    """The clustering head of a checkpoint as a map from (B, D) embeddings to (B, K) prototype probabilities."""

    def __init__(self, head: torch.nn.Module, center: torch.Tensor | None, temperature: float, source: str,
                 device: str = "cpu") -> None:
        self.head = head.eval().to(device)
        self.center = center.float().to(device) if center is not None else None
        self.temperature, self.source, self.device = float(temperature), source, device

    @property
    def n_prototypes(self) -> int:
        return int(self.head.out_dim)

    @classmethod
    def from_checkpoint(cls, cfg: RunConfig, weights: dict[str, torch.Tensor], in_dim: int,
                        device: str = "cpu") -> PrototypeHead | None:
        """The teacher head of a clustering run's weights (student head without a teacher); None for other methods."""
        from engine.model.heads import MLPHead
        from engine.methods import get_pretext

        spec = get_pretext(cfg.method) if cfg.method != "random" else None
        if spec is None or spec.head != "clustering":
            return None
        source = "teacher" if any(k.startswith("teacher.head.") for k in weights) else "student"
        prefix = "teacher.head." if source == "teacher" else "head."
        head = MLPHead(in_dim, [*spec.head_dims[:-1], cfg.n_prototypes])
        try:
            head.load_state_dict({k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)})
        except RuntimeError as err:
            raise ValueError(f"no clustering head weights matching config.toml ({str(err).splitlines()[0]})") from None
        centering = spec.loss_config(cfg).centering
        center = weights.get("loss_fn.center") if centering else None
        return cls(head, center, cfg.teacher_temp_end, source, device)

    @torch.no_grad()
    def probabilities(self, emb: np.ndarray) -> np.ndarray:
        """(B, D) embeddings -> (B, K) float32 probabilities, in float32 (no autocast)."""
        with torch.autocast(device_type=torch.device(self.device).type, enabled=False):
            logits = self.head(torch.from_numpy(np.asarray(emb, np.float32)).to(self.device)).float()
            if self.center is not None:
                logits = logits - self.center
            return torch.softmax(logits / self.temperature, dim=-1).cpu().numpy()

    def prototypes(self, votes: PrototypeVotes) -> embeddings_store.TrackPrototypes:
        return embeddings_store.TrackPrototypes(votes.result(), self.n_prototypes, self.source, self.temperature,
                                     self.center is not None)


class PrototypeVotes:
    """Per-track sums of segment probabilities; a track is settled (argmax) once a later track's
    segments arrive, so only the tracks of the current batch are held (segments come in track order)."""

    def __init__(self, n_tracks: int) -> None:
        self.prototype = np.full(n_tracks, -1, np.int32)
        self._open: dict[int, np.ndarray] = {}

    def add(self, rows: np.ndarray, probs: np.ndarray) -> None:
        """Add the (B, K) probabilities of segments of track `rows` (B,)."""
        rows = np.asarray(rows, np.int64)
        for row in np.unique(rows):
            if self.prototype[row] >= 0:
                raise ValueError(f"track {row}: segments after later tracks (segments must come in track order)")
            total = probs[rows == row].sum(axis=0, dtype=np.float64)
            self._open[int(row)] = self._open[int(row)] + total if row in self._open else total
        if len(rows):
            self._settle([r for r in self._open if r < rows.max()])

    def _settle(self, rows: list[int]) -> None:
        for row in rows:
            self.prototype[row] = int(np.argmax(self._open.pop(row)))

    def result(self) -> np.ndarray:
        """(N,) int32 prototype of each track; -1 for a track without segments."""
        self._settle(list(self._open))
        return self.prototype


def load_encoder(run_dir: Path, checkpoint: str = "last", device: str = "cpu",
                 bf16: bool = False) -> tuple[Encoder, int, dict]:
    """The run's frozen encoder, its output size and the store attrs it implies (method, step, ...)."""
    return _load_run(run_dir, checkpoint, device, bf16)[:3]


def load_trained_backbone(run_dir: Path, checkpoint: str) -> tuple[torch.nn.Module, Any, dict, Path]:
    """The backbone of a trained run's `checkpoint` (last or a step) on the CPU, with its config, the
    checkpoint's state and path; a ValueError names the file when it is not a run or does not match."""
    from engine import config as config_mod
    from engine.model.checkpoints import load_checkpoint, resolve_checkpoint
    from engine.model.ssl_model import build_backbone

    if not RunDir(run_dir).config.exists():
        raise ValueError(f"{run_dir}: not a run directory (no config.toml or {BASELINE})")
    cfg = config_mod.load(RunDir(run_dir).config)
    path = resolve_checkpoint(Path(run_dir), str(checkpoint))
    state = load_checkpoint(path)
    backbone = build_backbone(cfg)
    try:
        backbone.load_state_dict({k[len("backbone."):]: v for k, v in state["model"].items()
                                  if k.startswith("backbone.")})
    except (KeyError, RuntimeError) as err:
        raise ValueError(f"{path}: no backbone weights matching config.toml ({str(err).splitlines()[0]})") from None
    return backbone, cfg, state, path


def _load_run(run_dir: Path, checkpoint: str, device: str,
              bf16: bool) -> tuple[Encoder, int, dict, PrototypeHead | None]:
    """`load_encoder` plus the clustering head of the same checkpoint (None for other runs)."""
    from engine.model.frontend import LogMel

    baseline = read_baseline(run_dir)
    if baseline is not None:
        if baseline.get("method") != "logmel":
            raise ValueError(f"{RunDir(run_dir).baseline}: unknown baseline method {baseline.get('method')!r}")
        attrs = {"method": "logmel", "checkpoint_step": 0, "segment_seconds": float(baseline.get("segment_s", 4.0)),
                 "corpus": baseline.get("corpus", "demo"), "seed": int(baseline.get("seed", 0))}
        return logmel_stats(LogMel().to(device)), LOGMEL_DIM, attrs, None

    backbone, cfg, state, path = load_trained_backbone(run_dir, checkpoint)
    backbone.eval().to(device)
    attrs = {"method": cfg.method, "checkpoint_step": int(state["step"]), "segment_seconds": cfg.segment_s,
             "corpus": cfg.corpus, "seed": cfg.seed}

    try:
        head = PrototypeHead.from_checkpoint(cfg, state["model"], backbone.config.output_dim, device)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None

    def encode(wave: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16, enabled=bf16):
            return backbone(wave).float()  # (B, D)
    return encode, backbone.config.output_dim, attrs, head


# --------------------------------------------------------------------------------------------------
# the job

def fast_bf16(device: str) -> bool:
    """bf16 autocast where `engine.training.precision` finds it faster for this device (measured once on a CPU)."""
    return precision.resolve("auto", device).name == "bf16"


def embed(run_dir: Path, checkpoint: str = "last", corpus: str | None = None,
          segments_per_track: SegmentsPerTrack = "all", batch: int | None = None, progress: bool = True,
          workers: int | None = None, device: str | None = None, bf16: bool | None = None,
          segment_dtype: type = np.float16) -> Path:
    """Embed every track of the run's corpus (or `corpus`) with a frozen checkpoint; returns the store path.

    Defaults: the GPU when there is one; batch 32 segments on CPU, 256 on GPU; bf16 where `engine.training.precision` picks it;
    no decode workers on CPU (the forward pass dominates), 8 on GPU (where decoding does).
    """
    run_dir = Path(run_dir)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    batch = batch or (32 if device == "cpu" else 256)
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    bf16 = fast_bf16(device) if bf16 is None else bf16
    encode, dim, attrs, head = _load_run(run_dir, checkpoint, device, bf16)
    attrs["precision"] = "bf16" if bf16 else "fp32"
    spec = corpus or attrs["corpus"]
    source = load_source(spec)
    tracks = track_table(source)
    plan = SegmentPlan(attrs["segment_seconds"], segments_per_track, attrs["seed"])
    attrs.update(run_id=run_dir.name, corpus=spec, sample_rate=SAMPLE_RATE,
                 segments_per_track=str(segments_per_track))
    if workers is None:
        workers = 0 if device == "cpu" else min(8, os.cpu_count() or 1)
    loader = DataLoader(TrackSegments(tracks.paths, plan), batch_size=None, collate_fn=_as_is,
                        num_workers=workers, prefetch_factor=4 if workers else None)
    skipped = [(str(p.path), p.reason) for p in source.problems]
    votes = PrototypeVotes(len(tracks)) if head is not None else None
    with embeddings_store.EmbeddingsWriter(run_dir, tracks, dim, attrs, segment_dtype) as writer, \
            tqdm(total=len(tracks), desc=f"embed {run_dir.name}", unit="track", disable=not progress) as bar:
        def add(rows: np.ndarray, starts: np.ndarray, emb: np.ndarray) -> None:
            writer.add_segments(rows, starts, emb)
            if votes is not None:  # from the embeddings as stored, so the store alone reproduces them
                votes.add(rows, head.probabilities(emb.astype(segment_dtype)))

        buffer: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (track rows, starts, waves)
        for item in loader:
            bar.update(1)
            if isinstance(item[1], str):
                skipped.append((tracks.paths[item[0]], item[1]))
                continue
            i, starts, waves = item
            buffer.append((np.full(len(starts), i), starts, waves))
            if sum(len(b[0]) for b in buffer) >= batch:
                buffer = _encode_batches(add, encode, buffer, batch, device, final=False)
        _encode_batches(add, encode, buffer, batch, device, final=True)
        return writer.finish(skipped, head.prototypes(votes) if head is not None else None)


def _encode_batches(add: Callable[[np.ndarray, np.ndarray, np.ndarray], None], encode: Encoder, buffer: list,
                    batch: int, device: str, final: bool) -> list:
    """Encode full batches of the buffered segments (and the rest when `final`); returns what is left."""
    if not buffer:
        return []
    rows, starts, waves = (np.concatenate(parts) for parts in zip(*buffer))
    end = len(rows) if final else len(rows) - len(rows) % batch
    with torch.no_grad():
        for lo in range(0, end, batch):
            hi = min(lo + batch, end)
            x = torch.zeros(batch, waves.shape[1])  # (batch, samples); one shape: no per-shape kernel warm-up
            x[: hi - lo] = torch.from_numpy(waves[lo:hi])
            add(rows[lo:hi], starts[lo:hi], encode(x.to(device))[: hi - lo].cpu().numpy())
    return [] if end == len(rows) else [(rows[end:], starts[end:], waves[end:])]


def embed_logmel(run_dir: Path, corpus: str = "demo", segments_per_track: SegmentsPerTrack = "all",
                 batch: int | None = None, progress: bool = True, workers: int | None = None, seed: int = 0) -> Path:
    """Create (or refresh) the log-mel statistics pseudo-run in `run_dir` and embed `corpus` with it."""
    run_dir = Path(run_dir)
    if RunDir(run_dir).config.exists():
        raise ValueError(f"{run_dir}: holds a trained run; pick another directory for the logmel baseline")
    run_dir.mkdir(parents=True, exist_ok=True)
    baseline = {"method": "logmel", "corpus": corpus, "segment_s": 4.0, "seed": seed}
    atomic_write_bytes(RunDir(run_dir).baseline, json.dumps(baseline, indent=1).encode())
    write_status(run_dir, "done", method="logmel", corpus=corpus, message="log-mel statistics baseline")
    return embed(run_dir, corpus=corpus, segments_per_track=segments_per_track, batch=batch,
                 progress=progress, workers=workers)
