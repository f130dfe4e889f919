"""Atomic checkpoints of a run, loadable with `torch.load(weights_only=True)`.

`checkpoints/last.pt` holds everything needed to resume (model with teacher and center,
optimiser, grad scaler, step, epoch, torch RNG); `checkpoints/step-NNNNNN.pt` holds the model
weights of that step only, for embedding or diagnosing any checkpoint later.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn

from engine.rundir.disk import private_dir
from engine.rundir.files import atomic_write_bytes
from engine.rundir.layout import STEP_CHECKPOINT, RunDir


def _bytes(obj: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def save_checkpoint(run_dir: Path, step: int, model: nn.Module, optimizer: torch.optim.Optimizer | None,
                    scaler: torch.amp.GradScaler | None, epoch: int) -> Path:
    """Write last.pt (full state), then step-NNNNNN.pt (weights), each atomically: last.pt first, so that a step
    file is never newer than it and a resume (`resume_point`) is exact wherever last.pt is readable."""
    run = RunDir(run_dir)
    private_dir(run.checkpoints)
    weights = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    step_path = run.step_checkpoint(step)
    full = {
        "model": weights,
        "optimizer": optimizer.state_dict() if optimizer is not None else {},
        "scaler": scaler.state_dict() if scaler is not None else {},
        "step": step,
        "epoch": epoch,
        "torch_rng": torch.get_rng_state(),
    }
    atomic_write_bytes(run.last_checkpoint, _bytes(full))
    atomic_write_bytes(step_path, _bytes({"model": weights, "step": step, "epoch": epoch}))
    return step_path


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load with weights_only=True (no pickled code); a bad file raises ValueError naming it."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise ValueError(f"{path}: checkpoint not found") from None
    except Exception as err:  # torch raises several types for a corrupt file
        raise ValueError(f"{path}: unreadable checkpoint ({type(err).__name__})") from None


class ResumePoint(NamedTuple):
    """The checkpoint a resume starts from: its file, its loaded state and the one line that says which."""

    path: Path
    state: dict[str, Any]
    note: str

    @property
    def step(self) -> int:
        return int(self.state["step"])

    @property
    def full(self) -> bool:
        """Whether it holds the optimiser and grad scaler (last.pt), not the weights only (step-NNNNNN.pt)."""
        return bool(self.state.get("optimizer"))


def resume_point(run_dir: Path, map_location: str | torch.device = "cpu") -> ResumePoint | None:
    """The newest readable checkpoint of any name (last.pt or step-NNNNNN.pt), or None when there is none.

    last.pt wins at an equal step (it holds the optimiser state); unreadable files are skipped and named.
    """
    run = RunDir(run_dir)
    skipped: list[str] = []
    best: tuple[Path, dict[str, Any]] | None = None
    candidates = [run.last_checkpoint] if run.last_checkpoint.exists() else []
    candidates += [path for _, path in sorted(run.step_checkpoints().items(), reverse=True)]
    for path in candidates:
        step = _step_of_name(path)
        if best is not None and step is not None and step <= int(best[1]["step"]):
            break  # step files come newest first: none left can be newer
        try:
            state = load_checkpoint(path, map_location)
            int(state["step"]), state["model"]
        except ValueError as err:
            skipped.append(f"{path.name}: {str(err).split(': ', 1)[-1]}")
            continue
        except (KeyError, TypeError):
            skipped.append(f"{path.name}: not a checkpoint of this workbench")
            continue
        if best is None or int(state["step"]) > int(best[1]["step"]):
            best = (path, state)
    if best is None:
        if skipped:
            raise ValueError(f"{run.checkpoints}: no readable checkpoint ({'; '.join(skipped)})")
        return None
    path, state = best
    note = f"resuming from {path.relative_to(run.path)} (step {int(state['step'])}"
    note += ")" if state.get("optimizer") else "; weights only: the optimiser state restarts)"
    if skipped:
        note += f"; skipped {'; '.join(skipped)}"
    return ResumePoint(path, state, note)


def _step_of_name(path: Path) -> int | None:
    match = STEP_CHECKPOINT.match(path.name)
    return int(match.group(1)) if match else None


def step_checkpoints(run_dir: Path) -> dict[int, Path]:
    """Every step-NNNNNN.pt of the run by step."""
    return RunDir(run_dir).step_checkpoints()


def resolve_checkpoint(run_dir: Path, which: str = "last") -> Path:
    """`last` or a step number -> the checkpoint file; a clear error lists what exists."""
    steps = step_checkpoints(run_dir)
    if not steps:
        raise ValueError(f"{run_dir}: no checkpoints yet")
    if which == "last":
        return steps[max(steps)]
    try:
        return steps[int(which)]
    except (ValueError, KeyError):
        raise ValueError(f"{run_dir}: no checkpoint '{which}' (steps: {', '.join(map(str, steps))})") from None
