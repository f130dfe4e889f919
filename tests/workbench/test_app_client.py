"""EngineClient against a real engine process: it starts the engine, routes replies, batches events,
and after the engine is killed restarts it and resubscribes from the last offset (no duplicates)."""
from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from engine.service import contract
from engine.service.client import stop_engine
from workbench.link.client import EngineClient


def _append(run: Path, steps: range) -> None:
    with open(run / "events.jsonl", "a") as f:
        for step in steps:
            f.write(json.dumps({"type": "train", "step": step, "loss": 1.0 / step}) + "\n")


@pytest.fixture
def runs_dir(tmp_path: Path):
    runs = tmp_path / "runs"
    run = runs / "r1"
    run.mkdir(parents=True)
    (run / "status.json").write_text(json.dumps({"state": "done", "step": 20, "total_steps": 20}))
    _append(run, range(1, 21))
    yield runs
    stop_engine(runs, timeout=20)


@pytest.fixture
def client(qtbot, runs_dir: Path):
    client = EngineClient(runs_dir, flush_ms=100)
    received: list[tuple[str, dict]] = []
    client.events.connect(lambda batch: received.extend((r, e) for r, events in batch.items() for e in events))
    client.received = received
    client.batches = []
    client.events.connect(client.batches.append)
    client.errors = []
    client.error.connect(lambda message, details: client.errors.append(message))
    yield client
    client.stop()


def test_starts_the_engine_and_routes_replies(qtbot, client: EngineClient) -> None:
    states: list[str] = []
    client.state_changed.connect(states.append)
    with qtbot.waitSignal(client.hello, timeout=30_000) as hello:
        client.start()
    assert states[0] == "starting" and states[-1] == "connected"
    assert hello.args[0].config_schema and "random" in hello.args[0].methods  # a contract.HelloResult
    replies, errors = [], []
    client.request("list_runs", on_reply=replies.append)
    client.request("get_run", run="missing", on_error=errors.append)
    qtbot.waitUntil(lambda: bool(replies and errors), timeout=10_000)
    assert [r["run"] for r in replies[0]["runs"]] == ["r1"]
    assert "no run 'missing'" in errors[0]


def test_events_arrive_batched_and_resume_after_the_engine_dies(qtbot, client: EngineClient,
                                                                  runs_dir: Path) -> None:
    with qtbot.waitSignal(client.hello, timeout=30_000):
        client.start()
    statuses: list[tuple[str, contract.RunStatus]] = []
    client.status.connect(lambda run, status: statuses.append((run, status)))
    client.subscribe("r1")
    qtbot.waitUntil(lambda: len(client.received) == 20, timeout=10_000)
    assert len(client.batches) < 20  # batched, not one signal per event
    assert [e["step"] for _, e in client.received] == list(range(1, 21))
    assert statuses[0][0] == "r1" and statuses[0][1].step == 20  # the subscription brings the status

    os.kill(client.info.engine_pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: client.state == "lost", timeout=10_000)
    with qtbot.waitSignal(client.hello, timeout=30_000):
        pass  # the client restarts the engine and reattaches by itself
    assert any("exited" in message for message in client.errors)
    _append(runs_dir / "r1", range(21, 26))
    qtbot.waitUntil(lambda: len(client.received) >= 25, timeout=10_000)
    qtbot.wait(300)
    assert [e["step"] for _, e in client.received] == list(range(1, 26))  # resubscribed from the last offset


def test_a_rewritten_events_file_resets_the_run(qtbot, client: EngineClient, runs_dir: Path) -> None:
    with qtbot.waitSignal(client.hello, timeout=30_000):
        client.start()
    client.subscribe("r1")
    qtbot.waitUntil(lambda: len(client.received) == 20, timeout=10_000)
    events = runs_dir / "r1" / "events.jsonl"
    tmp = events.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps({"type": "train", "step": s, "loss": 0.5}) + "\n" for s in (1, 2)))
    with qtbot.waitSignal(client.reset, timeout=10_000) as reset:
        tmp.replace(events)
    assert reset.args == ["r1"]
    qtbot.waitUntil(lambda: len(client.received) == 22, timeout=10_000)
    assert [e["loss"] for _, e in client.received[-2:]] == [0.5, 0.5]


def test_a_socket_path_too_long_for_sockaddr_un_still_connects(qtbot, tmp_path: Path) -> None:
    runs = tmp_path / ("long-folder-name-" * 6) / "runs"
    assert len(str(runs / ".engine" / "engine.sock")) > 108
    client = EngineClient(runs)
    try:
        with qtbot.waitSignal(client.hello, timeout=30_000) as hello:
            client.start()
        assert Path(hello.args[0].runs_dir) == runs.resolve()
    finally:
        client.stop()
        stop_engine(runs, timeout=20)
