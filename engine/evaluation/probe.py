"""Downstream probes on frozen embeddings: trained on segments, evaluated per track.

The probe follows one protocol (`engine.evaluation.probe_protocols`: ours, paper, paper-released, marble,
linear). Ours (PAPER.md, "Downstream evaluation"): inputs standardised with training statistics,
Linear(D, 512) → ReLU → Dropout(0.5) → Linear(512, T), multi-label BCE, Adam. Every protocol
trains on the stored segment embeddings of the training tracks (`marble`: on each track's mean
embedding); a track is scored by the mean of its segments' probabilities (or by the probe of its
mean embedding). No batch of one is ever trained on (BatchNorm in train mode). Early stopping keeps
the weights with the best validation macro score (full validation split, never subsampled).

Limited data: the training tracks are subsampled per fraction, `draws` seeded draws each (one
at 100 %, where every draw would be the same); each draw first takes one positive track per
tag where the training split has one, then fills randomly up to the fraction.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from engine import config as config_mod
from engine.rundir import analysis_store, embeddings_store
from engine.rundir.layout import RunDir
from engine.evaluation.metrics import MicroPooling, macro_score, tag_metrics
from engine.evaluation.probe_protocols import ProbeConfig, build_model, loss_function

__all__ = ["ProbeConfig", "build_model", "run_probe", "ProbeData", "train_probe", "predict", "draw_tracks",
           "task_columns", "track_mean", "TASKS", "DEFAULT_FRACTIONS"]

# Task → tag-name prefixes: demo corpus (`genre:`), MTG-Jamendo (`genre---`, `mood/theme---`).
TASK_PREFIXES: dict[str, tuple[str, ...]] = {
    "genre": ("genre:", "genre---"),
    "instrument": ("instrument:", "instrument---"),
    "mood": ("mood:", "mood/theme---"),
    "moodtheme": ("mood/theme---", "mood:"),
}
ALL_COLUMNS = ("all", "top50")  # every column of the store (top50: an MTAT or Jamendo top50 store)
TASKS: tuple[str, ...] = (*ALL_COLUMNS, *TASK_PREFIXES)
DEFAULT_FRACTIONS: tuple[float, ...] = (1, 5, 10, 20, 100)  # percent of the training tracks
PRECISION = "fp32"  # every probe trains in float32 on the CPU; why: `run_probe`


def task_columns(task: str, tag_names: list[str]) -> np.ndarray:
    """Column indices of `task` in a store's tag list; raises ValueError when none matches."""
    if task in ALL_COLUMNS:
        if task == "top50" and len(tag_names) > 50:
            raise ValueError(f"task 'top50' expects a top-50 store, this one has {len(tag_names)} tag columns")
        return np.arange(len(tag_names))
    if task not in TASK_PREFIXES:
        raise ValueError(f"unknown probe task '{task}' (valid: {', '.join(TASKS)})")
    cols = np.array([i for i, name in enumerate(tag_names) if name.startswith(TASK_PREFIXES[task])], dtype=np.int64)
    if len(cols) == 0:
        raise ValueError(f"task '{task}': no tag starts with {' or '.join(TASK_PREFIXES[task])} "
                         f"(tags look like '{tag_names[0] if tag_names else ''}')")
    return cols


def draw_tracks(tags: np.ndarray, fraction: float, seed: int, draw: int) -> np.ndarray:
    """Sorted rows of a limited-data draw from (n, T) training tags; fraction in (0, 1].

    One random positive per tag first (tags in random order, skipping tags already covered),
    then random fill up to round(fraction × n); so a draw may exceed the fraction when many
    tags need covering. The same (seed, fraction, draw) always gives the same rows.
    """
    n = len(tags)
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    if fraction >= 1:
        return np.arange(n)
    rng = np.random.default_rng([seed, draw, round(fraction * 1_000_000)])
    positive = np.asarray(tags).astype(bool)
    chosen: list[int] = []
    covered = np.zeros(positive.shape[1], dtype=bool)
    for t in rng.permutation(positive.shape[1]):
        rows = np.flatnonzero(positive[:, t])
        if len(rows) and not covered[t]:
            pick = int(rng.choice(rows))
            chosen.append(pick)
            covered |= positive[pick]
    target = max(1, round(fraction * n))
    rest = rng.permutation(np.setdiff1d(np.arange(n), chosen))
    chosen.extend(rest[: max(0, target - len(chosen))].tolist())
    return np.sort(np.array(chosen, dtype=np.int64))


def draws_at(fraction: float, draws: int) -> int:
    """Draws to run at a fraction: `draws`, but one at 100 % (every draw would be the same)."""
    return 1 if fraction >= 1 else draws


