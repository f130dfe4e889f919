"""The `mvssl` command line: one sub-command per job; heavy imports happen inside each handler."""
from __future__ import annotations

import argparse
import importlib
import json
import signal
import sys
from pathlib import Path
from typing import Callable

from engine.methods import METHODS

Handler = Callable[[argparse.Namespace], int]

# Topic modules that add their own sub-commands (each light to import).
COMMAND_MODULES: list[str] = ["engine.cli.diagnose", "engine.cli.evaluate", "engine.cli.embed", "engine.cli.engine_cmds", "engine.cli.demo", "engine.cli.export", "engine.cli.official_import", "engine.cli.speed"]


def _cmd_corpus_make_demo(args: argparse.Namespace) -> int:
    from engine.data.corpora import demo

    out = Path(args.out) if args.out else demo.default_demo_dir()
    if args.if_missing:
        path = demo.ensure_demo(out, tracks=args.tracks, seed=args.seed, progress=True)
    else:
        path = demo.make_demo(out, tracks=args.tracks, seed=args.seed, progress=True)
    print(f"demo corpus ready: {path}")
    return 0


def _cmd_corpus_info(args: argparse.Namespace) -> int:
    from engine.data.corpora.info import corpus_info, format_info

    info = corpus_info(args.source)
    print(json.dumps(info, indent=2) if args.json else format_info(info))
    return 0


def _cmd_model_summary(args: argparse.Namespace) -> int:
    from engine.model.backbone import parameter_counts

    counts = parameter_counts()
    if args.json:
        print(json.dumps(counts, indent=2))
    else:
        for name, n in counts.items():
            print(f"{name:<24} {n:>12,}")
    return 0


def _cmd_gui(args: argparse.Namespace) -> int:
    """The GUI is its own program (`python -m workbench`): it never loads the engine's torch."""
    import os

    argv = [sys.executable, "-m", "workbench"] + (["--runs-dir", args.runs_dir] if args.runs_dir else [])
    os.execv(sys.executable, argv)
    return 0  # not reached


def _cmd_train(args: argparse.Namespace) -> int:
    from engine import config as config_mod
    from engine.rundir.layout import RunDir
    from engine.service.preflight import check_run

    run_dir = Path(args.run_dir)
    if args.resume:
        if not RunDir(run_dir).config.exists():
            raise ValueError(f"{run_dir}: nothing to resume (no config.toml)")
        cfg = config_mod.load(RunDir(run_dir).config)
    else:
        base = config_mod.load_values(Path(args.config)) if args.config else {}
        overrides = config_mod.parse_set(args.set or [])
        overrides.update({k: v for k, v in (("method", args.method), ("corpus", args.corpus)) if v is not None})
        if args.official:
            overrides["official"] = "true"
        cfg = config_mod.build(args.preset or base.get("preset", "demo"), base, overrides)
        check_run(cfg, here=args.launcher == "local")  # a bad corpus or device answers now, before a run folder exists
    slurm = None
    if args.launcher == "slurm":
        from engine.cli.slurm_args import options_from

        slurm = options_from(args, run_dir.resolve().parent)
        slurm.tasks_per_node(args.devices)  # a bad --devices fails before the run folder is made
    elif args.detach:
        raise ValueError("--detach needs --launcher slurm")
    if not args.resume:
        from engine.config import prepare_run

        prepare_run(cfg, run_dir)
    if slurm is not None:
        return _train_on_slurm(run_dir, args.devices, slurm, args.detach)
    from engine.training.launchers import launch

    state = launch(run_dir, devices=1 if args.devices is None else args.devices)
    print(f"{run_dir}: {state}")
    return 0 if state in ("done", "cancelled") else 1


def _train_on_slurm(run_dir: Path, devices: int | None, options, detach: bool) -> int:
    from engine.training.launchers import submit_slurm, wait_slurm
    from engine.training.slurm_options import remember

    job = submit_slurm(run_dir, devices, options)
    remember(run_dir.resolve().parent, options)
    print(f"submitted Slurm job {job.job_id}: {run_dir.resolve()}", flush=True)
    if detach:
        return 0
    state = wait_slurm(job, run_dir)
    print(f"{run_dir}: {state}")
    return 0 if state in ("done", "cancelled") else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mvssl", description="Multi-view self-supervised music tagging workbench")
    sub = parser.add_subparsers(dest="command", required=True)

    gui = sub.add_parser("gui", help="open the workbench")
    gui.add_argument("--runs-dir", help="runs directory (default: under the user data dir)")
    gui.set_defaults(handler=_cmd_gui)

    corpus = sub.add_parser("corpus", help="corpora: build the demo corpus, describe a source")
    csub = corpus.add_subparsers(dest="corpus_command", required=True)
    make = csub.add_parser("make-demo", help="generate the built-in demo corpus")
    make.add_argument("--out", help="output folder (default: the user cache dir)")
    make.add_argument("--tracks", type=int, default=300)
    make.add_argument("--seed", type=int, default=0)
    make.add_argument("--if-missing", action="store_true", help="only generate when not already complete")
    make.set_defaults(handler=_cmd_corpus_make_demo)
    info = csub.add_parser("info", help="tracks per split, tags, unreadable files")
    info.add_argument("source", help="demo | folder:PATH[:TAGS_CSV] | mtat:SPLIT_DIR:AUDIO_ROOT[:ANNOTATIONS_CSV]"
                                     " | jamendo:SPLIT_DIR:AUDIO_ROOT:TASK")
    info.add_argument("--json", action="store_true")
    info.set_defaults(handler=_cmd_corpus_info)
    importlib.import_module("engine.cli.corpus_cache").register(csub)

    train = sub.add_parser("train", help="pre-train one pretext method")
    train.add_argument("--method", help=" | ".join(METHODS))
    train.add_argument("--corpus", help="corpus SOURCE (default: demo)")
    train.add_argument("--preset", choices=["demo", "paper"])
    train.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one config field")
    train.add_argument("--config", help="TOML file of config values")
    train.add_argument("--official", action="store_true",
                       help="the official code's behaviour wherever it is well defined (config official = true)")
    train.add_argument("--run-dir", required=True)
    train.add_argument("--resume", action="store_true", help="continue the run in --run-dir")
    train.add_argument("--devices", type=int, help="DDP processes, one per device (GPU or CPU): torchrun here; "
                                                   "on Slurm, tasks per node (default 1, or --gpus-per-node)")
    train.add_argument("--launcher", choices=["local", "slurm"], default="local")
    importlib.import_module("engine.cli.slurm_args").add_arguments(train)
    train.set_defaults(handler=_cmd_train)

    model = sub.add_parser("model", help="the backbone and heads")
    msub = model.add_subparsers(dest="model_command", required=True)
    summary = msub.add_parser("summary", help="parameter counts")
    summary.add_argument("--json", action="store_true")
    summary.set_defaults(handler=_cmd_model_summary)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


class Stopped(KeyboardInterrupt):
    """SIGTERM to the command (alone or with its process group): it stops like Ctrl-C does."""


def _stop(signum: int, frame: object) -> None:
    raise Stopped(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop)  # training installs its own handler while it trains: it checkpoints
    try:
        return args.handler(args)
    except KeyboardInterrupt as err:
        name = err.args[0] if isinstance(err, Stopped) and err.args else "SIGINT"
        print(f"mvssl: cancelled by {name}; finished results kept", file=sys.stderr)
        return 130
    except (ValueError, OSError) as err:  # ConfigError, AudioError, bad sources: one line, no traceback
        print(f"mvssl: error: {err}", file=sys.stderr)
        return 2

