"""What a job asks of Slurm, typed, and remembered per runs folder in `RUNS_DIR/.slurm.toml` (torch-free).

The CLI starts from the remembered values, applies what the user gave, and remembers the result, so the
next submission to the same runs folder asks for the same partition, time and resources.
"""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from engine.rundir.files import atomic_write_bytes

REMEMBERED = ".slurm.toml"  # in the runs folder, beside the run folders
# sbatch options that SlurmOptions or the launcher set themselves: `extra` may not set them again
RESERVED = frozenset({"partition", "nodes", "ntasks-per-node", "ntasks_per_node", "gpus-per-node", "gpus_per_node",
                      "gres", "cpus-per-task", "cpus_per_task", "mem", "time", "signal", "output", "error",
                      "job-name", "job_name", "requeue", "open-mode", "open_mode"})


class SlurmOptions(BaseModel):
    """Resources of one Slurm job; `gpus_per_node = 0` is a CPU job (no GPU GRES is asked)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    partition: str | None = Field(None, description="partition (None: the cluster's default)")
    nodes: int = Field(1, ge=1, description="nodes; one task per device on each")
    gpus_per_node: int = Field(0, ge=0, description="GPUs per node (0: CPU processes, gloo)")
    cpus_per_task: int | None = Field(None, ge=1, description="CPUs per task (None: the partition's default)")
    mem_gb: float | None = Field(None, gt=0, description="memory per node in GB (None: the partition's default)")
    time_min: int = Field(24 * 60, ge=1, description="time limit in minutes; Slurm sends USR2 90 s before it")
    extra: dict[str, str] = Field(default_factory=dict, description="more sbatch options, e.g. account, qos")

    @field_validator("extra")
    @classmethod
    def _not_reserved(cls, value: dict[str, str]) -> dict[str, str]:
        clash = sorted(k for k in value if k.lstrip("-") in RESERVED)
        if clash:
            raise ValueError(f"set {', '.join(clash)} with its own option, not as an extra sbatch option")
        return value

    def tasks_per_node(self, devices: int | None) -> int:
        """One task per device: `devices` (CPU processes or GPUs per node), or the GPUs per node."""
        if devices is not None and devices < 1:
            raise ValueError(f"--devices must be >= 1, got {devices}")
        if self.gpus_per_node and devices is not None and devices != self.gpus_per_node:
            raise ValueError(f"--devices {devices} and --gpus-per-node {self.gpus_per_node} disagree: "
                             "Slurm runs one task per GPU")
        return devices or self.gpus_per_node or 1

    def world_size(self, devices: int | None) -> int:
        return self.nodes * self.tasks_per_node(devices)


def options_error(source: str, err: ValidationError) -> ValueError:
    """One line naming the file (or the command line) and the field."""
    first = err.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "slurm options"
    return ValueError(f"{source}: slurm option '{field}': {first['msg'].removeprefix('Value error, ')}")


def remembered_path(runs_dir: Path) -> Path:
    return Path(runs_dir) / REMEMBERED


def load_remembered(runs_dir: Path) -> SlurmOptions:
    """The options last used in this runs folder; the defaults when none were remembered."""
    path = remembered_path(runs_dir)
    try:
        values = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return SlurmOptions()
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{path}: not valid TOML ({err})") from None
    try:
        return SlurmOptions(**values)
    except ValidationError as err:
        raise options_error(str(path), err) from None


def remember(runs_dir: Path, options: SlurmOptions) -> None:
    values = {k: v for k, v in options.model_dump().items() if v is not None and v != {}}
    Path(runs_dir).mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(remembered_path(runs_dir), tomli_w.dumps(values).encode())


def with_overrides(base: SlurmOptions, overrides: dict[str, Any]) -> SlurmOptions:
    """`base` with the values the user gave (None: not given); extra sbatch options are merged."""
    given = {k: v for k, v in overrides.items() if v is not None}
    if "extra" in given:
        given["extra"] = {**base.extra, **given["extra"]}
    try:
        return SlurmOptions(**{**base.model_dump(), **given})
    except ValidationError as err:
        raise options_error("command line", err) from None
