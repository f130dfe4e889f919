"""`mvssl probe` and `mvssl compare`: downstream probes of one run, and several runs side by side."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from engine.config import PROBE_PROTOCOLS as PROTOCOLS


def _fractions(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--fractions expects comma-separated percentages, got '{text}'") from None
    if not values or any(not 0 < v <= 100 for v in values):
        raise argparse.ArgumentTypeError(f"--fractions: every percentage must be in (0, 100], got '{text}'")
    return values


def _cmd_probe(args: argparse.Namespace) -> int:
    from engine.evaluation.probe import ProbeConfig, run_probe

    config = ProbeConfig.of(args.probe)
    results = run_probe(Path(args.run_dir), args.task, args.fractions, args.draws, args.seed, config, args.threads,
                        progress=None if args.quiet else print)
    summary = {f"{100 * fraction:g}": {m: sum(d["macro"][m] for d in draws) / len(draws) for m in ("roc_auc", "pr_auc")}
               for fraction, draws in results.items()}
    print(json.dumps({"task": args.task, "protocol": config.protocol, "parameters": config.describe(),
                      "mean_macro": summary}, indent=1))
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from engine.evaluation.compare import write_report

    paper = args.against == "paper"
    page = write_report([Path(d) for d in args.run_dirs], args.task, Path(args.out), args.resamples, args.seed, args.k,
                        mix_protocols=args.mix_protocols, paper=paper)
    if paper:
        print((page.parent / "against_paper.txt").read_text())
    print(f"report: {page}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `probe` and `compare` sub-commands."""
    probe = subparsers.add_parser("probe", help="train downstream probes on a run's frozen embeddings")
    probe.add_argument("--run-dir", required=True)
    probe.add_argument("--task", required=True,
                       help="demo: genre | instrument | mood | all; MTAT: top50; MTG-Jamendo: top50 | genre | "
                            "instrument | moodtheme")
    probe.add_argument("--fractions", type=_fractions, default=(1.0, 5.0, 10.0, 20.0, 100.0),
                       help="training-track percentages (default 1,5,10,20,100)")
    probe.add_argument("--draws", type=int, default=4, help="seeded draws per fraction (one at 100 %%)")
    probe.add_argument("--seed", type=int, default=0)
    probe.add_argument("--probe", choices=PROTOCOLS, default="ours",
                       help="probe protocol: ours | paper (the paper's text) | paper-released (the released code's "
                            "defaults) | marble (MARBLE's MTT probe) | linear (default ours; docs/reproduction.md)")
    probe.add_argument("--threads", type=int, default=None,
                       help="torch threads (default: the machine's cores; 1 where other processes compute)")
    probe.add_argument("--quiet", action="store_true", help="only print the final summary")
    probe.set_defaults(handler=_cmd_probe)

    compare = subparsers.add_parser("compare", help="compare runs' probes: bootstrap, limited data, report")
    compare.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    compare.add_argument("--task", required=True)
    compare.add_argument("--out", required=True, help="folder for report.html, results.json and the figures")
    compare.add_argument("--resamples", type=int, default=1000, help="paired bootstrap resamples")
    compare.add_argument("--seed", type=int, default=0, help="seed of the bootstrap resamples")
    compare.add_argument("--k", type=int, default=10, help="neighbours for k-NN tag precision")
    compare.add_argument("--mix-protocols", action="store_true",
                         help="put runs probed with different protocols side by side (refused otherwise)")
    compare.add_argument("--against", choices=["paper"],
                         help="paper: each run's scores beside the paper's published figures, with every protocol "
                              "difference and the spread to expect (docs/reproduction.md)")
    compare.set_defaults(handler=_cmd_compare)
