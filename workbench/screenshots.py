"""`make screenshots`: every panel of the workbench in a real window, saved as PNG at the screen's size.

Run under a real X server (Xvfb) whose screen has the wanted size:
`xvfb-run -a -s "-screen 0 1280x800x24" python -m workbench.screenshots --runs-dir DIR --out DIR`.
The runs directory should hold a finished study; the window reads its files (no engine needed) and
opens as on a first start (fresh settings: the newest study selected). `--live DIR` adds the runs
tree and training curves of a study that is training now (read through its engine), and
`--dialog` the New run dialog. Files are named `<panel>-<width>x<height>.png`.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from workbench.app import MainWindow
from workbench.tabs import PANELS


def _settle(app: QApplication, seconds: float) -> None:
    """Let timers, background loads and paints run for `seconds`."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def _window(runs_dir: Path, settings_dir: Path, connect: bool) -> MainWindow:
    settings = QSettings(str(settings_dir / f"{runs_dir.name}.ini"), QSettings.Format.IniFormat)
    window = MainWindow(runs_dir, connect_engine=connect, settings=settings)
    window.show()
    return window


def shoot(runs_dir: Path, out: Path, settle_s: float = 4.0, live: Path | None = None,
          dialog: bool = False) -> list[Path]:
    """Save the main window once per panel (and the live study and the dialog when asked)."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    screen = app.primaryScreen().geometry()
    size = f"{screen.width()}x{screen.height()}"
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        window = _window(runs_dir, Path(tmp), connect=False)
        _settle(app, settle_s)
        for index, spec in enumerate(PANELS):
            window.tabs.setCurrentIndex(index)
            _settle(app, settle_s)
            panel = window.tabs.tabs[spec.title].panel
            if spec.title == "Map" and getattr(panel, "data", None) is not None:
                panel.select_track(0)  # a clicked track and its neighbours
                _settle(app, settle_s / 4)
            path = out / f"{spec.title.lower()}-{size}.png"
            window.grab().save(str(path))
            written.append(path)
        if live is not None:
            window.close()
            window = _window(live, Path(tmp), connect=True)
            window.tabs.setCurrentIndex(0)
            _settle(app, 3 * settle_s)  # connect, list, replay the events
            path = out / f"running-{size}.png"
            window.grab().save(str(path))
            written.append(path)
        if dialog:  # from the engine's window when there is one: its hello fills the form
            launch = window.open_launch_dialog()
            _settle(app, settle_s / 2)
            path = out / f"new-run-{size}.png"
            launch.grab().save(str(path))
            written.append(path)
            launch.reject()
        window.close()
    return written


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m workbench.screenshots")
    parser.add_argument("--runs-dir", required=True)
    parser.add_argument("--out", default="assets/screenshots")
    parser.add_argument("--settle", type=float, default=4.0, help="seconds to let each panel load")
    parser.add_argument("--live", help="runs directory of a study that is training now")
    parser.add_argument("--dialog", action="store_true", help="also the New run dialog")
    args = parser.parse_args()
    for path in shoot(Path(args.runs_dir), Path(args.out), args.settle, Path(args.live) if args.live else None,
                      args.dialog):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
