"""The job queue: records persisted in `.engine/queue.json`, one job per device slot, start/watch/cancel/recover.

Every job is its own process in its own session (`python -m engine.service.jobs ...`, or for evaluation jobs
forked by the warm job server once it is warm: engine.service.warm_jobs), so it outlives the engine. A running job is known by pid + process start time; after a restart the engine re-attaches
to the ones still alive and marks the others from their result file, or `interrupted`.

A job with launcher slurm is a Slurm job instead (engine.service.slurm): it takes no device slot, is known by
its Slurm job id, follows Slurm's state (polled every few seconds) and is cancelled with `scancel`.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

from pydantic import ValidationError

from engine.service import jobs, procs, slurm
from engine.service.contract import ACTIVE_STATES, Job, Launcher, known_fields
from engine.service.enginedir import EnginePaths
from engine.service.warm_jobs import WARM_KINDS, WarmJobs
from engine.rundir.files import FINAL_STATES, atomic_write_bytes, read_status, write_status
from engine.rundir.layout import RunDir
from engine.training.slurm_options import SlurmOptions

log = logging.getLogger("engine.queue")

KEEP_FINISHED = 1000  # finished job records kept in queue.json
SLURM_POLL_S = 2.0  # seconds between two questions to Slurm about the engine's jobs
DETACHED_POLL_S = 30.0  # seconds between two looks for runs sent to Slurm outside the engine


def visible_gpus() -> list[str]:
    """GPU indices this process may use, without importing torch (CUDA_VISIBLE_DEVICES, else the driver)."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g.strip() for g in env.split(",") if g.strip() and g.strip() != "-1"]
    try:
        return [str(i) for i in range(len(os.listdir("/proc/driver/nvidia/gpus")))]
    except OSError:
        return []


def device_slots(max_jobs: int | None = None) -> list[str]:
    """One slot per GPU (`gpu:<index>`), or `max_jobs` CPU slots (default one) on a machine without GPU."""
    gpus = visible_gpus()
    if gpus:
        return [f"gpu:{g}" for g in gpus][: max_jobs or None]
    return [f"cpu:{i}" for i in range(max_jobs or 1)]


