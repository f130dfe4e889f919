"""A run's scores beside the paper's: the published figure, every protocol difference, and the spread
to expect (`mvssl compare --against paper`, the Scores panel's "vs paper" view).

Why two numbers differ is rarely the method: the corpus a model was pre-trained on, the steps it
trained, how the test tracks were cut and pooled, the probe, the front end and the averaging each
move a score. This module lists them for one run against what the paper did (PAPER.md), with the
published figure of the same dataset and metric (`engine.evaluation.paper_figures`). No torch.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engine import config as config_mod
from engine.evaluation import paper_figures
from engine.evaluation.probe_config import ProbeConfig
from engine.rundir import embeddings_store
from engine.rundir.files import read_status
from engine.rundir.layout import RunDir

METRICS = ("roc_auc", "pr_auc")
MTAT_SPLIT = (15_244, 1_529, 4_332)  # train / valid / test tracks of the common MTAT split
PAPER_SEGMENTS = "25"  # random 4 s segments per training track in the paper
SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class RunFacts:
    """What decides a run's scores besides its method, read from its directory."""

    name: str
    method: str
    task: str
    protocol: str
    eval_corpus: str  # SOURCE the embeddings were made from
    train_corpus: str | None  # SOURCE it was pre-trained on; None for a baseline
    imported: bool  # a released checkpoint of the paper (`mvssl import --official`)
    steps: int | None  # the embedded checkpoint's step
    f_max: float  # Hz of the mel front end
    official: bool  # trained with `official = true`
    segments: str  # segments per valid/test track ("all" or K)
    train_segments: str  # segments per training track
    micro_pooling: str
    split_sizes: tuple[int, int, int]  # train / valid / test tracks of the store


def facts_of(run_dir: Path, task: str, protocol: str, name: str | None = None) -> RunFacts:
    """Read a run's facts from config.toml, status.json, the official-import record and embeddings.h5."""
    run_dir = Path(run_dir)
    cfg = config_mod.load_or_none(RunDir(run_dir).config)
    with embeddings_store.open_embeddings(run_dir) as emb:
        attrs, splits = dict(emb.attrs), list(emb.tracks.splits)
    method = str(read_status(run_dir).get("method") or (cfg.method if cfg else attrs.get("method", "unknown")))
    segments = str(attrs.get("segments_per_track", "all"))
    step = attrs.get("checkpoint_step")
    return RunFacts(
        name=name or run_dir.name, method=method, task=task, protocol=protocol,
        eval_corpus=str(attrs.get("corpus", cfg.corpus if cfg else "unknown")),
        train_corpus=cfg.corpus if cfg else None, imported=RunDir(run_dir).official.exists(),
        steps=int(step) if step is not None else None,
        f_max=float(cfg.f_max) if cfg and cfg.f_max else SAMPLE_RATE / 2, official=bool(cfg and cfg.official),
        segments=segments, train_segments=str(attrs.get("train_segments_per_track", segments)),
        micro_pooling=cfg.micro_pooling if cfg else "evaluable",
        split_sizes=(splits.count("train"), splits.count("valid"), splits.count("test")))


def dataset_of(source: str, task: str) -> str:
    """The paper's dataset a SOURCE and probe task evaluate on, else the SOURCE's kind ("demo", "folder", ...)."""
    kind, *fields = source.split(":")
    if kind == "mtat" and task in ("top50", "all"):
        return "mtat"
    if kind == "jamendo" and fields and fields[-1] == "top50" and task in ("top50", "all"):
        return "jamendo-top50"
    return kind if kind != "jamendo" else f"jamendo-{fields[-1] if fields else task}"


@dataclass(frozen=True)
class Difference:
    """One aspect of the protocol: what the paper did, what the run did, and whether they differ (None: unknown)."""

    aspect: str
    paper: str
    run: str
    differs: bool | None


def differences(facts: RunFacts, dataset: str) -> list[Difference]:
    """Every protocol aspect of the run against the paper's (PAPER.md), in the order they matter most."""
    probe = ProbeConfig.of(facts.protocol)
    pre = ("the released checkpoint (the paper's own weights)" if facts.imported
           else f"{facts.train_corpus or 'none (a baseline)'}")
    split = "/".join(f"{n:,}" for n in facts.split_sizes)
    split_differs = (facts.split_sizes != MTAT_SPLIT) if dataset == "mtat" else (
        None if dataset == "jamendo-top50" else True)
    return [
        Difference("pre-training corpus", "about 4 M Deezer catalogue tracks (not public)", pre, not facts.imported),
        Difference("steps trained", "not published (the released code has no trainer)",
                   "the released checkpoint" if facts.imported else
                   (f"{facts.steps:,} steps" if facts.steps is not None else "unknown"), None),
        Difference("split files", "MTAT: the common split 15,244 / 1,529 / 4,332; MTG-Jamendo: split-0",
                   f"{facts.eval_corpus} ({split} train / valid / test)", split_differs),
        Difference("segments", "25 random 4 s segments per training track; test tracks over the whole track",
                   f"training tracks: {facts.train_segments}; test tracks: {facts.segments}",
                   not (facts.train_segments == PAPER_SEGMENTS and facts.segments == "all")),
        Difference("pooling (track score)", "the probe of a track's mean segment embedding (released "
                   "`mean_embedding`)", probe.prediction, probe.track_score != "embedding"),
        Difference("probe", "paper text: an MLP on frozen embeddings; released defaults: one bias-free Linear, "
                   "softmax multi-label loss", f"{facts.protocol}: {probe.describe()['head']}, loss {probe.loss}",
                   facts.protocol not in ("paper", "paper-released")),
        Difference("averaging", "macro over tags (torchmetrics); its micro pools every tag column",
                   f"macro over evaluable tags; micro pools {'every column' if facts.micro_pooling == 'all' else 'evaluable tags'}",
                   facts.micro_pooling != "all"),
        Difference("f_max", "11,025 Hz (above the 8 kHz Nyquist: 11 empty mel bands)", f"{facts.f_max:,.0f} Hz",
                   facts.f_max != config_mod.OFFICIAL_F_MAX),
        Difference("official switches", "the official code", "official = true" if facts.official else
                   ("the released weights" if facts.imported else "ours (README: where we differ)"),
                   not (facts.official or facts.imported)),
    ]


