"""engine.rundir.events and follow: one reader of JSON lines behind read_events and EventCursor."""
from __future__ import annotations

import json
import os
from pathlib import Path

from engine.rundir.events import EventWriter, json_lines, read_events, truncate_after
from engine.rundir.follow import EventCursor


def test_json_lines_keeps_objects_of_complete_lines_with_their_end_offsets() -> None:
    data = b'{"a":1}\nnot json\n[1,2]\n{"b":2}\n{"torn":'
    found, end = json_lines(data, start=100)
    assert found == [(108, {"a": 1}), (131, {"b": 2})]
    assert end == 100 + data.rindex(b"\n") + 1 == 131
    assert json_lines(b'{"torn":', start=7) == ([], 7)


def test_read_events_and_the_cursor_agree_and_wait_for_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    with EventWriter(path) as writer:
        writer.write({"type": "train", "step": 1, "loss": float("nan")})
        writer.write({"type": "train", "step": 2, "loss": 0.5})
    with open(path, "a") as f:
        f.write('{"type": "train", "st')
    cursor = EventCursor("r1", path)
    events, end = read_events(path)
    pairs, reset = cursor.read()
    assert events == [e for _, e in pairs] == [{"type": "train", "step": 1, "loss": None},
                                               {"type": "train", "step": 2, "loss": 0.5}]
    assert not reset and end == cursor.offset == path.stat().st_size - len('{"type": "train", "st')
    with open(path, "a") as f:
        f.write('ep": 3}\n')
    assert read_events(path, end) == ([{"type": "train", "step": 3}], path.stat().st_size)
    assert cursor.read() == ([(path.stat().st_size, {"type": "train", "step": 3})], False)


def test_the_cursor_restarts_when_the_file_is_replaced_and_takes_a_long_line_whole(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps({"step": i}) + "\n" for i in range(5)))
    cursor = EventCursor("r1", path)
    assert len(cursor.read()[0]) == 5
    inode = os.stat(path).st_ino
    truncate_after(path, 2)  # a resume rewrites the file (a new inode)
    assert os.stat(path).st_ino != inode
    events, reset = cursor.read()
    assert reset and [e["step"] for _, e in events] == [0, 1, 2]
    long = json.dumps({"step": 9, "text": "x" * 100}) + "\n"
    with open(path, "a") as f:
        f.write(long)
    assert cursor.read(limit=10) == ([(path.stat().st_size, json.loads(long))], False)
