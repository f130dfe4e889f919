"""The real main window under Xvfb at a laptop (1280x800) and a desktop (1920x1080) screen, on a finished
small study made by a real engine: on every panel the window lies within the screen, no visible plot or
table is clipped by its parent, no plot is squeezed unreadable, no two tick labels of an axis intersect
and no legend lies on the data (tests/workbench/layout_probe.py measures it). On the Collapse tab, with two runs
and with one, no plot title is cut, the plots use the panel's width and every RankMe checkpoint point is in view."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.small_study import make_small_study

SCREENS = ("1280x800", "1920x1080")


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_small_study(tmp_path_factory.mktemp("layout") / "runs", umap=False)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # the first one makes the study: a few CPU minutes, more on a shared machine
@pytest.mark.parametrize("screen", SCREENS)
def test_every_panel_fits_and_reads_at(screen: str, study: Path) -> None:
    assert shutil.which("xvfb-run"), "xvfb-run is needed (apt-get install xvfb xauth, as .ci/run does)"
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb"}
    result = subprocess.run(["xvfb-run", "-a", "-s", f"-screen 0 {screen}x24", sys.executable, "-m",
                             "tests.workbench.layout_probe", "--runs-dir", str(study)],
                            capture_output=True, text=True, timeout=600, env=env, cwd=Path(__file__).parents[2])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"screen {screen}: 0 problem(s)"), result.stdout + result.stderr
    # the Collapse tab was measured with its pair of runs and with one run, each with RankMe checkpoint points
    collapse = [line for line in result.stdout.splitlines() if line.startswith("measured Collapse")]
    assert [line.split(":")[0] for line in collapse] == ["measured Collapse", "measured Collapse (one run)"]
    assert all(" 0 checkpoint point(s)" not in line for line in collapse), collapse
