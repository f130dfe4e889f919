"""The engine process: one per runs directory, serving clients on `RUNS_DIR/.engine/engine.sock`.

`python -m engine.service.server --runs-dir DIR` runs it in the foreground; `--detach` starts it in the
background when none answers (its own session, output in `.engine/engine.log`), waits for its
hello and prints the socket path. It keeps no state the run directories and `.engine/queue.json`
and `.studies/` do not hold, so it can be killed at any time: jobs run on, and a new engine
re-attaches to them.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

from engine import config as config_mod
from engine.service import protocol
from engine.rundir import summary as runindex
from engine.service.connection import Connection
from engine.service.job_specs import check_args
from engine.service.enginedir import EngineRunning, acquire_lock, engine_paths, make_private_dir, socket_address
from engine.service import contract, slurm
from engine.service.contract import Job, Study
from engine.service.queue import JobQueue, device_slots
from engine.rundir.files import read_status
from engine.service.studies import Studies
from engine.rundir.follow import RunWatch
from engine.rundir.layout import RunDir

log = logging.getLogger("engine.service.server")


class Engine:
    """Job queue, studies and clients of one runs directory."""

    def __init__(self, runs_dir: Path, max_jobs: int | None = None, grace_s: float = 30.0,
                 poll_s: float = 0.25) -> None:
        self.paths = engine_paths(runs_dir)
        self.poll_s = poll_s
        self.queue = JobQueue(self.paths, device_slots(max_jobs), grace_s, on_change=self._job_changed)
        self.studies = Studies(self.paths, self.queue, on_change=self._study_changed)
        self.connections: set[Connection] = set()
        self.watches: dict[str, RunWatch] = {}
        self._client_tasks: set[asyncio.Task] = set()
        self._stop: asyncio.Event | None = None

    # ---- life ----------------------------------------------------------------------------------------
    async def serve(self) -> None:
        """Take the lock, recover, listen, and tick until shutdown or SIGTERM/SIGINT."""
        lock_fd = acquire_lock(self.paths)  # raises EngineRunning
        self._stop = asyncio.Event()
        try:
            make_private_dir(self.paths.dir)
            self.queue.load()
            self.studies.load()
            self.queue.recover()
            self.studies.reconcile()
            self.paths.socket.unlink(missing_ok=True)
            with socket_address(self.paths.socket) as address:
                server = await asyncio.start_unix_server(self._client, path=address, limit=protocol.MAX_LINE + 1)
            os.chmod(self.paths.socket, 0o600)
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self._stop.set)
            log.info("engine %d ready on %s (slots: %s)", os.getpid(), self.paths.socket, ", ".join(self.queue.slots))
            while not self._stop.is_set():
                self._tick()
                try:
                    await asyncio.wait_for(self._stop.wait(), self.poll_s)
                except asyncio.TimeoutError:
                    pass
            server.close()
            await asyncio.gather(*(c.flush() for c in list(self.connections)))
            for conn in list(self.connections):
                conn.close()
            if self._client_tasks:
                await asyncio.wait(self._client_tasks, timeout=2.0)
            log.info("engine stopped; %d job(s) keep running", len(self.queue.running()))
        finally:
            self.queue.warm.close()
            self.paths.socket.unlink(missing_ok=True)
            os.close(lock_fd)

    def _tick(self) -> None:
        try:
            self.queue.tick()
        except OSError:
            log.exception("queue tick failed")
        for run, watch in list(self.watches.items()):
            subscribers = [c for c in self.connections if run in c.cursors]
            if not subscribers:
                del self.watches[run]
                continue
            status, events_changed = watch.poll()
            for conn in subscribers:
                if events_changed:
                    conn.events_changed()
                if status is not None:
                    conn.push_status(run, status)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Connection(reader, writer, self._dispatch)
        task = asyncio.current_task()
        self.connections.add(conn)
        self._client_tasks.add(task)
        try:
            await conn.serve()
        finally:
            self.connections.discard(conn)
            self._client_tasks.discard(task)

    def _broadcast(self, message: dict[str, Any]) -> None:
        for conn in list(self.connections):
            if conn.greeted:
                conn.send(message)

    def _job_changed(self, job: Job) -> None:
        self._broadcast({"type": "job", "job": job.model_dump()})
        self.studies.job_changed(job)

    def _study_changed(self, study: Study) -> None:
        self._broadcast({"type": "study", "study": study.model_dump()})

    # ---- requests ------------------------------------------------------------------------------------
    def _dispatch(self, conn: Connection, request: protocol.Request) -> dict[str, Any]:
        return getattr(self, f"_on_{request.type}")(conn, request)

    def _run_dir(self, run: str) -> Path:
        path = self.paths.runs_dir / runindex.check_id(run)
        if not path.is_dir():
            raise ValueError(f"no run {run!r} in {self.paths.runs_dir}")
        return path

    def _on_hello(self, conn: Connection, req: protocol.Hello) -> dict[str, Any]:
        if req.version != protocol.PROTOCOL_VERSION:
            raise ValueError(f"protocol version {req.version} not supported (this engine speaks "
                             f"{protocol.PROTOCOL_VERSION})")
        conn.greeted = True
        return {"version": protocol.PROTOCOL_VERSION, "engine_pid": os.getpid(), "runs_dir": str(self.paths.runs_dir),
                "slots": self.queue.slots, **protocol.forms_info()}

    def _active_job(self, run: str) -> Job | None:
        """The run's running job, else its first queued one."""
        active = sorted(self.queue.active_for(run), key=lambda j: (j.state != "running", j.n))
        return active[0] if active else None

    def _on_list_runs(self, conn: Connection, req: protocol.ListRuns) -> dict[str, Any]:
        runs = [contract.RunSummary(**run, job=self._active_job(run["run"]))
                for run in runindex.list_runs(self.paths.runs_dir)]
        return contract.RunsResult(runs=runs).model_dump()

    def _on_get_run(self, conn: Connection, req: protocol.GetRun) -> dict[str, Any]:
        details = runindex.run_details(self._run_dir(req.run))
        jobs = [j for j in self.queue.jobs.values() if j.run == req.run]
        return contract.RunResult(run=contract.RunDetails(**details, job=self._active_job(req.run), jobs=jobs)) \
            .model_dump()

    def _on_list_jobs(self, conn: Connection, req: protocol.ListJobs) -> dict[str, Any]:
        return {"jobs": [j.model_dump() for j in self.queue.jobs.values()]}

    def _on_list_studies(self, conn: Connection, req: protocol.ListStudies) -> dict[str, Any]:
        return {"studies": [s.model_dump() for s in self.studies.studies.values()]}

    def _on_get_study(self, conn: Connection, req: protocol.GetStudy) -> dict[str, Any]:
        return {"study": self.studies.get(req.study).model_dump()}

    def _on_submit(self, conn: Connection, req: protocol.Submit) -> dict[str, Any]:
        check_args(req.kind, req.args)  # the one check of a job's options: the queue and the job trust them
        where = {"launcher": req.launcher, "slurm_options": slurm.options_for(self.paths.runs_dir, req.slurm)
                 if req.launcher == "slurm" else None}
        if req.kind != "pretrain":
            if req.run is None:
                raise ValueError(f"{req.kind} needs the run to work on")
            if req.config:
                raise ValueError("config applies to pretrain only")
            self._run_dir(req.run)
            return {"job": self.queue.submit(req.kind, req.run, req.args, **where).model_dump()}
        from engine.service.preflight import check_run

        cfg = config_mod.build(req.preset, overrides=req.config)
        check_run(cfg, here=req.launcher == "local")  # before the run folder exists: a refused job leaves none
        run = req.run or self._new_run_id(cfg.method)
        config_mod.prepare_run(cfg, self.paths.runs_dir / run)
        return {"job": self.queue.submit("pretrain", run, req.args, **where).model_dump()}

    def _new_run_id(self, method: str) -> str:
        base = f"{method}-{time.strftime('%Y%m%d-%H%M%S')}"
        run, n = base, 2
        while (self.paths.runs_dir / run).exists():
            run, n = f"{base}-{n}", n + 1
        return run

    def _on_submit_study(self, conn: Connection, req: protocol.SubmitStudy) -> dict[str, Any]:
        return {"study": self.studies.create(req).model_dump()}

    def _on_cancel(self, conn: Connection, req: protocol.Cancel) -> dict[str, Any]:
        if req.study is not None:
            return {"jobs": self.studies.cancel(req.study)}
        self._run_dir(req.run)
        active = self.queue.active_for(req.run)
        if not active:
            raise ValueError(f"run {req.run!r} has no queued or running job")
        return {"jobs": [j.id for j in active if self.queue.cancel(j)]}

    def _on_resume(self, conn: Connection, req: protocol.Resume) -> dict[str, Any]:
        if req.study is not None:
            queued = self.studies.resume(req.study)
        else:
            self._run_dir(req.run)
            if self.queue.active_for(req.run):
                raise ValueError(f"run {req.run!r} already has a job queued or running")
            found = self.studies.find_branch(req.run)
            if found is not None:
                queued = self.studies.resume(found[0].id, run=req.run)
            elif read_status(self.paths.runs_dir / req.run).get("state") == "done":
                queued = []
            else:
                last = max((j for j in self.queue.jobs.values() if j.run == req.run), key=lambda j: j.n, default=None)
                where = {"launcher": last.launcher, "slurm_options": last.slurm} if last is not None else {}
                queued = [self.queue.submit("pretrain", req.run, **where).id]  # where its last job ran
        if not queued:
            raise ValueError(f"nothing to resume in {req.study or req.run!r}: finished, or already queued or running")
        return {"jobs": queued}

    def _on_delete(self, conn: Connection, req: protocol.Delete) -> dict[str, Any]:
        if req.study is not None:
            deleted = self.studies.delete(req.study)
        else:
            run_dir = self._run_dir(req.run)
            status = read_status(run_dir)
            if self.queue.active_for(req.run) or (status.get("state") == "running" and _pid_alive(status.get("pid"))):
                raise ValueError(f"run {req.run!r} is queued or running; cancel it first")
            shutil.rmtree(run_dir)
            self.studies.forget_run(req.run)
            deleted = [req.run]
        for conn_ in self.connections:
            for run in deleted:
                conn_.unsubscribe(run)
        return {"deleted": deleted}

    def _on_subscribe(self, conn: Connection, req: protocol.Subscribe) -> dict[str, Any]:
        run_dir = self._run_dir(req.run)
        if req.run not in self.watches:
            self.watches[req.run] = RunWatch(run_dir)
        offset = conn.subscribe(req.run, RunDir(run_dir).events, req.from_offset)
        return contract.SubscribeResult(run=req.run, offset=offset, status=self.watches[req.run].status).model_dump()

    def _on_unsubscribe(self, conn: Connection, req: protocol.Unsubscribe) -> dict[str, Any]:
        conn.unsubscribe(req.run)
        return {"run": req.run}

    def _on_shutdown(self, conn: Connection, req: protocol.Shutdown) -> dict[str, Any]:
        self._stop.set()
        return {"stopping": True}


