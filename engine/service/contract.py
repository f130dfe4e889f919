"""The typed contract between the engine and its clients: what each reply's `result` and each push holds.

Requests are in engine.service.protocol (the wire format is documented there); this module is what comes
back. Torch-free and Qt-free: the GUI validates every reply and push with these models and reads their
fields, so a field renamed on one side fails loudly on the other instead of reading as a default.

    job = contract.parse_push(message)          # EventPush | ResetPush | StatusPush | JobPush | StudyPush
    runs = contract.RunsResult.model_validate(result).runs
"""
from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from engine.rundir.files import FINAL_STATES, STATES, State
from engine.rundir.status import RunState, RunStatus
from engine.training.slurm_options import SlurmOptions

__all__ = ["ACTIVE_STATES", "FINAL_STATES", "STATES", "State", "Launcher", "SlurmOptions", "RunState", "RunStatus",
           "StepState", "Progress", "Job", "Step", "Branch", "Study", "RunSummary", "RunDetails", "Forms", "HelloResult",
           "RESULTS", "Push", "parse_push", "known_fields"]

ACTIVE_STATES: tuple[str, ...] = tuple(s for s in STATES if s not in FINAL_STATES)  # queued, running, requeued
StepState = Literal[State, "pending"]  # a study step whose job was not submitted yet
JobKind = Literal["pretrain", "embed", "diagnose", "project", "probe"]
Launcher = Literal["local", "slurm"]  # where a job runs: a process of the engine's machine, or a Slurm job


class _Wire(BaseModel):
    """A message part: unknown fields are refused, so both sides must agree on every name."""

    model_config = ConfigDict(extra="forbid")


def known_fields(model: type[BaseModel], raw: dict[str, Any]) -> dict[str, Any]:
    """`raw` without the fields `model` does not have (records written by an older engine)."""
    return {k: v for k, v in raw.items() if k in model.model_fields}


class Progress(_Wire):
    """How far a job is: `done` of `total` units, and a phrase a person reads ("embedding 120/300 tracks")."""

    done: int = Field(ge=0)
    total: int = Field(ge=0)
    phrase: str = ""

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0


class Job(_Wire):
    """One job of the queue, as persisted in `.engine/queue.json` and as pushed to clients."""

    id: str
    n: int
    kind: JobKind
    run: str
    args: dict[str, Any] = {}
    study: str | None = None
    step: int | None = None  # index of the study step this job runs
    state: State = "queued"
    slot: str | None = None
    pid: int | None = None
    start_ticks: int | None = None  # /proc/<pid>/stat field 22: pid + start time identify the process
    submitted_at: float
    started_at: float | None = None
    ended_at: float | None = None
    exit_code: int | None = None
    cancel_at: float | None = None
    message: str = ""
    log: str = ""
    progress: Progress | None = None  # the latest the job reported (None before its first report)
    launcher: Launcher = "local"
    slurm: SlurmOptions | None = None  # what the Slurm job asks for (launcher slurm)
    slurm_job_id: str | None = None  # set once submitted to Slurm
    slurm_state: str | None = None  # Slurm's word for it (PENDING, RUNNING, COMPLETED, CANCELLED, ...)
    node: str | None = None  # where Slurm runs it

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES


class Step(_Wire):
    """One step of a study's pipeline for one run."""

    kind: JobKind
    args: dict[str, Any] = {}
    state: StepState = "pending"  # pending, then the state of its latest job
    job: str | None = None
    message: str = ""


class Branch(_Wire):
    """The pipeline of one run of a study."""

    run: str
    method: str
    seed: int
    steps: list[Step]


class Study(_Wire):
    """A study: one branch per method and seed; its state follows its steps."""

    id: str
    created_at: float
    updated_at: float = 0.0
    spec: dict[str, Any]  # the submit_study request it was made from
    branches: list[Branch]
    launcher: Launcher = "local"  # where every step runs
    slurm: SlurmOptions | None = None  # the Slurm options of every step (launcher slurm)
    state: State = "queued"


