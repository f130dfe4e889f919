"""A small finished study made by a real engine, for the real-window layout test and `make screenshots`.

Every method and the random control, a few training steps each on a small demo corpus, then
embed → diagnose → project → probe (genre, every limited-data fraction), and the log-mel baseline
beside them: every panel of the workbench has something to show, in a few CPU minutes.

`python -m tests.e2e.small_study RUNS_DIR [--running]`: make the study (kept when already there);
`--running` instead submits a longer study and returns while it trains (for the screenshot of a
study in progress; cancel it with `mvssl runs cancel --study live --runs-dir RUNS_DIR`).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

METHODS = ["contrastive", "byol", "clustering", "clustering-collapse", "barlow_twins", "vicreg", "random"]
STUDY = "small"
TASK = "genre"
FRACTIONS = [1.0, 5.0, 10.0, 20.0, 100.0]
CONFIG = dict(steps=6, batch_size=8, num_workers=0, warmup_steps=0, log_every=1, checkpoint_every=3,
              segment_s=2.0, min_gap_s=2.0, precision="fp32", device="cpu")
LIVE_CONFIG = dict(CONFIG, steps=400, checkpoint_every=200, log_every=2)
TRACKS, SECONDS = 48, 10.0
TIMEOUT_S = 1800.0


def _corpus(root: Path) -> Path:
    from engine.data.corpora.demo import make_demo

    folder = root / ".corpus"
    if not (folder / "tags.csv").exists():
        make_demo(folder, tracks=TRACKS, seconds=SECONDS, workers=1, progress=False)
    return folder


def _wait(client, study_id: str, until: callable) -> dict:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        study = next(s for s in client.request("list_studies")["studies"] if s["id"] == study_id)
        if until(study):
            return study
        time.sleep(1.0)
    raise TimeoutError(f"study {study_id} did not get there in {TIMEOUT_S:.0f} s")


def make_small_study(runs_dir: Path, umap: bool = True, max_jobs: int = 2) -> Path:
    """The finished small study in `runs_dir` (made once) with its log-mel baseline; returns `runs_dir`.
    `umap=False` maps with PCA only (UMAP's compilation is most of a cold project job)."""
    from engine.service.client import BlockingClient, ensure_engine, stop_engine
    from engine.evaluation.embed import embed_logmel
    from engine.evaluation.probe import ProbeConfig, run_probe
    from engine.rundir.analysis_store import list_probe_tasks
    from engine.rundir.layout import RunDir

    runs_dir = Path(runs_dir)
    corpus = _corpus(runs_dir.parent / f"{runs_dir.name}-corpus")
    ensure_engine(runs_dir, extra_args=["--max-jobs", str(max_jobs)])
    try:
        with BlockingClient.for_runs_dir(runs_dir, timeout=120) as client:
            known = {s["id"] for s in client.request("list_studies")["studies"]}
            if STUDY not in known:
                client.request("submit_study", name=STUDY, methods=METHODS, corpus=f"folder:{corpus}",
                               config=CONFIG, tasks=[TASK], fractions=FRACTIONS, draws=2,
                               options={} if umap else {"project": {"methods": "pca"}})
            study = _wait(client, STUDY, lambda s: s["state"] not in ("queued", "running"))
            if study["state"] != "done":
                raise RuntimeError(f"the small study ended {study['state']}: {study}")
    finally:
        stop_engine(runs_dir, timeout=60)
    logmel = runs_dir / f"{STUDY}-logmel"
    if not RunDir(logmel).embeddings.exists():
        embed_logmel(logmel, corpus=f"folder:{corpus}", progress=False, workers=0)
    if TASK not in list_probe_tasks(logmel):
        run_probe(logmel, TASK, fractions=tuple(FRACTIONS), draws=2, config=ProbeConfig.of("linear"))
    return runs_dir


def start_live_study(runs_dir: Path, methods: list[str] | None = None) -> str:
    """Submit a longer study to the engine of `runs_dir` and return once every run has trained a few steps."""
    from engine.service.client import BlockingClient, ensure_engine

    runs_dir = Path(runs_dir)
    corpus = _corpus(runs_dir.parent / f"{runs_dir.name}-corpus")
    ensure_engine(runs_dir)
    with BlockingClient.for_runs_dir(runs_dir, timeout=120) as client:
        known = {s["id"] for s in client.request("list_studies")["studies"]}
        if "live" not in known:
            client.request("submit_study", name="live", methods=methods or ["contrastive", "vicreg", "byol"],
                           corpus=f"folder:{corpus}", config=LIVE_CONFIG, stages=["pretrain"])
        runs = {r["run"]: r for r in client.request("list_runs")["runs"]}
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            runs = {r["run"]: r for r in client.request("list_runs")["runs"] if r.get("study") == "live"}
            if runs and any(r.get("state") == "running" and (r.get("step") or 0) >= 10 for r in runs.values()):
                return "live"
            time.sleep(1.0)
    raise TimeoutError("the live study did not start training")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.e2e.small_study")
    parser.add_argument("runs_dir")
    parser.add_argument("--running", action="store_true", help="submit a longer study and return while it trains")
    args = parser.parse_args()
    if args.running:
        print(start_live_study(Path(args.runs_dir)))
    else:
        print(make_small_study(Path(args.runs_dir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
