"""The GUI scenario (tests/e2e/gui_scenario.py) in a real window: its own X server at 1280x800, a real engine,
ALSA writing to a file."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.workbench.test_player import SINK, SINK_RATE

PROJECT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_a_study_started_from_the_window_shows_in_every_panel_by_itself(tmp_path: Path) -> None:
    if shutil.which("xvfb-run") is None:
        pytest.fail("xvfb-run is missing: apt-get install -y xvfb xauth (.ci/run installs them)")
    conf = tmp_path / "asound.conf"
    conf.write_text(SINK.format(raw=tmp_path / "alsa.raw", rate=SINK_RATE))
    env = {**os.environ, "ALSA_CONFIG_PATH": f"/usr/share/alsa/alsa.conf:{conf}", "PYTHONPATH": str(PROJECT),
           "QT_QPA_PLATFORM": "xcb"}
    out = subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1280x800x24", sys.executable, "-m",
                          "tests.e2e.gui_scenario", str(tmp_path)], capture_output=True, text=True, env=env,
                         cwd=PROJECT, timeout=600)
    print(out.stdout)
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-6000:]
