"""Corpus choice of the launch dialog: demo, a folder, MagnaTagATune or MTG-Jamendo, paths checked as typed.

The result is a corpus SOURCE string as the engine parses it (`engine.data.corpora.sources`).
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox, QFileDialog, QFormLayout, QHBoxLayout, QLineEdit, QSizePolicy, QStackedWidget, QToolButton, QVBoxLayout,
    QWidget,
)

from workbench.launch.config_form import INVALID_STYLE

KINDS: dict[str, str] = {"demo": "Demo corpus (generated)", "folder": "Folder of audio (+ tags CSV)",
                         "mtat": "MagnaTagATune", "jamendo": "MTG-Jamendo (split 0)"}


class PathEdit(QWidget):
    """A path line edit with a Browse button; marks itself red with a reason."""

    changed = Signal()

    def __init__(self, directory: bool, placeholder: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.directory = directory
        self.edit = QLineEdit(placeholderText=placeholder)
        self.edit.textChanged.connect(lambda *_: self.changed.emit())
        browse = QToolButton(text="…", toolTip="Browse")
        browse.clicked.connect(self._on_browse)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, 1)
        layout.addWidget(browse)
        self.error: str | None = None

    def text(self) -> str:
        return self.edit.text().strip()

    def set_text(self, text: str) -> None:
        self.edit.setText(text)

    def set_error(self, reason: str | None) -> None:
        self.error = reason
        self.edit.setStyleSheet(INVALID_STYLE if reason else "")
        self.edit.setToolTip(f"⚠ {reason}" if reason else "")

    def _on_browse(self) -> None:
        start = self.text() or str(Path.home())
        if self.directory:
            chosen = QFileDialog.getExistingDirectory(self, "Choose a folder", start)
        else:
            chosen, _ = QFileDialog.getOpenFileName(self, "Choose a file", start)
        if chosen:
            self.set_text(chosen)


def _dir_error(text: str, what: str) -> str | None:
    if not text:
        return f"choose the {what}"
    if ":" in text:
        return "a path with ':' cannot be written in a corpus source"
    return None if Path(text).expanduser().is_dir() else f"folder not found: {text}"


def _file_error(text: str, optional: bool = True) -> str | None:
    if not text:
        return None if optional else "choose a file"
    if ":" in text:
        return "a path with ':' cannot be written in a corpus source"
    return None if Path(text).expanduser().is_file() else f"file not found: {text}"


def _mtat_split_error(text: str) -> str | None:
    from engine.data.corpora import mtat

    missing = [name for name in (*mtat.LIST_FILES.values(), mtat.TAGS_FILE) if not (Path(text) / name).is_file()]
    return f"split files not found here: {', '.join(missing)}" if missing else None


def _jamendo_split_error(text: str) -> str | None:
    from engine.data.corpora import jamendo

    try:
        jamendo.find_dirs(Path(text))
    except ValueError as err:
        return str(err)
    return None


class CorpusPicker(QWidget):
    """Kind combo plus the paths that kind needs; `source()` and `errors()` read it."""

    changed = Signal()

    def __init__(self, jamendo_tasks: tuple[str, ...] = ("top50", "genre", "instrument", "moodtheme"),
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.kind = QComboBox()
        for kind, title in KINDS.items():
            self.kind.addItem(title, kind)
        self.folder = PathEdit(True, "folder with audio files")
        self.folder_csv = PathEdit(False, "optional: tags CSV (default: FOLDER/tags.csv)")
        self.mtat_split = PathEdit(True, "folder with train_list.txt, top50_tags.txt, …")
        self.mtat_audio = PathEdit(True, "audio root (the mp3 folders 0 … f)")
        self.mtat_annotations = PathEdit(False, "optional: annotations_final.csv")
        self.jamendo_split = PathEdit(True, "metadata folder with split-0/")
        self.jamendo_audio = PathEdit(True, "audio root (folders 00 … 99)")
        self.jamendo_task = QComboBox()
        self.jamendo_task.addItems(list(jamendo_tasks))
        self.pages = QStackedWidget()
        for rows in ([], [("Folder", self.folder), ("Tags CSV", self.folder_csv)],
                     [("Split folder", self.mtat_split), ("Audio root", self.mtat_audio),
                      ("Annotations", self.mtat_annotations)],
                     [("Split folder", self.jamendo_split), ("Audio root", self.jamendo_audio),
                      ("Task", self.jamendo_task)]):
            page = QWidget()
            form = QFormLayout(page)
            form.setContentsMargins(0, 0, 0, 0)
            for label, widget in rows:
                form.addRow(label, widget)
            self.pages.addWidget(page)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.kind)
        layout.addWidget(self.pages)
        self.kind.currentIndexChanged.connect(self._on_kind_changed)
        self.kind.currentIndexChanged.connect(lambda *_: self.changed.emit())
        self.jamendo_task.currentIndexChanged.connect(lambda *_: self.changed.emit())
        for edit in self._paths():
            edit.changed.connect(self.changed.emit)
        self._on_kind_changed(0)

    def _on_kind_changed(self, index: int) -> None:
        """Show the page of the kind; the stack takes the height of that page only."""
        self.pages.setCurrentIndex(index)
        for i in range(self.pages.count()):
            policy = QSizePolicy.Policy.Preferred if i == index else QSizePolicy.Policy.Ignored
            self.pages.widget(i).setSizePolicy(policy, policy)
        self.pages.adjustSize()

    def _paths(self) -> list[PathEdit]:
        return [self.folder, self.folder_csv, self.mtat_split, self.mtat_audio, self.mtat_annotations,
                self.jamendo_split, self.jamendo_audio]

    def current_kind(self) -> str:
        return self.kind.currentData()

    def set_kind(self, kind: str) -> None:
        self.kind.setCurrentIndex(self.kind.findData(kind))

    def source(self) -> str:
        """The corpus SOURCE string of the current choice."""
        kind = self.current_kind()
        if kind == "demo":
            return "demo"
        edits = {"folder": [self.folder, self.folder_csv],
                 "mtat": [self.mtat_split, self.mtat_audio, self.mtat_annotations],
                 "jamendo": [self.jamendo_split, self.jamendo_audio]}[kind]
        fields = [str(Path(e.text()).expanduser()) for e in edits if e.text()]
        if kind == "jamendo":
            fields.append(self.jamendo_task.currentText())
        return ":".join([kind, *fields])

    def errors(self) -> dict[str, str]:
        """Check the paths of the current kind on the spot; marks each bad one and returns {field: reason}."""
        kind = self.current_kind()
        checks: dict[str, tuple[PathEdit, str | None]] = {}
        if kind == "folder":
            checks["folder"] = (self.folder, _dir_error(self.folder.text(), "audio folder"))
            checks["tags_csv"] = (self.folder_csv, _file_error(self.folder_csv.text()))
        elif kind == "mtat":
            split = _dir_error(self.mtat_split.text(), "split folder")
            checks["split_dir"] = (self.mtat_split, split or _mtat_split_error(self.mtat_split.text()))
            checks["audio_root"] = (self.mtat_audio, _dir_error(self.mtat_audio.text(), "audio root"))
            checks["annotations"] = (self.mtat_annotations, _file_error(self.mtat_annotations.text()))
        elif kind == "jamendo":
            split = _dir_error(self.jamendo_split.text(), "split folder")
            checks["split_dir"] = (self.jamendo_split, split or _jamendo_split_error(self.jamendo_split.text()))
            checks["audio_root"] = (self.jamendo_audio, _dir_error(self.jamendo_audio.text(), "audio root"))
        for edit in self._paths():
            edit.set_error(None)
        errors = {}
        for name, (edit, reason) in checks.items():
            edit.set_error(reason)
            if reason:
                errors[name] = reason
        return errors
