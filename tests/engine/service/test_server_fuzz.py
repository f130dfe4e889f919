"""Fuzzing the socket: 10,000 malformed or hostile messages, each answered; then a normal submit works."""
from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.service.client import BlockingClient
from engine.service.protocol import REQUESTS
from tests.engine.service.test_server import running_engine, wait_push

BATCH = 50
EXAMPLES = 200  # x BATCH = 10,000 messages

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=5)
hostile_ids = st.sampled_from(["../x", "a/b", "..", "x..y", "", ".engine", "/etc/passwd", "a" * 200, "ok-run",
                               "nul\0", "~", "run\n2"]) | st.text(max_size=12)
types = (st.sampled_from(sorted(set(REQUESTS) - {"shutdown"})) | st.text(max_size=10)).filter(lambda t: t != "shutdown")
fields = st.sampled_from(["run", "study", "kind", "config", "args", "methods", "corpus", "from_offset", "version",
                          "seeds", "stages", "tasks", "fractions", "draws", "name", "preset", "client"]) \
    | st.text(max_size=6)


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    """Request-shaped objects with wrong, missing, extra or hostile fields."""
    message = {"type": draw(types)}
    if draw(st.booleans()):
        message["id"] = draw(st.integers() | st.text(max_size=70) | json_values)
    for _ in range(draw(st.integers(0, 4))):
        message[draw(fields)] = draw(json_values | hostile_ids)
    if message["type"] in ("submit", "submit_study"):  # never a valid config: the fuzz must start no job
        message["config"] = {"steps": draw(st.sampled_from([-1, 0, "many", None, [3]]))}
    return json.dumps(message).encode()


lines = st.one_of(
    requests(),
    requests().map(lambda b: b[: len(b) // 2]),  # cut short
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=60).map(lambda b: b.replace(b"\n", b"")),
)


def test_fuzzed_messages_are_all_answered_and_a_submit_still_works(tmp_path: Path, tiny_corpus: Path) -> None:
    runs = tmp_path / "runs"
    sent = {"n": 0}
    with running_engine(runs), BlockingClient.for_runs_dir(runs, timeout=120) as client:

        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
        @given(st.lists(lines, min_size=BATCH, max_size=BATCH))
        def send(batch: list[bytes]) -> None:
            client.send_raw(b"".join(line + b"\n" for line in batch))
            for line in batch:
                reply = client.read_message()
                assert reply["type"] in ("reply", "error"), reply
                if reply["type"] == "error":
                    assert reply["error"] and "\n" not in reply["error"]
                    assert "internal error" not in reply["error"], (line, reply)
            sent["n"] += len(batch)

        send()
        assert sent["n"] >= 10_000
        assert sorted(p.name for p in runs.iterdir()) == [".engine"]  # nothing was created
        assert client.request("hello", version=1)["engine_pid"] > 0
        config = {"corpus": f"folder:{tiny_corpus}", "method": "random", "steps": 2, "batch_size": 4,
                  "num_workers": 0}
        job = client.request("submit", kind="pretrain", run="after-fuzz", config=config)["job"]
        assert (job["kind"], job["run"], job["state"]) == ("pretrain", "after-fuzz", "queued")
        assert (runs / "after-fuzz" / "config.toml").exists()
        client.request("cancel", run="after-fuzz")
        ended = wait_push(client, lambda p: p["type"] == "job" and p["job"]["state"] not in ("queued", "running"))
        assert ended["job"]["state"] in ("cancelled", "done")
