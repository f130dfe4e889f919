"""The walk through the window that screenshots and the layout probe share: every panel, then the dialog."""
from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QImage

from workbench.screenshots import shoot
from workbench.shell.tabs import PANELS
from workbench.shell.tour import open_window, visit_dialog, visit_panels


def test_visit_panels_shows_each_panel_before_its_visit(qapp, tmp_path: Path) -> None:
    window = open_window(tmp_path / "runs", tmp_path / "s.ini")
    seen = []
    visit_panels(window, qapp, 0.01, lambda spec, panel: seen.append(
        (spec.title, window.tabs.currentIndex(), panel is window.tabs.tabs[spec.title].panel)))
    dialogs = []
    visit_dialog(window, qapp, 0.01, lambda dialog: dialogs.append(dialog.isVisible()))
    window.close()
    assert seen == [(spec.title, i, True) for i, spec in enumerate(PANELS)]
    assert dialogs == [True]


def test_screenshots_write_one_image_per_panel_and_the_dialog(qapp, tmp_path: Path) -> None:
    written = shoot(tmp_path / "runs", tmp_path / "shots", settle_s=0.05, dialog=True)
    size = f"{qapp.primaryScreen().geometry().width()}x{qapp.primaryScreen().geometry().height()}"
    assert [p.name for p in written] == [f"{s.title.lower()}-{size}.png" for s in PANELS] + [f"new-run-{size}.png"]
    for path in written:
        image = QImage(str(path))
        assert not image.isNull() and image.width() > 100 and image.height() > 100, path
