"""`mvssl train|study --launcher slurm` options: parsed into SlurmOptions over the runs folder's remembered ones."""
from __future__ import annotations

import argparse
from pathlib import Path

from engine.training.slurm_options import SlurmOptions, load_remembered, with_overrides


def add_arguments(parser: argparse.ArgumentParser, detach: bool = True) -> None:
    """The Slurm options; `detach` adds train's --detach to them (a study has its own)."""
    group = parser.add_argument_group("Slurm (--launcher slurm; unset values come from the runs folder's .slurm.toml)")
    group.add_argument("--partition", help="Slurm partition")
    group.add_argument("--nodes", type=int, help="nodes (default 1); one task per device on each")
    group.add_argument("--gpus-per-node", type=int, help="GPUs per node; 0: CPU processes (default 0)")
    group.add_argument("--cpus-per-task", type=int, help="CPUs per task")
    group.add_argument("--mem-gb", type=float, help="memory per node, GB")
    group.add_argument("--time-min", type=int, help="time limit in minutes (default 1440)")
    group.add_argument("--sbatch", action="append", metavar="KEY=VALUE",
                       help="another sbatch option, e.g. --sbatch account=lab --sbatch qos=high")
    if detach:
        group.add_argument("--detach", action="store_true", help="submit, print the job id and the run folder, return")


def options_from(args: argparse.Namespace, runs_dir: Path) -> SlurmOptions:
    """The remembered options of `runs_dir` with the command line's on top (remembered once submitted)."""
    extra = {}
    for item in args.sbatch or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--sbatch expects KEY=VALUE, got {item!r}")
        extra[key.strip().lstrip("-")] = value.strip()
    given = {"partition": args.partition, "nodes": args.nodes, "gpus_per_node": args.gpus_per_node,
             "cpus_per_task": args.cpus_per_task, "mem_gb": args.mem_gb, "time_min": args.time_min,
             "extra": extra or None}
    return with_overrides(load_remembered(runs_dir), given)
