"""Messages between the engine and its clients (GUI, CLI) on the socket `RUNS_DIR/.engine/engine.sock`.

Transport: a Unix stream socket (folder 0700, socket 0600). Each message is one JSON object on
one line (UTF-8, ending in `\\n`, at most 1 MiB). Nothing is unpickled or evaluated.

Requests (client -> engine) carry `"type"` and an `"id"` (int, or string of at most 64 characters)
that the reply echoes. Every request line gets exactly one reply, in order:

    {"type": "reply", "id": ID, "ok": true, "result": {...}}
    {"type": "error", "id": ID or null, "ok": false, "error": "one line naming the problem"}

Malformed JSON, over-long lines, unknown types, unknown or wrongly typed fields, bad run ids
(`/`, `..`) and configs that fail validation get an error reply; the connection stays open.

Request types, their fields (-> result; each result and push is typed in engine.service.contract):

- `hello` version (= PROTOCOL_VERSION), client -> version, engine_pid, runs_dir, job_kinds, stages,
  methods, presets, preset_values ({preset: resolved config}), tasks (the demo corpus's), probe_tasks,
  fractions, slots, config_schema (the RunConfig JSON schema): everything a GUI needs to build its
  forms without importing the engine.
  Clients that said hello receive the `job` and `study` pushes.
- `list_runs` -> runs: [{run, state, method, step, total_steps, study, corpus, precision, message, started_at,
  updated_at, job}]; `get_run` run -> run: that plus status, config, checkpoints, logs, embeddings, jobs.
- `list_jobs` -> jobs: [job record]; `list_studies` -> studies: [study record];
  `get_study` study -> study.
- `submit` kind (pretrain|embed|diagnose|project|probe), run, preset, config {field: value},
  args {option: value}, launcher (local|slurm), slurm {partition, nodes, gpus_per_node, cpus_per_task,
  mem_gb, time_min, extra} -> job. pretrain creates the run (id generated when absent) from the preset
  and config, once its corpus is found to hold tracks and its device to exist (engine.service.preflight);
  the other kinds work on an existing run. The options are checked here, once. With launcher slurm the
  job is a Slurm job (slurm absent: the options remembered in `RUNS_DIR/.slurm.toml`; given: remembered).
- `submit_study` methods, corpus, preset, config, seeds, stages, tasks, fractions (percent),
  draws, options {stage: args}, name, launcher, slurm (as for submit: every step a Slurm job) -> study.
  One run per method and seed (`<study>-<method>-s<seed>`), each a pipeline pretrain -> embed -> diagnose ->
  project -> probe (one probe step per task, at every fraction;
  `options.probe.protocol` picks the probe protocol: ours, paper, paper-released, marble, linear).
- `cancel` run | study -> jobs: ids dequeued or sent SIGTERM (SIGKILL after the grace time; a Slurm
  job: `scancel`).
- `resume` run | study -> jobs: ids queued (pre-training continues from its last checkpoint; a study
  from the first unfinished step of each run).
- `delete` run | study -> deleted: run ids (refused while one of their jobs is queued or running).
- `subscribe` run, from_offset (byte offset into events.jsonl, default 0) -> run, offset, status;
  the events from that offset follow as pushes, then new ones as they are written.
- `unsubscribe` run -> run.
- `shutdown` -> stopping: true. The engine stops; running jobs go on, and the next engine re-attaches.

Pushes (engine -> client, no id):

- `{"type": "event", "run": R, "offset": END, "event": {...}}` one line of events.jsonl; END is the
  byte offset after it (subscribe again from there to continue).
- `{"type": "reset", "run": R}` events.jsonl was rewritten (a resumed run drops the steps after its
  checkpoint); the events that follow restart from offset 0.
- `{"type": "status", "run": R, "status": {...}}` status.json of a subscribed run changed (its known fields:
  engine.rundir.status.RunStatus).
- `{"type": "job", "job": {...}}` a job record changed, its progress included (`progress`: done, total and a
  phrase such as "embedding 120/300 tracks", pushed as the job reports it).
- `{"type": "study", "study": {...}}` a study record changed.

Status pushes are never dropped (a slow client's pending pushes of one run with the same state
collapse into the newest); events are read from the file at each client's own pace, so a slow
client lags behind without losing any and without holding up the engine or other clients.
"""
from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from engine.config import Method
from engine.rundir.events import finite
from engine.service.job_specs import KINDS, JobKind, check_args
from engine.rundir.summary import check_id
from engine.training.slurm_options import SlurmOptions

PROTOCOL_VERSION = 1
MAX_LINE = 1 << 20  # bytes of one message, newline excluded