class JobQueue:
    """Queued and running jobs; `tick()` watches processes and starts queued jobs on free slots."""

    def __init__(self, paths: EnginePaths, slots: list[str], grace_s: float = 30.0,
                 on_change: Callable[[Job], None] = lambda job: None) -> None:
        self.paths, self.slots, self.grace_s, self.on_change = paths, slots, grace_s, on_change
        self.jobs: dict[str, Job] = {}
        self._next = 1
        self._procs: dict[str, subprocess.Popen] = {}  # children of this engine (not re-attached ones)
        self.warm = WarmJobs(paths.dir / "warm-jobs.log")
        self._slurm_polled = self._detached_polled = 0.0

    # ---- persistence ---------------------------------------------------------------------------------
    def load(self) -> None:
        try:
            data = json.loads(self.paths.queue.read_text())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as err:
            aside = self.paths.queue.with_name(f"queue.json.broken-{int(time.time())}")
            log.warning("%s unreadable (%s); moved to %s, starting empty", self.paths.queue, err, aside.name)
            self.paths.queue.replace(aside)
            return
        for raw in data.get("jobs", []) if isinstance(data, dict) else []:
            try:
                job = Job.model_validate(known_fields(Job, raw) if isinstance(raw, dict) else raw)
            except ValidationError as err:
                log.warning("skipping a broken job record in queue.json: %s", str(err).splitlines()[0])
                continue
            self.jobs[job.id] = job
        self._next = max([data.get("next", 1) if isinstance(data.get("next"), int) else 1]
                         + [j.n + 1 for j in self.jobs.values()])

    def save(self) -> None:
        finished = [j for j in self.jobs.values() if not j.active]
        for job in finished[: max(0, len(finished) - KEEP_FINISHED)]:
            del self.jobs[job.id]
        data = {"version": 1, "next": self._next, "jobs": [j.model_dump() for j in self.jobs.values()]}
        atomic_write_bytes(self.paths.queue, json.dumps(data, indent=1).encode())

    def _changed(self, job: Job) -> None:
        self.save()
        self.on_change(job)

    # ---- queries -------------------------------------------------------------------------------------
    def get(self, job_id: str | None) -> Job | None:
        return self.jobs.get(job_id) if job_id else None

    def active_for(self, run: str) -> list[Job]:
        return [j for j in self.jobs.values() if j.run == run and j.active]

    def running(self) -> list[Job]:
        """Local jobs running in a device slot."""
        return [j for j in self.jobs.values() if j.state == "running" and j.launcher == "local"]

    def on_slurm(self) -> list[Job]:
        """Slurm jobs submitted and not settled yet (pending, running or requeued there)."""
        return [j for j in self.jobs.values() if j.launcher == "slurm" and j.slurm_job_id and j.active]

    def _started(self, job: Job) -> bool:
        return job.active and (job.slurm_job_id is not None if job.launcher == "slurm" else job.state == "running")

    # ---- commands ------------------------------------------------------------------------------------
    def submit(self, kind: str, run: str, args: dict[str, Any] | None = None, study: str | None = None,
               step: int | None = None, launcher: Launcher = "local", slurm_options: SlurmOptions | None = None) -> Job:
        """Queue a job on an existing run directory; its options were checked where it was submitted
        (engine.service.server for a job, protocol.SubmitStudy for a study's steps)."""
        if (launcher == "slurm") != (slurm_options is not None):
            raise ValueError("a Slurm job needs its Slurm options, and only a Slurm job takes them")
        args = dict(args or {})
        run_dir = self.paths.runs_dir / run
        if not RunDir(run_dir).config.exists() and not RunDir(run_dir).status.exists():
            raise ValueError(f"run {run!r} does not exist in {self.paths.runs_dir}")
        n, self._next = self._next, self._next + 1
        job = Job(id=f"j{n}", n=n, kind=kind, run=run, args=args, study=study, step=step, submitted_at=time.time(),
                  log=str(jobs.log_path(run_dir, kind, n)), launcher=launcher, slurm=slurm_options)
        if kind in WARM_KINDS and launcher == "local":
            self.warm.prewarm()
        if not self.active_for(run) and read_status(run_dir).get("state") != "done":
            self._run_status(job, "queued", "queued")
        self.jobs[job.id] = job
        self._changed(job)
        return job

    def cancel(self, job: Job) -> bool:
        """Dequeue a queued job, or SIGTERM a running one's process group (SIGKILL after the grace time);
        `scancel` a Slurm job (Slurm sends SIGTERM, and SIGKILL after its KillWait)."""
        if not self._started(job) and job.state == "queued":
            self._end(job, "cancelled", "cancelled before it started")
            return True
        if job.launcher == "slurm":
            if job.active and job.cancel_at is None:
                job.cancel_at = time.time()
                slurm.cancel(job.slurm_job_id)
                self._changed(job)
            return job.active
        if job.state != "running" or job.cancel_at is not None:
            return job.state == "running"
        job.cancel_at = time.time()
        procs.signal_group(job.pid, job.start_ticks, signal.SIGTERM)
        self._changed(job)
        return True

    def recover(self) -> None:
        """After a restart: re-attach to live jobs, settle the dead ones, mark runs left `running` interrupted."""
        for job in list(self.jobs.values()):
            if job.state != "running" or job.launcher == "slurm":  # Slurm jobs: the next poll follows them
                continue
            if procs.is_alive(job.pid, job.start_ticks):
                log.info("re-attached to job %s (%s of %s, pid %s)", job.id, job.kind, job.run, job.pid)
            else:
                self._finish(job, None)
        busy = {j.run for j in self.jobs.values() if j.active}
        for run_dir in sorted(p for p in self.paths.runs_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
            status = read_status(run_dir)
            if status.get("state") != "running" or run_dir.name in busy or status.get("slurm_job_id"):
                continue  # a run sent to Slurm outside the engine: settle_detached() follows it
            pid = status.get("pid")
            alive = isinstance(pid, int) and procs.start_ticks(pid) is not None
            if alive and run_dir.name in " ".join(procs.cmdline(pid)):
                continue  # trained by a live process outside the engine (`mvssl train --run-dir ...`)
            write_status(run_dir, "interrupted", message="its process ended without a final state; resumable")
        self.settle_detached()

    def settle_detached(self) -> None:
        """Settle the runs sent to Slurm outside the engine (engine.service.slurm.settle_detached)."""
        self._detached_polled = time.time()
        slurm.settle_detached(self.paths.runs_dir, busy={j.run for j in self.jobs.values() if j.active})

    def tick(self) -> None:
        """Settle ended jobs, escalate overdue cancels to SIGKILL, follow Slurm jobs, start queued jobs on free
        slots (Slurm jobs: submit them)."""
        now = time.time()
        for job in self.running():
            self._read_progress(job)
            proc = self._procs.get(job.id)
            code = proc.poll() if proc is not None else None
            ended = code is not None if proc is not None else not procs.is_alive(job.pid, job.start_ticks)
            if ended:
                self._finish(job, code)
            elif job.cancel_at is not None and now - job.cancel_at > self.grace_s:
                log.warning("job %s ignored SIGTERM for %.0f s: SIGKILL", job.id, now - job.cancel_at)
                procs.signal_group(job.pid, job.start_ticks, signal.SIGKILL)
        self._tick_slurm(now)
        self.warm.close_if_idle(busy=any(j.kind in WARM_KINDS or j.study for j in self.jobs.values() if j.active))
        started = [j for j in self.jobs.values() if self._started(j)]
        free = [s for s in self.slots if s not in {j.slot for j in started}]
        busy_runs = {j.run for j in started}
        for job in sorted((j for j in self.jobs.values() if j.state == "queued" and not self._started(j)),
                          key=lambda j: j.n):
            if job.run in busy_runs:
                continue
            if job.launcher == "slurm":
                self._submit_slurm(job)
            elif free:
                self._start(job, free.pop(0))
            else:
                continue
            busy_runs.add(job.run)

    # ---- Slurm jobs ----------------------------------------------------------------------------------
    def _tick_slurm(self, now: float) -> None:
        """Take the progress of Slurm jobs; every few seconds, their state from Slurm."""
        submitted = self.on_slurm()
        for job in submitted:
            self._read_progress(job)
        if now - self._detached_polled > DETACHED_POLL_S:
            self.settle_detached()
        if not submitted or now - self._slurm_polled < SLURM_POLL_S:
            return
        self._slurm_polled = now
        states = slurm.poll([j.slurm_job_id for j in submitted])
        for job in submitted:
            if job.slurm_job_id in states:
                self._follow_slurm(job, states[job.slurm_job_id])

    def _follow_slurm(self, job: Job, state: slurm.SlurmState | None) -> None:
        """Pending: queued (requeued once it ran); running; ended: settled like a local job that exited."""
        if slurm.has_ended(state):
            job.slurm_state = state.state if state is not None else job.slurm_state
            self._finish(job, None)
            return
        ran = job.state in ("running", "requeued")
        new = ("requeued" if ran else "queued") if slurm.is_pending(state) else "running"
        if (new, state.state, state.nodes or job.node) != (job.state, job.slurm_state, job.node):
            job.state, job.slurm_state, job.node = new, state.state, state.nodes or job.node
            self._changed(job)

    def _submit_slurm(self, job: Job) -> None:
        run_dir = self.paths.runs_dir / job.run
        try:
            job.slurm_job_id = slurm.submit(job, run_dir, job.slurm)
        except Exception as err:  # sbatch's refusal comes as submitit's own error types
            said = str(err).strip().splitlines()
            message = f"could not submit to Slurm: {said[-1][:300] if said else repr(err)}"
            self._run_status(job, "failed", message)
            self._end(job, "failed", message)
            return
        job.slot, job.slurm_state, job.started_at = "slurm", "PENDING", time.time()
        self._changed(job)
        log.info("submitted job %s: %s of %s as Slurm job %s", job.id, job.kind, job.run, job.slurm_job_id)

    # ---- process life --------------------------------------------------------------------------------
    def _start(self, job: Job, slot: str) -> None:
        run_dir = self.paths.runs_dir / job.run
        env = {"PYTHONUNBUFFERED": "1"}  # the log shows progress as it happens
        if slot.startswith("gpu:"):
            env["CUDA_VISIBLE_DEVICES"] = slot.split(":", 1)[1]
        proc = None
        try:
            argv = jobs.job_argv(job.kind, run_dir, job.args, job=job.n, handshake=True)
            pid = self.warm.spawn(jobs.warm_argv(argv), Path(job.log), env) if job.kind in WARM_KINDS else None
            if pid is None:
                proc = procs.spawn_detached(argv, Path(job.log), env, handshake=True)
                pid = proc.pid
        except (OSError, ValueError) as err:
            self._end(job, "failed", f"could not start: {err}")
            return
        job.state, job.slot, job.pid, job.started_at = "running", slot, pid, time.time()
        job.start_ticks = procs.start_ticks(pid)
        if proc is not None:
            self._procs[job.id] = proc
        self._changed(job)  # on record before the job does anything
        if proc is not None:
            procs.release(proc)
        else:
            self.warm.release(pid)
        log.info("started job %s: %s of %s on %s (pid %s%s)", job.id, job.kind, job.run, slot, pid,
                 "" if proc is not None else ", forked warm")

    def _finish(self, job: Job, exit_code: int | None) -> None:
        """Decide how a job ended: its result file, else its exit, else `interrupted` (killed)."""
        self._procs.pop(job.id, None)
        run_dir = self.paths.runs_dir / job.run
        result = jobs.read_result(jobs.result_path(run_dir, job.kind, job.n))
        status = read_status(run_dir)
        keeps_status = jobs.job_type(job.kind).keeps_status
        self._read_progress(job)
        if result is not None:
            state, message = result["state"], str(result.get("message", ""))
        elif keeps_status and status.get("state") in FINAL_STATES and status.get("state") != "interrupted" \
                and (status.get("updated_at") or 0) >= (job.started_at or 0):
            state, message = status["state"], str(status.get("message") or "")
        elif job.cancel_at is not None:
            state, message = "cancelled", ("cancelled with scancel" if job.launcher == "slurm"
                                           else "killed after the cancel grace time")
        elif job.slurm_state in slurm.ENDED:
            state = slurm.ENDED[job.slurm_state]
            message = f"Slurm job {job.slurm_job_id} ended {job.slurm_state} without a result; see {job.log}"
        elif exit_code is not None and exit_code > 0:
            state, message = "failed", f"exit status {exit_code}; see {job.log}"
        else:
            state, message = "interrupted", "the job process ended without a result (killed?); resumable"
        job.exit_code = exit_code
        if status.get("state") in ACTIVE_STATES and state != "done":
            self._run_status(job, state, message)
        self._end(job, state, message)

    def _end(self, job: Job, state: str, message: str) -> None:
        if state == "cancelled" and job.pid is None and read_status(self.paths.runs_dir / job.run).get("state") \
                == "queued":
            self._run_status(job, "cancelled", message)
        job.state, job.message, job.ended_at = state, message, time.time()
        log.info("job %s (%s of %s) ended: %s %s", job.id, job.kind, job.run, state, message)
        self._changed(job)

    def _run_status(self, job: Job, state: str, message: str) -> None:
        """Set the run's status.json for a job of a kind that keeps it (training) where the job process cannot:
        queued before it starts, cancelled before it started, and how it ended when it died without saying."""
        run_dir = self.paths.runs_dir / job.run
        if jobs.job_type(job.kind).keeps_status and run_dir.is_dir():
            write_status(run_dir, state, message=message)

    def _read_progress(self, job: Job) -> None:
        """Take the progress the job process last wrote; clients are told at once, queue.json at the next save."""
        progress = jobs.read_progress(jobs.progress_path(self.paths.runs_dir / job.run, job.kind, job.n))
        if progress is not None and progress != job.progress:
            job.progress = progress
            self.on_change(job)
