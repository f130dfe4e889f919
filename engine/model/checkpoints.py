"""Atomic checkpoints of a run, loadable with `torch.load(weights_only=True)`.

`checkpoints/last.pt` holds everything needed to resume (model with teacher and center,
optimiser, grad scaler, step, epoch, torch RNG); `checkpoints/step-NNNNNN.pt` holds the model
weights of that step only, for embedding or diagnosing any checkpoint later.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch
from torch import nn

from engine.rundir.files import atomic_write_bytes
from engine.rundir.layout import RunDir


def _bytes(obj: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def save_checkpoint(run_dir: Path, step: int, model: nn.Module, optimizer: torch.optim.Optimizer | None,
                    scaler: torch.amp.GradScaler | None, epoch: int) -> Path:
    """Write step-NNNNNN.pt (weights) and last.pt (full state), each atomically."""
    run = RunDir(run_dir)
    run.checkpoints.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    step_path = run.step_checkpoint(step)
    atomic_write_bytes(step_path, _bytes({"model": weights, "step": step, "epoch": epoch}))
    full = {
        "model": weights,
        "optimizer": optimizer.state_dict() if optimizer is not None else {},
        "scaler": scaler.state_dict() if scaler is not None else {},
        "step": step,
        "epoch": epoch,
        "torch_rng": torch.get_rng_state(),
    }
    atomic_write_bytes(run.last_checkpoint, _bytes(full))
    return step_path


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load with weights_only=True (no pickled code); a bad file raises ValueError naming it."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise ValueError(f"{path}: checkpoint not found") from None
    except Exception as err:  # torch raises several types for a corrupt file
        raise ValueError(f"{path}: unreadable checkpoint ({type(err).__name__})") from None


def latest_checkpoint(run_dir: Path) -> Path | None:
    path = RunDir(run_dir).last_checkpoint
    return path if path.exists() else None


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
