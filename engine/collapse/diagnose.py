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
from engine.collapse.forecast import forecasts
from engine.collapse.guidance import advice, guidance
from engine.collapse.verdicts import merge_snapshots, peak_spreads, run_verdicts, snapshot_embedding_state
from engine.rundir.events import read_events
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
    projections: torch.Tensor | None  # (2, N, D') projection-head outputs, where the loss acts
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
    head = None if model.spec is None else model.spec.head
    parts: list[tuple[torch.Tensor, ...]] = []
    for start in range(0, views.shape[1], batch_tracks):
        x = views[:, start:start + batch_tracks].to(device)  # (2, b, T)
        z = model.embed(x).float()  # (2, b, D)
        if head is None:
            parts.append((z.cpu(),))
            continue
        h = model.head(z.reshape(-1, z.shape[-1])).reshape(*z.shape[:2], -1).float()  # (2, b, D') or (2, b, K)
        parts.append((z.cpu(), h.cpu(), model.teacher_logits(x).float().cpu()) if head == "clustering"
                     else (z.cpu(), h.cpu()))
    joined = [torch.cat(p, dim=1) for p in zip(*parts)]
    if head == "clustering":
        return Outputs(joined[0], None, joined[1], joined[2])
    return Outputs(joined[0], joined[1] if head == "projection" else None, None, None)


def _alpha(spectrum: torch.Tensor) -> float:
    try:
        return dg.alpha_req(spectrum)
    except ValueError:  # fewer than two positive eigenvalues: no slope to fit
        return math.nan


def embedding_diagnostics(z: torch.Tensor, projections: torch.Tensor | None = None, untrained: bool = False,
                          history: list[dict[str, Any]] = ()) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Scalars and the spectrum of (2, N, D) view-pair embeddings; the centred signals also of the
    (2, N, D') projections when given. Alignment and uniformity are of the centred embeddings;
    `history` (the run's earlier snapshots) gives the highest spreads that full collapse is judged against."""
    flat = z.reshape(-1, z.shape[-1])  # (2N, D)
    n, dim = flat.shape
    spectrum = dg.covariance_spectrum(flat)
    centred = z - flat.mean(dim=0)
    scalars = {
        "views": n, "dim": dim, "rankme": dg.rankme(flat), "alpha_req": _alpha(spectrum),
        "std": dg.std_of_l2_normalized(flat), "healthy_std": 1.0 / math.sqrt(dim),
        "alignment": dg.alignment(centred[0], centred[1]), "uniformity": dg.uniformity(centred.reshape(n, dim)),
        **dg.space_signals(flat),
    }
    if projections is not None:
        scalars.update(dg.space_signals(projections.reshape(n, -1), prefix="head_"))
    peaks = peak_spreads([*history, {"step": 0, **scalars}])
    scalars["embedding_state"] = "untrained" if untrained else snapshot_embedding_state(scalars, peaks)
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
    raw = dg.knn_tag_precision(z, tags, k=KNN_K, metric="raw")
    scalars = {"knn_precision_at_10": result.precision, "knn_raw_precision_at_10": raw.precision,
               "knn_chance": result.chance, "knn_queries": result.queries, "knn_tracks": len(z)}
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
    snapshots = training_snapshots(run_dir)
    for step, path in tqdm(checkpoints.items(), desc="diagnose", unit="ckpt", disable=not progress):
        model.load_state_dict(load_checkpoint(path, map_location=device)["model"])
        out = forward_views(model, views, device)
        history = [e for e in snapshots if e["step"] <= step] + [{"step": s, **v} for s, v in steps.items()]
        scalars, arrays = embedding_diagnostics(out.embeddings, out.projections, cfg.method == "random", history)
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
    judged = merge_snapshots(snapshots, steps)
    return {"run_dir": str(run_dir), "method": cfg.method, "tracks": views.shape[1], "views": 2 * views.shape[1],
            "knn_step": knn_step, "steps": dict(sorted(steps.items())),
            **run_judgement(judged, untrained=cfg.method == "random")}


def training_snapshots(run_dir: Path) -> list[dict[str, Any]]:
    """The run's collapse snapshots from events.jsonl, in step order (none for a run without events)."""
    path = RunDir(run_dir).events
    if not path.exists():
        return []
    events, _ = read_events(path)
    return sorted((e for e in events if e.get("type") == "collapse" and isinstance(e.get("step"), int)),
                  key=lambda e: e["step"])


def run_judgement(snapshots: list[dict[str, Any]], untrained: bool) -> dict[str, Any]:
    """{"verdict": the run's verdict at its latest snapshot with its guidance, "forecast": the latest warning}."""
    verdicts = run_verdicts(snapshots, untrained)
    if not verdicts:
        return {"verdict": None, "forecast": None}
    last = verdicts[-1]
    warnings = [] if untrained else forecasts(snapshots)
    warning = warnings[-1] if warnings and warnings[-1].step == last.step else None
    return {"verdict": {"kind": last.kind, "step": last.step, "since_step": last.since_step, "space": last.space,
                        "evidence": last.evidence, "stop_advised": guidance(last.kind).stop,
                        "advice": advice(last.kind)},
            "forecast": None if warning is None else {**warning._asdict(), "message": warning.message}}
