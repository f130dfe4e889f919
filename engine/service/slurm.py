"""The queue's Slurm backend: submit a job through submitit, read its state from sacct (squeue without
accounting), cancel it with `scancel`.

A job of kind pretrain goes through the training launcher (engine.training.launchers.submit_slurm: one task
per device, DDP, USR2 -> checkpoint + requeue); every other kind runs its usual command line
(`python -m engine.service.jobs KIND RUN_DIR --job N ...`) in one task. Either way the job's output is
appended to its log in the run folder, so the log is followed as for a local job.
"""
from __future__ import annotations

import logging
import subprocess
from pathlib import Path
from typing import NamedTuple

from engine.rundir.disk import open_private, private_dir
from engine.rundir.files import read_status, write_status
from engine.rundir.layout import RunDir
from engine.service import jobs, procs
from engine.service.contract import ACTIVE_STATES, Job
from engine.training.slurm_options import SlurmOptions

log = logging.getLogger("engine.slurm")

PENDING = frozenset({"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD"})
# Slurm's final states and the job state each means when the job wrote no result of its own
ENDED = {"COMPLETED": "interrupted", "CANCELLED": "cancelled", "FAILED": "failed", "TIMEOUT": "failed",
         "OUT_OF_MEMORY": "failed", "NODE_FAIL": "failed", "BOOT_FAIL": "failed", "DEADLINE": "failed",
         "PREEMPTED": "interrupted", "REVOKED": "cancelled", "SPECIAL_EXIT": "failed"}


class SlurmState(NamedTuple):
    """One job as Slurm reports it: its state word (e.g. RUNNING) and its node list."""

    state: str
    nodes: str


class JobCommand:
    """What the Slurm task of an evaluation job runs: the job's own command line, output appended to its log.

    The task ignores SIGTERM (submitit's handler); `scancel` reaches the job process itself, which stops."""

    def __init__(self, argv: list[str], log_path: Path) -> None:
        self.argv, self.log_path = argv, log_path

    def __call__(self) -> int:
        private_dir(self.log_path.parent)
        with open_private(self.log_path, "ab") as out:
            return subprocess.run(self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                  env=procs.child_env({"PYTHONUNBUFFERED": "1"})).returncode


def options_for(runs_dir: Path, given: SlurmOptions | None) -> SlurmOptions:
    """The Slurm options of a submission: those given (then remembered for the runs folder), else the remembered."""
    from engine.training.slurm_options import load_remembered, remember

    if given is None:
        return load_remembered(runs_dir)
    remember(runs_dir, given)
    return given


def evaluation_options(options: SlurmOptions) -> SlurmOptions:
    """An evaluation job is one process: one node, and at most one GPU."""
    return options.model_copy(update={"nodes": 1, "gpus_per_node": min(1, options.gpus_per_node)})


def submit(job: Job, run_dir: Path, options: SlurmOptions) -> str:
    """Submit `job` to Slurm and return its Slurm job id."""
    import submitit

    from engine.training.launchers import slurm_parameters, submit_slurm

    if job.kind == "pretrain":
        return str(submit_slurm(run_dir, None, options, log=Path(job.log),
                                progress=jobs.progress_path(run_dir, job.kind, job.n)).job_id)
    executor = submitit.SlurmExecutor(folder=RunDir(run_dir).submitit)
    executor.update_parameters(**slurm_parameters(evaluation_options(options), 1, f"{run_dir.name}-{job.kind}"))
    argv = jobs.job_argv(job.kind, run_dir, job.args, job=job.n)
    return str(executor.submit(JobCommand(argv, Path(job.log))).job_id)


def cancel(job_id: str) -> None:
    subprocess.run(["scancel", job_id], capture_output=True, timeout=30, check=False)


def _table(argv: list[str]) -> dict[str, SlurmState] | None:
    """`ID|STATE|NODES` lines -> states by id; None when the command fails."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        log.warning("%s failed: %s", argv[0], err)
        return None
    if out.returncode != 0:
        return None
    table = {}
    for line in out.stdout.splitlines():
        parts = line.strip().split("|")
        if len(parts) == 3 and parts[1]:
            table[parts[0]] = SlurmState(parts[1].split()[0], "" if parts[2] == "None assigned" else parts[2])
    return table


def poll(job_ids: list[str]) -> dict[str, SlurmState | None]:
    """The state of each job; None for a job Slurm no longer knows (ended). A job missing from the answer
    is not known yet (accounting lags a moment behind a submission) and left out."""
    if not job_ids:
        return {}
    accounted = _table(["sacct", "-X", "-n", "-P", "-j", ",".join(job_ids), "--format=JobIDRaw,State,NodeList"])
    if accounted is not None:
        return {i: accounted[i] for i in job_ids if i in accounted}
    queued = _table(["squeue", "-h", "-t", "all", "-o", "%i|%T|%N"])  # no accounting: what slurmctld holds
    if queued is None:
        return {}
    return {i: queued.get(i) for i in job_ids}


def is_pending(state: SlurmState) -> bool:
    return state.state in PENDING


def has_ended(state: SlurmState | None) -> bool:
    return state is None or state.state in ENDED


def settle_detached(runs_dir: Path, busy: set[str]) -> None:
    """Runs sent to Slurm outside the engine (`mvssl train --launcher slurm --detach`) whose job Slurm ended
    before the training could say how (cancelled while pending, killed): their status says it now.
    `busy`: runs the engine's own jobs follow."""
    waiting: dict[str, Path] = {}
    for run_dir in sorted(p for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        status = read_status(run_dir)
        if status.get("state") in ACTIVE_STATES and status.get("slurm_job_id") and run_dir.name not in busy:
            waiting[str(status["slurm_job_id"])] = run_dir
    for job_id, state in poll(list(waiting)).items():
        run_dir = waiting[job_id]
        if not has_ended(state) or read_status(run_dir).get("state") not in ACTIVE_STATES:
            continue
        word = state.state if state is not None else "and left Slurm's queue"
        final = ENDED.get(word, "interrupted")
        write_status(run_dir, final, message=f"Slurm job {job_id} ended {word} before the training said how"
                                             + ("; resumable" if final == "interrupted" else ""))
        log.info("run %s: Slurm job %s ended %s: %s", run_dir.name, job_id, word, final)
