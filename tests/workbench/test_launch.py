"""New run / study dialog: generated from the config schema, invalid values marked before submit,
corpus paths checked on the spot, the request it builds."""
from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QSpinBox

from engine.config import METHODS, RunConfig, build, schema
from engine.methods import PRETEXTS, UNTRAINED
from workbench.launch.config_form import INVALID_STYLE, field_specs
from workbench.launch.dialog import SPECIAL, LaunchDialog, comparison_methods, offline_info


def _send_log() -> tuple[list, object]:
    sent: list[tuple[str, dict]] = []

    def send(type: str, fields: dict, on_reply, on_error) -> None:
        sent.append((type, fields))

    return sent, send


@pytest.fixture
def dialog(qtbot) -> LaunchDialog:
    sent, send = _send_log()
    dlg = LaunchDialog(None, send)
    dlg.sent = sent
    qtbot.addWidget(dlg)
    return dlg


def test_every_config_field_has_an_input(dialog: LaunchDialog) -> None:
    assert set(dialog.form.editors) | set(SPECIAL) == set(RunConfig.model_fields)
    widgets = {name: editor.widget for name, editor in dialog.form.editors.items()}
    assert isinstance(widgets["steps"], QSpinBox) and widgets["steps"].maximum() == 10_000_000
    assert widgets["batch_size"].minimum() == 2
    assert isinstance(widgets["lr"], QLineEdit)
    assert isinstance(widgets["augment"], QCheckBox)
    assert isinstance(widgets["device"], QComboBox)
    assert [widgets["device"].itemText(i) for i in range(widgets["device"].count())] == ["auto", "cpu", "cuda"]
    assert isinstance(widgets["f_max"], QLineEdit) and widgets["f_max"].text() == ""  # Optional: empty allowed
    assert dialog.revalidate() == {}
    assert dialog.submit_button.isEnabled()


def test_schema_from_the_engine_drives_the_form(qtbot) -> None:
    knob = {"type": "integer", "minimum": 3, "maximum": 9, "default": 5, "title": "New knob"}
    info = offline_info().model_copy(update={"methods": ["byol", "random"], "config_schema": {
        **schema(), "properties": {**schema()["properties"], "new_knob": knob}}})
    dlg = LaunchDialog(info, None)
    qtbot.addWidget(dlg)
    assert list(dlg.method_boxes) == ["byol", "random"]
    knob = dlg.form.editors["new_knob"].widget
    assert (knob.minimum(), knob.maximum(), knob.value()) == (3, 9, 5)
    assert not dlg.submit_button.isEnabled()  # no engine to send to


def test_an_invalid_value_is_marked_and_disables_submit(dialog: LaunchDialog) -> None:
    lr = dialog.form.editors["lr"]
    lr.widget.setText("-1")
    assert not dialog.submit_button.isEnabled()
    assert lr.widget.styleSheet() == INVALID_STYLE
    assert "must be > 0" in lr.widget.toolTip()
    lr.widget.setText("abc")
    assert "not a number" in lr.widget.toolTip()
    lr.widget.setText("0.002")
    assert lr.widget.styleSheet() == "" and dialog.submit_button.isEnabled()


def test_relations_between_fields_are_marked(dialog: LaunchDialog) -> None:
    steps, warmup = dialog.form.editors["steps"], dialog.form.editors["warmup_steps"]
    steps.widget.setValue(30)  # the demo preset's warm-up share (30 of 300) follows the steps
    assert warmup.value() == 3 and "warmup_steps" not in dialog.errors_
    warmup.widget.setValue(40)  # one the user sets stays, and is said to be wrong, whole
    assert warmup.value() == 40 and "warmup_steps must be < steps" in warmup.widget.toolTip()
    assert warmup.widget.styleSheet() == INVALID_STYLE and not dialog.submit_button.isEnabled()
    assert "warmup_steps must be &lt; steps (30), got 40" in dialog.message.text()
    steps.widget.setValue(60)
    assert warmup.value() == 40
    warmup.widget.setValue(0)
    assert dialog.submit_button.isEnabled()


