"""Cross-rank helpers for the losses: gather a view tensor with gradients, average a statistic.

Convention (DDP): when ``torch.distributed`` is initialised, every rank gathers the embeddings
of all ranks and computes the loss of the *global* batch, so every rank holds the same loss
value. The backward of the gather sums the gradients of all ranks' losses, which makes the
gradient w.r.t. a rank's local input ``world_size`` times the single-process gradient of its
slice; DDP then averages the parameter gradients over the ranks, dividing that factor out:
the averaged gradient equals the single-process gradient of the global batch.
Local batches must have the same size on every rank (a DistributedSampler with drop_last).
Without an initialised process group (or with one rank) both helpers are the identity.
"""
from __future__ import annotations

import torch
import torch.distributed as tdist
from torch import Tensor


def world_size() -> int:
    """Number of ranks of the default process group, 1 when not distributed."""
    if tdist.is_available() and tdist.is_initialized():
        return tdist.get_world_size()
    return 1


class _GatherWithGrad(torch.autograd.Function):
    """all_gather whose backward hands each rank the sum over ranks of its slice's gradient."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: Tensor) -> tuple[Tensor, ...]:
        parts = [torch.empty_like(x) for _ in range(tdist.get_world_size())]
        tdist.all_gather(parts, x.contiguous())
        return tuple(parts)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, *grads: Tensor) -> Tensor:
        stacked = torch.stack(grads)  # (world, ...) gradient of this rank's loss w.r.t. every slice
        tdist.all_reduce(stacked, op=tdist.ReduceOp.SUM)
        return stacked[tdist.get_rank()]


def gather_views(x: Tensor) -> Tensor:
    """Concatenate the local batches of all ranks in rank order, keeping gradients.

    Args:
        x: (V, B, ...) local views.

    Returns:
        (V, world_size * B, ...) global views; ``x`` itself when not distributed.
    """
    if world_size() == 1:
        return x
    return torch.cat(_GatherWithGrad.apply(x), dim=1)


@torch.no_grad()
def mean_across_ranks(x: Tensor) -> Tensor:
    """Average a statistic (e.g. a batch mean) over ranks; ``x`` itself when not distributed."""
    if world_size() == 1:
        return x
    total = x.detach().clone()
    tdist.all_reduce(total, op=tdist.ReduceOp.SUM)
    return total / tdist.get_world_size()
