"""`mvssl demo`: run the whole demo comparison study headless (what `make demo` calls)."""
from __future__ import annotations

import argparse
from pathlib import Path

from engine.evaluation.seeds import DEMO_SEEDS


def _cmd_demo(args: argparse.Namespace) -> int:
    from engine.service.demo_study import main

    return main(Path(args.runs_dir), Path(args.out), seeds=args.seeds)


def register(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser("demo", help="the whole demo study: train, embed, diagnose, project, probe, compare")
    demo.add_argument("--runs-dir", default="runs/demo", help="runs directory of the study (default: runs/demo)")
    demo.add_argument("--out", default="reports/demo", help="where the reports go (default: reports/demo)")
    demo.add_argument("--seeds", type=int, default=DEMO_SEEDS,
                      help=f"seeds per method (default {DEMO_SEEDS}; each seed is one more run of every method)")
    demo.set_defaults(handler=_cmd_demo)