class RunSummary(_Wire):
    """What a runs list shows of one run (engine.rundir.summary.run_summary) and its active job."""

    run: str
    state: RunState
    method: str
    step: int
    total_steps: int
    study: str
    corpus: str
    precision: str
    message: str
    started_at: float | None
    updated_at: float | None
    job: Job | None = None  # the run's queued or running job, if any


class RunDetails(RunSummary):
    """`get_run`: the summary plus the raw files and every job of the run."""

    status: RunStatus | None  # None: no readable status.json
    config: dict[str, Any]
    checkpoints: list[str]
    logs: list[str]
    embeddings: bool
    path: str
    jobs: list[Job]


# ---- replies: the `result` of each request type ---------------------------------------------------------
class Forms(_Wire):
    """What a GUI builds its forms from (protocol.forms_info); the workbench uses it as is with no engine."""

    job_kinds: list[str]
    stages: list[str]
    methods: list[str]
    presets: list[str]
    preset_values: dict[str, dict[str, Any]]
    tasks: list[str]  # the demo corpus's
    probe_tasks: list[str]
    fractions: list[float]
    config_schema: dict[str, Any]


class HelloResult(Forms):
    version: int
    engine_pid: int
    runs_dir: str
    slots: list[str]


class RunsResult(_Wire):
    runs: list[RunSummary]


class RunResult(_Wire):
    run: RunDetails


class JobsResult(_Wire):
    jobs: list[Job]


class JobIdsResult(_Wire):
    jobs: list[str]  # ids of the jobs cancelled or queued


class JobResult(_Wire):
    job: Job


class StudiesResult(_Wire):
    studies: list[Study]


class StudyResult(_Wire):
    study: Study


class DeletedResult(_Wire):
    deleted: list[str]


class SubscribeResult(_Wire):
    run: str
    offset: int
    status: RunStatus | None  # None: no readable status.json yet


class UnsubscribeResult(_Wire):
    run: str


class ShutdownResult(_Wire):
    stopping: bool


RESULTS: dict[str, type[_Wire]] = {
    "hello": HelloResult, "list_runs": RunsResult, "get_run": RunResult, "list_jobs": JobsResult,
    "list_studies": StudiesResult, "get_study": StudyResult, "submit": JobResult, "submit_study": StudyResult,
    "cancel": JobIdsResult, "resume": JobIdsResult, "delete": DeletedResult, "subscribe": SubscribeResult,
    "unsubscribe": UnsubscribeResult, "shutdown": ShutdownResult,
}


class ReplyMessage(_Wire):
    type: Literal["reply"]
    id: int | str | None
    ok: Literal[True]
    result: dict[str, Any]


class ErrorMessage(_Wire):
    type: Literal["error"]
    id: int | str | None
    ok: Literal[False]
    error: str


# ---- pushes ------------------------------------------------------------------------------------------------
class EventPush(_Wire):
    type: Literal["event"]
    run: str
    offset: int  # byte offset in events.jsonl after this event
    event: dict[str, Any]


class ResetPush(_Wire):
    type: Literal["reset"]
    run: str


class StatusPush(_Wire):
    """status.json of a subscribed run changed; `status` is its whole new content."""

    type: Literal["status"]
    run: str
    status: RunStatus


class JobPush(_Wire):
    type: Literal["job"]
    job: Job


class StudyPush(_Wire):
    type: Literal["study"]
    study: Study


Push = Annotated[EventPush | ResetPush | StatusPush | JobPush | StudyPush, Field(discriminator="type")]
_PUSH = TypeAdapter(Push)
PUSH_TYPES: tuple[str, ...] = tuple(get_args(m.model_fields["type"].annotation)[0]
                                    for m in (EventPush, ResetPush, StatusPush, JobPush, StudyPush))


def parse_push(message: dict[str, Any]) -> EventPush | ResetPush | StatusPush | JobPush | StudyPush:
    """A push as its model; pydantic.ValidationError when it does not match the contract."""
    return _PUSH.validate_python(message)


def parse_result(request_type: str, result: dict[str, Any]) -> _Wire:
    """The `result` of a reply to `request_type` as its model."""
    return RESULTS[request_type].model_validate(result)
