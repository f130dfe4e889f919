"""Slurm options without a cluster: one task per device, no GPU asked on CPU, the job imports this code,
options remembered per runs folder, bad values named; and the preemption hook of the training loop."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from submitit.slurm.slurm import _make_sbatch_string

from engine.cli import build_parser
from engine.cli.slurm_args import options_from
from engine.config import prepare_run
from engine.model.checkpoints import step_checkpoints
from engine.rundir.events import iter_events
from engine.rundir.files import read_status
from engine.training.launchers import IMPORT_ROOT, slurm_parameters
from engine.training.loop import train
from engine.training.slurm_options import SlurmOptions, load_remembered, remember
from tests.conftest import PROJECT_ROOT


def sbatch_script(options: SlurmOptions, devices: int | None) -> str:
    params = slurm_parameters(options, options.tasks_per_node(devices), "run")
    return _make_sbatch_string(command="python -m submitit.core._submit x", folder="/tmp/x", **params)


def test_cpu_jobs_ask_one_task_per_process_and_no_gpu() -> None:
    script = sbatch_script(SlurmOptions(partition="cpu", time_min=30), devices=2)
    assert "#SBATCH --ntasks-per-node=2" in script and "#SBATCH --nodes=1" in script
    assert "gpu" not in script and "gres" not in script  # the cause of "Invalid generic resource" on CPU partitions
    assert "#SBATCH --partition=cpu" in script and "#SBATCH --time=30" in script
    assert "#SBATCH --signal=USR2@90" in script
    assert f"export PYTHONPATH={IMPORT_ROOT}" in script and IMPORT_ROOT == PROJECT_ROOT


def test_gpu_jobs_ask_one_task_per_gpu_on_every_node() -> None:
    options = SlurmOptions(nodes=2, gpus_per_node=4, cpus_per_task=8, mem_gb=64, extra={"account": "lab"})
    script = sbatch_script(options, devices=None)
    for line in ("--nodes=2", "--ntasks-per-node=4", "--gpus-per-node=4", "--cpus-per-task=8", "--mem=65536M",
                 "--account=lab"):
        assert f"#SBATCH {line}" in script
    assert options.world_size(None) == 8
    with pytest.raises(ValueError, match="--devices 2 and --gpus-per-node 4 disagree"):
        options.tasks_per_node(2)
    assert SlurmOptions().tasks_per_node(None) == 1


def test_options_are_remembered_per_runs_folder(tmp_path: Path) -> None:
    parse = lambda *argv: build_parser().parse_args(["train", "--run-dir", "x", "--launcher", "slurm", *argv])
    first = options_from(parse("--partition", "gpu", "--gpus-per-node", "2", "--sbatch", "qos=high"), tmp_path)
    remember(tmp_path, first)
    again = options_from(parse("--time-min", "90"), tmp_path)
    assert again == SlurmOptions(partition="gpu", gpus_per_node=2, time_min=90, extra={"qos": "high"})
    assert load_remembered(tmp_path / "elsewhere") == SlurmOptions()


@pytest.mark.parametrize("text, message", [
    ("nodes = 0", "slurm option 'nodes': Input should be greater than or equal to 1"),
    ("[extra]\ntime = '10'", "slurm option 'extra': set time with its own option"),
    ("nodes = = 1", "not valid TOML"),
])
def test_a_bad_remembered_file_is_named(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / ".slurm.toml").write_text(text)
    with pytest.raises(ValueError, match=message) as err:
        load_remembered(tmp_path)
    assert str(tmp_path / ".slurm.toml") in str(err.value)


def test_cli_rejects_bad_slurm_use_before_making_the_run(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    for extra, message in ((["--detach"], "--detach needs --launcher slurm"),
                           (["--launcher", "slurm", "--devices", "2", "--gpus-per-node", "4"], "disagree"),
                           (["--launcher", "slurm", "--sbatch", "partition=x"], "set partition with its own option")):
        run = tmp_path / "run"
        out = subprocess.run([sys.executable, "-m", "engine.cli", "train", "--method", "contrastive", *extra,
                              "--run-dir", str(run)], capture_output=True, text=True, env=env)
        assert out.returncode == 2 and message in out.stderr, out.stderr
        assert len(out.stderr.strip().splitlines()) == 1 and not run.exists()


@pytest.mark.slow
def test_a_preempted_run_checkpoints_then_resumes_on_the_same_trajectory(tmp_path: Path, tiny_config) -> None:
    cfg = tiny_config(method="contrastive", steps=4, checkpoint_every=100, batch_size=2, segment_s=1.5, min_gap_s=1.5)
    reference, run = tmp_path / "reference", tmp_path / "preempted"
    for path in (reference, run):
        prepare_run(cfg, path)
    assert train(reference, progress=False) == "done"

    asked = []
    assert train(run, progress=False, preempted=lambda: asked.append(1) or len(asked) >= 2) == "requeued"
    assert list(step_checkpoints(run)) == [2]  # written when asked, not by checkpoint_every
    assert read_status(run)["state"] == "running" and "finished_at" not in read_status(run)  # the caller says requeued
    assert train(run, progress=False) == "done"
    train_events = lambda path: [(e["step"], e["loss"]) for e in iter_events(path / "events.jsonl") if e["type"] == "train"]
    assert [s for s, _ in train_events(run)] == [1, 2, 3, 4]
    assert [l for _, l in train_events(run)] == pytest.approx([l for _, l in train_events(reference)], abs=1e-6)
