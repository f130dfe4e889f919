"""Studies: pipelines of jobs (pretrain -> embed -> diagnose -> project -> probe per task),
one run per method and seed on the same corpus; each persisted as `RUNS_DIR/.studies/<id>.json`.

A study advances one step per run when the step's job is done; a failed, cancelled or interrupted
step stops its run's pipeline until `resume`, which re-queues the first unfinished step
(pre-training continues from its last checkpoint).
"""
from __future__ import annotations

import json
import logging
import shutil
import time
from typing import Callable

from pydantic import ValidationError

from engine import config as config_mod
from engine.service import slurm
from engine.service.enginedir import EnginePaths
from engine.service.contract import ACTIVE_STATES, Branch, Job, State, Step, Study
from engine.service.queue import JobQueue
from engine.service.warm_jobs import WARM_KINDS
from engine.service.protocol import JOB_KINDS, SubmitStudy
from engine.rundir.disk import private_dir
from engine.rundir.files import atomic_write_bytes
from engine.config import prepare_run
from engine.rundir.summary import check_id
from engine.rundir.layout import RunDir

log = logging.getLogger("engine.service.studies")

_SET_ELSEWHERE = ("method", "corpus", "seed")


def plan_steps(spec: SubmitStudy) -> list[Step]:
    """The steps of one run in pipeline order; probes are one step per task, at every fraction (percent): one job
    loads the task's embeddings once for all its draws."""
    steps: list[Step] = []
    for kind in (k for k in JOB_KINDS if k in spec.stages):
        options = dict(spec.options.get(kind, {}))
        if kind == "probe":
            steps += [Step(kind="probe", args={**options, "task": t, "fractions": list(spec.fractions),
                                               "draws": spec.draws}) for t in spec.tasks]
        else:
            steps.append(Step(kind=kind, args=options))
    return steps


def study_state(study: Study) -> State:
    """The study's state from its steps: running while any job is queued or running, else the worst end."""
    states = {s.state for b in study.branches for s in b.steps}
    if states & set(ACTIVE_STATES):
        return "running"
    if states <= {"done"}:
        return "done"
    for state in ("failed", "diverged", "cancelled", "interrupted"):
        if state in states:
            return "failed" if state == "diverged" else state
    return "interrupted"  # pending steps with nothing running: resume continues them


