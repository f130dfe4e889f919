"""`mvssl engine`, `mvssl runs ...` and `mvssl study ...`: the engine process and what runs in it."""
from __future__ import annotations

import argparse
import importlib
import json
import time
from pathlib import Path
from typing import Any, Callable

from engine.config import PROBE_PROTOCOLS


def _runs_dir(args: argparse.Namespace) -> Path:
    from engine.service.enginedir import default_runs_dir

    return Path(args.runs_dir) if args.runs_dir else default_runs_dir()


def _engine(args: argparse.Namespace):
    """A client of the runs directory's engine, started when none answers."""
    from engine.service.client import BlockingClient, ensure_engine

    extra = ["--max-jobs", str(args.max_jobs)] if getattr(args, "max_jobs", None) else []
    return BlockingClient(ensure_engine(_runs_dir(args), extra_args=extra))


def _call(args: argparse.Namespace, type: str, **fields: Any) -> dict[str, Any]:
    from engine.service.client import EngineError

    with _engine(args) as engine:
        try:
            return engine.request(type, **fields)
        except EngineError as err:
            raise ValueError(str(err)) from None


def _target(args: argparse.Namespace) -> dict[str, str]:
    if (args.run is None) == (args.study is None):
        raise ValueError("give a RUN or --study ID")
    return {"run": args.run} if args.run else {"study": args.study}


# ---- engine ------------------------------------------------------------------------------------------
def _cmd_engine(args: argparse.Namespace) -> int:
    from engine.service import client
    from engine.service import server

    if args.action == "stop":
        stopped = client.stop_engine(_runs_dir(args))
        print("engine stopped" if stopped else f"no engine running for {_runs_dir(args)}")
        return 0
    if args.action == "status":
        info = client.ping(_runs_dir(args))
        if info is None:
            print(f"no engine running for {_runs_dir(args)}")
            return 1
        print(f"engine pid {info['engine_pid']} on {info['runs_dir']} (slots: {', '.join(info['slots'])})")
        return 0
    return server.run_from_args(args)


# ---- runs --------------------------------------------------------------------------------------------
def _cmd_runs_list(args: argparse.Namespace) -> int:
    from engine.service import client
    from engine.rundir import summary as runindex

    runs_dir = _runs_dir(args)
    if client.ping(runs_dir) is not None:
        runs = _call(args, "list_runs")["runs"]
    else:  # no engine: read the run directories directly
        runs = runindex.list_runs(runs_dir)
    if args.json:
        print(json.dumps(runs, indent=1))
        return 0
    if not runs:
        print(f"no runs in {runs_dir}")
        return 0
    print(f"{'RUN':<36} {'STATE':<12} {'METHOD':<20} {'STEP':>13}  {'STUDY':<24} MESSAGE")
    for r in runs:
        step = f"{r['step']}/{r['total_steps']}" if r["total_steps"] else str(r["step"])
        job = r.get("job")
        state = f"{r['state']}" + (f" [{job['kind']}]" if job and job["kind"] != "pretrain" else "")
        print(f"{r['run']:<36} {state:<12} {r['method']:<20} {step:>13}  {r['study']:<24} {r['message'][:60]}")
    return 0


def _cmd_runs_show(args: argparse.Namespace) -> int:
    from engine.service import client
    from engine.rundir import summary as runindex

    runs_dir = _runs_dir(args)
    if client.ping(runs_dir) is not None:
        details = _call(args, "get_run", run=args.run)["run"]
    else:
        run_dir = runindex.run_path(runs_dir, args.run)
        if not run_dir.is_dir():
            raise ValueError(f"no run {args.run!r} in {runs_dir}")
        details = runindex.run_details(run_dir)
    if args.json:
        print(json.dumps(details, indent=1))
        return 0
    for key in ("run", "state", "method", "corpus", "study", "message", "path"):
        print(f"{key:<12} {details.get(key, '')}")
    print(f"{'step':<12} {details['step']}/{details['total_steps']}")
    print(f"{'checkpoints':<12} {', '.join(details['checkpoints']) or '-'}")
    print(f"{'embeddings':<12} {'yes' if details['embeddings'] else 'no'}")
    for job in details.get("jobs", []):
        print(f"  job {job['id']:<6} {job['kind']:<9} {job['state']:<12} {job['message']}")
    return 0


