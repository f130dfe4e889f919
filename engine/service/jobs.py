"""Job entry points, each run as its own process: `python -m engine.service.jobs KIND RUN_DIR [--OPTION VALUE ...]`.

Kinds: pretrain (alias train), embed, diagnose, project, probe. The engine starts jobs with
`--job N --handshake`: the job then waits for the engine's go (so its pid is on record first) and
writes its outcome to `logs/job-<kind>-<N>.result.json`, which the engine reads even when it was
restarted meanwhile. SIGTERM cancels a job: training checkpoints first; the others stop at once.
Exit status: 0 done or cancelled, 1 failed or diverged, 2 bad usage, 5 the engine never said go.
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

from engine.rundir.layout import RunDir

KINDS: tuple[str, ...] = ("pretrain", "embed", "diagnose", "project", "probe")
ALIASES = {"train": "pretrain"}


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"must be >= 1, got {value}")
    return value


def _segments(text: str) -> str | int:
    return "all" if text == "all" else _positive_int(text)


def _names(text: str) -> tuple[str, ...]:
    values = tuple(v.strip() for v in text.split(",") if v.strip())
    if not values:
        raise ValueError("expects names separated by commas")
    return values


def _flag(text: str) -> bool:
    if text.lower() not in ("true", "false", "1", "0"):
        raise ValueError(f"expects true or false, got {text!r}")
    return text.lower() in ("true", "1")


def _protocol(text: str) -> str:
    from engine.config import PROBE_PROTOCOLS

    if text not in PROBE_PROTOCOLS:
        raise ValueError(f"expects one of {', '.join(PROBE_PROTOCOLS)}, got {text!r}")
    return text


def _percents(text: str) -> tuple[float, ...]:
    values = tuple(float(v) for v in text.split(",") if v.strip())
    if not values or any(not 0 < v <= 100 for v in values):
        raise ValueError(f"expects percentages in (0, 100] separated by commas, got {text!r}")
    return values


# kind -> option -> converter from the command-line text; probe's task is required.
OPTIONS: dict[str, dict[str, Callable[[str], Any]]] = {
    "pretrain": {},
    "embed": {"checkpoint": str, "segments_per_track": _segments, "batch": _positive_int},
    "diagnose": {"max_tracks": _positive_int},
    "project": {"methods": _names, "n_neighbors": _positive_int, "seed": int, "force": _flag},
    "probe": {"task": str, "fractions": _percents, "draws": _positive_int, "seed": int, "protocol": _protocol},
}
REQUIRED: dict[str, tuple[str, ...]] = {"probe": ("task",)}


class JobCancelled(BaseException):
    """SIGTERM arrived in a job that has no checkpointing of its own."""


def _text(value: Any) -> str:
    return ",".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)


def check_args(kind: str, args: dict[str, Any]) -> dict[str, Any]:
    """Job options from a request, converted like the command line does; ValueError names a bad one."""
    kind = ALIASES.get(kind, kind)
    if kind not in OPTIONS:
        raise ValueError(f"unknown job kind {kind!r} (valid: {', '.join(KINDS)})")
    valid = OPTIONS[kind]
    out = {}
    for key, value in args.items():
        if key not in valid:
            raise ValueError(f"{kind}: unknown option {key!r} (valid: {', '.join(valid) or 'none'})")
        try:
            out[key] = valid[key](_text(value))
        except ValueError as err:
            raise ValueError(f"{kind}: option {key!r}: {err}") from None
    missing = [k for k in REQUIRED.get(kind, ()) if k not in out]
    if missing:
        raise ValueError(f"{kind}: missing option {missing[0]!r}")
    return out


def job_argv(kind: str, run_dir: Path, args: dict[str, Any], job: int | None = None,
             handshake: bool = False) -> list[str]:
    """The command line that runs one job with this interpreter."""
    check_args(kind, args)
    argv = [sys.executable, "-m", "engine.service.jobs", ALIASES.get(kind, kind), str(run_dir), "--no-progress"]
    if job is not None:
        argv += ["--job", str(job)]
    if handshake:
        argv.append("--handshake")
    for key, value in args.items():
        argv += [f"--{key.replace('_', '-')}", _text(value)]
    return argv


def result_path(run_dir: Path, kind: str, job: int) -> Path:
    return RunDir(run_dir).job_result(ALIASES.get(kind, kind), job)


def log_path(run_dir: Path, kind: str, job: int) -> Path:
    return RunDir(run_dir).job_log(ALIASES.get(kind, kind), job)


def read_result(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) and isinstance(value.get("state"), str) else None


def run_kind(kind: str, run_dir: Path, options: dict[str, Any], progress: bool) -> tuple[str, str]:
    """Run one job in this process; returns (final state, message). Heavy modules load here only."""
    if kind == "pretrain":
        from engine.rundir.files import read_status
        from engine.training.loop import train

        state = train(run_dir, progress=progress)
        return state, str(read_status(run_dir).get("message") or "")
    if kind == "embed":
        from engine.evaluation.embed import embed

        path = embed(run_dir, progress=progress, **options)
        return "done", f"wrote {path}"
    if kind == "diagnose":
        from engine.collapse.diagnose import diagnose

        result = diagnose(run_dir, progress=progress, **options)
        return "done", f"diagnosed {len(result['steps'])} checkpoint(s)"
    if kind == "project":
        from engine.evaluation.projection import project

        maps = project(run_dir, **options)
        return "done", f"projections: {', '.join(maps)}"
    from engine.evaluation.probe import ProbeConfig, run_probe

    task = options.pop("task")
    config = ProbeConfig.of(options.pop("protocol", "ours"))
    results = run_probe(run_dir, task, config=config, progress=lambda line: print(line, flush=True), **options)
    return "done", f"probe {task}: {sum(len(v) for v in results.values())} draw(s)"


def _parser(kind: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m engine.service.jobs {kind}")
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--job", type=int, help="job number given by the engine (names the result file)")
    parser.add_argument("--handshake", action="store_true", help="wait for the engine's go on stdin")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    for name in OPTIONS[kind]:
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or ALIASES.get(argv[0], argv[0]) not in KINDS:
        print(f"usage: python -m engine.service.jobs KIND RUN_DIR [options] (KIND: {', '.join(KINDS)}, train)",
              file=sys.stderr)
        return 2
    kind = ALIASES.get(argv[0], argv[0])
    args = _parser(kind).parse_args(argv[1:])
    if args.handshake:
        from engine.service.procs import wait_for_release

        if not wait_for_release():
            print("engine gone before the job started; nothing done", file=sys.stderr)
            return 5
    raw = {k: v for k in OPTIONS[kind] if (v := getattr(args, k)) is not None}
    try:
        options = check_args(kind, raw)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    cancelled = {"flag": False}

    def on_term(signum: int, frame: object) -> None:
        cancelled["flag"] = True
        raise JobCancelled()

    signal.signal(signal.SIGTERM, on_term)
    started = time.time()
    print(f"job {kind} {args.run_dir} {options} started {time.ctime(started)}", flush=True)
    try:
        state, message = run_kind(kind, args.run_dir, options, progress=not args.no_progress)
    except JobCancelled:
        state, message = "cancelled", "stopped by SIGTERM"
    except BaseException as err:  # the outcome is recorded whatever happened
        traceback.print_exc()
        state = "cancelled" if cancelled["flag"] else "failed"
        message = "stopped by SIGTERM" if cancelled["flag"] else f"{type(err).__name__}: {err}"
    if args.job is not None:
        from engine.rundir.files import atomic_write_bytes

        outcome = {"state": state, "message": message, "started_at": started, "ended_at": time.time()}
        atomic_write_bytes(result_path(args.run_dir, kind, args.job), json.dumps(outcome).encode())
    print(f"job {kind} ended: {state} {message}", flush=True)
    return 0 if state in ("done", "cancelled") else 1


if __name__ == "__main__":
    sys.exit(main())
