"""How hard is the demo corpus? Generation time, and what simple features already get from it.

Log-mel mean+std (the baseline that solved an easy generator at .94 genre accuracy) must stay well
below ceiling, while rhythm features (band-wise onset autocorrelation on a log-lag axis, i.e. where
the beats fall, whatever the tempo) should do clearly better: genre is carried by musical structure.

    python benchmarks/demo_corpus_check.py [--out DIR] [--tracks 300] [--seed 0] [--reuse]
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from engine.data.corpora.demo import GENRES, INSTRUMENTS, MOODS, make_demo

SR, CROP, CROPS = 16_000, 4 * 16_000, 5
MEL = torchaudio.transforms.MelSpectrogram(SR, n_fft=1024, hop_length=512, n_mels=128, f_max=SR / 2,
                                           normalized=True, norm="slaney", mel_scale="slaney")
TO_DB = torchaudio.transforms.AmplitudeToDB(top_db=100)
LAGS = np.unique(np.round(np.geomspace(2, 90, 40)).astype(int))  # frames of 32 ms: 64 ms .. 2.9 s


def crops(audio: np.ndarray) -> torch.Tensor:
    starts = np.linspace(0, len(audio) - CROP, CROPS).astype(int)
    return torch.from_numpy(np.stack([audio[s : s + CROP] for s in starts]))  # (CROPS, CROP)


def features(audio: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(log-mel mean+std, rhythm) features of one track averaged over its crops, and per crop."""
    with torch.no_grad():
        mel = TO_DB(MEL(crops(audio))).numpy()  # (CROPS, 128, T)
    per_crop = np.concatenate([mel.mean(-1), mel.std(-1)], -1)  # (CROPS, 256)
    stats = per_crop.mean(0)  # (256,)
    bands = [mel[:, a:b].mean(1) for a, b in ((0, 12), (12, 60), (60, 128))]  # 3 x (CROPS, T)
    rhythm = []
    for band in bands:
        flux = np.maximum(np.diff(band, axis=-1), 0.0)
        flux -= flux.mean(-1, keepdims=True)
        ac = np.stack([(flux[:, :-lag] * flux[:, lag:]).mean(-1) for lag in LAGS], -1)  # (CROPS, L)
        rhythm.append((ac / ((flux**2).mean(-1, keepdims=True) + 1e-9)).mean(0))
    return stats, np.concatenate(rhythm), per_crop


def probe(x: np.ndarray, y: np.ndarray, splits: int = 5) -> tuple[float, float, np.ndarray]:
    """Standardised logistic regression on 5 stratified 70/30 splits: accuracy, macro ROC-AUC, recalls."""
    accs, aucs, hits, counts = [], [], np.zeros(y.max() + 1), np.zeros(y.max() + 1)
    for tr, te in StratifiedShuffleSplit(splits, test_size=0.3, random_state=0).split(x, y):
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, C=0.1)).fit(x[tr], y[tr])
        pred = model.predict(x[te])
        accs.append(np.mean(pred == y[te]))
        aucs.append(roc_auc_score(y[te], model.predict_proba(x[te]), multi_class="ovr"))
        np.add.at(hits, y[te], pred == y[te])
        np.add.at(counts, y[te], 1)
    return float(np.mean(accs)), float(np.mean(aucs)), hits / np.maximum(counts, 1)


def multilabel_auc(x: np.ndarray, y: np.ndarray, splits: int = 5) -> float:
    """Macro ROC-AUC of one standardised logistic regression per tag (tags with both classes)."""
    aucs = []
    for seed in range(splits):
        rng = np.random.default_rng(seed)
        te = rng.permutation(len(x))[: int(0.3 * len(x))]
        tr = np.setdiff1d(np.arange(len(x)), te)
        for j in range(y.shape[1]):
            if len(set(y[tr, j])) == 2 and len(set(y[te, j])) == 2:
                m = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, C=0.1)).fit(x[tr], y[tr, j])
                aucs.append(roc_auc_score(y[te, j], m.predict_proba(x[te])[:, 1]))
    return float(np.mean(aucs))


def knn_accuracy(x: np.ndarray, y: np.ndarray, k: int = 5) -> float:
    """Leave-one-out k-NN accuracy on standardised, L2-normalised features."""
    z = (x - x.mean(0)) / (x.std(0) + 1e-9)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    sim = z @ z.T
    np.fill_diagonal(sim, -np.inf)
    nn = np.argsort(-sim, axis=1)[:, :k]
    votes = [np.bincount(y[row], minlength=y.max() + 1).argmax() for row in nn]
    return float(np.mean(np.array(votes) == y))


def crop_match(per_crop: np.ndarray) -> float:
    """How often a track's first crop has its own last crop (>= 4 s later) as nearest among all last crops.

    Cosine on standardised log-mel mean+std: a per-track fingerprint would push this to 1.0.
    """
    z = per_crop - per_crop.mean((0, 1))
    z /= per_crop.std((0, 1)) + 1e-9
    first, last = z[:, 0], z[:, -1]  # (N, 256) each
    first /= np.linalg.norm(first, axis=1, keepdims=True)
    last /= np.linalg.norm(last, axis=1, keepdims=True)
    return float(np.mean((first @ last.T).argmax(1) == np.arange(len(z))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/mvssl-demo-check"))
    ap.add_argument("--tracks", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reuse", action="store_true", help="skip generation, analyse the existing folder")
    args = ap.parse_args()

    report: dict[str, object] = {}
    if not args.reuse:
        t0, load = time.perf_counter(), os.getloadavg()[0]
        make_demo(args.out, tracks=args.tracks, seed=args.seed, workers=2)
        report["generation_s"] = round(time.perf_counter() - t0, 1)
        report["load_average_before"] = round(load, 1)  # other processes on the 2 cores slow it down
    with open(args.out / "tags.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    torch.set_num_threads(2)
    stats, rhythm, each, genre, inst, mood = [], [], [], [], [], []
    for r in rows:
        audio, sr = sf.read(args.out / r["path"], dtype="float32")
        s, h, c = features(audio)
        stats.append(s)
        each.append(c)
        rhythm.append(h)
        tags = r["tags"].split(";")
        genre.append(GENRES.index(next(t for t in tags if t.startswith("genre:"))[6:]))
        inst.append([f"instrument:{i}" in tags for i in INSTRUMENTS])
        mood.append([f"mood:{m}" in tags for m in MOODS])
    x_mel, x_rhy, y = np.array(stats), np.array(rhythm), np.array(genre)
    y_inst, y_mood = np.array(inst, int), np.array(mood, int)
    for name, x in (("logmel_mean_std", x_mel), ("rhythm", x_rhy), ("both", np.hstack([x_mel, x_rhy]))):
        acc, auc, recall = probe(x, y)
        report[name] = {"genre_acc": round(acc, 3), "genre_auc": round(auc, 3),
                        "genre_recall": dict(zip(GENRES, np.round(recall, 2).tolist())),
                        "genre_5nn": round(knn_accuracy(x, y), 3),
                        "instrument_auc": round(multilabel_auc(x, y_inst), 3),
                        "mood_auc": round(multilabel_auc(x, y_mood), 3)}
    report["chance_genre"] = round(1 / len(GENRES), 3)
    report["crop_match_top1_logmel"] = round(crop_match(np.array(each)), 3)
    report["instrument_freq"] = dict(zip(INSTRUMENTS, np.round(y_inst.mean(0), 2).tolist()))
    report["mood_freq"] = dict(zip(MOODS, np.round(y_mood.mean(0), 2).tolist()))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
