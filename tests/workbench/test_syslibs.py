"""The system-library check `make run` does before any window opens: the libraries are looked up for real
(ctypes / ldconfig); MVSSL_SYSLIBS_ABSENT pretends one is missing, to see the message instead of Qt's abort."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from workbench import syslibs

ROOT = Path(__file__).parents[2]


def test_every_library_the_gui_and_audio_need_is_found_here() -> None:
    # .ci/run installs exactly the packages of syslibs.APT_LINE
    assert syslibs.missing(list(syslibs.LINUX_LIBS)) == []
    assert syslibs.missing(["mvssl-no-such-library"]) == ["mvssl-no-such-library"]


def test_the_ci_installs_every_package_of_the_install_line() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert all(package in ci for package in syslibs.LINUX_LIBS.values())


def test_offscreen_needs_only_the_audio_libraries(monkeypatch) -> None:
    monkeypatch.setenv(syslibs.ABSENT_ENV, "xcb-cursor")
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert syslibs.missing_for_gui() == []
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    assert syslibs.missing_for_gui() == ["xcb-cursor"]


def _without(*names: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    return {**env, syslibs.ABSENT_ENV: ",".join(names)}


def test_a_missing_library_prints_the_install_line_and_exits_1() -> None:
    result = subprocess.run([sys.executable, "-m", "workbench.syslibs"], capture_output=True, text=True,
                            env=_without("xcb-cursor"), cwd=ROOT, timeout=60)
    assert result.returncode == 1
    assert "libxcb-cursor0" in result.stderr.splitlines()[0]
    assert syslibs.install_line() in result.stderr
    ok = subprocess.run([sys.executable, "-m", "workbench.syslibs"], capture_output=True, text=True,
                        env=_without(), cwd=ROOT, timeout=60)
    assert ok.returncode == 0 and ok.stderr == ""


def test_make_run_stops_with_the_line_before_building_or_opening_anything() -> None:
    result = subprocess.run(["make", "--no-print-directory", "run", f"PYTHON={sys.executable}"], capture_output=True,
                            text=True, env=_without("xcb-cursor", "portaudio"), cwd=ROOT, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert syslibs.APT_LINE in output and "libportaudio2" in output.splitlines()[0]
    assert "Qt platform plugin" not in output and "pip install" not in output


def test_the_readme_starts_with_the_install_line_of_each_os() -> None:
    head = "\n".join((ROOT / "README.md").read_text().splitlines()[:30])
    for line in (syslibs.APT_LINE, syslibs.DNF_LINE, syslibs.BREW_LINE):
        assert line in head


def test_each_os_has_its_line() -> None:
    assert syslibs.install_line("fedora") == syslibs.DNF_LINE and syslibs.install_line("macos") == syslibs.BREW_LINE
    assert syslibs.install_line("debian") == syslibs.APT_LINE
