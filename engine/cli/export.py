"""`mvssl export`: a run as a HEAR package, TensorBoard scalars, projector TSV or Parquet."""
from __future__ import annotations

import argparse
from pathlib import Path

FORMATS = ("hear", "tensorboard", "tsv", "parquet")


def _cmd_export(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"{run_dir}: no such run directory")
    if args.format == "tensorboard":
        from engine.training.tensorboard import export_tensorboard

        folder, n = export_tensorboard(run_dir, Path(args.out) if args.out else None)
        print(f"{folder}: {n} scalars (tensorboard --logdir {folder})")
        return 0
    if not args.out:
        raise ValueError(f"--out is required for --format {args.format}")
    out = Path(args.out)
    if args.format == "hear":
        from engine.export.hear import export_hear

        path = export_hear(run_dir, out, checkpoint=args.checkpoint, name=args.name, force=args.force)
        print(f"{path}: HEAR package (pip install {path})")
    elif args.format == "tsv":
        from engine.export.tables import export_tsv

        for path in export_tsv(run_dir, out):
            print(path)
    else:
        from engine.export.tables import export_parquet

        print(export_parquet(run_dir, out))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the export sub-command to the `mvssl` parser."""
    export = sub.add_parser("export", help="a run's model or results for other tools")
    export.add_argument("--run-dir", required=True)
    export.add_argument("--format", required=True, choices=FORMATS,
                        help="hear: pip-installable HEAR 2021 package of the frozen model; tensorboard: scalars "
                             "of events.jsonl; tsv: projector vectors + metadata; parquet: one table")
    export.add_argument("--out", help="output folder (tensorboard: default RUN_DIR/tensorboard)")
    export.add_argument("--checkpoint", default="last", help="hear: last | STEP")
    export.add_argument("--name", help="hear: import name of the package (default mvssl_<run folder>)")
    export.add_argument("--force", action="store_true", help="hear: replace a non-empty --out folder")
    export.set_defaults(handler=_cmd_export)
