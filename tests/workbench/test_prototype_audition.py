"""Prototype audition: the prototypes with their track counts, a choice highlights its tracks in the map and plays
them one after another (space skips); and, through the real player into an ALSA file, the tracks are heard."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PySide6.QtCore import Qt

from tests.workbench.test_map import make_map_run, no_audio
from tests.workbench.test_player import PROJECT, SINK, SINK_RATE, _alsa_config_present

from workbench.panels.map import model as mm
from workbench.panels.map.view import EmbeddingMapPanel
from workbench.panels.map.audition_view import PrototypeAudition
from workbench.panels.map.audition_model import PlayQueue, prototype_tracks
from workbench.runs.selection import RunSelection


def test_prototypes_are_listed_most_tracks_first_with_their_rows() -> None:
    entries = prototype_tracks(np.array([5, 2, 5, -1, 2, 5, 9]))
    assert [(e.prototype, e.rows.tolist()) for e in entries] == [(5, [0, 2, 5]), (2, [1, 4]), (9, [6])]
    assert [e.label for e in entries] == ["prototype 5: 3 tracks", "prototype 2: 2 tracks", "prototype 9: 1 track"]
    queue = PlayQueue([4, 1])
    assert (queue.next(), queue.next(), queue.next(), queue.current) == (4, 1, None, None)


def _tone(path: Path, level: float, seconds: float = 3.0) -> None:
    t = np.arange(int(SINK_RATE * seconds)) / SINK_RATE
    sf.write(path, (level * np.sin(2 * np.pi * 330 * t)).astype(np.float32), SINK_RATE, subtype="PCM_16")


def _map(tmp_path: Path, prototypes: list[int]) -> mm.MapData:
    n = len(prototypes)
    for i in range(n):
        _tone(tmp_path / f"t{i}.wav", 0.1 + 0.2 * i)
    return mm.MapData(tmp_path, [f"t{i}" for i in range(n)], [str(tmp_path / f"t{i}.wav") for i in range(n)],
                      ["test"] * n, np.zeros((n, 1), bool), ["genre:x"], np.eye(n, dtype=np.float32),
                      np.zeros(n, np.float32), np.array(prototypes, np.int32), 4096)


def test_choosing_a_prototype_highlights_and_queues_its_tracks_space_skips(qtbot, tmp_path: Path) -> None:
    audition = PrototypeAudition(no_audio())
    qtbot.addWidget(audition)
    audition.set_data(_map(tmp_path, [3, 1, 3, 3, 1]))
    assert [audition.list.item(i).text() for i in range(audition.list.count())] == [
        "prototype 3: 3 tracks", "prototype 1: 2 tracks"]
    with qtbot.waitSignal(audition.highlight) as lit, qtbot.waitSignal(audition.play_requested) as played:
        audition.choose(0)
    assert lit.args[0].tolist() == [0, 2, 3] and played.args[0] == "t0"
    audition.show()
    audition.list.setFocus()
    qtbot.waitUntil(audition.list.hasFocus, timeout=3000)
    with qtbot.waitSignal(audition.play_requested) as played:
        qtbot.keyClick(audition.list, Qt.Key.Key_Space)
    assert played.args[0] == "t2" and audition.rows_played() == [0, 2]
    audition.set_data(_map(tmp_path, [-1, -1]))
    assert not audition.isVisibleTo(audition.parentWidget() or audition) or audition.list.count() == 0


def test_the_map_offers_the_audition_for_clustering_runs_and_rings_the_tracks(qtbot, tmp_path: Path) -> None:
    prototypes = np.where(np.arange(60) < 40, 7, 60 + np.arange(60) % 3)  # one prototype takes 40 tracks
    run = make_map_run(tmp_path, prototypes=prototypes)
    selection = RunSelection()
    view = EmbeddingMapPanel(selection, no_audio(), poll_ms=100)
    qtbot.addWidget(view)
    selection.set_runs([run])
    qtbot.waitUntil(lambda: view.data is not None and view.audition.list.count() > 0, timeout=5000)
    assert view.audition.list.item(0).text() == "prototype 7: 40 tracks"
    with qtbot.waitSignal(view.play_requested) as played:
        view.audition.choose(0)
    assert played.args[0] == "t000"
    assert len(view.plot.marks.data) == 40 and "40 of 60 tracks" in view.status.text()


SCRIPT = textwrap.dedent("""
    import json, sys, time
    import numpy as np
    from PySide6.QtWidgets import QApplication
    from workbench.panels.map import model as mm
    from workbench.panels.map.audition_view import PrototypeAudition
    from workbench.player import Player
    app = QApplication([])
    player = Player(seconds=1.0)
    if not player.available:
        print(json.dumps({"available": False, "reason": player.reason}))
        sys.exit(0)
    raw, paths = sys.argv[1], sys.argv[2:]
    n = len(paths)
    heard = []  # the sink rewrites its file for each clip: keep what the clip before wrote
    def keep(*_):
        heard.append(open(raw, "rb").read() if heard or audition.queue.position > 0 else b"")
    data = mm.MapData(None, [f"t{i}" for i in range(n)], paths, ["test"] * n, np.zeros((n, 1), bool), ["x"],
                      np.eye(n, dtype=np.float32), np.zeros(n, np.float32), np.zeros(n, np.int32), 4096)
    audition = PrototypeAudition(player, poll_ms=50)
    audition.set_data(data)
    audition.play_requested.connect(keep)
    audition.choose(0)
    deadline = time.time() + 30
    while audition.queue.current is not None and time.time() < deadline:
        app.processEvents()
        time.sleep(0.02)
    player.wait()
    heard.append(open(raw, "rb").read())
    for i, chunk in enumerate(heard[1:]):
        open(f"{raw}.{i}", "wb").write(chunk)
    print(json.dumps({"available": True, "clips": len(heard) - 1}))
""")


def test_the_prototypes_tracks_are_heard_one_after_another(tmp_path: Path) -> None:
    _alsa_config_present()
    levels = (0.2, 0.6)
    for i, level in enumerate(levels):
        _tone(tmp_path / f"t{i}.wav", level)
    raw, conf = tmp_path / "out.raw", tmp_path / "asound.conf"
    conf.write_text(SINK.format(raw=raw, rate=SINK_RATE))
    env = {**os.environ, "ALSA_CONFIG_PATH": f"/usr/share/alsa/alsa.conf:{conf}", "PYTHONPATH": str(PROJECT),
           "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(raw), *(str(tmp_path / f"t{i}.wav") for i in range(2))],
                         capture_output=True, text=True, env=env, cwd=PROJECT, timeout=120)
    if "PortAudio library not found" in out.stderr + out.stdout:
        pytest.skip("PortAudio is not installed (libportaudio2)")
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["available"], result
    assert result["clips"] == 2, result
    for i, level in enumerate(levels):  # the first track, then the second, each 1 s of its own tone
        written = np.fromfile(f"{raw}.{i}", dtype="<i2").astype(np.float64) / 32768
        sound = written[np.flatnonzero(written)[0]:][:SINK_RATE]
        assert len(sound) == SINK_RATE and abs(np.abs(sound).max() - level) < 0.01, (i, np.abs(sound).max())