def _pid_alive(pid: Any) -> bool:
    from engine.service.procs import start_ticks

    return isinstance(pid, int) and start_ticks(pid) is not None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.service.server", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from engine.service.enginedir import default_runs_dir

    parser.add_argument("--runs-dir", type=Path, default=None, help=f"runs directory (default: {default_runs_dir()})")
    parser.add_argument("--detach", action="store_true",
                        help="start in the background unless one runs; print the socket path")
    parser.add_argument("--max-jobs", type=int, default=None, help="jobs at once (default: one per GPU, else one)")
    parser.add_argument("--grace", type=float, default=30.0, help="seconds between SIGTERM and SIGKILL on cancel")


def run_from_args(args: argparse.Namespace) -> int:
    from engine.service.enginedir import default_runs_dir

    runs_dir = Path(args.runs_dir) if args.runs_dir else default_runs_dir()
    if args.max_jobs is not None and args.max_jobs < 1:
        print("--max-jobs must be >= 1", file=sys.stderr)
        return 2
    if args.detach:
        from engine.service.client import ensure_engine

        extra = (["--max-jobs", str(args.max_jobs)] if args.max_jobs else []) + ["--grace", str(args.grace)]
        print(ensure_engine(runs_dir, extra_args=extra))
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        asyncio.run(Engine(runs_dir, args.max_jobs, args.grace).serve())
    except EngineRunning as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
