"""A whole study through the engine: how long evaluation takes after pre-training, per job and in all.

`mvssl study --methods contrastive --set steps=100 --tasks genre,instrument,mood` on the demo corpus (--quick: a
few steps on generated tracks, one task), timed from the engine's own job records (queue.json: each job from
the moment its process starts to its end). The goal of issue 26: the wall time from the end of pre-training
to the end of the study is at most 0.5x the pre-training's wall time. Every job row is a share of that
same pre-training.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

from benchmarks.common import row, tiny_corpus

SECTION = "study"
ROOT = Path(__file__).resolve().parents[1]
EVAL_KINDS = ("embed", "diagnose", "project", "probe")


def run_study(runs_dir: Path, corpus: str, settings: list[str], tasks: str,
              fractions: str | None) -> list[dict[str, Any]]:
    """Run the study in the foreground (its own engine) and return its job records in order."""
    argv = [sys.executable, "-m", "engine.cli", "study", "--methods", "contrastive", "--corpus", corpus,
            "--tasks", tasks, "--runs-dir", str(runs_dir), "--name", "bench"]
    argv += [a for s in settings for a in ("--set", s)] + (["--fractions", fractions] if fractions else [])
    out = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=3600)
    subprocess.run([sys.executable, "-m", "engine.cli", "engine", "stop", "--runs-dir", str(runs_dir)], cwd=ROOT,
                   capture_output=True, timeout=60)  # the study started it; nothing else will use it
    if out.returncode != 0:
        raise RuntimeError(f"the study failed: {(out.stdout + out.stderr).strip().splitlines()[-1:]}")
    jobs = json.loads((runs_dir / ".engine" / "queue.json").read_text())["jobs"]
    bad = [j for j in jobs if j["state"] != "done"]
    if bad:
        raise RuntimeError(f"job {bad[0]['kind']} ended {bad[0]['state']}: {bad[0].get('message')}")
    return sorted(jobs, key=lambda j: j["n"])


def timings(jobs: list[dict[str, Any]], engine_log: str) -> dict[str, Any]:
    """Pre-training wall time, the wall time after it to the study's end, the seconds of each job kind and how
    many jobs the warm job server forked."""
    [pretrain] = [j for j in jobs if j["kind"] == "pretrain"]
    after = max(j["ended_at"] for j in jobs) - pretrain["ended_at"]
    per_kind = {k: sum(j["ended_at"] - j["started_at"] for j in jobs if j["kind"] == k) for k in EVAL_KINDS}
    return {"pretrain_s": pretrain["ended_at"] - pretrain["started_at"], "after_s": after, "per_kind_s": per_kind,
            "jobs": {k: sum(j["kind"] == k for j in jobs) for k in EVAL_KINDS},
            "forked_warm": engine_log.count("forked warm")}


def run(quick: bool = False, progress: Callable[[str], None] = print) -> dict[str, Any]:
    steps, tasks, fractions = (4, "genre", "100") if quick else (100, "genre,instrument,mood", None)
    settings = [f"steps={steps}"] + (["batch_size=4", "num_workers=0"] if quick else [])
    with tempfile.TemporaryDirectory(prefix="mvssl-bench-study-") as tmp_name:
        tmp = Path(tmp_name)
        corpus = tiny_corpus(tmp / "corpus", tracks=12) if quick else "demo"
        jobs = run_study(tmp / "runs", corpus, settings, tasks, fractions)
        log = (tmp / "runs" / ".engine" / "engine.log").read_text()
    t = timings(jobs, log)
    progress(f"pre-training {t['pretrain_s']:.1f} s, after it {t['after_s']:.1f} s "
             f"({t['after_s'] / t['pretrain_s']:.2f}x); jobs " +
             ", ".join(f"{k} {v:.1f} s" for k, v in t["per_kind_s"].items()) + f"; {t['forked_warm']} forked warm")
    what = f"study ({'quick' if quick else f'{steps} steps, {tasks}'}): after pre-training / pre-training"
    rows = [row(SECTION, what, "s", t["after_s"], t["pretrain_s"], "the same study's pre-training (wall)",
                ("ratio", "<=", 0.5), **t)]
    for kind in EVAL_KINDS:
        rows.append(row(SECTION, f"study: {kind} ({t['jobs'][kind]} job(s))", "s", t["per_kind_s"][kind],
                        t["pretrain_s"], "the same study's pre-training (wall)"))
    return {"rows": rows, "raw": t}
