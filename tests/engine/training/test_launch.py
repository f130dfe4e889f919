"""Launchers: DDP through torchrun (gloo, 2 CPU processes) and Slurm through submitit's local executor."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.rundir.events import iter_events
from engine.config import prepare_run as prepare_run_dir, resolved_values
from engine.rundir.files import read_status
from engine.training.launchers import submit_slurm, wait_slurm
from engine.training.slurm_options import SlurmOptions


@pytest.mark.slow
def test_two_process_ddp_run(local_ddp_run: Path) -> None:
    run = local_ddp_run
    assert read_status(run)["state"] == "done"
    assert read_status(run)["world_size"] == 2
    train_events = [e for e in iter_events(run / "events.jsonl") if e["type"] == "train"]
    assert [e["step"] for e in train_events] == [1, 2, 3, 4]  # only rank 0 writes
    assert [e["world_size"] for e in iter_events(run / "events.jsonl") if e["type"] == "runtime"] == [2]
    assert resolved_values(run / "config.toml")["world_size"] == 2
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert state["step"] == 4


@pytest.mark.slow
def test_submitit_local_executor(tmp_path: Path, tiny_config) -> None:
    run = tmp_path / "slurm"
    prepare_run_dir(tiny_config(method="contrastive", steps=2), run)
    job = submit_slurm(run, devices=1, options=SlurmOptions(time_min=10), executor_kind="local")
    assert wait_slurm(job, run) == "done"
    assert read_status(run)["state"] == "done"
    assert any((run / "logs" / "submitit").iterdir())
