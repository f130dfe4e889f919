"""The EMA teacher update of BYOL and clustering: teacher <- m * teacher + (1 - m) * student."""
from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, momentum: float, buffers: bool = False) -> None:
    """Move every teacher parameter towards the student's, in place.

    Buffers (BatchNorm running statistics) are not averaged by default: the teacher keeps its own,
    as in DINO. ``buffers=True`` also averages the floating-point buffers, as the official BYOL
    averages its whole state_dict (integer counters such as ``num_batches_tracked`` are left alone:
    they cannot hold a weighted mean). ``momentum`` = 1 freezes the teacher, 0 copies the student
    (see ``schedules.ema_momentum_at``).
    """
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"EMA momentum must be in [0, 1], got {momentum}")
    teacher_params = dict(teacher.named_parameters())
    student_params = dict(student.named_parameters())
    if teacher_params.keys() != student_params.keys():
        missing = sorted(teacher_params.keys() ^ student_params.keys())
        raise ValueError(f"EMA teacher and student have different parameters: {missing[:5]}")
    for name, t in teacher_params.items():
        s = student_params[name]
        if t.shape != s.shape:
            raise ValueError(f"EMA parameter {name!r}: teacher {tuple(t.shape)} vs student {tuple(s.shape)}")
        t.mul_(momentum).add_(s.detach(), alpha=1.0 - momentum)
    if buffers:
        student_buffers = dict(student.named_buffers())
        for name, t in teacher.named_buffers():
            if t.is_floating_point() and name in student_buffers:
                t.mul_(momentum).add_(student_buffers[name], alpha=1.0 - momentum)
