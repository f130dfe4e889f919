"""The engine process without training: socket, lock, subscriptions, slow clients, recovery, CLI."""
from __future__ import annotations

import argparse
import contextlib
import json
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from engine import config
from engine.service import protocol
from engine.service.client import BlockingClient, EngineError, ensure_engine, ping, stop_engine
from engine.cli import engine_cmds
from engine.service.enginedir import engine_paths, lock_holder
from engine.service.queue import device_slots, visible_gpus
from engine.service.procs import start_ticks
from engine.rundir.files import read_status, write_status

TIMEOUT = 120.0  # generous: the machine is shared


# ---- helpers shared by the engine test modules ---------------------------------------------------------
@contextlib.contextmanager
def running_engine(runs: Path, *extra: str) -> Iterator[Path]:
    """An engine started detached on `runs`, stopped afterwards."""
    ensure_engine(runs, timeout=TIMEOUT, extra_args=list(extra))
    try:
        yield runs
    finally:
        stop_engine(runs, timeout=TIMEOUT)


def wait_push(client: BlockingClient, predicate: Callable[[dict], bool], timeout: float = TIMEOUT) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        push = client.next_push(timeout=max(0.1, deadline - time.monotonic()))
        if push is not None and predicate(push):
            return push
    raise AssertionError(f"no matching push within {timeout} s")


