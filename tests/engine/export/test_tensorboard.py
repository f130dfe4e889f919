"""TensorBoard scalars: written live by a run with tensorboard=true, or exported from events.jsonl; read
back with TensorBoard's own event reader."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from engine import cli
from engine.rundir.events import iter_events
from engine.training.tensorboard import scalars


def read_scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def expected(run: Path) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list[tuple[int, float]]] = {}
    for event in iter_events(run / "events.jsonl"):
        for tag, value in scalars(event):
            out.setdefault(tag, []).append((int(event["step"]), value))
    return out


def assert_same(got: dict, want: dict) -> None:
    assert set(got) == set(want)
    for tag, points in want.items():
        assert [s for s, _ in got[tag]] == [s for s, _ in points], tag
        for (_, a), (_, b) in zip(got[tag], points):
            assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-6), tag


def test_a_run_with_tensorboard_on_writes_every_plotted_scalar_live(export_runs) -> None:
    run = export_runs["contrastive"]
    got = read_scalars(run / "tensorboard")
    for tag in ("train/loss", "train/positive", "train/negative", "train/lr", "train/wd", "train/momentum",
                "train/teacher_temp", "train/views_per_s", "train/grad_norm", "train/epoch", "collapse/rankme",
                "collapse/std"):
        assert [s for s, _ in got[tag]] == [1, 2, 3, 4], tag
    assert_same(got, expected(run))


def test_export_from_events_jsonl_replaces_the_event_files(export_runs, tmp_path) -> None:
    run = export_runs["contrastive"]
    out = tmp_path / "tb"
    for _ in range(2):  # a second export replaces the first instead of doubling every point
        assert cli.main(["export", "--run-dir", str(run), "--format", "tensorboard", "--out", str(out)]) == 0
    assert len(list(out.glob("events.out.tfevents.*"))) == 1
    assert_same(read_scalars(out), expected(run))


def test_scalars_follow_the_training_panel_rules() -> None:
    event = {"type": "train", "step": 3, "time": 1.0, "loss": 2.5, "lr": None, "healthy": True, "message": "x"}
    assert scalars(event)[0] == ("train/loss", 2.5)
    assert scalars(event)[1][0] == "train/lr" and math.isnan(scalars(event)[1][1])  # null = NaN, as plotted
    assert len(scalars(event)) == 2
    assert scalars({"type": "train", "loss": 1.0}) == []


def test_missing_events_is_a_one_line_error(tmp_path, capsys) -> None:
    assert cli.main(["export", "--run-dir", str(tmp_path), "--format", "tensorboard"]) == 2
    assert "events.jsonl: no events to export" in capsys.readouterr().err


def test_a_resumed_run_has_each_step_once_in_tensorboard(tmp_path, tiny_config) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    from engine.model.checkpoints import step_checkpoints
    from engine.config import prepare_run as prepare_run_dir
    from engine.training.loop import train

    run = tmp_path / "killed"
    prepare_run_dir(tiny_config(steps=8, checkpoint_every=3, tensorboard=True), run)
    proc = subprocess.Popen([sys.executable, "-m", "engine.service.jobs", "train", str(run)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and 3 not in step_checkpoints(run):
        time.sleep(0.05)
    time.sleep(0.5)  # let it log a step or two past the checkpoint
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert train(run, progress=False) == "done"
    got = read_scalars(run / "tensorboard")
    assert [s for s, _ in got["train/loss"]] == list(range(1, 9))
    assert_same(got, expected(run))