def _target_command(request: str, key: str, say: Callable[[list[str]], str]) -> Callable[[argparse.Namespace], int]:
    """`mvssl runs cancel|resume|delete RUN | --study ID`: one request, one line saying what it did."""
    def command(args: argparse.Namespace) -> int:
        print(say(_call(args, request, **_target(args))[key]))
        return 0
    return command


_cmd_runs_cancel = _target_command("cancel", "jobs",
                                   lambda ids: f"cancelling {len(ids)} job(s): {', '.join(ids) or '-'}")
_cmd_runs_resume = _target_command("resume", "jobs", lambda ids: f"queued {len(ids)} job(s): {', '.join(ids)}")
_cmd_runs_delete = _target_command("delete", "deleted", lambda runs: f"deleted {', '.join(runs) or 'nothing'}")


def _cmd_runs_studies(args: argparse.Namespace) -> int:
    studies = _call(args, "list_studies")["studies"]
    if args.json:
        print(json.dumps(studies, indent=1))
        return 0
    for s in studies:
        steps = [st for b in s["branches"] for st in b["steps"]]
        done = sum(st["state"] == "done" for st in steps)
        print(f"{s['id']:<32} {s['state']:<12} {done}/{len(steps)} steps  "
              f"methods: {', '.join(s['spec']['methods'])}")
    return 0


# ---- study -------------------------------------------------------------------------------------------
def _csv(text: str) -> list[str]:
    return [v.strip() for v in text.split(",") if v.strip()]


def _cmd_study(args: argparse.Namespace) -> int:
    from engine.service.client import EngineError
    from engine.config import parse_set

    from engine.evaluation.seeds import seed_values

    values = parse_set(args.set or [])
    if args.official:
        values["official"] = "true"
    seeds = [int(v) for v in _csv(args.seed_list)] if args.seed_list else seed_values(args.seeds)
    request = {"methods": _csv(args.methods), "corpus": args.corpus, "preset": args.preset,
               "config": values, "seeds": seeds,
               "stages": _csv(args.stages), "tasks": _csv(args.tasks),
               "fractions": [float(f) for f in _csv(args.fractions)], "draws": args.draws}
    if args.probe != "ours":
        request["options"] = {"probe": {"protocol": args.probe}}
    if args.name:
        request["name"] = args.name
    if args.launcher == "slurm":
        from engine.cli.slurm_args import options_from

        request["launcher"] = "slurm"
        request["slurm"] = options_from(args, _runs_dir(args)).model_dump()
    with _engine(args) as engine:
        try:
            study = engine.request("submit_study", **request)["study"]
        except EngineError as err:
            raise ValueError(str(err)) from None
        runs = [b["run"] for b in study["branches"]]
        print(f"study {study['id']}: {len(runs)} run(s): {', '.join(runs)}")
        if args.detach:
            print(f"detached; follow with `mvssl runs list`, stop with `mvssl runs cancel --study {study['id']}`")
            return 0
        for run in runs:
            engine.request("subscribe", run=run)
        try:
            return _follow(engine, study["id"])
        except KeyboardInterrupt:
            print(f"\ndetached; the study goes on in the engine (`mvssl runs cancel --study {study['id']}` stops it)")
            return 130


def _follow(engine: Any, study_id: str) -> int:
    """Print job changes, and each job's progress every few seconds, until the study ends."""
    from engine.service import contract

    last_print: dict[str, float] = {}
    states: dict[str, str] = {}
    while True:
        message = engine.next_push(timeout=3600)
        if message is None:
            continue
        push = contract.parse_push(message)
        now = time.strftime("%H:%M:%S")
        if isinstance(push, contract.JobPush) and push.job.study == study_id:
            job = push.job
            if states.get(job.id) != job.state:
                states[job.id] = job.state
                print(f"{now} {job.run}: {job.kind} {job.state}" + (f" ({job.message})" if job.message else ""),
                      flush=True)
            elif job.progress is not None and time.monotonic() - last_print.get(job.id, 0) > 5:
                last_print[job.id] = time.monotonic()
                print(f"{now} {job.run}: {job.progress.phrase}", flush=True)
        elif isinstance(push, contract.StudyPush) and push.study.id == study_id \
                and push.study.state in contract.FINAL_STATES:
            print(f"study {study_id}: {push.study.state}")
            return 0 if push.study.state == "done" else 1


