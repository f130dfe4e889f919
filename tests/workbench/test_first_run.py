"""First run: the demo study's duration on this machine, from the measured step time; measured in the
background (a real QProcess) when there is no measurement yet."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from engine.config import METHODS
from workbench.shell import first_run as fr
from workbench.shell.app import MainWindow

MEASURED = {"precision": "bf16", "step_s": 0.5, "batch_size": 32, "views": 2, "measured_at": time.time()}


def test_estimate_scales_with_the_measured_step_time() -> None:
    methods = list(METHODS)
    trained = len([m for m in methods if m not in ("random", "logmel")])
    base = fr.demo_seconds(MEASURED, methods)
    assert fr.demo_seconds({**MEASURED, "step_s": 1.0}, methods) == pytest.approx(2 * base)
    training = fr.demo_steps() * trained * fr.DEMO_SEEDS * 0.5
    assert training * (1 + fr.OTHER_JOBS_SHARE) < base < training * (1 + fr.OTHER_JOBS_SHARE) * 1.2
    assert fr.demo_seconds(MEASURED, methods, seeds=2 * fr.DEMO_SEEDS) == pytest.approx(2 * base)  # a run per seed
    assert fr.demo_seconds(MEASURED, ["random"]) < 60  # the control trains nothing
    text = fr.describe(MEASURED, methods)
    assert text.startswith(f"About {round(base / 60)} min on this machine") and "0.50 s per step (bf16" in text
    assert f"{trained} methods × {fr.DEMO_SEEDS} seeds × {fr.demo_steps()} steps" in text


def _writer(path: Path, code: int = 0) -> list[str]:
    return [sys.executable, "-c", f"import json, sys; open({str(path)!r}, 'w').write({json.dumps(json.dumps(MEASURED))}); "
                                  f"sys.exit({code})"]


def _reader(path: Path):
    return lambda: json.loads(path.read_text()) if path.exists() else None


def test_without_a_measurement_it_measures_in_the_background(qtbot, tmp_path: Path) -> None:
    cache = tmp_path / "speed.json"
    estimate = fr.DemoEstimate(list(METHODS), read=_reader(cache), command=_writer(cache))
    texts: list[str] = []
    estimate.changed.connect(texts.append)
    estimate.start()
    assert texts[0].startswith("Measuring this machine's training speed")  # returned at once: no blocking
    qtbot.waitUntil(lambda: texts[-1].startswith("About"), timeout=30_000)
    assert texts[-1] == fr.describe(json.loads(cache.read_text()), list(METHODS))


def test_a_failed_measurement_says_so(qtbot, tmp_path: Path) -> None:
    estimate = fr.DemoEstimate(list(METHODS), read=lambda: None,
                               command=[sys.executable, "-c", "import sys; sys.exit('mvssl: no torch here')"])
    estimate.start()
    qtbot.waitUntil(lambda: estimate.text.startswith("No time estimate"), timeout=30_000)
    assert "no torch here" in estimate.text


def test_the_window_shows_the_estimate_beside_the_demo_button(qtbot, tmp_path: Path) -> None:
    cache = tmp_path / "speed.json"
    cache.write_text(json.dumps(MEASURED))
    estimate = fr.DemoEstimate(list(METHODS), read=_reader(cache), command=["false"])
    window = MainWindow(tmp_path / "runs", settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
                        estimate=estimate)
    qtbot.addWidget(window)
    window.show()
    assert window.demo_button.isVisible() and window.estimate_label.isVisible()
    assert window.estimate_label.text() == fr.describe(MEASURED, list(METHODS))
