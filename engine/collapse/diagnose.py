"""The diagnose job: collapse diagnostics of every step checkpoint of a run, stored in analysis.h5.

Every checkpoint embeds one fixed set of view pairs (two non-overlapping crops of up to 256
held-out tracks, seeded the same for every run, so runs on one corpus are compared on the same
audio); clustering runs add the teacher's prototype statistics on those crops. When the run has
embeddings.h5, the k-NN tag precision@10 of its track embeddings joins the diagnostics of the
step they came from. Everything runs in float32: the tail of the spectrum needs it.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np
import torch
from tqdm import tqdm

from engine import config as config_mod
from engine.collapse import diagnostics as dg
from engine.collapse import clustering as dc
from engine.rundir import analysis_store, embeddings_store
from engine.rundir.layout import RunDir
from engine.model.checkpoints import load_checkpoint, step_checkpoints
from engine.config import RunConfig
from engine.data.corpora import Corpus, Track, load_source
from engine.model.ssl_model import SSLModel
from engine.data.views import MultiViewDataset, ViewConfig

MAX_TRACKS = 256  # tracks whose view pairs every checkpoint embeds
VIEW_SEED = 1234  # crops of the view pairs: the same for every run
BATCH_TRACKS = 32  # tracks per forward
KNN_K = 10  # neighbours of the k-NN tag precision


class Outputs(NamedTuple):
    """One forward of the fixed views through a checkpoint."""

    embeddings: torch.Tensor  # (2, N, D) student backbone embeddings
    student_logits: torch.Tensor | None  # (2, N, K) clustering head outputs
    teacher_logits: torch.Tensor | None  # (2, N, K) EMA teacher outputs


def diagnosis_tracks(corpus: Corpus, max_tracks: int = MAX_TRACKS) -> list[Track]:
    """Held-out tracks first (valid, then test), topped up with training tracks, up to `max_tracks`."""
    ordered = corpus.split("valid") + corpus.split("test") + corpus.split("train")
    return ordered[:max_tracks]


def fixed_views(tracks: list[Track], cfg: RunConfig, seed: int = VIEW_SEED) -> torch.Tensor:
    """(2, N, T) two non-overlapping, unaugmented crops of each track, the same on every call."""
    if not tracks:
        raise ValueError(f"corpus '{cfg.corpus}' has no tracks to diagnose on")
    views = ViewConfig(n_views=2, segment_s=cfg.segment_s, min_gap_s=cfg.segment_s, augment=False)
    dataset = MultiViewDataset(tracks, views, seed=seed)
    return torch.stack([dataset[i] for i in range(len(dataset))]).transpose(0, 1).contiguous()


def _device(cfg: RunConfig) -> torch.device:
    use_cuda = cfg.device != "cpu" and torch.cuda.is_available()
    return torch.device("cuda" if use_cuda else "cpu")


@torch.no_grad()
def forward_views(model: SSLModel, views: torch.Tensor, device: torch.device,
                  batch_tracks: int = BATCH_TRACKS) -> Outputs:
    """Embed (2, N, T) views a few tracks at a time (model in eval mode); clustering runs also give head logits."""
    clustering = model.spec is not None and model.spec.uses_teacher_temp
    parts: list[tuple[torch.Tensor, ...]] = []
    for start in range(0, views.shape[1], batch_tracks):
        x = views[:, start:start + batch_tracks].to(device)  # (2, b, T)
        z = model.embed(x).float()  # (2, b, D)
        if clustering:
            student = model.head(z.reshape(-1, z.shape[-1])).reshape(*z.shape[:2], -1).float()  # (2, b, K)
            parts.append((z.cpu(), student.cpu(), model.teacher_logits(x).float().cpu()))
        else:
            parts.append((z.cpu(),))
    joined = [torch.cat(p, dim=1) for p in zip(*parts)]
    return Outputs(joined[0], *(joined[1:] if clustering else (None, None)))


def _alpha(spectrum: torch.Tensor) -> float:
    try:
        return dg.alpha_req(spectrum)
    except ValueError:  # fewer than two positive eigenvalues: no slope to fit
        return math.nan


def embedding_diagnostics(z: torch.Tensor) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Scalars and the spectrum of (2, N, D) view-pair embeddings."""
    flat = z.reshape(-1, z.shape[-1])  # (2N, D)
    n, dim = flat.shape
    spectrum = dg.covariance_spectrum(flat)
    rank, std = dg.rankme(flat), dg.std_of_l2_normalized(flat)
    scalars = {
        "views": n, "dim": dim, "rankme": rank, "alpha_req": _alpha(spectrum), "std": std,
        "healthy_std": 1.0 / math.sqrt(dim), "alignment": dg.alignment(z[0], z[1]),
        "uniformity": dg.uniformity(flat), "embedding_state": dg.classify_embedding(rank, std, dim, n),
    }
    return scalars, {"spectrum": spectrum.numpy().astype(np.float64)}


