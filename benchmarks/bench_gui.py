"""GUI responsiveness: time to first window, a 50,000-point map (draw, hover, click to sound), and the
event-loop latency while training events stream in at 10 Hz.

Builds a synthetic run (random 1024-D track embeddings, a PCA-like map, every track pointing at
one 16 kHz audio file) in a temporary directory, opens the embedding map panel on it, and
prints the timings as JSON (also written to benchmarks/results/<machine kind>/gui.json). Goal for click to
sound: < 150 ms. Without an audio device the sound goes to an ALSA file sink, so the time to
open the PortAudio stream is still measured. Each figure has a same-run reference: a bare Qt
window in a fresh interpreter, the same points in a plain pyqtgraph scatter, and the event loop
of the same training panel with no events arriving.

    python benchmarks/bench_gui.py [--tracks 50000] [--dim 1024] [--repeats 20] [--latency-s 5]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SINK = """pcm.!default {{ type plug; slave {{ pcm {{ type file; slave.pcm "null"; file "{raw}"; format "raw" }};
    format S16_LE; rate 16000; channels 1 }} }}
"""


def choose_audio(tmp: Path) -> str:
    """'device' when PortAudio has an output device; else route ALSA's default to a file ('alsa-file-sink')."""
    probe = "import sounddevice as sd; sd.query_devices(kind='output')"
    if subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode == 0:
        return "device"
    conf = tmp / "asound.conf"
    conf.write_text(SINK.format(raw=tmp / "sink.raw"))
    os.environ["ALSA_CONFIG_PATH"] = f"/usr/share/alsa/alsa.conf:{conf}"  # read when PortAudio starts
    return "alsa-file-sink"


def make_run(root: Path, n: int, dim: int) -> Path:
    from engine.rundir import analysis_store, embeddings_store

    rng = np.random.default_rng(0)
    audio = root / "tone.wav"
    t = np.arange(16000 * 12) / 16000
    sf.write(audio, (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), 16000)
    tags = (rng.random((n, 20)) < 0.15).astype(np.uint8)
    names = [f"genre:g{i}" for i in range(8)] + [f"instrument:i{i}" for i in range(8)] + [f"mood:m{i}" for i in range(4)]
    tracks = embeddings_store.TrackTable([f"t{i:06d}" for i in range(n)], [str(audio)] * n,
                                         [("train", "valid", "test")[i % 3] for i in range(n)], tags, names)
    run = root / "big"
    run.mkdir()
    centres = rng.normal(size=(16, dim)).astype(np.float32)
    with embeddings_store.EmbeddingsWriter(run, tracks, dim, {"run_id": "big", "method": "contrastive"}) as writer:
        for lo in range(0, n, 5000):
            rows = np.arange(lo, min(n, lo + 5000))
            emb = centres[rows % 16] + rng.normal(size=(len(rows), dim)).astype(np.float32)
            writer.add_segments(rows, np.full(len(rows), 4.0, np.float32), emb)
        writer.finish()
    xy = np.c_[np.cos(np.arange(n) % 16), np.sin(np.arange(n) % 16)] * 5 + rng.normal(size=(n, 2))
    analysis_store.write_projection(run, "pca", xy, {"method": "pca"})
    return run


def ms(values: list[float]) -> dict[str, float]:
    a = np.array(values) * 1000
    return {"median_ms": round(float(np.median(a)), 2), "p95_ms": round(float(np.percentile(a, 95)), 2),
            "max_ms": round(float(a.max()), 2), "n": len(a)}


FIRST_WINDOW = """
import sys
from pathlib import Path
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
from workbench.shell.app import MainWindow
app = QApplication(sys.argv[:1])
window = MainWindow(Path(sys.argv[1]), settings=QSettings(sys.argv[2], QSettings.Format.IniFormat))
window.show()
app.processEvents()
print("shown", flush=True)
"""
BARE_WINDOW = """
import sys
from PySide6.QtWidgets import QApplication, QWidget
app = QApplication(sys.argv[:1])
window = QWidget()
window.show()
app.processEvents()
print("shown", flush=True)
"""


