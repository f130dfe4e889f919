"""Start a training run here, on several local processes (torchrun), or on Slurm (submitit)."""
from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path
from typing import Literal

from engine.rundir.files import read_status, write_status
from engine.rundir.layout import RunDir
from engine.training.slurm_options import SlurmOptions

# The folder that holds the `engine` package: a Slurm job imports the same code as the process that submits it.
IMPORT_ROOT = Path(__file__).resolve().parents[2]


def torchrun_command(run_dir: Path, devices: int) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={devices}",
            "-m", "engine.service.jobs", "train", str(run_dir)]


def launch(run_dir: Path, devices: int = 1) -> str:
    """Run training here (`devices` > 1: that many DDP processes) and return the run's final state."""
    if devices < 1:
        raise ValueError(f"--devices must be >= 1, got {devices}")
    if devices == 1:
        from engine.training.loop import train

        return train(run_dir)
    subprocess.run(torchrun_command(run_dir, devices), check=False)
    return read_status(run_dir).get("state", "failed")


def submit_slurm(run_dir: Path, devices: int | None, options: SlurmOptions,
                 executor_kind: Literal["slurm", "local"] = "slurm", log: Path | None = None,
                 progress: Path | None = None):
    """Submit the training as one job of `nodes` x one task per device and return submitit's Job at once.

    `executor_kind="local"` runs the same tasks on this machine through submitit's LocalExecutor (tests).
    `log` and `progress` (an engine job's files) take rank 0's output and its progress per logged step."""
    import submitit

    from engine.training.slurm_job import SlurmTraining

    tasks = options.tasks_per_node(devices)
    folder = RunDir(run_dir).submitit
    if executor_kind == "local":
        executor = submitit.LocalExecutor(folder=folder)
        executor.update_parameters(timeout_min=options.time_min, tasks_per_node=tasks)
    else:
        executor = submitit.SlurmExecutor(folder=folder)
        executor.update_parameters(**slurm_parameters(options, tasks, Path(run_dir).name))
    job = executor.submit(SlurmTraining(log=log, progress=progress), Path(run_dir).resolve())
    state = "done" if read_status(run_dir).get("state") == "done" else "queued"  # a resumed run waits in Slurm's queue
    write_status(run_dir, state, slurm_job_id=str(job.job_id), world_size=options.nodes * tasks, restarts=0,
                 message=f"Slurm job {job.job_id}")
    return job


def slurm_parameters(options: SlurmOptions, tasks_per_node: int, name: str) -> dict:
    """submitit's SlurmExecutor parameters: GPUs only where asked; the job runs this interpreter on this code."""
    params: dict = {"time": options.time_min, "nodes": options.nodes, "ntasks_per_node": tasks_per_node,
                    "job_name": f"mvssl-{name}", "signal_delay_s": 90,
                    "setup": [f"export PYTHONPATH={shlex.quote(str(IMPORT_ROOT))}${{PYTHONPATH:+:$PYTHONPATH}}"]}
    if options.gpus_per_node:
        params["gpus_per_node"] = options.gpus_per_node
    if options.partition:
        params["partition"] = options.partition
    if options.cpus_per_task:
        params["cpus_per_task"] = options.cpus_per_task
    if options.mem_gb:
        params["mem"] = f"{int(options.mem_gb * 1024)}M"
    if options.extra:
        params["additional_parameters"] = dict(options.extra)
    return params


def wait_slurm(job, run_dir: Path) -> str:
    """Wait for the job (through requeues) and return the run's final state; a job that Slurm ended before
    the training could say so (cancelled while pending, killed, node failure) gets that state written."""
    try:
        job.results()
    except Exception as err:  # submitit raises when a task failed or the job ended without a result
        state = read_status(run_dir).get("state")
        if state in ("queued", "running", "requeued"):
            slurm_state = str(job.state)
            final = "cancelled" if slurm_state.startswith("CANCELLED") else "failed"
            write_status(run_dir, final, message=f"Slurm job {job.job_id} ended {slurm_state}: "
                                                 f"{str(err).strip().splitlines()[-1][:200] if str(err).strip() else ''}")
    return read_status(run_dir).get("state", "failed")