def wait_until(check: Callable[[], Any], timeout: float = TIMEOUT, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def mvssl(*argv: str) -> int:
    """Run an `mvssl` sub-command of engine_cmds through a parser of its own."""
    parser = argparse.ArgumentParser(prog="mvssl")
    engine_cmds.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.handler(args)


def make_run(runs: Path, name: str, status: dict | str | None, events: list[dict] | None = None,
             cfg: str | None = None) -> Path:
    run = runs / name
    run.mkdir(parents=True)
    if status is not None:
        (run / "status.json").write_text(status if isinstance(status, str) else json.dumps(status))
    if events is not None:
        (run / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    if cfg is not None:
        (run / "config.toml").write_text(cfg)
    return run


def _events(client: BlockingClient, run: str, n: int) -> list[dict]:
    return [wait_push(client, lambda p: p["type"] == "event" and p["run"] == run) for _ in range(n)]


@pytest.fixture
def runs(tmp_path: Path) -> Iterator[Path]:
    with running_engine(tmp_path / "runs") as path:
        yield path


# ---- the process ---------------------------------------------------------------------------------------
def test_socket_and_folder_are_private_and_hello_describes_the_engine(runs: Path) -> None:
    paths = engine_paths(runs)
    assert stat.S_IMODE(paths.dir.stat().st_mode) == 0o700
    assert stat.S_ISSOCK(paths.socket.stat().st_mode)
    assert stat.S_IMODE(paths.socket.stat().st_mode) == 0o600
    with BlockingClient(paths.socket) as client:
        info = client.info
        assert info["methods"] == list(config.METHODS) and info["presets"] == list(config.PRESETS)
        assert info["config_schema"]["properties"]["method"]["enum"] == list(config.METHODS)
        assert info["preset_values"]["paper"] == config.build("paper").model_dump()
        assert info["tasks"] == ["genre", "instrument", "mood"]
        assert info["job_kinds"] == ["pretrain", "embed", "diagnose", "project", "probe"]
        offline = protocol.forms_info()  # what the New-run dialog shows when no engine answers
        assert {key: info[key] for key in offline} == json.loads(json.dumps(offline))
        assert info["runs_dir"] == str(paths.runs_dir) and info["engine_pid"] > 0
        with pytest.raises(EngineError, match="protocol version 99 not supported"):
            client.request("hello", version=99)
        assert client.request("list_runs") == {"runs": []}


def test_a_second_engine_is_refused_naming_the_first(runs: Path) -> None:
    pid = ping(runs)["engine_pid"]
    out = subprocess.run([sys.executable, "-m", "engine.service.server", "--runs-dir", str(runs)],
                         capture_output=True, text=True, timeout=TIMEOUT)
    assert out.returncode == 1 and f"pid {pid}" in out.stderr
    assert ensure_engine(runs) == engine_paths(runs).socket and ping(runs)["engine_pid"] == pid


def test_engine_stop_ends_it_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    runs = tmp_path / "runs"
    ensure_engine(runs, timeout=TIMEOUT)
    assert lock_holder(engine_paths(runs)) == ping(runs)["engine_pid"]
    assert mvssl("engine", "stop", "--runs-dir", str(runs)) == 0
    assert lock_holder(engine_paths(runs)) is None and not engine_paths(runs).socket.exists()
    assert mvssl("engine", "stop", "--runs-dir", str(runs)) == 0
    assert "no engine running" in capsys.readouterr().out.splitlines()[-1]


def test_long_runs_dir_paths_still_get_a_socket(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60) / "runs"
    with running_engine(deep):
        assert ping(deep)["runs_dir"] == str(deep.resolve())


def test_one_job_per_gpu_else_one_cpu_job(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert device_slots() == ["gpu:2", "gpu:3"] and device_slots(max_jobs=1) == ["gpu:2"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert device_slots() == ["cpu:0"] and device_slots(max_jobs=2) == ["cpu:0", "cpu:1"]


# ---- requests ------------------------------------------------------------------------------------------
def test_bad_requests_are_answered_and_change_nothing(runs: Path) -> None:
    with BlockingClient.for_runs_dir(runs) as client:
        for fields, words in (({"kind": "embed", "run": "ghost"}, "no run 'ghost'"),
                              ({"kind": "embed"}, "needs the run"),
                              ({"kind": "pretrain", "run": "x", "config": {"steps": -3}}, "config field 'steps'"),
                              ({"kind": "pretrain", "run": "x", "config": {"corpus": "nosuch:1"}}, "unknown kind"),
                              ({"kind": "pretrain", "run": "x", "args": {"task": "genre"}}, "unknown option 'task'"),
                              ({"kind": "pretrain", "run": "x", "config": {"corpus": "folder:/nonexistent"}},
                               "not found"),
                              ({"kind": "pretrain", "run": "x", "config": {"corpus": "folder:/etc"}},
                               "no audio track"),
                              *([({"kind": "pretrain", "run": "x", "config": {"device": "cuda"}}, "no CUDA GPU")]
                                if not visible_gpus() else [])):
            with pytest.raises(EngineError, match=words):
                client.request("submit", **fields)
        with pytest.raises(EngineError, match="set by the study"):
            client.request("submit_study", methods=["byol"], config={"seed": 3})
        with pytest.raises(EngineError, match="method byol: config field 'lr'"):
            client.request("submit_study", methods=["byol", "vicreg"], config={"lr": 0})
        for kind in ("cancel", "resume", "delete"):
            with pytest.raises(EngineError, match="no run 'ghost'"):
                client.request(kind, run="ghost")
            with pytest.raises(EngineError, match="no study 'ghost'"):
                client.request(kind, study="ghost")
        assert client.request("list_runs") == {"runs": []}
    assert sorted(p.name for p in runs.iterdir()) == [".engine"]


def test_oversized_and_malformed_lines_get_errors_and_the_connection_stays(runs: Path) -> None:
    with BlockingClient.for_runs_dir(runs) as client:
        big = b"x" * (3 << 20)
        client.send_raw(big + b"\n{\n" + b'{"type":"hello","id":1,"version":1,"client":"' + b"a" * (1 << 20) + b'"}\n')
        replies = [client.read_message() for _ in range(3)]
        assert [r["type"] for r in replies] == ["error"] * 3
        assert "longer than" in replies[0]["error"] and "malformed JSON" in replies[1]["error"]
        assert "longer than" in replies[2]["error"]
        assert client.request("list_jobs") == {"jobs": []}


# ---- subscriptions -------------------------------------------------------------------------------------
def test_two_clients_follow_one_run(runs: Path) -> None:
    run = make_run(runs, "r1", {"state": "running", "step": 1}, [{"type": "train", "step": s} for s in (1, 2, 3)])
    with BlockingClient.for_runs_dir(runs) as a, BlockingClient.for_runs_dir(runs) as b:
        for client in (a, b):
            assert client.request("subscribe", run="r1")["status"]["state"] == "running"
        first = {name: _events(c, "r1", 3) for name, c in (("a", a), ("b", b))}
        assert [e["event"]["step"] for e in first["a"]] == [1, 2, 3] == [e["event"]["step"] for e in first["b"]]
        assert first["a"][-1]["offset"] == (run / "events.jsonl").stat().st_size
        with open(run / "events.jsonl", "a") as f:  # a torn line: delivered only once complete
            f.write('{"type": "train", "st')
            f.flush()
            time.sleep(1.0)
            f.write('ep": 4}\n')
        for client in (a, b):
            assert wait_push(client, lambda p: p["type"] == "event")["event"] == {"type": "train", "step": 4}
        write_status(run, "done", step=4)
        for client in (a, b):
            assert wait_push(client, lambda p: p["type"] == "status")["status"]["state"] == "done"
        with BlockingClient.for_runs_dir(runs) as late:  # resubscribing from an offset replays only what follows
            late.request("subscribe", run="r1", from_offset=first["a"][1]["offset"])
            assert [e["event"]["step"] for e in _events(late, "r1", 2)] == [3, 4]
        (run / "events.jsonl.new").write_text('{"type": "train", "step": 1}\n')
        (run / "events.jsonl.new").replace(run / "events.jsonl")  # rewritten, as a resumed run does
        for client in (a, b):
            assert wait_push(client, lambda p: p["type"] in ("reset", "event"))["type"] == "reset"
            assert wait_push(client, lambda p: p["type"] == "event")["event"]["step"] == 1


def test_a_client_that_stops_reading_blocks_no_one(runs: Path) -> None:
    line = {"type": "train", "loss": 1.0, "pad": "p" * 400}
    make_run(runs, "busy", {"state": "running"}, [{**line, "step": s} for s in range(12_000)])  # ≈ 5 MB
    stuck = BlockingClient.for_runs_dir(runs)
    stuck.request("subscribe", run="busy")  # ...and reads nothing for now
    time.sleep(0.5)
    with BlockingClient.for_runs_dir(runs) as live:
        live.request("subscribe", run="busy")
        steps = [e["event"]["step"] for e in _events(live, "busy", 12_000)]
        assert steps == list(range(12_000))
        write_status(runs / "busy", "done")
        assert wait_push(live, lambda p: p["type"] == "status")["status"]["state"] == "done"
        assert live.request("list_runs")["runs"][0]["state"] == "done"
    received = [e["event"]["step"] for e in _events(stuck, "busy", 12_000)]  # nothing was lost meanwhile
    assert received == list(range(12_000))
    stuck.close()
    with BlockingClient.for_runs_dir(runs) as again:
        assert again.request("list_runs")["runs"][0]["run"] == "busy"


def test_a_client_dying_mid_stream_leaves_the_engine_up(runs: Path) -> None:
    make_run(runs, "r", {"state": "running"}, [{"type": "train", "step": s, "pad": "x" * 300} for s in range(5000)])
    for _ in range(3):
        client = BlockingClient.for_runs_dir(runs)
        client.request("subscribe", run="r")
        client.close()
    with BlockingClient.for_runs_dir(runs) as client:
        assert client.request("get_run", run="r")["run"]["state"] == "running"


# ---- recovery ------------------------------------------------------------------------------------------
def _job(n: int, run: str, kind: str, pid: int, ticks: int | None) -> dict:
    now = time.time()
    return {"id": f"j{n}", "n": n, "kind": kind, "run": run, "state": "running", "pid": pid, "start_ticks": ticks,
            "submitted_at": now, "started_at": now, "slot": "cpu:0", "log": "job.log"}


def test_restart_reattaches_live_jobs_and_marks_dead_ones_interrupted(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    live = subprocess.Popen(["sleep", "300"], start_new_session=True)  # stands in for a job process
    other = subprocess.Popen(["sleep", "300"], start_new_session=True)
    gone = subprocess.Popen(["true"])
    gone.wait()
    try:
        for name in ("alive", "dead", "orphan", "other"):
            make_run(runs, name, {"state": "running", "method": "byol", "step": 3, "total_steps": 9, "pid": gone.pid})
        make_run(runs, "old", {"state": "done", "step": 9})
        jobs = [_job(1, "alive", "pretrain", live.pid, start_ticks(live.pid)), _job(2, "dead", "pretrain", gone.pid, 1),
                _job(3, "other", "embed", other.pid, start_ticks(other.pid)),
                _job(4, "dead", "embed", live.pid, start_ticks(live.pid) + 1)]  # a reused pid: not ours
        engine_paths(runs).dir.mkdir(parents=True)
        engine_paths(runs).queue.write_text(json.dumps({"version": 1, "next": 5, "jobs": jobs}))
        with running_engine(runs), BlockingClient.for_runs_dir(runs) as client:
            states = {j["id"]: j["state"] for j in client.request("list_jobs")["jobs"]}
            assert states == {"j1": "running", "j2": "interrupted", "j3": "running", "j4": "interrupted"}
            assert {r["run"]: r["state"] for r in client.request("list_runs")["runs"]} == {
                "alive": "running", "dead": "interrupted", "orphan": "interrupted", "other": "running", "old": "done"}
            with pytest.raises(EngineError, match="cancel it first"):
                client.request("delete", run="alive")
            live.kill()  # the job dies; it is no child of the engine (and stays a zombie until reaped here)
            job = wait_push(client, lambda p: p["type"] == "job" and p["job"]["id"] == "j1")["job"]
            assert job["state"] == "interrupted" and "resumable" in job["message"]
            assert read_status(runs / "alive")["state"] == "interrupted"
            assert client.request("cancel", run="other") == {"jobs": ["j3"]}  # SIGTERM to a re-attached job
            job = wait_push(client, lambda p: p["type"] == "job" and p["job"]["id"] == "j3" and
                            p["job"]["state"] != "running")["job"]
            assert job["state"] == "cancelled"
            assert other.wait(timeout=TIMEOUT) < 0
            assert client.request("delete", run="alive") == {"deleted": ["alive"]}
            assert not (runs / "alive").exists()
    finally:
        for proc in (live, other):
            proc.kill()
            proc.wait()


# ---- the runs list -------------------------------------------------------------------------------------
def test_runs_list_reads_an_older_runs_directory(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    runs = tmp_path / "runs"
    make_run(runs, "a-old", {"state": "done", "step": 30}, cfg='method = "vicreg"\nsteps = 30\n')
    make_run(runs, "b-bare", None, cfg='method = "byol"\n')
    make_run(runs, "c-broken", "{not json", [{"type": "train"}], cfg="= = not toml")
    make_run(runs, "d-future", {"state": "paused-on-mars", "step": "7", "total_steps": None, "new_field": [1]})
    (runs / "e-events").mkdir()
    (runs / "e-events" / "events.jsonl").write_bytes(b'{"type": "train", "step": 1}\n{"torn')
    (runs / ".studies").mkdir()
    (runs / "not a run").mkdir()
    assert mvssl("runs", "list", "--runs-dir", str(runs), "--json") == 0  # no engine: read directly
    offline = json.loads(capsys.readouterr().out)
    assert [(r["run"], r["state"], r["method"], r["step"], r["total_steps"]) for r in offline] == [
        ("a-old", "done", "vicreg", 30, 30), ("b-bare", "unknown", "byol", 0, 0),
        ("c-broken", "unknown", "unknown", 0, 0), ("d-future", "unknown", "unknown", 0, 0),
        ("e-events", "unknown", "unknown", 0, 0)]
    assert mvssl("runs", "list", "--runs-dir", str(runs)) == 0
    table = capsys.readouterr().out
    assert "a-old" in table and "30/30" in table and "not a run" not in table
    assert mvssl("runs", "show", "a-old", "--runs-dir", str(runs)) == 0
    assert "vicreg" in capsys.readouterr().out
    with running_engine(runs):
        assert mvssl("runs", "list", "--runs-dir", str(runs), "--json") == 0
        through_engine = json.loads(capsys.readouterr().out)
        assert [{k: v for k, v in r.items() if k != "job"} for r in through_engine] == offline
        with BlockingClient.for_runs_dir(runs) as client:
            client.request("subscribe", run="c-broken")
            assert wait_push(client, lambda p: p["type"] == "event")["event"] == {"type": "train"}
        assert mvssl("runs", "delete", "b-bare", "--runs-dir", str(runs)) == 0
        assert not (runs / "b-bare").exists()
        with pytest.raises(ValueError, match="nothing to resume"):
            mvssl("runs", "resume", "a-old", "--runs-dir", str(runs))