def track_mean(values: np.ndarray, segment_track: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Mean of segment values (S, C) per track in `rows` (Q,) → (Q, C); every row needs a segment."""
    where = np.full(int(max(segment_track.max(), rows.max())) + 1, -1)
    where[rows] = np.arange(len(rows))
    slot = where[segment_track]
    mask = slot >= 0
    sums = np.zeros((len(rows), values.shape[1]), np.float64)
    np.add.at(sums, slot[mask], values[mask])
    counts = np.bincount(slot[mask], minlength=len(rows))
    if (counts == 0).any():
        raise ValueError(f"{int((counts == 0).sum())} track(s) have no segment")
    return (sums / counts[:, None]).astype(np.float32)


@dataclass
class Split:
    """Standardised segment embeddings of some tracks, their segment→track map and track labels."""

    x: torch.Tensor  # (S, D) float32
    segment_track: np.ndarray  # (S,) row into `rows`' tracks (store rows)
    rows: np.ndarray  # (Q,) store rows of the tracks
    labels: np.ndarray  # (Q, T) uint8


@torch.no_grad()
def predict(model: nn.Module, split: Split, batch: int = 4096, track_score: str = "probabilities",
            output: str = "sigmoid") -> np.ndarray:
    """(Q, T) per-track mean of segment sigmoid probabilities, or (`embedding`) the probe's
    probabilities (sigmoid, or `output="softmax"` over the tags) for each track's mean segment embedding."""
    model.eval()

    def probabilities(x: torch.Tensor) -> np.ndarray:
        logits = model(x)
        return (torch.softmax(logits, dim=-1) if output == "softmax" else torch.sigmoid(logits)).numpy()
    if track_score == "embedding":
        means = torch.from_numpy(track_mean(split.x.numpy(), split.segment_track, split.rows))
        return np.concatenate([probabilities(chunk) for chunk in means.split(batch)])
    probs = np.concatenate([probabilities(chunk) for chunk in split.x.split(batch)])
    return track_mean(probs, split.segment_track, split.rows)


def _criterion(model: nn.Module, valid: Split, config: ProbeConfig) -> float:
    """Validation macro score of the protocol; minus the BCE when no tag is evaluable on the validation tracks."""
    pred = predict(model, valid, track_score=config.track_score, output=config.output)
    score = macro_score(valid.labels, pred, config.criterion)
    if np.isfinite(score):
        return float(score)
    p = np.clip(pred, 1e-7, 1 - 1e-7)
    return float(np.mean(valid.labels * np.log(p) + (1 - valid.labels) * np.log(1 - p)))


def train_probe(train_x: torch.Tensor, train_y: torch.Tensor, valid: Split, config: ProbeConfig,
                seed: int) -> tuple[nn.Module, dict]:
    """Train on segments (S, D) with labels (S, T); returns the best model and a log."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = build_model(train_x.shape[1], train_y.shape[1], config)
        optimiser = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=True)
        loss_fn = loss_function(config)
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimiser, mode="max", factor=config.plateau_factor, patience=config.plateau_patience) \
            if config.plateau_factor < 1 else None
        n = len(train_x)
        if n < 2:
            raise ValueError(f"a probe needs at least 2 training segments, got {n}")
        steps_per_eval = max(-(-n // config.batch_size), config.min_steps_per_eval)
        best, best_state, best_step, bad, step = -np.inf, None, 0, 0, 0
        order = torch.randperm(n)
        cursor = 0
        for _ in range(config.max_evals):
            model.train()
            for _ in range(steps_per_eval):
                if n - cursor < 2:  # never a batch of one: train-mode BatchNorm cannot normalise it
                    order, cursor = torch.randperm(n), 0
                idx = order[cursor: cursor + config.batch_size]
                cursor += config.batch_size
                loss = loss_fn(model(train_x[idx]), train_y[idx])
                optimiser.zero_grad(set_to_none=True)
                step += 1
                if not torch.isfinite(loss):  # a step that would turn every weight into NaN is skipped
                    continue
                loss.backward()
                optimiser.step()
            score = _criterion(model, valid, config)
            if plateau is not None:
                plateau.step(score)
            if score > best:
                best, best_step, bad = score, step, 0
                best_state = {k: v.clone() for k, v in model.state_dict().items()}
            else:
                bad += 1
                if bad >= config.patience:
                    break
        if best_state is not None:  # None only when every validation score was NaN
            model.load_state_dict(best_state)
    return model, {"steps": step, "best_step": best_step, "valid_score": best,
                   "lr_end": optimiser.param_groups[0]["lr"]}


def _split(segments: np.ndarray, segment_track: np.ndarray, rows: np.ndarray, labels: np.ndarray) -> Split:
    mask = np.isin(segment_track, rows)
    return Split(torch.from_numpy(segments[mask]), segment_track[mask], rows, labels[rows])


@dataclass
class ProbeData:
    """Everything a task's probes need from one embeddings store, loaded once and standardised."""

    tag_names: list[str]
    train: Split  # every training track; draws take subsets of it
    valid: Split
    test: Split
    attrs: dict
    micro_pooling: MicroPooling = "evaluable"  # the run config's `micro_pooling`

    @classmethod
    def load(cls, run_dir: Path, task: str, standardise: bool = True) -> ProbeData:
        with embeddings_store.open_embeddings(run_dir) as emb:
            tracks = emb.tracks
            cols = task_columns(task, tracks.tag_names)
            segments, segment_track, attrs = emb.segment_embeddings(), emb.segment_track(), dict(emb.attrs)
        labels = tracks.tags[:, cols]
        rows = {s: tracks.split_index(s) for s in ("train", "valid", "test")}
        for split, r in rows.items():
            if len(r) == 0:
                raise ValueError(f"{run_dir}: the embeddings hold no '{split}' tracks; a probe needs all three splits")
        if standardise:  # with training statistics
            train_seg = np.isin(segment_track, rows["train"])
            mean, std = segments[train_seg].mean(0), segments[train_seg].std(0)
            segments = (segments - mean) / np.where(std < 1e-6, 1.0, std)
        segments = segments.astype(np.float32)
        splits = {s: _split(segments, segment_track, r, labels) for s, r in rows.items()}
        return cls([tracks.tag_names[c] for c in cols], splits["train"], splits["valid"], splits["test"], attrs)

    def training_set(self, picked: np.ndarray, train_on: str = "segments") -> tuple[torch.Tensor, torch.Tensor]:
        """Segments (S, D) of the training tracks at positions `picked` with their labels (S, T), or
        (`tracks`) one mean-pooled embedding per track (Q, D) with its labels (Q, T)."""
        if train_on == "tracks":
            x = track_mean(self.train.x.numpy(), self.train.segment_track, self.train.rows[picked])
            return torch.from_numpy(x), torch.from_numpy(self.train.labels[picked].astype(np.float32))
        mask = np.isin(self.train.segment_track, self.train.rows[picked])
        position = np.searchsorted(self.train.rows, self.train.segment_track[mask])  # rows are sorted
        y = self.train.labels[position].astype(np.float32)
        return self.train.x[torch.from_numpy(mask)], torch.from_numpy(y)


def run_probe(run_dir: Path, task: str, fractions: tuple[float, ...] = DEFAULT_FRACTIONS, draws: int = 4,
              seed: int = 0, config: ProbeConfig = ProbeConfig(), threads: int | None = None,
              progress: Callable[[str], None] | None = None) -> dict[float, list[dict]]:
    """Train and store the probes of one task at every fraction (percent) and draw.

    Returns {fraction (0, 1]: [metrics dict per draw]}; each draw is stored with
    `analysis_store.write_probe` (test predictions, per-tag and macro/micro metrics, skipped tags).
    `threads`: torch threads; None keeps torch's setting, the machine's cores: a study runs one job at a time
    (measured on 2 cores: 1.3x faster than one thread alone, but 3-11x slower beside a busy process: pass 1 there).
    Float32 whatever the training's precision (`PRECISION`): bf16 autocast made this small MLP's step 1.5x slower
    on a Xeon with AMX, and is slower still without native bf16.
    """
    run_dir = Path(run_dir)
    if draws < 1:
        raise ValueError(f"draws must be >= 1, got {draws}")
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    data = ProbeData.load(run_dir, task, standardise=config.standardise)
    data.micro_pooling = config_mod.micro_pooling_at(RunDir(run_dir).config)
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _run_draws(run_dir, task, data, fractions, draws, seed, config, progress)
    finally:
        torch.set_num_threads(previous)


def _run_draws(run_dir: Path, task: str, data: ProbeData, fractions: tuple[float, ...], draws: int, seed: int,
               config: ProbeConfig, progress: Callable[[str], None] | None) -> dict[float, list[dict]]:
    results: dict[float, list[dict]] = {}
    for percent in fractions:
        fraction = float(percent) / 100.0
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must be a percentage in (0, 100], got {percent}")
        for draw in range(draws_at(fraction, draws)):
            picked = draw_tracks(data.train.labels, fraction, seed, draw)
            x, y = data.training_set(picked, config.train_on)
            model, log = train_probe(x, y, data.valid, config, seed=seed * 1000 + draw)
            pred = predict(model, data.test, track_score=config.track_score, output=config.output)
            metrics = tag_metrics(data.test.labels, pred, data.tag_names, data.micro_pooling).to_dict()
            info = {**asdict(config), **log, "seed": seed, "n_train_tracks": len(picked),
                    "n_train_segments": int(np.isin(data.train.segment_track, data.train.rows[picked]).sum()),
                    "n_train_items": len(x), "checkpoint_step": data.attrs.get("checkpoint_step"),
                    "prediction": config.prediction, "precision": PRECISION, "micro_pooling": data.micro_pooling}
            analysis_store.write_probe(run_dir, task, fraction, draw, pred, data.test.rows, data.tag_names, metrics, info)
            results.setdefault(fraction, []).append(metrics)
            if progress is not None:
                progress(f"{task} [{config.protocol}] {percent:g}% draw {draw}: ROC-AUC {metrics['macro']['roc_auc']:.3f} "
                         f"PR-AUC {metrics['macro']['pr_auc']:.3f} ({len(picked)} tracks, {log['steps']} steps)")
    return results
