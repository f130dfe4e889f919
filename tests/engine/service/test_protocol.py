"""The socket protocol: every request type validates, every kind of bad input is named in one line."""
from __future__ import annotations

import json
import math

import pytest

from engine.service import jobs

from engine.service import protocol
from engine.service.protocol import MAX_LINE, ProtocolError, parse_request


def _line(**fields) -> bytes:
    return json.dumps(fields).encode()


def _error(line: bytes) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        parse_request(line)
    return info.value


def test_every_request_type_parses_with_its_defaults() -> None:
    assert parse_request(_line(type="hello", id=1, version=1)).client == ""
    sub = parse_request(_line(type="subscribe", id="a", run="r1"))
    assert (sub.run, sub.from_offset, sub.id) == ("r1", 0, "a")
    study = parse_request(_line(type="submit_study", id=2, methods=["byol", "vicreg"]))
    assert study.stages == list(protocol.JOB_KINDS) and study.tasks == list(protocol.DEMO_TASKS)
    assert parse_request(_line(type="cancel", id=3, study="s1")).run is None
    submit = parse_request(_line(type="submit", id=4, kind="pretrain", config={"steps": 5, "augment": False}))
    assert submit.config == {"steps": 5, "augment": False}
    for kind in ("list_runs", "list_jobs", "list_studies", "shutdown"):
        assert parse_request(_line(type=kind, id=5)).type == kind


@pytest.mark.parametrize("line, words", [
    (b"{not json", "malformed JSON"),
    (b"[1, 2]", "must be a JSON object"),
    (b"\xff\xfe", "not UTF-8"),
    (b"[" * 100_000, "nested too deeply"),
    (_line(id=1), "unknown message type None"),
    (_line(type="launch_missiles", id=1), "unknown message type 'launch_missiles'"),
    (_line(type="hello", version=1), "hello: missing field 'id'"),
    (_line(type="hello", id=1, version="1"), "field 'version'"),
    (_line(type="hello", id=True, version=1), "field 'id'"),
    (_line(type="subscribe", id=1, run="r", from_offset=-1), "field 'from_offset'"),
    (_line(type="subscribe", id=1, run="r", from_offset=1.5), "field 'from_offset'"),
    (_line(type="subscribe", id=1, run="r", extra=1), "unknown field 'extra'"),
    (_line(type="subscribe", id=1, run="a/b"), "bad run id 'a/b'"),
    (_line(type="subscribe", id=1, run=".."), "bad run id '..'"),
    (_line(type="delete", id=1, run="x..y"), "no '/' and no '..'"),
    (_line(type="get_study", id=1, study="../../etc"), "bad study id"),
    (_line(type="cancel", id=1), "exactly one of run or study"),
    (_line(type="cancel", id=1, run="a", study="b"), "exactly one of run or study"),
    (_line(type="submit", id=1, kind="compile"), "field 'kind'"),
    (_line(type="submit", id=1, kind="pretrain", config={"steps": [1]}), "field 'config.steps"),
    (_line(type="submit_study", id=1, methods=[]), "field 'methods'"),
    (_line(type="submit_study", id=1, methods=["simclr"]), "field 'methods.0'"),
    (_line(type="submit_study", id=1, methods=["byol", "byol"]), "methods has duplicates"),
    (_line(type="submit_study", id=1, methods=["byol"], stages=["embed"]), "must include pretrain"),
    (_line(type="submit_study", id=1, methods=["byol"], tasks=[]), "probe needs at least one task"),
    (_line(type="submit_study", id=1, methods=["byol"], fractions=[0]), "field 'fractions.0'"),
    (_line(type="submit_study", id=1, methods=["byol"], fractions=[101]), "field 'fractions.0'"),
])
def test_bad_input_is_named(line: bytes, words: str) -> None:
    assert words in str(_error(line))


def test_error_echoes_a_readable_id_only() -> None:
    assert _error(_line(type="nope", id=7)).request_id == 7
    assert _error(_line(type="nope", id="x" * 65)).request_id is None
    assert _error(_line(type="nope", id=[1])).request_id is None
    assert _error(b"{").request_id is None


def test_oversized_line_is_refused() -> None:
    line = _line(type="hello", id=1, version=1, client="a" * MAX_LINE)
    assert "longer than" in str(_error(line))


def test_encode_writes_one_json_line_without_nan() -> None:
    data = protocol.encode({"type": "event", "event": {"loss": math.nan, "x": [math.inf, 1.0]}})
    assert data.endswith(b"\n") and data.count(b"\n") == 1
    assert json.loads(data) == {"type": "event", "event": {"loss": None, "x": [None, 1.0]}}


def test_task_and_fraction_lists_match_the_probe_module() -> None:
    from engine.evaluation import probe

    assert set(protocol.PROBE_TASKS) == set(probe.TASKS)
    assert set(protocol.DEMO_TASKS) <= set(probe.TASK_PREFIXES)
    assert tuple(protocol.DEFAULT_FRACTIONS) == tuple(probe.DEFAULT_FRACTIONS)


def test_job_args_are_checked_and_round_trip_through_the_command_line(tmp_path) -> None:
    args = {"task": "genre", "fractions": [5, 100], "draws": 3}
    assert jobs.check_args("probe", args) == {"task": "genre", "fractions": (5.0, 100.0), "draws": 3}
    argv = jobs.job_argv("probe", tmp_path, args, job=4, handshake=True)
    assert argv[3:5] == ["probe", str(tmp_path)] and "--handshake" in argv
    parsed = jobs.process.parser("probe").parse_args(argv[4:])
    assert (parsed.job, parsed.task, parsed.fractions, parsed.draws) == (4, "genre", "5,100", "3")
    assert jobs.check_args("embed", {"segments_per_track": "all", "batch": 8}) == {"segments_per_track": "all",
                                                                                    "batch": 8}
    for kind, bad, words in (("probe", {}, "missing option 'task'"),
                             ("probe", {"task": "genre", "draws": 0}, "option 'draws'"),
                             ("probe", {"task": "genre", "fractions": [0]}, "option 'fractions'"),
                             ("embed", {"checkpoint": "last", "rm": "-rf"}, "unknown option 'rm'"),
                             ("sleep", {}, "unknown job kind")):
        with pytest.raises(ValueError, match=words):
            jobs.check_args(kind, bad)
