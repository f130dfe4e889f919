"""The collapse reference set: runs of known state built from the demo corpus, judged snapshot by snapshot.

Each case is a run built to have one state: healthy (contrastive, VICReg), untrained (the random
control) or one collapse kind caused on purpose. The script trains the cases that are not done yet
(so an interrupted build resumes), then judges every training snapshot with the engine's verdict
and forecast and writes the confusion matrix per snapshot step, the forecast lead times and the
false warnings as JSON (docs/collapse-calibration.md quotes it).

    python -m benchmarks.collapse_reference [--size full|ci] [--root DIR] [--out FILE] [--only NAME,...]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from engine import config as config_mod
from engine.collapse.verdicts import Intended
from engine.rundir.events import read_events
from engine.rundir.files import read_status
from engine.training.speed_cache import cpu_info

Size = Literal["full", "ci"]
DEFAULT_ROOT = Path("collapse-reference")


@dataclass(frozen=True)
class Case:
    """One reference run: the state it is built to have and the config values that build it."""

    name: str
    method: str
    intended: Intended
    steps: int  # demo-preset steps at full size
    values: dict[str, Any] = field(default_factory=dict)  # RunConfig values on top of the demo preset
    why: str = ""


CASES: tuple[Case, ...] = (
    Case("contrastive-30", "contrastive", "healthy", 30),
    Case("vicreg-30", "vicreg", "healthy", 30),
    Case("untrained", "random", "untrained", 1),
    Case("dominant", "clustering-collapse", "dominant", 60,
         why="clustering without centering, a sharp teacher from the first step and EMA 0.95"),
    Case("full", "byol", "full", 80, dict(byol_predictor=False, ema_start=0.9, ema_end=0.9),
         why="BYOL without its predictor: the student copies the teacher, and a constant output does it"),
    Case("dimensional", "barlow_twins", "dimensional", 80, dict(barlow_lambda=0.0),
         why="Barlow Twins with λ = 0: every feature may carry the same invariant direction"),
    Case("uniform", "clustering", "uniform", 60,
         dict(teacher_temp_start=0.25, teacher_temp_end=0.25, lr=1e-3, freeze_last_layer_steps=0),
         why="clustering with centering and no sharpening: teacher temperature 0.25, softer than the student's 0.1 "
             "(at 0.1 = the student's the teacher entropy settled at 0.79 ln K on the CI corpus)"),
    Case("contrastive-300", "contrastive", "healthy", 300),
    Case("vicreg-300", "vicreg", "healthy", 300),
)

# The CI-sized form: the tiny corpus of the tests, short 2-s views, a few steps.
CI_TRACKS, CI_SECONDS = 40, 8.0
CI_VALUES = dict(batch_size=12, segment_s=2.0, min_gap_s=2.0, num_workers=0, precision="fp32", device="cpu",
                 log_every=5, checkpoint_every=1000, n_prototypes=256)
CI_STEPS = {"contrastive-30": 30, "vicreg-30": 30, "untrained": 1, "dominant": 40, "full": 40, "dimensional": 40,
            "uniform": 40}


def cases(size: Size, only: list[str] | None = None) -> list[Case]:
    """The cases of a size (the CI form leaves out the 300-step healthy runs), optionally by name."""
    chosen = [c for c in CASES if size == "full" or c.name in CI_STEPS]
    if only:
        unknown = sorted(set(only) - {c.name for c in CASES})
        if unknown:
            raise ValueError(f"unknown reference case(s) {unknown} (valid: {', '.join(c.name for c in CASES)})")
        chosen = [c for c in chosen if c.name in only]
    return chosen


def run_config(case: Case, size: Size, corpus: str) -> config_mod.RunConfig:
    """The case's config: the demo preset, the method's defaults, the case's values (and the CI reductions)."""
    values: dict[str, Any] = {"method": case.method, "corpus": corpus, "steps": case.steps, **case.values}
    if size == "ci":
        values.update(CI_VALUES, steps=CI_STEPS[case.name], warmup_steps=0)
        if case.method.startswith("clustering"):
            values["freeze_last_layer_steps"] = 0
    return config_mod.build("demo", overrides=values)


def build(case: Case, size: Size, corpus: str, root: Path) -> Path:
    """Train the case's run under root/<name> unless it is done already; returns the run folder."""
    from engine.training.loop import train

    run = root / case.name
    if run.exists() and read_status(run).get("state") == "done":
        return run
    if not (run / "config.toml").exists():
        config_mod.prepare_run(run_config(case, size, corpus), run)
    state = train(run, progress=False)
    if state != "done":
        raise RuntimeError(f"{run}: training ended {state}")
    return run


