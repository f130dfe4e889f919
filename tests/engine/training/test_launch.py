"""Launchers: DDP through torchrun (gloo, 2 CPU processes) and Slurm through submitit's local executor."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from engine.rundir.events import iter_events
from engine.training.launchers import submit_slurm
from engine.rundir.files import read_status
from engine.config import prepare_run as prepare_run_dir


@pytest.mark.slow
def test_two_process_ddp_run(tmp_path: Path, tiny_corpus: Path) -> None:
    run = tmp_path / "ddp"
    mvssl = Path(sys.executable).parent / "mvssl"
    args = [str(mvssl), "train", "--method", "clustering", "--corpus", f"folder:{tiny_corpus}", "--devices", "2",
            "--set", "steps=3", "--set", "batch_size=2", "--set", "num_workers=0", "--set", "log_every=1",
            "--set", "n_prototypes=64", "--set", "precision=fp32", "--run-dir", str(run)]
    out = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert read_status(run)["state"] == "done"
    train_events = [e for e in iter_events(run / "events.jsonl") if e["type"] == "train"]
    assert [e["step"] for e in train_events] == [1, 2, 3]  # only rank 0 writes
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert state["step"] == 3


@pytest.mark.slow
def test_submitit_local_executor(tmp_path: Path, tiny_config) -> None:
    run = tmp_path / "slurm"
    prepare_run_dir(tiny_config(method="contrastive", steps=2), run)
    assert submit_slurm(run, devices=1, options={"timeout_min": 10}, executor_kind="local") == "done"
    assert read_status(run)["state"] == "done"
    assert any((run / "logs" / "submitit").iterdir())