def first_window_s(runs_dir: Path, repeats: int = 3) -> dict[str, dict[str, float]]:
    """Seconds from starting a fresh interpreter to the main window shown (goal < 2 s), and to a bare QWidget."""
    times: dict[str, list[float]] = {"main": [], "bare_qt": []}
    for _ in range(repeats):
        for name, code in (("main", FIRST_WINDOW), ("bare_qt", BARE_WINDOW)):
            t0 = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", code, str(runs_dir), str(runs_dir / "bench.ini")],
                                 capture_output=True, text=True, cwd=ROOT, check=True)
            assert "shown" in out.stdout
            times[name].append(time.perf_counter() - t0)
    return {name: {"median_s": round(sorted(t)[len(t) // 2], 3), "max_s": round(max(t), 3)}
            for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracks", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--latency-s", type=float, default=5.0, help="seconds of event-loop probing, each mode")
    from engine.training.speed_cache import machine_kind

    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / machine_kind() / "gui.json")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        audio_mode = choose_audio(tmp)
        t0 = time.perf_counter()
        run = make_run(tmp, args.tracks, args.dim)
        build_s = time.perf_counter() - t0
        result = measure(run, args.repeats)
        result["event_loop"] = event_loop_latency(tmp, args.latency_s)
        first = first_window_s(tmp)
        result["time_to_first_window"], result["time_to_bare_qt_window"] = first["main"], first["bare_qt"]
    result.update(tracks=args.tracks, dim=args.dim, audio=audio_mode, build_run_s=round(build_s, 1),
                  qt_platform=os.environ["QT_QPA_PLATFORM"], machine=platform.machine(), cpus=os.cpu_count())
    text = json.dumps(result, indent=1)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")


def measure(run: Path, repeats: int) -> dict:
    import pyqtgraph as pg
    from PySide6.QtCore import QPointF
    from PySide6.QtWidgets import QApplication

    from workbench.panels.map import model as mm
    from workbench.panels.map.view import EmbeddingMapPanel
    from workbench.player import Player
    from workbench.runs.selection import RunSelection

    app = QApplication.instance() or QApplication([])
    player = Player()
    t0 = time.perf_counter()
    available = player.available  # loads PortAudio once
    portaudio_s = time.perf_counter() - t0
    selection = RunSelection()
    panel = EmbeddingMapPanel(selection, player)
    panel.resize(1400, 900)
    panel.show()
    t0 = time.perf_counter()
    selection.set_runs([run])
    while panel.data is None or len(panel.plot.scatter.data) == 0:
        app.processEvents()
        time.sleep(0.002)
    load_s = time.perf_counter() - t0
    viewport = panel.plot.viewport()
    app.processEvents()

    draws, plain_draws, recolours, repaints = [], [], [], []
    xy = panel.maps["pca"]
    plain = pg.PlotWidget()  # the same points in a bare pyqtgraph scatter: the library's own cost
    plain_scatter = pg.ScatterPlotItem()
    plain.addItem(plain_scatter)
    plain.resize(1400, 900)
    plain.show()
    options = [mm.ColourBy("split"), mm.ColourBy("group", "genre"), mm.ColourBy("tag", "genre:g1")]
    for i in range(repeats):
        t0 = time.perf_counter()
        panel.plot.scatter.setData(x=xy[:, 0], y=xy[:, 1], brush=panel._point_brushes())
        viewport.repaint()
        draws.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        plain_scatter.setData(x=xy[:, 0], y=xy[:, 1], brush=panel._point_brushes())
        plain.viewport().repaint()
        plain_draws.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        panel.set_colour(options[i % len(options)])
        viewport.repaint()
        recolours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        viewport.repaint()
        repaints.append(time.perf_counter() - t0)

    rng = np.random.default_rng(1)
    vb = panel.plot.getViewBox()
    rows = rng.integers(0, len(xy), 200)
    positions = [vb.mapViewToScene(QPointF(*xy[r])) for r in rows]
    hovers, lookups, shown = [], [], []
    for i, pos in enumerate(positions):
        t0 = time.perf_counter()
        panel.plot.scene().sigMouseMoved.emit(pos)
        hovers.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        panel.plot.row_at(pos)
        lookups.append(time.perf_counter() - t0)
        if i < repeats:  # until the label is on screen
            t0 = time.perf_counter()
            panel.plot.scene().sigMouseMoved.emit(positions[-1 - i])
            viewport.repaint()
            shown.append(time.perf_counter() - t0)

    clicks, neighbours, decodes, plays = [], [], [], []
    for r in rows[:repeats]:
        t0 = time.perf_counter()
        panel.select_track(int(r))
        clicks.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        mm.neighbours(panel.data.unit, int(r), 10)
        neighbours.append(time.perf_counter() - t0)
        if available:
            from workbench.player import read_segment
            t0 = time.perf_counter()
            read_segment(panel.data.paths[r], float(panel.data.start_s[r]))
            decodes.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            player.play(panel.data.paths[r], float(panel.data.start_s[r]))
            plays.append(time.perf_counter() - t0)
        app.processEvents()
    player.stop()
    out = {"load_run_s": round(load_s, 2), "portaudio_init_s": round(portaudio_s, 3), "audio_available": available,
           "audio_reason": player.reason, "map_draw": ms(draws),
           "map_draw_plain_pyqtgraph": ms(plain_draws), "map_recolour": ms(recolours),
           "map_repaint": ms(repaints), "hover": ms(hovers), "hover_lookup_only": ms(lookups),
           "hover_with_repaint": ms(shown),
           "click_to_sound": ms(clicks), "click_neighbours_only": ms(neighbours)}
    if available:
        out.update(click_decode_only=ms(decodes), click_play_only=ms(plays))
    out["click_to_sound_goal_met"] = out["click_to_sound"]["median_ms"] < 150
    panel.close()
    plain.close()
    return out


def _train_events(start: int, n: int) -> list[dict]:
    return [{"type": "train", "step": s, "loss": 8.0 / (1 + 0.01 * s), "lr": 1e-3, "wd": 0.04, "momentum": 0.996,
             "teacher_temp": 0.04, "views_per_s": 150.0, "grad_norm": 2.0, "data_wait": 0.01, "epoch": s / 7,
             "positive": -1.0, "negative": 3.0, "time": 1e9 + s} for s in range(start, start + n)]


def event_loop_latency(root: Path, seconds: float, runs: int = 6, history: int = 1000,
                       tick_ms: int = 10) -> dict[str, dict[str, float]]:
    """Gaps between ticks of a 10 ms timer on the training panel of `runs` runs with `history` steps each,
    while one event per run arrives every 100 ms ("streaming") and with none arriving ("idle")."""
    from PySide6.QtCore import QEventLoop, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from workbench.panels.training.view import TrainingPanel
    from workbench.runs.selection import RunSelection
    from workbench.runs.series import SeriesStore

    app = QApplication.instance() or QApplication([])
    paths = []
    for i in range(runs):
        path = root / f"stream{i}"
        path.mkdir()
        (path / "status.json").write_text(json.dumps({"state": "running", "method": "contrastive"}))
        paths.append(path)
    store, selection = SeriesStore(), RunSelection()
    panel = TrainingPanel(selection, store)
    panel.resize(1400, 900)
    panel.show()
    selection.set_runs(paths)
    store.add_batch({p.name: _train_events(1, history) for p in paths})
    app.processEvents()
    step = {"next": history + 1}

    def feed() -> None:
        store.add_batch({p.name: _train_events(step["next"], 1) for p in paths})
        step["next"] += 1

    out = {}
    for mode in ("idle", "streaming"):
        ticks: list[float] = []
        probe = QTimer(timerType=Qt.TimerType.PreciseTimer, interval=tick_ms)
        probe.timeout.connect(lambda: ticks.append(time.perf_counter()))
        feeder = QTimer(interval=100)
        feeder.timeout.connect(feed)
        loop = QEventLoop()
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        probe.start()
        if mode == "streaming":
            feeder.start()
        loop.exec()
        probe.stop()
        feeder.stop()
        out[mode] = {**ms(list(np.diff(ticks))), "interval_ms": tick_ms}
    out["streaming"]["events_per_s"] = 10 * runs
    panel.close()
    return out


def run(quick: bool = False, progress=print) -> dict:
    """This script in a fresh offscreen interpreter (as `make bench` section "gui"); its JSON as table rows."""
    from benchmarks.common import row

    args = (["--tracks", "2000", "--repeats", "3", "--latency-s", "1"] if quick
            else ["--tracks", "50000", "--repeats", "20", "--latency-s", "5"])
    with tempfile.TemporaryDirectory(prefix="mvssl-bench-gui-") as tmp:
        out = Path(tmp) / "gui.json"
        env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen")}
        subprocess.run([sys.executable, str(Path(__file__).resolve()), *args, "--out", str(out)],
                       cwd=ROOT, env=env, check=True, capture_output=True, text=True)
        r = json.loads(out.read_text())
    n = f"{r['tracks']:,}"
    loop = r["event_loop"]
    rows = [
        row("gui", "time to first window", "s", r["time_to_first_window"]["median_s"],
            r["time_to_bare_qt_window"]["median_s"], "a bare QWidget in a fresh interpreter", ("ours", "<", 2.0)),
        row("gui", f"map draw, {n} points", "ms", r["map_draw"]["median_ms"],
            r["map_draw_plain_pyqtgraph"]["median_ms"], "same points in a bare pyqtgraph scatter", None),
        row("gui", f"hover on the {n}-point map, label on screen", "ms", r["hover_with_repaint"]["median_ms"],
            r["map_repaint"]["median_ms"], "one repaint of the map", ("ours", "<", 150.0),
            event_only_ms=r["hover"]["median_ms"]),
        row("gui", f"click to sound on the {n}-point map", "ms", r["click_to_sound"]["median_ms"],
            r["click_neighbours_only"]["median_ms"], "the 10-NN search alone", ("ours", "<", 150.0),
            audio=r["audio"]),
        row("gui", f"event-loop gap (p95 of a {loop['idle']['interval_ms']} ms timer), "
                   f"{loop['streaming']['events_per_s']} events/s to the training panel", "ms",
            loop["streaming"]["p95_ms"], loop["idle"]["p95_ms"], "same panel, no events arriving",
            ("ours", "<", 150.0), streaming=loop["streaming"], idle=loop["idle"]),
    ]
    progress("gui: " + "; ".join(f"{x['what']}: {x['ours']:.3g} {x['unit']}" for x in rows))
    return {"rows": rows, "raw": r}


if __name__ == "__main__":
    main()