def test_corpus_paths_are_checked_on_the_spot(dialog: LaunchDialog, tmp_path: Path, shared_dir: Path) -> None:
    picker = dialog.corpus
    picker.set_kind("folder")
    assert "corpus folder" in dialog.errors_ and not dialog.submit_button.isEnabled()
    picker.folder.set_text(str(tmp_path / "nope"))
    assert "folder not found" in picker.folder.edit.toolTip()
    picker.folder.set_text(str(tmp_path))
    assert dialog.submit_button.isEnabled() and picker.source() == f"folder:{tmp_path}"
    picker.set_kind("mtat")
    picker.mtat_split.set_text(str(tmp_path))
    assert "split files not found" in picker.mtat_split.edit.toolTip()
    picker.mtat_split.set_text(str(shared_dir / "data" / "mtat"))
    picker.mtat_audio.set_text(str(tmp_path / "no-audio"))
    assert set(picker.errors()) == {"audio_root"}
    picker.set_kind("jamendo")
    picker.jamendo_split.set_text(str(shared_dir / "data" / "mtg-jamendo"))
    picker.jamendo_audio.set_text(str(tmp_path))
    assert picker.errors() == {}
    assert picker.source() == f"jamendo:{shared_dir / 'data' / 'mtg-jamendo'}:{tmp_path}:top50"


def test_compare_checks_the_five_methods_and_random(dialog: LaunchDialog) -> None:
    dialog.compare_button.click()
    assert dialog.methods() == comparison_methods(list(METHODS))
    assert set(dialog.methods()) == set(METHODS) - {"clustering-collapse"}
    assert dialog.submit_button.text() == "Start study (6 runs)"


def test_preset_sets_every_value(dialog: LaunchDialog) -> None:
    dialog.preset.setCurrentText("paper")
    values, errors = dialog.form.values()
    assert not errors
    paper = build("paper").model_dump()
    assert all(values[k] == paper[k] for k in values)


def test_single_run_request_and_study_request(dialog: LaunchDialog) -> None:
    for stage, box in dialog.stage_boxes.items():
        box.setChecked(stage == "pretrain")
    dialog.form.editors["steps"].widget.setValue(4)
    dialog.form.editors["warmup_steps"].widget.setValue(0)
    dialog.name.setText("my-run")
    assert dialog.submit_button.text() == "Start run"
    dialog.submit()
    type, fields = dialog.sent[-1]
    assert type == "submit" and fields["run"] == "my-run" and fields["kind"] == "pretrain"
    config = fields["config"]
    assert (config["method"], config["corpus"], config["steps"], config["seed"]) == ("contrastive", "demo", 4, 0)
    RunConfig.model_validate(config)  # what the engine receives is a complete, valid config

    dialog.name.setText("bad/name")
    assert "name" in dialog.errors_ and not dialog.submit_button.isEnabled()
    dialog.name.setText("")
    dialog.compare_button.click()
    dialog.stage_boxes["probe"].setChecked(True)
    dialog.seeds.setValue(2)
    assert dialog.submit_button.text() == "Start study (12 runs)"  # six methods x two seeds
    type, fields = dialog.request()
    assert type == "submit_study"
    assert fields["seeds"] == [0, 1] and fields["stages"] == ["pretrain", "probe"]
    assert "options" not in fields  # the default probe protocol
    dialog.first_seed.setValue(5)
    dialog.probe_protocol.setCurrentText("paper")
    type, fields = dialog.request()
    assert fields["seeds"] == [5, 6] and fields["options"] == {"probe": {"protocol": "paper"}}
    dialog.seeds.setValue(1)
    dialog.first_seed.setValue(0)
    dialog.probe_protocol.setCurrentText("ours")
    assert fields["tasks"] == ["genre", "instrument", "mood"]
    assert not {"method", "corpus", "seed"} & set(fields["config"])
    assert fields["config"] == {"preset": "demo", "steps": 4, "warmup_steps": 0}  # only what was changed


def test_single_run_keeps_the_method_defaults(dialog: LaunchDialog) -> None:
    for stage, box in dialog.stage_boxes.items():
        box.setChecked(stage == "pretrain")
    for method, box in dialog.method_boxes.items():
        box.setChecked(method == "clustering-collapse")
    dialog.form.editors["steps"].widget.setValue(40)
    type, fields = dialog.request()
    config = RunConfig.model_validate(fields["config"])
    assert type == "submit" and config.steps == 40
    assert config == build("demo", overrides={"method": "clustering-collapse", "steps": 40, "corpus": "demo"})
    assert (config.ema_start, config.teacher_temp_start) == (0.95, 0.04)