class Studies:
    """Every study of a runs directory; moves their pipelines forward as jobs end."""

    def __init__(self, paths: EnginePaths, queue: JobQueue,
                 on_change: Callable[[Study], None] = lambda study: None) -> None:
        self.paths, self.queue, self.on_change = paths, queue, on_change
        self.studies: dict[str, Study] = {}
        self._written: dict[str, str] = {}  # last content written per study

    def load(self) -> None:
        for path in sorted(self.paths.studies.glob("*.json")) if self.paths.studies.is_dir() else []:
            try:
                study = Study.model_validate(json.loads(path.read_text()))
            except (OSError, ValueError, ValidationError) as err:
                log.warning("skipping unreadable study %s: %s", path.name, str(err).splitlines()[0])
                continue
            self.studies[study.id] = study

    def _save(self, study: Study) -> None:
        """Write the study when it changed, and tell the clients."""
        study.state = study_state(study)
        content = study.model_dump_json(exclude={"updated_at"})
        if self._written.get(study.id) == content:
            return
        self._written[study.id] = content
        study.updated_at = time.time()
        private_dir(self.paths.studies)
        atomic_write_bytes(self.paths.studies / f"{study.id}.json", study.model_dump_json(indent=1).encode())
        self.on_change(study)

    def find_branch(self, run: str) -> tuple[Study, Branch] | None:
        for study in self.studies.values():
            for branch in study.branches:
                if branch.run == run:
                    return study, branch
        return None

    # ---- create --------------------------------------------------------------------------------------
    def create(self, spec: SubmitStudy) -> Study:
        """Validate every run's config, create the run directories and queue each run's first step."""
        from engine.service.preflight import check_corpus, check_device

        taken = [k for k in _SET_ELSEWHERE if k in spec.config]
        if taken:
            raise ValueError(f"config field '{taken[0]}' is set by the study's methods, corpus and seeds")
        check_corpus(spec.corpus)
        options = slurm.options_for(self.paths.runs_dir, spec.slurm) if spec.launcher == "slurm" else None
        study_id = spec.name or self._new_id()
        if study_id in self.studies or (self.paths.studies / f"{study_id}.json").exists():
            raise ValueError(f"study {study_id!r} already exists")
        planned = []
        for method in spec.methods:
            for seed in spec.seeds:
                values = {**spec.config, "method": method, "corpus": spec.corpus, "seed": seed}
                try:
                    cfg = config_mod.build(spec.preset, overrides=values)
                except config_mod.ConfigError as err:
                    raise ValueError(f"method {method}: {err}") from None
                if spec.launcher == "local":
                    check_device(cfg.device)
                run = check_id(f"{study_id}-{method}-s{seed}")
                if (self.paths.runs_dir / run).exists():
                    raise ValueError(f"run {run!r} already exists in {self.paths.runs_dir}")
                planned.append((run, cfg))
        steps = plan_steps(spec)
        fields = spec.model_dump(exclude={"id", "type", "name"})
        study = Study(id=study_id, created_at=time.time(), spec=fields, launcher=spec.launcher, slurm=options,
                      branches=[Branch(run=run, method=cfg.method, seed=cfg.seed, steps=[s.model_copy(deep=True)
                                                                                         for s in steps])
                                for run, cfg in planned])
        for run, cfg in planned:
            prepare_run(cfg, self.paths.runs_dir / run, study=study_id)
        self.studies[study_id] = study
        for branch in study.branches:
            self._advance(study, branch, resume=False)
        self._save(study)
        return study

    def _new_id(self) -> str:
        base = time.strftime("study-%Y%m%d-%H%M%S")
        study_id, n = base, 2
        while study_id in self.studies or (self.paths.studies / f"{study_id}.json").exists():
            study_id, n = f"{base}-{n}", n + 1
        return study_id

    # ---- moving forward ------------------------------------------------------------------------------
    def _advance(self, study: Study, branch: Branch, resume: bool) -> Job | None:
        """Queue the branch's next step: the first not done one (`resume`) or the first pending one."""
        if any(s.state in ACTIVE_STATES for s in branch.steps):
            return None
        index = next((i for i, s in enumerate(branch.steps) if s.state != "done"), None)
        if index is None:
            return None
        step = branch.steps[index]
        if step.state != "pending" and not resume:
            return None
        job = self.queue.submit(step.kind, branch.run, step.args, study=study.id, step=index, launcher=study.launcher,
                                slurm_options=study.slurm)
        step.job, step.state, step.message = job.id, job.state, ""
        if study.launcher == "local" and any(s.kind in WARM_KINDS for s in branch.steps[index:]):
            self.queue.warm.prewarm()  # it warms up beside the training, ready for the evaluation after it
        return job

    def job_changed(self, job: Job) -> None:
        """Follow a job of a study: copy its state into the step; when done, queue the next step."""
        study = self.studies.get(job.study or "")
        branch = next((b for b in study.branches if b.run == job.run), None) if study else None
        if branch is None or job.step is None or not 0 <= job.step < len(branch.steps):
            return
        step = branch.steps[job.step]
        if step.job not in (None, job.id):
            return  # an older job of this step
        step.job, step.state, step.message = job.id, job.state, job.message
        if job.state == "done":
            self._advance(study, branch, resume=False)
        self._save(study)

    def reconcile(self) -> None:
        """At start-up: align steps with the recovered queue and move on where a job ended meanwhile."""
        for study in self.studies.values():
            for branch in study.branches:
                for index, step in enumerate(branch.steps):
                    job = self.queue.get(step.job) or next(
                        (j for j in self.queue.jobs.values()
                         if j.study == study.id and j.run == branch.run and j.step == index and j.active), None)
                    if job is not None and step.state in ("pending", *ACTIVE_STATES):
                        step.job, step.state, step.message = job.id, job.state, job.message
                    elif step.state in ACTIVE_STATES:
                        step.state, step.message = "interrupted", "its job record was lost"
                self._advance(study, branch, resume=False)
            self._save(study)

    # ---- commands ------------------------------------------------------------------------------------
    def get(self, study_id: str) -> Study:
        if study_id not in self.studies:
            raise ValueError(f"no study {study_id!r} (studies: {', '.join(sorted(self.studies)) or 'none'})")
        return self.studies[study_id]

    def cancel(self, study_id: str) -> list[str]:
        study = self.get(study_id)
        cancelled = [j.id for b in study.branches for j in self.queue.active_for(b.run) if self.queue.cancel(j)]
        self._save(study)
        return cancelled

    def resume(self, study_id: str, run: str | None = None) -> list[str]:
        """Re-queue the first unfinished step of each run (or of `run`) that has nothing queued or running."""
        study = self.get(study_id)
        queued = []
        for branch in study.branches:
            if run is not None and branch.run != run:
                continue
            if not RunDir(self.paths.runs_dir / branch.run).config.exists():
                raise ValueError(f"run {branch.run!r} of study {study_id!r} is gone; cannot resume it")
            job = self._advance(study, branch, resume=True)
            if job is not None:
                queued.append(job.id)
        self._save(study)
        return queued

    def delete(self, study_id: str) -> list[str]:
        """Delete the study and its runs; refused while any of its jobs is queued or running."""
        study = self.get(study_id)
        busy = [b.run for b in study.branches if self.queue.active_for(b.run)]
        if busy:
            raise ValueError(f"study {study_id!r} has jobs queued or running on {', '.join(busy)}; cancel it first")
        for branch in study.branches:
            shutil.rmtree(self.paths.runs_dir / branch.run, ignore_errors=True)
        (self.paths.studies / f"{study_id}.json").unlink(missing_ok=True)
        del self.studies[study_id]
        self._written.pop(study_id, None)
        return [b.run for b in study.branches]

    def forget_run(self, run: str) -> None:
        """A run of a study was deleted: drop its branch."""
        found = self.find_branch(run)
        if found is not None:
            study, branch = found
            study.branches.remove(branch)
            self._save(study)