def snapshots(run: Path) -> list[dict[str, Any]]:
    """The run's collapse snapshots in step order."""
    events, _ = read_events(run / "events.jsonl")
    return sorted((e for e in events if e.get("type") == "collapse"), key=lambda e: int(e["step"]))


def main(argv: list[str] | None = None) -> int:
    from engine.collapse.reference import evaluate

    parser = argparse.ArgumentParser(prog="python -m benchmarks.collapse_reference", description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=("full", "ci"), default="full")
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="where the runs are built (resumable)")
    parser.add_argument("--corpus", default="demo", help="corpus SOURCE (default: the demo corpus)")
    parser.add_argument("--out", type=Path, help="JSON file of the result (default: ROOT/reference.json)")
    parser.add_argument("--only", help="comma-separated case names")
    parser.add_argument("--judge-only", action="store_true", help="judge the runs already built; train nothing")
    args = parser.parse_args(argv)
    chosen = cases(args.size, args.only.split(",") if args.only else None)
    runs: dict[str, tuple[Case, Path]] = {}
    for case in chosen:
        t0 = time.perf_counter()
        run = args.root / case.name
        if not args.judge_only:
            run = build(case, args.size, args.corpus, args.root)
            print(f"{case.name}: built in {time.perf_counter() - t0:.0f} s", flush=True)
        if (run / "events.jsonl").exists():
            runs[case.name] = (case, run)
    result = evaluate({name: (case.intended, snapshots(run)) for name, (case, run) in runs.items()})
    result.update(size=args.size, corpus=args.corpus, date=dt.date.today().isoformat(), machine=cpu_info()["cpu"],
                  command="python -m benchmarks.collapse_reference " + " ".join(sys.argv[1:] if argv is None else argv),
                  cases={c.name: {"method": c.method, "intended": c.intended, "values": c.values, "why": c.why}
                         for c in chosen})
    out = args.out or args.root / "reference.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    out.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))
    return 0


def markdown(result: dict[str, Any]) -> str:
    """The docs tables of a result: verdicts per run and snapshot, the confusion matrices, the forecasts."""
    kinds = ("healthy", "untrained", "dominant", "uniform", "dimensional", "full")
    lines = [f"{result['date']}, {result['machine']}, `{result['command'].strip()}` ({result['size']} size)", "",
             "| run | built to be | verdict at each snapshot (step: verdict) | final |", "|---|---|---|---|"]
    for name, run in result["runs"].items():
        verdicts = ", ".join(f"{step}: {kind}" for step, kind in run["verdicts"])
        lines.append(f"| {name} | {run['intended']} | {verdicts} | **{run['final']}** |")
    lines += ["", "Confusion matrix per snapshot step (rows: built to be; columns: verdict; runs with a snapshot at that step):",
              "", "| step | built to be | " + " | ".join(kinds) + " |", "|---|---|" + "---|" * len(kinds)]
    for step, matrix in result["per_step"].items():
        for intended, row in matrix.items():
            lines.append(f"| {step} | {intended} | " + " | ".join(str(row.get(k, "")) for k in kinds) + " |")
    lines += ["", "At each run's last snapshot:", "", "| built to be | " + " | ".join(kinds) + " |",
              "|---|" + "---|" * len(kinds)]
    lines += [f"| {i} | " + " | ".join(str(row.get(k, "")) for k in kinds) + " |" for i, row in result["final"].items()]
    lines += ["", "| run | first warning (step, kind, steps to the verdict) | first verdict of its kind | lead (steps) |",
              "|---|---|---|---|"]
    for name, run in result["runs"].items():
        first = run["forecasts"][0] if run["forecasts"] else None
        warned = f"{first['step']}, {first['kind']}, {first['steps_to_verdict']}" if first else "none"
        lines.append(f"| {name} | {warned} | {run['first_verdict'] if run['first_verdict'] is not None else '–'} | "
                     f"{run['lead_steps'] if run['lead_steps'] is not None else '–'} |")
    s = result["summary"]
    lines += ["", f"Healthy runs: {s['healthy_snapshots_alarmed']} of {s['healthy_snapshots']} snapshots alarmed, "
                  f"{s['false_warnings']} false warnings. Collapses detected with their kind: "
                  f"{s['collapses_detected_with_kind']} of {s['collapses']}."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