@dataclass(frozen=True)
class Score:
    """A run's full-test-set macro score, its 95 % test-resample interval, and its method's spread over seeds."""

    value: float
    low: float | None = None
    high: float | None = None
    seed_std: float | None = None  # sample std over the method's seeds (None with one seed)
    n_seeds: int = 1


@dataclass(frozen=True)
class Row:
    """One metric of one run beside the published figure (None: the paper has none)."""

    metric: str
    score: Score
    paper: paper_figures.PaperFigure | None

    @property
    def difference(self) -> float | None:
        return None if self.paper is None else self.score.value - self.paper.value


@dataclass(frozen=True)
class RunReproduction:
    facts: RunFacts
    dataset: str
    rows: list[Row]
    differences: list[Difference]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.facts.name, "method": self.facts.method, "dataset": self.dataset,
                "dataset_name": paper_figures.DATASET_NAMES.get(self.dataset, self.dataset),
                "facts": {**asdict(self.facts), "split_sizes": list(self.facts.split_sizes)},
                "protocol_parameters": ProbeConfig.of(self.facts.protocol).describe(),
                "scores": [{"metric": r.metric, **asdict(r.score), "difference": r.difference,
                            "paper": None if r.paper is None else asdict(r.paper)} for r in self.rows],
                "differences": [asdict(d) for d in self.differences], "notes": self.notes}


def reproduce(facts: RunFacts, scores: dict[str, Score]) -> RunReproduction:
    """The run's scores beside the paper's figure of the same dataset and metric, and the protocol differences."""
    dataset = dataset_of(facts.eval_corpus, facts.task)
    rows = [Row(m, s, paper_figures.figure(dataset, m, facts.method)) for m, s in scores.items()]
    notes = []
    if dataset not in paper_figures.datasets():
        notes.append(f"No published figure exists for this corpus ({dataset}): the paper reports MTAT, "
                     "MTG-Jamendo top-50 and MSD100 only. Only the protocol differences apply.")
    elif all(r.paper is None for r in rows):
        notes.append(f"The paper has no figure for the method '{facts.method}' on {dataset}.")
    if any(r.score.n_seeds < 2 for r in rows):
        notes.append("One seed: the spread over training seeds is unknown; train more seeds (`--seeds N`) to "
                     "see how far a rerun moves the score.")
    notes.append("The paper's figures are read off its poster (± the read-off); the poster draws its spread "
                 "over test resamples as dots and prints no interval, and gives no spread over seeds.")
    return RunReproduction(facts, dataset, rows, differences(facts, dataset), notes)


def render_text(reports: list[RunReproduction]) -> str:
    """The reproduction report as plain text (what `mvssl compare --against paper` prints)."""
    lines = ["Against the paper (Meseguer-Brocal et al., ICASSP 2024)"]
    for rep in reports:
        lines += ["", f"{rep.facts.name} ({rep.facts.method}) on {paper_figures.DATASET_NAMES.get(rep.dataset, rep.dataset)}"]
        for row in rep.rows:
            s = row.score
            ours = f"{s.value:.3f}" + (f" [{s.low:.3f}, {s.high:.3f}]" if s.low is not None and s.high is not None else "")
            seeds = f", seeds ±{s.seed_std:.3f} (n={s.n_seeds})" if s.seed_std is not None else ""
            paper = ("no published figure" if row.paper is None else
                     f"paper {row.paper.value:.3f} ± {row.paper.uncertainty:.3f}, difference {row.difference:+.3f}")
            lines.append(f"  macro {row.metric}: {ours}{seeds}; {paper}")
        lines.append("  protocol (paper | this run):")
        for d in rep.differences:
            mark = {True: "differs", False: "same", None: "unknown"}[d.differs]
            lines.append(f"    [{mark}] {d.aspect}: {d.paper} | {d.run}")
        lines.append("  probe parameters: " + "; ".join(f"{k} {v}" for k, v in
                                                       ProbeConfig.of(rep.facts.protocol).describe().items()))
        lines += [f"  note: {n}" for n in rep.notes]
    sources = sorted({r.paper.source for rep in reports for r in rep.rows if r.paper is not None})
    lines += ["", *[f"source: {s}" for s in sources]]
    return "\n".join(lines)
