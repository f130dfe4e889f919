"""Where the dialog's jobs run: on the engine's machine, or each as a Slurm job with the options it asks for."""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QLineEdit, QSpinBox, QWidget

from engine.training.slurm_options import SlurmOptions
from workbench.launch.model import slurm_options

LAUNCHERS = {"This machine": "local", "Slurm": "slurm"}


class WhereBox(QGroupBox):
    """The launcher and, for Slurm, its options (starting from the runs folder's remembered ones)."""

    changed = Signal()

    def __init__(self, remembered: SlurmOptions | None = None, parent: QWidget | None = None) -> None:
        super().__init__("Where it runs", parent)
        start = remembered or SlurmOptions()
        self.launcher = QComboBox()
        self.launcher.addItems(list(LAUNCHERS))
        self.partition = QLineEdit(start.partition or "", placeholderText="the cluster's default")
        self.nodes = QSpinBox(minimum=1, maximum=1024, value=start.nodes)
        self.gpus_per_node = QSpinBox(minimum=0, maximum=64, value=start.gpus_per_node)
        self.gpus_per_node.setToolTip("0: CPU processes, no GPU asked")
        self.cpus_per_task = QSpinBox(minimum=0, maximum=1024, value=start.cpus_per_task or 0, specialValueText="default")
        self.mem_gb = QDoubleSpinBox(minimum=0, maximum=1e6, value=start.mem_gb or 0, specialValueText="default")
        self.time_min = QSpinBox(minimum=1, maximum=100_000, value=start.time_min)
        self.extra = QLineEdit(" ".join(f"{k}={v}" for k, v in start.extra.items()),
                               placeholderText="account=lab qos=high")
        form = QFormLayout(self)
        form.addRow("Launcher", self.launcher)
        self._slurm_rows = [("Partition", self.partition), ("Nodes", self.nodes), ("GPUs per node", self.gpus_per_node),
                            ("CPUs per task", self.cpus_per_task), ("Memory per node, GB", self.mem_gb),
                            ("Time limit, min", self.time_min), ("Other sbatch options", self.extra)]
        for label, widget in self._slurm_rows:
            form.addRow(label, widget)
        self.launcher.currentIndexChanged.connect(self._on_launcher_changed)
        for edit in (self.partition, self.extra):
            edit.textChanged.connect(lambda *_: self.changed.emit())
        for spin in (self.nodes, self.gpus_per_node, self.cpus_per_task, self.mem_gb, self.time_min):
            spin.valueChanged.connect(lambda *_: self.changed.emit())
        self._on_launcher_changed()

    def _on_launcher_changed(self) -> None:
        on_slurm = self.on_slurm()
        layout: QFormLayout = self.layout()
        for _, widget in self._slurm_rows:
            layout.setRowVisible(widget, on_slurm)
        self.changed.emit()

    def on_slurm(self) -> bool:
        return LAUNCHERS[self.launcher.currentText()] == "slurm"

    def options(self) -> SlurmOptions:
        """The Slurm options of the fields; ValueError names a bad one."""
        return slurm_options({"partition": self.partition.text().strip(), "nodes": self.nodes.value(),
                              "gpus_per_node": self.gpus_per_node.value(), "cpus_per_task": self.cpus_per_task.value(),
                              "mem_gb": self.mem_gb.value(), "time_min": self.time_min.value()}, self.extra.text())

    def errors(self) -> dict[str, str]:
        if not self.on_slurm():
            return {}
        try:
            self.options()
        except ValueError as err:
            return {"slurm": str(err)}
        return {}

    def fields(self) -> dict[str, Any]:
        """What the `submit` or `submit_study` request gets: nothing for this machine."""
        if not self.on_slurm():
            return {}
        return {"launcher": "slurm", "slurm": self.options().model_dump()}