JOB_KINDS: tuple[str, ...] = KINDS
# Tasks of engine.evaluation.probe (the demo corpus has genre, instrument, mood); tests keep these in step with it.
PROBE_TASKS: tuple[str, ...] = ("all", "top50", "genre", "instrument", "mood", "moodtheme")
DEMO_TASKS: tuple[str, ...] = ("genre", "instrument", "mood")
DEFAULT_FRACTIONS: tuple[float, ...] = (1, 5, 10, 20, 100)  # percent of the training tracks

RunId = Annotated[str, AfterValidator(lambda v: check_id(v, "run id"))]
StudyId = Annotated[str, AfterValidator(lambda v: check_id(v, "study id"))]
RequestId = int | Annotated[str, StringConstraints(max_length=64)]
Scalar = str | int | float | bool | None
Key = Annotated[str, StringConstraints(min_length=1, max_length=64)]
ConfigValues = Annotated[dict[Key, Scalar], Field(max_length=100)]
JobArgs = Annotated[dict[Key, Scalar | Annotated[list[Scalar], Field(max_length=100)]], Field(max_length=20)]
Task = Literal["all", "top50", "genre", "instrument", "mood", "moodtheme"]
Launcher = Literal["local", "slurm"]


class ProtocolError(ValueError):
    """A message that cannot be served; `request_id` is echoed when it could be read."""

    def __init__(self, message: str, request_id: Any = None) -> None:
        super().__init__(message)
        self.request_id = request_id


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    id: RequestId


class Hello(_Request):
    type: Literal["hello"]
    version: int
    client: Annotated[str, StringConstraints(max_length=200)] = ""


class ListRuns(_Request):
    type: Literal["list_runs"]


class GetRun(_Request):
    type: Literal["get_run"]
    run: RunId


class ListJobs(_Request):
    type: Literal["list_jobs"]


class ListStudies(_Request):
    type: Literal["list_studies"]


class GetStudy(_Request):
    type: Literal["get_study"]
    study: StudyId


def _check_launcher(launcher: Launcher, slurm: SlurmOptions | None) -> None:
    if slurm is not None and launcher != "slurm":
        raise ValueError("slurm options need launcher slurm")


class Submit(_Request):
    type: Literal["submit"]
    kind: JobKind
    run: RunId | None = None
    preset: Literal["demo", "paper"] = "demo"
    config: ConfigValues = {}
    args: JobArgs = {}
    launcher: Launcher = "local"
    slurm: SlurmOptions | None = None  # None with launcher slurm: the runs folder's remembered options

    @model_validator(mode="after")
    def _check(self) -> "Submit":
        _check_launcher(self.launcher, self.slurm)
        return self


class SubmitStudy(_Request):
    type: Literal["submit_study"]
    methods: Annotated[list[Method], Field(min_length=1, max_length=16)]
    corpus: Annotated[str, StringConstraints(min_length=1, max_length=4096)] = "demo"
    preset: Literal["demo", "paper"] = "demo"
    config: ConfigValues = {}
    seeds: Annotated[list[Annotated[int, Field(ge=0, le=2**31)]], Field(min_length=1, max_length=16)] = [0]
    stages: Annotated[list[JobKind], Field(min_length=1)] = list(JOB_KINDS)
    tasks: Annotated[list[Task], Field(max_length=len(PROBE_TASKS))] = list(DEMO_TASKS)
    fractions: Annotated[list[Annotated[float, Field(gt=0, le=100)]], Field(min_length=1, max_length=20)] = \
        list(DEFAULT_FRACTIONS)
    draws: Annotated[int, Field(ge=1, le=100)] = 4
    options: dict[JobKind, JobArgs] = {}
    name: StudyId | None = None
    launcher: Launcher = "local"  # where every step runs
    slurm: SlurmOptions | None = None  # None with launcher slurm: the runs folder's remembered options

    @model_validator(mode="after")
    def _check(self) -> "SubmitStudy":
        _check_launcher(self.launcher, self.slurm)
        for field in ("methods", "seeds", "stages", "tasks", "fractions"):
            values = getattr(self, field)
            if len(set(values)) != len(values):
                raise ValueError(f"{field} has duplicates: {values}")
        if "pretrain" not in self.stages:
            raise ValueError("stages must include pretrain (a study trains its runs)")
        if "probe" in self.stages and not self.tasks:
            raise ValueError("stage probe needs at least one task")
        for kind, args in self.options.items():
            if kind == "probe" and {"task", "fractions"} & set(args):
                raise ValueError("options.probe: set tasks and fractions with their own fields")
            check_args(kind, {**args, "task": (self.tasks or ["all"])[0]} if kind == "probe" else args)
        return self