def test_method_boxes_say_which_defaults_a_method_brings(dialog: LaunchDialog) -> None:
    collapse = ("clustering-collapse starts from its own teacher_temp_start = 0.04, teacher_temp_end = 0.04, "
                "ema_start = 0.95, ema_end = 0.95 unless you change them")
    assert dialog.method_boxes["clustering"].toolTip() \
        == "clustering starts from its own lr = 3e-05, freeze_last_layer_steps = 30 unless you change them"
    assert dialog.method_boxes["clustering-collapse"].toolTip() == collapse
    assert dialog.method_boxes["contrastive"].toolTip() == ""
    dialog.preset.setCurrentText("paper")
    assert dialog.method_boxes["clustering"].toolTip() == ""
    assert dialog.method_boxes["clustering-collapse"].toolTip() == collapse


def test_every_registry_entry_has_a_method_box(dialog: LaunchDialog) -> None:
    assert offline_info().methods == [*PRETEXTS, UNTRAINED]
    assert list(dialog.method_boxes) == [*PRETEXTS, UNTRAINED]
    assert [box.text() for box in dialog.method_boxes.values()] == [*PRETEXTS, UNTRAINED]
    for name in PRETEXTS:
        dialog.method_boxes[name].setChecked(True)
        assert name in dialog.methods()


def test_field_specs_read_optional_and_enum_fields() -> None:
    specs = {s.name: s for s in field_specs(schema())}
    assert specs["f_max"].nullable and specs["f_max"].kind == "number"
    assert specs["precision"].kind == "enum" and "bf16" in specs["precision"].choices
    assert specs["center_momentum"].check(1.0) == "must be < 1"


def test_the_official_switch_reaches_the_run_config(dialog: LaunchDialog) -> None:
    for stage, box in dialog.stage_boxes.items():
        box.setChecked(stage == "pretrain")
    for method, box in dialog.method_boxes.items():
        box.setChecked(method == "vicreg")
    assert "official" in dialog.form.editors and "byol_batch_sum" in dialog.form.editors
    dialog.form.editors["official"].widget.setChecked(True)
    type, fields = dialog.request()
    config = RunConfig.model_validate(fields["config"])
    assert type == "submit" and config.official and config.vicreg_cov_divisor == "B-1" and config.per_view_forward
    assert config.f_max == 11025.0 and not config.byol_batch_sum


def test_the_dialog_says_how_long_the_training_takes_here(dialog: LaunchDialog) -> None:
    from workbench.launch import model as lm

    measured = {"step_s": 0.5, "batch_size": 32, "views": 2, "measured_at": 0, "precision": "fp32",
                "provisional": True, "loadavg": 8.2}
    assert lm.run_seconds(measured, 300, 64) == 300.0  # twice the measured batch: twice the step time
    assert lm.describe_run(measured, 300, 64).startswith("Training takes about 5 min here")
    assert "provisional: measured while the machine was busy at load 8" in lm.describe_run(measured, 300, 64)
    assert "measured at its first training" in lm.describe_run(None, 300, 32)
    dialog._measurement = {**measured, "provisional": False}
    dialog.form.editors["steps"].widget.setValue(1200)
    assert dialog.estimate.text().startswith("Training takes about 10 min here at 0.50 s per step")


def test_the_launcher_sends_slurm_options_from_the_remembered_ones(qtbot) -> None:
    from engine.service import protocol
    from engine.training.slurm_options import SlurmOptions

    sent, send = _send_log()
    dlg = LaunchDialog(None, send, slurm=SlurmOptions(partition="gpu", time_min=90, extra={"qos": "high"}))
    qtbot.addWidget(dlg)
    assert dlg.request()[1].get("launcher") is None and not dlg.where.partition.isVisibleTo(dlg)
    dlg.where.launcher.setCurrentText("Slurm")
    assert dlg.where.partition.isVisibleTo(dlg) and dlg.where.partition.text() == "gpu"
    dlg.where.gpus_per_node.setValue(2)
    type, fields = dlg.request()
    assert fields["launcher"] == "slurm"
    assert fields["slurm"] == SlurmOptions(partition="gpu", gpus_per_node=2, time_min=90, extra={"qos": "high"}) \
        .model_dump()
    assert protocol.parse_request(protocol.encode({"type": type, "id": 1, **fields})).slurm.gpus_per_node == 2
    dlg.where.extra.setText("time=5")  # set with its own field
    assert "set time with its own option" in dlg.errors_["slurm"] and not dlg.submit_button.isEnabled()
    dlg.where.launcher.setCurrentText("This machine")
    assert "slurm" not in dlg.errors_ and dlg.submit_button.isEnabled()
