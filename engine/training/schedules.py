"""Per-step schedules of the paper: pure functions of the step, with input validation.

PAPER.md "Schedules": learning rate linear warm-up then cosine to 1e-7; weight decay cosine
0.04 -> 0.4; EMA momentum cosine 0.996 -> 1.0; clustering teacher temperature cosine warm-up
0.02 -> 0.04 over the first 10 epochs, then constant. Steps count from 0; the value at
``step == total_steps`` is the end value.
"""
from __future__ import annotations

import math


def _check_steps(step: int, total_steps: int) -> None:
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    if not 0 <= step <= total_steps:
        raise ValueError(f"step must be in [0, total_steps={total_steps}], got {step}")


def cosine_at(step: int, total_steps: int, start: float, end: float) -> float:
    """Half-cosine from ``start`` at step 0 to ``end`` at ``total_steps``."""
    _check_steps(step, total_steps)
    return end + 0.5 * (start - end) * (1.0 + math.cos(math.pi * step / total_steps))


def lr_at(step: int, total_steps: int, base_lr: float, warmup_steps: int, final_lr: float = 1e-7) -> float:
    """Learning rate: linear warm-up from ``final_lr`` to ``base_lr``, then cosine decay back to ``final_lr``.

    A warm-up longer than the run is cut off by the end of training.
    """
    _check_steps(step, total_steps)
    if warmup_steps < 0:
        raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")
    if not 0 <= final_lr <= base_lr:
        raise ValueError(f"learning rates need 0 <= final_lr <= base_lr, got {final_lr} and {base_lr}")
    if step < warmup_steps:
        return final_lr + (base_lr - final_lr) * step / warmup_steps
    if warmup_steps == total_steps:
        return base_lr
    return cosine_at(step - warmup_steps, total_steps - warmup_steps, base_lr, final_lr)


def weight_decay_at(step: int, total_steps: int, start: float = 0.04, end: float = 0.4) -> float:
    """Weight decay: cosine from ``start`` to ``end`` over training."""
    if start < 0 or end < 0:
        raise ValueError(f"weight decay must be >= 0, got start={start}, end={end}")
    return cosine_at(step, total_steps, start, end)


def ema_momentum_at(step: int, total_steps: int, start: float = 0.996, end: float = 1.0) -> float:
    """EMA teacher momentum (BYOL, clustering): cosine from ``start`` to ``end`` over training."""
    if not (0 <= start <= 1 and 0 <= end <= 1):
        raise ValueError(f"EMA momentum must be in [0, 1], got start={start}, end={end}")
    return cosine_at(step, total_steps, start, end)


def teacher_temp_at(step: int, warmup_steps: int, start: float = 0.02, end: float = 0.04) -> float:
    """Clustering teacher temperature: cosine from ``start`` to ``end`` over the warm-up, then ``end``.

    ``warmup_steps`` is the paper's 10 epochs expressed in steps (0 = no warm-up).
    """
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    if warmup_steps < 0:
        raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")
    if not (start > 0 and end > 0):
        raise ValueError(f"teacher temperatures must be > 0, got start={start}, end={end}")
    if step >= warmup_steps:
        return end
    return cosine_at(step, warmup_steps, start, end)
