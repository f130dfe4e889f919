"""Training runs end to end on CPU: events, checkpoints, status, exact resume, NaN guard, SIGTERM."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from engine import config as config_mod
from engine.model.checkpoints import load_checkpoint, step_checkpoints
from engine.rundir.events import iter_events
from engine.rundir.files import read_status
from engine.training.batches import StepBatches
from engine.config import prepare_run as prepare_run_dir
from engine.training.loop import train

METHODS = ["contrastive", "byol", "clustering", "clustering-collapse", "barlow_twins", "vicreg"]


def _train_events(run_dir: Path) -> list[dict]:
    return [e for e in iter_events(run_dir / "events.jsonl") if e.get("type") == "train"]


@pytest.mark.parametrize("method", METHODS)
def test_each_method_trains_and_logs(tmp_path: Path, tiny_config, method: str) -> None:
    run = tmp_path / method
    prepare_run_dir(tiny_config(method=method, steps=3, checkpoint_every=3), run)
    assert train(run, progress=False) == "done"
    assert read_status(run)["state"] == "done"
    events = list(iter_events(run / "events.jsonl"))
    train_events = [e for e in events if e["type"] == "train"]
    collapse = [e for e in events if e["type"] == "collapse"]
    assert [e["step"] for e in train_events] == [1, 2, 3]
    for key in ("loss", "lr", "wd", "momentum", "teacher_temp", "views_per_s", "data_wait", "grad_norm", "epoch"):
        assert key in train_events[-1]
    assert {"std", "rankme"} <= collapse[-1].keys()
    component = {"contrastive": "positive", "byol": "cosine", "clustering": "kl", "clustering-collapse": "kl",
                 "barlow_twins": "off_diag", "vicreg": "cov"}[method]
    assert component in train_events[-1]
    if method.startswith("clustering"):
        assert {"teacher_entropy", "effective_prototypes", "usage", "clustering_state"} <= collapse[-1].keys()
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert state["step"] == 3 and "optimizer" in state
    if method.startswith("clustering"):
        assert "loss_fn.center" in state["model"]


def test_random_control_writes_initial_weights(tmp_path: Path, tiny_config) -> None:
    run = tmp_path / "random"
    prepare_run_dir(tiny_config(method="random"), run)
    assert train(run, progress=False) == "done"
    weights = load_checkpoint(step_checkpoints(run)[0])["model"]
    torch.manual_seed(0)
    from engine.model.ssl_model import SSLModel

    fresh = SSLModel(tiny_config(method="random")).state_dict()
    assert all(torch.equal(weights[k], fresh[k]) for k in fresh)
    assert torch.equal(weights["backbone.resnet.bn1.running_var"], torch.ones_like(weights["backbone.resnet.bn1.running_var"]))


def test_step_batches_resume_where_they_left() -> None:
    full = list(StepBatches(20, 4, seed=3, start=0, total=12))
    resumed = list(StepBatches(20, 4, seed=3, start=7, total=12))
    assert full[7:] == resumed
    epoch0 = sorted(i for b in full[:5] for i in b)
    assert epoch0 == list(range(20))  # each epoch is a permutation
    ranks = [list(StepBatches(20, 2, seed=3, start=0, total=3, rank=r, world=2)) for r in (0, 1)]
    assert [a + b for a, b in zip(*ranks)] == list(StepBatches(20, 4, seed=3, start=0, total=3))


def _losses(run: Path) -> dict[int, float]:
    return {e["step"]: e["loss"] for e in _train_events(run)}


@pytest.mark.parametrize("method", ["contrastive", "clustering"])
def test_kill9_then_resume_gives_the_same_trajectory(tmp_path: Path, tiny_config, method: str) -> None:
    cfg = tiny_config(method=method, steps=8, checkpoint_every=1)
    reference = tmp_path / "reference"
    prepare_run_dir(cfg, reference)
    assert train(reference, progress=False) == "done"

    run = tmp_path / "killed"
    prepare_run_dir(cfg, run)
    proc = subprocess.Popen([sys.executable, "-m", "engine.service.jobs", "train", str(run)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and 3 not in step_checkpoints(run):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert read_status(run)["state"] == "running"  # what a crash leaves; the engine marks it interrupted
    assert train(run, progress=False) == "done"
    expected, got = _losses(reference), _losses(run)
    assert sorted(got) == list(range(1, 9))
    for step, loss in expected.items():
        assert got[step] == pytest.approx(loss, abs=1e-5), f"step {step}"


def test_non_finite_loss_stops_as_diverged(tmp_path: Path, tiny_config) -> None:
    run = tmp_path / "nan"
    prepare_run_dir(tiny_config(method="contrastive", steps=6, checkpoint_every=2), run)
    from engine.model import ssl_model

    original = ssl_model.SSLModel.forward

    def poisoned(self, views, teacher_temp):
        out = original(self, views, teacher_temp)
        return out._replace(loss=out.loss * float("nan")) if poisoned.calls > 2 else out

    poisoned.calls = 0

    def counting(self, views, teacher_temp):
        poisoned.calls += 1
        return poisoned(self, views, teacher_temp)

    ssl_model.SSLModel.forward = counting
    try:
        assert train(run, progress=False) == "diverged"
    finally:
        ssl_model.SSLModel.forward = original
    status = read_status(run)
    assert status["state"] == "diverged" and status["step"] == 2
    assert "non-finite" in status["message"]
    assert load_checkpoint(run / "checkpoints" / "last.pt")["step"] == 2  # last good checkpoint kept


def test_sigterm_checkpoints_and_cancels(tmp_path: Path, tiny_config) -> None:
    run = tmp_path / "term"
    prepare_run_dir(tiny_config(method="vicreg", steps=400, checkpoint_every=1000), run)
    proc = subprocess.Popen([sys.executable, "-m", "engine.service.jobs", "train", str(run)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and len(_train_events(run)) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 0, proc.stderr.read().decode()
    status = read_status(run)
    assert status["state"] == "cancelled"
    step = load_checkpoint(run / "checkpoints" / "last.pt")["step"]
    assert 2 <= step < 400 and status["step"] == step


def test_cli_bad_config_creates_nothing(tmp_path: Path) -> None:
    mvssl = Path(sys.executable).parent / "mvssl"
    cases = [["--method", "contrastive", "--set", "lr=-1"], ["--method", "simclr"],
             ["--method", "contrastive", "--set", "views=1"], ["--method", "vicreg", "--corpus", "nowhere:x"]]
    for i, extra in enumerate(cases):
        run = tmp_path / f"run{i}"
        out = subprocess.run([str(mvssl), "train", *extra, "--run-dir", str(run)], capture_output=True, text=True)
        assert out.returncode != 0
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("mvssl: error:"), out.stderr
        assert not run.exists()


def test_cli_train_runs_and_resume_is_a_no_op_when_done(tmp_path: Path, tiny_corpus: Path) -> None:
    mvssl = Path(sys.executable).parent / "mvssl"
    run = tmp_path / "cli"
    args = [str(mvssl), "train", "--method", "barlow_twins", "--corpus", f"folder:{tiny_corpus}", "--set", "steps=2",
            "--set", "batch_size=4", "--set", "num_workers=0", "--set", "log_every=1", "--run-dir", str(run)]
    out = subprocess.run(args, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads((run / "status.json").read_text())["state"] == "done"
    assert "precision: fp32 (requested auto; set by MVSSL_CPU_PRECISION)" in out.stderr
    config_text = (run / "config.toml").read_text()
    assert 'precision = "auto"' in config_text
    assert config_mod.resolved_values(run / "config.toml")["precision"] == "fp32"
    assert config_mod.load(run / "config.toml").precision == "auto"
    runtime = [e for e in iter_events(run / "events.jsonl") if e.get("type") == "runtime"]
    assert runtime == [{**runtime[0], "type": "runtime", "step": 0, "precision": "fp32", "requested": "auto",
                        "device": "cpu"}]
    again = subprocess.run([str(mvssl), "train", "--run-dir", str(run), "--resume"], capture_output=True, text=True)
    assert again.returncode == 0 and "done" in again.stdout