class _Target(_Request):
    run: RunId | None = None
    study: StudyId | None = None

    @model_validator(mode="after")
    def _one_target(self) -> "_Target":
        if (self.run is None) == (self.study is None):
            raise ValueError("give exactly one of run or study")
        return self


class Cancel(_Target):
    type: Literal["cancel"]


class Resume(_Target):
    type: Literal["resume"]


class Delete(_Target):
    type: Literal["delete"]


class Subscribe(_Request):
    type: Literal["subscribe"]
    run: RunId
    from_offset: Annotated[int, Field(ge=0)] = 0


class Unsubscribe(_Request):
    type: Literal["unsubscribe"]
    run: RunId


class Shutdown(_Request):
    type: Literal["shutdown"]


REQUESTS: dict[str, type[_Request]] = {
    m.model_fields["type"].annotation.__args__[0]: m  # the Literal's value
    for m in (Hello, ListRuns, GetRun, ListJobs, ListStudies, GetStudy, Submit, SubmitStudy, Cancel, Resume,
              Delete, Subscribe, Unsubscribe, Shutdown)
}
Request = _Request


_UNION_TAG = re.compile(r"^(int|str|float|bool|none|constrained-\w+|(list|dict|function-\w+|literal)\[.*\])$")


def _one_line(err: ValidationError, kind: str) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"] if not (isinstance(p, str) and _UNION_TAG.match(p)))
    loc = loc.encode("unicode_escape").decode("ascii")[:80]  # a client's field name never breaks the line
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        valid = ", ".join(f for f in REQUESTS[kind].model_fields if f != "type")
        return f"{kind}: unknown field '{loc}' (valid: {valid})"
    if first["type"] == "missing":
        return f"{kind}: missing field '{loc}'"
    if not loc:
        return f"{kind}: {msg}"
    got = repr(first.get("input"))
    return f"{kind}: field '{loc}': {msg} (got {got[:80] + '...' if len(got) > 80 else got})"


def parse_request(line: bytes) -> _Request:
    """One line from a client -> a validated request; raises ProtocolError naming the problem."""
    if len(line) > MAX_LINE:
        raise ProtocolError(f"message longer than {MAX_LINE} bytes")
    try:
        value = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        raise ProtocolError("message is not UTF-8") from None
    except RecursionError:
        raise ProtocolError("malformed JSON: nested too deeply") from None
    except ValueError as err:
        raise ProtocolError(f"malformed JSON: {err}") from None
    if not isinstance(value, dict):
        raise ProtocolError(f"a message must be a JSON object, got {type(value).__name__}")
    raw_id = value.get("id")
    request_id = raw_id if isinstance(raw_id, (int, str)) and not isinstance(raw_id, bool) \
        and len(str(raw_id)) <= 64 else None
    kind = value.get("type")
    if not isinstance(kind, str) or kind not in REQUESTS:
        shown = repr(kind)[:80]
        raise ProtocolError(f"unknown message type {shown} (valid: {', '.join(REQUESTS)})", request_id)
    try:
        return REQUESTS[kind].model_validate(value)
    except ValidationError as err:
        raise ProtocolError(_one_line(err, kind), request_id) from None
    except RecursionError:
        raise ProtocolError(f"{kind}: nested too deeply", request_id) from None


def forms_info() -> dict[str, Any]:
    """The part of the hello a GUI builds its forms from; the workbench uses it as is when no engine answers."""
    from engine import config

    return {"job_kinds": list(JOB_KINDS), "stages": list(JOB_KINDS), "methods": list(config.METHODS),
            "presets": list(config.PRESETS), "preset_values": {p: config.build(p).model_dump() for p in config.PRESETS},
            "tasks": list(DEMO_TASKS), "probe_tasks": list(PROBE_TASKS), "fractions": list(DEFAULT_FRACTIONS),
            "config_schema": config.schema()}


def reply(request_id: Any, result: dict[str, Any]) -> dict[str, Any]:
    return {"type": "reply", "id": request_id, "ok": True, "result": result}


def error(request_id: Any, message: str) -> dict[str, Any]:
    return {"type": "error", "id": request_id, "ok": False, "error": message}


def encode(message: dict[str, Any]) -> bytes:
    """One message as a JSON line (NaN/inf are not JSON: they are written as null)."""
    try:
        text = json.dumps(message, separators=(",", ":"), allow_nan=False)
    except ValueError:
        text = json.dumps(finite(message), separators=(",", ":"))
    return text.encode() + b"\n"
