"""New run / new study dialog: corpus, methods, preset, pipeline and every hyper-parameter of the run config.

Methods, presets, stages, tasks and the config form come from the engine's hello (or, offline,
from the same engine modules, workbench.launch.model), so the dialog never lists a stale field.
Invalid values are marked on the spot and keep the submit button disabled. One method, one seed and pre-training
only is a `submit`; anything more is a `submit_study`. Either runs here or on Slurm (workbench.launch.where).
"""
from __future__ import annotations

import html
import re
from typing import Any, Callable

from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFormLayout, QGridLayout, QGroupBox, QHBoxLayout, QLabel,
    QLineEdit, QPushButton, QScrollArea, QSpinBox, QVBoxLayout, QWidget,
)

from engine.service.contract import Forms
from engine.training.slurm_options import SlurmOptions
from workbench.launch import model as lm
from workbench.launch.model import comparison_methods, config_errors, defaults_tooltip, numbers, offline_info
from workbench.launch.config_form import INVALID_STYLE, ConfigForm
from workbench.launch.corpus_picker import CorpusPicker
from workbench.launch.where import WhereBox

SPECIAL = ("method", "corpus", "preset", "seed")  # fields with their own widgets above the form
CORPUS_TASKS = {"folder": ["all"], "mtat": ["top50"]}  # default probe tasks per corpus kind (demo: hello's)
Send = Callable[[str, dict[str, Any], Callable[[dict], None], Callable[[str], None]], None]


