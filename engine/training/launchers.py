"""Start a training run here, on several local processes (torchrun), or on Slurm (submitit)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from engine.rundir.files import read_status
from engine.rundir.layout import RunDir


def torchrun_command(run_dir: Path, devices: int) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={devices}",
            "-m", "engine.service.jobs", "train", str(run_dir)]


def launch(run_dir: Path, devices: int = 1, launcher: str = "local", slurm_options: dict | None = None) -> str:
    """Run training and return the run's final state."""
    if devices < 1:
        raise ValueError(f"--devices must be >= 1, got {devices}")
    if launcher == "slurm":
        return submit_slurm(run_dir, devices, slurm_options or {}, executor_kind="slurm")
    if devices == 1:
        from engine.training.loop import train

        return train(run_dir)
    subprocess.run(torchrun_command(run_dir, devices), check=False)
    return read_status(run_dir).get("state", "failed")


def submit_slurm(run_dir: Path, devices: int, options: dict, executor_kind: str = "slurm") -> str:
    """Submit through submitit (`executor_kind="local"` runs the same path on this machine, for tests)."""
    import submitit

    from engine.training.loop import train

    folder = RunDir(run_dir).submitit
    if executor_kind == "local":
        executor = submitit.LocalExecutor(folder=folder)
        executor.update_parameters(timeout_min=options.get("timeout_min", 60))
    else:
        executor = submitit.AutoExecutor(folder=folder, cluster="slurm")
        executor.update_parameters(timeout_min=options.get("timeout_min", 24 * 60), gpus_per_node=devices,
                                   tasks_per_node=1, slurm_partition=options.get("partition"))
    job = executor.submit(train, Path(run_dir), False)
    return job.result()
