"""A job as its own process: `python -m engine.service.jobs KIND RUN_DIR [--OPTION VALUE ...]`.

Kinds: pretrain (alias train), embed, diagnose, project, probe. The engine starts jobs with
`--job N --handshake`: the job then waits for the engine's go (so its pid is on record first) and
writes its outcome to `logs/job-<kind>-<N>.result.json`, which the engine reads even when it was
restarted meanwhile. SIGTERM cancels a job: training checkpoints first; the others stop at once.
Exit status: 0 done or cancelled, 1 failed or diverged, 2 bad usage, 5 the engine never said go.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from engine.rundir.disk import WriteFailed
from engine.rundir.layout import RunDir
from engine.service.contract import Progress
from engine.service.job_specs import ALIASES, KINDS, as_text, canonical, make_spec, options_of
from engine.service.jobs.kinds import Outcome, job_type
from engine.service.jobs.report import JobCancelled, ProcessReport


def job_argv(kind: str, run_dir: Path, args: dict[str, Any], job: int | None = None,
             handshake: bool = False) -> list[str]:
    """The command line that runs one job with this interpreter (its options were checked at submit)."""
    argv = [sys.executable, "-m", "engine.service.jobs", canonical(kind), str(run_dir), "--no-progress"]
    if job is not None:
        argv += ["--job", str(job)]
    if handshake:
        argv.append("--handshake")
    for key, value in args.items():
        argv += [f"--{key.replace('_', '-')}", as_text(value)]
    return argv


def warm_argv(argv: list[str]) -> list[str]:
    """A `job_argv` as the warm job server runs it: the arguments after the module, its own handshake instead."""
    return [a for a in argv[3:] if a != "--handshake"]


def result_path(run_dir: Path, kind: str, job: int) -> Path:
    return RunDir(run_dir).job_result(ALIASES.get(kind, kind), job)


def log_path(run_dir: Path, kind: str, job: int) -> Path:
    return RunDir(run_dir).job_log(ALIASES.get(kind, kind), job)


def progress_path(run_dir: Path, kind: str, job: int) -> Path:
    return RunDir(run_dir).job_progress(ALIASES.get(kind, kind), job)


def read_progress(path: Path) -> Progress | None:
    """The latest progress a job wrote; None when there is none yet (or it is being replaced)."""
    try:
        return Progress.model_validate_json(Path(path).read_bytes())
    except (OSError, ValueError):
        return None


def read_result(path: Path) -> dict[str, Any] | None:
    """A job's recorded outcome; None when it is missing or not one."""
    try:
        value = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) and isinstance(value.get("state"), str) else None


def parser(kind: str) -> argparse.ArgumentParser:
    """The command line of one kind: its run directory, the engine's flags and the spec's options."""
    out = argparse.ArgumentParser(prog=f"python -m engine.service.jobs {kind}")
    out.add_argument("run_dir", type=Path)
    out.add_argument("--job", type=int, help="job number given by the engine (names the result file)")
    out.add_argument("--handshake", action="store_true", help="wait for the engine's go on stdin")
    out.add_argument("--no-progress", action="store_true", help="no progress bars")
    for name in options_of(kind):
        out.add_argument(f"--{name.replace('_', '-')}", dest=name)
    return out


def _run(kind: str, spec: Any, report: ProcessReport) -> Outcome:
    """Run the job, turning whatever ends it into an outcome (a traceback goes to the log)."""
    try:
        return job_type(kind).run(spec, report)
    except JobCancelled:
        return Outcome("cancelled", "stopped by SIGTERM")
    except BaseException as err:  # the outcome is recorded whatever happened
        traceback.print_exc()
        if report.cancelled():
            return Outcome("cancelled", "stopped by SIGTERM")
        return Outcome("failed", str(err) if isinstance(err, WriteFailed) else f"{type(err).__name__}: {err}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or ALIASES.get(argv[0], argv[0]) not in KINDS:
        print(f"usage: python -m engine.service.jobs KIND RUN_DIR [options] (KIND: {', '.join(KINDS)}, train)",
              file=sys.stderr)
        return 2
    kind = canonical(argv[0])
    args = parser(kind).parse_args(argv[1:])
    if args.handshake:
        from engine.service.procs import wait_for_release

        if not wait_for_release():
            print("engine gone before the job started; nothing done", file=sys.stderr)
            return 5
    raw = {k: v for k in options_of(kind) if (v := getattr(args, k)) is not None}
    try:
        spec = make_spec(kind, args.run_dir, raw)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    progress_file = RunDir(args.run_dir).job_progress(kind, args.job) if args.job is not None else None
    report = ProcessReport(bars=not args.no_progress, progress_file=progress_file)
    report.listen()
    started = time.time()
    print(f"job {kind} {args.run_dir} {raw} started {time.ctime(started)}", flush=True)
    state, message = _run(kind, spec, report)
    if args.job is not None:
        from engine.rundir.disk import private_dir
        from engine.rundir.files import atomic_write_bytes

        outcome = {"state": state, "message": message, "started_at": started, "ended_at": time.time()}
        path = result_path(args.run_dir, kind, args.job)
        private_dir(path.parent)  # started by hand, the job has no log folder yet
        try:
            atomic_write_bytes(path, json.dumps(outcome).encode())
        except WriteFailed as err:
            print(f"job {kind}: outcome not recorded: {err}", flush=True)
    print(f"job {kind} ended: {state} {message}", flush=True)
    return 0 if state in ("done", "cancelled") else 1
