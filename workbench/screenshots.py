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
from pathlib import Path

from PySide6.QtWidgets import QApplication, QWidget

from workbench.shell.tabs import PanelSpec
from workbench.shell.tour import open_window, settle, visit_dialog, visit_panels


def shoot(runs_dir: Path, out: Path, settle_s: float = 4.0, live: Path | None = None,
          dialog: bool = False) -> list[Path]:
    """Save the main window once per panel (and the live study and the dialog when asked)."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    screen = app.primaryScreen().geometry()
    size = f"{screen.width()}x{screen.height()}"
    out.mkdir(parents=True, exist_ok=True)
    written = []

    def save(widget: QWidget, name: str) -> None:
        path = out / f"{name}-{size}.png"
        widget.grab().save(str(path))
        written.append(path)

    with tempfile.TemporaryDirectory() as tmp:
        window = open_window(runs_dir, Path(tmp) / "finished.ini")
        settle(app, settle_s)

        def shoot_panel(spec: PanelSpec, panel: QWidget) -> None:
            if spec.title == "Map" and getattr(panel, "data", None) is not None:
                panel.select_track(0)  # a clicked track and its neighbours
                settle(app, settle_s / 4)
            save(window, spec.title.lower())

        visit_panels(window, app, settle_s, shoot_panel)
        if live is not None:
            window.close()
            window = open_window(live, Path(tmp) / "live.ini", connect=True)
            window.tabs.setCurrentIndex(0)
            settle(app, 3 * settle_s)  # connect, list, replay the events
            save(window, "running")
        if dialog:  # from the engine's window when there is one: its hello fills the form
            visit_dialog(window, app, settle_s / 2, lambda d: save(d, "new-run"))
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
