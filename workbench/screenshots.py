"""`make screenshots`: every panel of the workbench in a real window, saved as PNG.

Run under a real X server (Xvfb): `xvfb-run -a python -m workbench.screenshots --runs-dir DIR --out DIR`.
The runs directory should hold a finished study; the window reads its files (no engine needed).
"""
from __future__ import annotations

import argparse
import sys
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


def shoot(runs_dir: Path, out: Path, settle_s: float = 4.0, size: tuple[int, int] = (1500, 950)) -> list[Path]:
    """Open the window on `runs_dir`, select its runs, and save the main window and one PNG per panel."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    settings = QSettings(str(out / ".screenshots.ini"), QSettings.Format.IniFormat)
    window = MainWindow(runs_dir, connect_engine=False, settings=settings)
    window.resize(*size)
    window.show()
    _settle(app, settle_s)
    runs = sorted(p for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    window.selection.set_runs(runs)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for index, spec in enumerate(PANELS):
        window.tabs.setCurrentIndex(index)
        _settle(app, settle_s)
        path = out / f"{spec.title.lower()}.png"
        window.grab().save(str(path))
        written.append(path)
    window.close()
    return written


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m workbench.screenshots")
    parser.add_argument("--runs-dir", required=True)
    parser.add_argument("--out", default="assets/screenshots")
    parser.add_argument("--settle", type=float, default=4.0, help="seconds to let each panel load")
    args = parser.parse_args()
    for path in shoot(Path(args.runs_dir), Path(args.out), args.settle):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