# ---- registration ------------------------------------------------------------------------------------
def _add_runs_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs-dir", help="runs directory (default: $MVSSL_RUNS_DIR or the user data dir)")


def register(sub: argparse._SubParsersAction) -> None:
    """Add `engine`, `runs` and `study` to the `mvssl` parser."""
    from engine.service import protocol
    from engine.service import server

    engine = sub.add_parser("engine", help="the background engine of a runs directory")
    engine.add_argument("action", nargs="?", choices=["start", "stop", "status"], default="start")
    server.add_arguments(engine)
    engine.set_defaults(handler=_cmd_engine)

    runs = sub.add_parser("runs", help="list, inspect, cancel, resume or delete runs and studies")
    rsub = runs.add_subparsers(dest="runs_command", required=True)
    for name, handler, help_text in (("list", _cmd_runs_list, "every run and its state"),
                                     ("studies", _cmd_runs_studies, "every study and its state")):
        p = rsub.add_parser(name, help=help_text)
        p.add_argument("--json", action="store_true")
        _add_runs_dir(p)
        p.set_defaults(handler=handler)
    show = rsub.add_parser("show", help="one run: status, checkpoints, jobs")
    show.add_argument("run")
    show.add_argument("--json", action="store_true")
    _add_runs_dir(show)
    show.set_defaults(handler=_cmd_runs_show)
    for name, handler, help_text in (("cancel", _cmd_runs_cancel, "stop a run's job (it checkpoints first)"),
                                     ("resume", _cmd_runs_resume, "continue from the last checkpoint or step"),
                                     ("delete", _cmd_runs_delete, "delete a run or a study (not while running)")):
        p = rsub.add_parser(name, help=help_text)
        p.add_argument("run", nargs="?", help="run id")
        p.add_argument("--study", help="the study's id instead of a run")
        _add_runs_dir(p)
        p.set_defaults(handler=handler)

    study = sub.add_parser("study", help="pre-train, embed, diagnose, project and probe one run per method")
    study.add_argument("--methods", required=True, help="comma-separated: " + ", ".join(_methods()))
    study.add_argument("--corpus", default="demo", help="corpus SOURCE (default: demo)")
    study.add_argument("--preset", choices=["demo", "paper"], default="demo")
    study.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one config field")
    study.add_argument("--seeds", type=int, default=1, metavar="N",
                       help="train every method with N seeds (0 .. N-1): one run per method and seed (default 1)")
    study.add_argument("--seed-list", metavar="S,S,...", help="these seeds instead of 0 .. N-1")
    study.add_argument("--probe", choices=PROBE_PROTOCOLS, default="ours", help="probe protocol (default ours)")
    study.add_argument("--official", action="store_true",
                       help="train with the official code's behaviour (config official = true)")
    study.add_argument("--stages", default=",".join(protocol.JOB_KINDS), help="pipeline stages to run")
    study.add_argument("--tasks", default=",".join(protocol.DEMO_TASKS), help="probe tasks")
    study.add_argument("--fractions", default=",".join(f"{f:g}" for f in protocol.DEFAULT_FRACTIONS),
                       help="probe training-data fractions in percent")
    study.add_argument("--draws", type=int, default=4, help="probe draws per fraction below 100 %%")
    study.add_argument("--name", help="study id (default: study-DATE-TIME)")
    study.add_argument("--detach", action="store_true", help="submit and return; the engine carries on")
    study.add_argument("--max-jobs", type=int, help="jobs at once when this starts the engine")
    study.add_argument("--launcher", choices=["local", "slurm"], default="local",
                       help="where every job runs: the engine's machine, or one Slurm job each")
    importlib.import_module("engine.cli.slurm_args").add_arguments(study, detach=False)
    _add_runs_dir(study)
    study.set_defaults(handler=_cmd_study)


def _methods() -> tuple[str, ...]:
    from engine.methods import METHODS

    return METHODS
