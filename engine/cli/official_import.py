"""`mvssl import --official`: a released checkpoint of the official code as a run directory."""
from __future__ import annotations

import argparse
from pathlib import Path


def _cmd_import(args: argparse.Namespace) -> int:
    from engine.training.official import import_official, read_provenance

    path = import_official(Path(args.official), Path(args.out), method=args.method, corpus=args.corpus)
    info = read_provenance(Path(args.out)) or {}
    f_max = info.get("f_max")
    print(f"{args.out}: {info.get('method')} imported from {Path(args.official).name} "
          f"(front end f_max {f'{f_max:g} Hz' if f_max else 'sr/2'}; from the checkpoint: "
          f"{', '.join(info.get('imported', []))}; seeded: {', '.join(info.get('seeded', [])) or 'nothing'})")
    print(f"checkpoint: {path}; next: mvssl embed --run-dir {args.out}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `import` sub-command."""
    from engine.methods import PRETEXTS

    imp = subparsers.add_parser("import", help="turn a released official checkpoint into a run directory")
    imp.add_argument("--official", required=True, metavar="CHECKPOINT",
                     help="a .pt file of the official release (byol, clustering, barlow_twins, contrastive, "
                          "feature_stats) or any state_dict in its key layout")
    imp.add_argument("--out", required=True, metavar="RUN_DIR", help="the new run directory")
    imp.add_argument("--method", choices=list(PRETEXTS),
                     help="the checkpoint's method (default: from its file name)")
    imp.add_argument("--corpus", default="demo", help="corpus SOURCE the run embeds by default (default: demo)")
    imp.set_defaults(handler=_cmd_import)