def clustering_diagnostics(model: SSLModel, out: Outputs,
                           cfg: RunConfig) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Teacher prototype statistics at the end teacher temperature, and near-duplicate teacher prototypes."""
    assert out.teacher_logits is not None and model.teacher is not None and model.loss_fn is not None
    center = model.loss_fn.center.cpu() if model.loss_fn.config.centering else None
    stats = dc.prototype_stats(out.teacher_logits, cfg.teacher_temp_end, center=center,
                               student_logits=out.student_logits, student_temp=cfg.student_temp)
    prototypes = model.teacher["head"].ops[-1].weight  # (K, d) last Linear of the teacher head
    k = int(prototypes.shape[0])
    scalars = {
        "teacher_temp": cfg.teacher_temp_end, "teacher_entropy": stats.teacher_entropy,
        "max_entropy": stats.max_entropy, "kl": stats.kl, "effective_prototypes": stats.effective_prototypes,
        "distinct_prototypes": stats.distinct_prototypes, "prototypes": k,
        "near_duplicate_pairs": dc.near_duplicate_prototypes(prototypes), "prototype_pairs": k * (k - 1) // 2,
        "clustering_state": dc.classify_clustering(stats.teacher_entropy, stats.effective_prototypes, k, stats.samples,
                                                float(stats.usage.max()) / max(stats.samples, 1)),
    }
    return scalars, {"usage": stats.usage.numpy()}


def knn_diagnostics(run_dir: Path) -> tuple[int | None, dict[str, Any]] | None:
    """(checkpoint step, k-NN scalars) of the run's track embeddings; None without a complete embeddings.h5."""
    if not RunDir(run_dir).embeddings.exists():
        return None
    try:
        emb = embeddings_store.open_embeddings(run_dir)
    except embeddings_store.StoreError:
        return None  # an embed in flight, or a broken file: nothing to measure yet
    with emb:
        z, tags = torch.from_numpy(emb.track_embeddings()), torch.from_numpy(emb.tracks.tags)
        step = emb.attrs.get("checkpoint_step")
    if len(z) <= KNN_K or not bool((tags > 0).any()):
        return None
    result = dg.knn_tag_precision(z, tags, k=KNN_K)
    scalars = {"knn_precision_at_10": result.precision, "knn_chance": result.chance,
               "knn_queries": result.queries, "knn_tracks": len(z)}
    return (int(step) if step is not None else None), scalars


def diagnose(run_dir: Path, progress: bool = True, max_tracks: int = MAX_TRACKS,
             on_progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Diagnose every step checkpoint of the run; store each in analysis.h5 and return all scalars.

    `on_progress(checkpoints done, checkpoints)` is called after each checkpoint is stored.

    Returns {"run_dir", "method", "tracks", "views", "knn_step", "steps": {step: scalars}}.
    """
    run_dir = Path(run_dir)
    cfg = config_mod.load(RunDir(run_dir).config)
    checkpoints = step_checkpoints(run_dir)
    if not checkpoints:
        raise ValueError(f"{run_dir}: no step checkpoints to diagnose (checkpoints/step-*.pt)")
    views = fixed_views(diagnosis_tracks(load_source(cfg.corpus), max_tracks), cfg)
    knn = knn_diagnostics(run_dir)
    knn_step = None if knn is None else (knn[0] if knn[0] is not None else max(checkpoints))
    device = _device(cfg)
    model = SSLModel(cfg).to(device).eval()
    steps: dict[int, dict[str, Any]] = {}
    for step, path in tqdm(checkpoints.items(), desc="diagnose", unit="ckpt", disable=not progress):
        model.load_state_dict(load_checkpoint(path, map_location=device)["model"])
        out = forward_views(model, views, device)
        scalars, arrays = embedding_diagnostics(out.embeddings)
        if out.teacher_logits is not None:
            more, more_arrays = clustering_diagnostics(model, out, cfg)
            scalars.update(more)
            arrays.update(more_arrays)
        if knn is not None and step == knn_step:
            scalars.update(knn[1])
        analysis_store.write_diagnostics(run_dir, step, scalars, arrays)
        steps[step] = scalars
        if on_progress is not None:
            on_progress(len(steps), len(checkpoints))
    if knn is not None and knn_step not in steps:  # embeddings of a checkpoint that is gone
        analysis_store.write_diagnostics(run_dir, knn_step, knn[1], {})
        steps[knn_step] = dict(knn[1])
    return {"run_dir": str(run_dir), "method": cfg.method, "tracks": views.shape[1], "views": 2 * views.shape[1],
            "knn_step": knn_step, "steps": dict(sorted(steps.items()))}
