"""The training as submitit runs it in each Slurm task: joins the process group, trains, and on Slurm's
preemption or time-limit signal (USR2) checkpoints at the next step boundary and requeues itself."""
from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import submitit
import torch

from engine.rundir.files import atomic_write_bytes, write_status
from engine.rundir.layout import RunDir
from engine.training.loop import train


class SlurmTraining(submitit.helpers.Checkpointable):
    """Called once per task; submitit pickles it, and `checkpoint()` (inherited) resubmits it unchanged:
    the requeued job resumes from the run's last checkpoint. An engine job gives `log` (rank 0's output is
    appended there) and `progress` (rank 0 writes its progress there, as a local job does)."""

    def __init__(self, log: Path | None = None, progress: Path | None = None) -> None:
        self.log, self.progress = log, progress

    def __call__(self, run_dir: Path) -> str:
        run_dir = Path(run_dir)
        job = submitit.JobEnvironment()
        dist = submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False, overwrite=True)
        if dist.rank == 0 and self.log is not None:
            _append_output_to(self.log)
        torch.set_num_threads(int(os.environ.get("SLURM_CPUS_PER_TASK", 1)))  # what Slurm gave this task, as torchrun
        preempted = threading.Event()
        requeue = signal.getsignal(signal.SIGUSR2)  # submitit's handler: checkpoint() + scontrol requeue + exit
        signal.signal(signal.SIGUSR2, lambda signum, frame: preempted.set())
        restarts = int(os.environ.get("SLURM_RESTART_COUNT", 0))
        if dist.rank == 0:
            write_status(run_dir, "running", slurm_job_id=job.job_id, node=job.hostname, restarts=restarts,
                         world_size=dist.world_size)
        try:
            state = train(run_dir, progress=False, preempted=preempted.is_set if dist.rank == 0 else None,
                          on_step=self._write_progress if dist.rank == 0 and self.progress is not None else None)
        except Exception:
            if dist.rank != 0 and preempted.is_set():
                _wait_for_requeue()  # rank 0 left to requeue the job: this rank's collective failed because of it
            raise
        if state == "requeued":
            step = max(RunDir(run_dir).step_checkpoints())  # the one the loop has just written
            write_status(run_dir, "requeued", step=step, restarts=restarts + 1,
                         message=f"preempted or out of time: checkpoint at step {step}; requeued as job {job.job_id}")
            try:
                requeue(signal.SIGUSR2, None)  # exits this process
            except submitit.core.utils.UncompletedJobError as err:
                write_status(run_dir, "interrupted", message=f"checkpoint at step {step}; not requeued ({err}); "
                                                             "resume with mvssl train --resume")
                return "interrupted"
        return state


    def _write_progress(self, done: int, total: int) -> None:
        """The engine's Progress record (engine.service.contract.Progress)."""
        record = {"done": done, "total": total, "phrase": f"training step {done}/{total}"}
        atomic_write_bytes(self.progress, json.dumps(record).encode())


def _append_output_to(path: Path) -> None:
    """Send this process's stdout and stderr to the end of `path` (the engine job's log)."""
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def _wait_for_requeue() -> None:
    """Slurm kills the job's tasks when rank 0 requeues it; until then do nothing that submitit would record."""
    while True:
        time.sleep(60)