class LaunchDialog(QDialog):
    """Builds a `submit` or `submit_study` request; `send(type, fields, on_reply, on_error)` delivers it."""

    def __init__(self, info: Forms | None = None, send: Send | None = None,
                 parent: QWidget | None = None, slurm: SlurmOptions | None = None) -> None:
        super().__init__(parent)
        self.where = WhereBox(slurm)  # `slurm`: the runs folder's remembered options
        self.setWindowTitle("New run or study")
        self.info = info if info is not None else offline_info()
        self.send = send
        self.result_: tuple[str, dict[str, Any]] | None = None
        self.errors_: dict[str, str] = {}
        self._build()
        self._on_preset_changed()
        self._on_corpus_changed()
        self.revalidate()

    # ---- layout --------------------------------------------------------------------------------------
    def _build(self) -> None:
        from engine.config import PROBE_PROTOCOLS

        info = self.info
        self.corpus = CorpusPicker()
        self.method_boxes: dict[str, QCheckBox] = {}
        methods = QGridLayout()
        for i, method in enumerate(info.methods):
            box = QCheckBox(method)
            self.method_boxes[method] = box
            methods.addWidget(box, i // 4, i % 4)
        first = comparison_methods(list(info.methods))[:1] or list(info.methods)[:1]
        for method in first:
            self.method_boxes[method].setChecked(True)
        self.compare_button = QPushButton("Compare all five + random")
        self.compare_button.setToolTip("check " + ", ".join(comparison_methods(list(info.methods))))
        self.compare_button.clicked.connect(self.check_comparison)
        methods.addWidget(self.compare_button, (len(info.methods) + 3) // 4, 0, 1, 4)
        self.preset = QComboBox()
        self.preset.addItems(list(info.presets))
        self.preset.currentIndexChanged.connect(self._on_preset_changed)
        self.name = QLineEdit(placeholderText="optional: run or study id (default: method or study + date)")
        self.seeds = QSpinBox(minimum=1, maximum=16, value=1)
        self.seeds.setToolTip("train every method with this many seeds: one run per method and seed; the "
                              "comparison then shows each method's mean and spread over its seeds")
        self.first_seed = QSpinBox(minimum=0, maximum=2**31 - 1, value=0)
        self.first_seed.setToolTip("the seeds are first, first + 1, ...")
        seeds = QHBoxLayout()
        for widget in (self.seeds, QLabel("per method, from seed"), self.first_seed):
            seeds.addWidget(widget)
        seeds.addStretch(1)

        top = QFormLayout()
        top.addRow("Corpus", self.corpus)
        top.addRow("Methods", methods)
        top.addRow("Preset", self.preset)
        top.addRow("Name", self.name)
        top.addRow("Seeds", seeds)

        self.stage_boxes: dict[str, QCheckBox] = {}
        stages = QHBoxLayout()
        for stage in info.stages:
            box = QCheckBox(stage, checked=True)
            box.setEnabled(stage != "pretrain")
            self.stage_boxes[stage] = box
            stages.addWidget(box)
        self.task_boxes: dict[str, QCheckBox] = {}
        tasks = QHBoxLayout()
        for task in info.probe_tasks:
            box = QCheckBox(task)
            self.task_boxes[task] = box
            tasks.addWidget(box)
        self.fractions = QLineEdit(",".join(f"{f:g}" for f in info.fractions))
        self.fractions.setToolTip("probe training-data fractions in percent")
        self.draws = QSpinBox(minimum=1, maximum=100, value=4)
        self.probe_protocol = QComboBox()
        self.probe_protocol.addItems(list(PROBE_PROTOCOLS))
        self.probe_protocol.setToolTip("ours: standardised inputs, dropout 0.5, mean of segment probabilities; "
                                       "paper: the official head on mean embeddings; marble: MARBLE's probe; "
                                       "linear: one Linear layer")
        pipeline = QGroupBox("Pipeline")
        form = QFormLayout(pipeline)
        form.addRow("Stages", stages)
        form.addRow("Probe tasks", tasks)
        form.addRow("Fractions %", self.fractions)
        form.addRow("Draws", self.draws)
        form.addRow("Probe protocol", self.probe_protocol)

        self.form = ConfigForm(info.config_schema, exclude=SPECIAL)
        scroll = QScrollArea()
        scroll.setWidget(self.form)
        scroll.setWidgetResizable(True)
        params = QGroupBox("Hyper-parameters")
        QVBoxLayout(params).addWidget(scroll)

        self.message, self.estimate = QLabel(wordWrap=True), QLabel(wordWrap=True)
        self._measurement = lm.latest_measurement()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.submit_button = self.buttons.addButton("Start", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.submit)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(pipeline)
        layout.addWidget(self.where)
        layout.addWidget(params, 1)
        layout.addWidget(self.estimate)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        boxes = [*self.method_boxes.values(), *self.stage_boxes.values(), *self.task_boxes.values()]
        for signal in (self.corpus.changed, self.form.changed, self.where.changed, self.seeds.valueChanged, self.name.textChanged,
                       self.fractions.textChanged, *(box.toggled for box in boxes)):
            signal.connect(lambda *_: self.revalidate())
        self.corpus.changed.connect(self._on_corpus_changed)
        self.resize(900, 760)

    # ---- reactions -----------------------------------------------------------------------------------
    def check_comparison(self) -> None:
        """Check the five methods and random; uncheck the rest."""
        chosen = comparison_methods(list(self.method_boxes))
        for method, box in self.method_boxes.items():
            box.setChecked(method in chosen)

    def _on_preset_changed(self) -> None:
        from engine.config import build

        preset = self.preset.currentText()
        self._preset_values = build(preset).model_dump()
        self._steps_seen = self._preset_values["steps"]
        self.form.set_values(self._preset_values)
        for method, box in self.method_boxes.items():
            box.setToolTip(defaults_tooltip(preset, method))
        self.revalidate()

    def _on_corpus_changed(self) -> None:
        kind = self.corpus.current_kind()
        if kind == "jamendo":
            tasks = ["top50"] if self.corpus.jamendo_task.currentText() == "top50" else ["all"]
        else:
            tasks = CORPUS_TASKS.get(kind, list(self.info.tasks))
        for task, box in self.task_boxes.items():
            box.setChecked(task in tasks)

    # ---- the request ---------------------------------------------------------------------------------
    def methods(self) -> list[str]:
        return [m for m, box in self.method_boxes.items() if box.isChecked()]

    def is_study(self) -> bool:
        stages = [s for s, box in self.stage_boxes.items() if box.isChecked()]
        return len(self.methods()) > 1 or self.seeds.value() > 1 or stages != ["pretrain"]

    def seed_list(self) -> list[int]:
        """The seeds every method trains with."""
        return list(range(self.first_seed.value(), self.first_seed.value() + self.seeds.value()))

    def request(self) -> tuple[str, dict[str, Any]]:
        """(message type, fields) of what the dialog describes; raises ValueError when something is invalid."""
        errors = self.revalidate()
        if errors:
            name, reason = next(iter(errors.items()))
            raise ValueError(f"{name}: {reason}")
        from engine.config import build

        values, _ = self.form.values()
        seeds = self.seed_list()
        name = self.name.text().strip()
        preset = self.preset.currentText()
        defaults = build(preset).model_dump()
        # only what the user changed, so that each method keeps its own defaults (engine.methods.method_defaults)
        config = {"preset": preset, **{k: v for k, v in values.items() if v != defaults.get(k)}}
        if not self.is_study():
            run = {**config, "method": self.methods()[0], "corpus": self.corpus.source(), "seed": seeds[0]}
            fields: dict[str, Any] = {"kind": "pretrain", "preset": preset,
                                      "config": build(preset, overrides=run).model_dump()}
            fields.update(self.where.fields())
            return "submit", ({**fields, "run": name} if name else fields)
        fields = {"methods": self.methods(), "corpus": self.corpus.source(), "preset": self.preset.currentText(),
                  "config": config, "seeds": seeds,
                  "stages": [s for s, box in self.stage_boxes.items() if box.isChecked()],
                  "tasks": [t for t, box in self.task_boxes.items() if box.isChecked()],
                  "fractions": numbers(self.fractions.text(), float, "fractions"), "draws": self.draws.value()}
        if self.probe_protocol.currentText() != "ours":
            fields["options"] = {"probe": {"protocol": self.probe_protocol.currentText()}}
        fields.update(self.where.fields())
        return "submit_study", ({**fields, "name": name} if name else fields)

    def _scale_shares(self) -> None:
        """Steps changed: a warm-up (or prototype freeze) still at its preset share follows them."""
        editors = self.form.editors
        try:
            new = int(editors["steps"].value())
        except (TypeError, ValueError):
            return
        current = {f: editors[f].value() for f in lm.SHARED_WITH_STEPS if f in editors}
        for field, value in lm.scaled_shares(self._preset_values, self._steps_seen, new, current).items():
            editors[field].set_value(value)
        self._steps_seen = new

    def revalidate(self) -> dict[str, str]:
        """Check every input, mark the bad ones, enable submit only when all are valid; returns {field: reason}."""
        self._scale_shares()
        values, errors = self.form.values()
        corpus_errors = self.corpus.errors()
        if not corpus_errors:
            values.update(method=(self.methods() or ["contrastive"])[0], corpus=self.corpus.source())
        values["preset"] = self.preset.currentText()
        for field, reason in config_errors(values).items():
            errors.setdefault(field, reason)
        self.form.mark(errors)
        errors.update({f"corpus {k}": v for k, v in corpus_errors.items()})
        if not self.methods():
            errors["methods"] = "check at least one method"
        extra = {"fractions": self.fractions, "name": self.name}
        for field, edit in extra.items():
            reason = self._extra_error(field)
            edit.setStyleSheet(INVALID_STYLE if reason else "")
            edit.setToolTip(f"⚠ {reason}" if reason else "")
            if reason:
                errors[field] = reason
        if self.stage_boxes.get("probe") and self.stage_boxes["probe"].isChecked() \
                and not any(b.isChecked() for b in self.task_boxes.values()):
            errors["probe tasks"] = "the probe stage needs at least one task"
        errors.update(self.where.errors())
        self.errors_ = errors
        self._show_state(errors, values)
        return errors

    def _extra_error(self, field: str) -> str | None:
        from engine.rundir.summary import ID_PATTERN

        try:
            if field == "fractions":
                if any(not 0 < f <= 100 for f in numbers(self.fractions.text(), float, "fractions")):
                    return "fractions must be in (0, 100]"
            elif self.name.text().strip() and not re.match(ID_PATTERN, self.name.text().strip()):
                return "letters, digits, '.', '_' or '-', starting with a letter or digit"
        except ValueError as err:
            return str(err)
        return None

    def _show_state(self, errors: dict[str, str], values: dict[str, Any]) -> None:
        study = self.is_study()
        runs = len(self.methods()) * (self.seeds.value() if study else 1)
        self.submit_button.setText(f"Start study ({runs} run{'s' if runs != 1 else ''})" if study else "Start run")
        steps, batch = values.get("steps"), values.get("batch_size")  # a time estimate when both are valid
        self.estimate.setText(lm.describe_run(self._measurement, steps, batch, runs) if steps and batch else "")
        if errors:
            name, reason = next(iter(errors.items()))
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            self.message.setText(f'<span style="color:#d62728">{html.escape(f"{name}: {reason}{more}")}</span>')
        elif self.send is None:
            self.message.setText("No engine connected: nothing can be started.")
        else:
            self.message.setText("")
        self.submit_button.setEnabled(not errors and self.send is not None)

    def submit(self) -> None:
        """Send the request; the dialog closes on the engine's reply and stays open on an error."""
        if self.send is None or not self.submit_button.isEnabled():
            return
        try:
            type, fields = self.request()
        except ValueError:
            return
        self.submit_button.setEnabled(False)
        self.message.setText("Submitting…")

        def on_reply(result: dict[str, Any]) -> None:
            self.result_ = (type, result)
            self.accept()

        def on_error(message: str) -> None:
            self.message.setText(f'<span style="color:#d62728">The engine refused it: {message}</span>')
            self.submit_button.setEnabled(True)

        self.send(type, fields, on_reply, on_error)
