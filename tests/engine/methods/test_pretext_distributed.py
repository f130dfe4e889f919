"""Every loss under torch.distributed (2 gloo processes on CPU) against one process on the global batch.

Convention checked (see engine/methods/dist.py): each rank's loss equals the single-process loss;
the gradient w.r.t. a rank's local input is world_size x the single-process gradient of its
slice; averaging parameter gradients over ranks, as DDP does, gives the single-process gradient.
"""
from __future__ import annotations

import socket
from pathlib import Path

import torch
import torch.distributed as tdist
import torch.multiprocessing as mp

from engine.methods import PRETEXTS
from engine.methods.dist import gather_views, mean_across_ranks, world_size

WORLD = 2
LOCAL_BATCH = 4
FEATURES, DIM = 5, 6
TOLERANCE = 1e-5


def _global_case(name: str, views: int) -> dict[str, torch.Tensor]:
    """Deterministic global inputs of one method: x -> x @ weight is the student output."""
    g = torch.Generator().manual_seed(len(name) * 10 + views)
    batch = WORLD * LOCAL_BATCH
    return {"x": torch.randn(views, batch, FEATURES, generator=g),
            "weight": torch.randn(FEATURES, DIM, generator=g),
            "target": torch.randn(views, batch, DIM, generator=g),
            "center": torch.randn(DIM, generator=g)}


def _run_case(name: str, case: dict[str, torch.Tensor], rank: int, world: int) -> dict[str, torch.Tensor]:
    """Loss, components and gradients of one method on this rank's slice of the global batch."""
    spec = PRETEXTS[name]
    part = slice(rank * LOCAL_BATCH * (WORLD // world), (rank + 1) * LOCAL_BATCH * (WORLD // world))
    x = case["x"][:, part].clone().requires_grad_()
    weight = case["weight"].clone().requires_grad_()
    target = case["target"][:, part]
    z = x @ weight  # (V, B_local, DIM)
    loss_fn = spec.build(n_prototypes=DIM) if spec.uses_teacher_temp else spec.build()
    if spec.uses_teacher_temp:
        loss_fn.center.copy_(case["center"])
        out = loss_fn.forward_components(z, target, teacher_temp=0.07)
    elif spec.uses_teacher:
        out = loss_fn.forward_components(z, target)
    else:
        out = loss_fn.forward_components(z)
    out.loss.backward()
    weight_grad = weight.grad
    if world > 1:
        tdist.all_reduce(weight_grad)  # what DDP does to parameter gradients: the mean over ranks
        weight_grad = weight_grad / world
    result = {f"component.{k}": v.detach() for k, v in out._asdict().items()}
    result.update(x_grad=x.grad, weight_grad=weight_grad)
    if spec.uses_teacher_temp:
        loss_fn.update_center(target)
        result["center"] = loss_fn.center.clone()
    return result


def _all_cases(rank: int, world: int) -> dict[str, dict[str, torch.Tensor]]:
    return {f"{name}/V{views}": _run_case(name, _global_case(name, views), rank, world)
            for name in PRETEXTS for views in (2, 3)}


def _worker(rank: int, port: int, out_dir: str) -> None:
    torch.set_num_threads(1)
    tdist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD)
    try:
        results = _all_cases(rank, WORLD)
        local = torch.full((3,), float(rank))
        results["helpers"] = {"world_size": torch.tensor(world_size()),
                              "gathered": gather_views(local.reshape(1, 1, 3).expand(2, 1, 3)),
                              "mean": mean_across_ranks(local)}
        torch.save(results, Path(out_dir) / f"rank{rank}.pt")
    finally:
        tdist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_helpers_are_identity_without_a_process_group() -> None:
    x = torch.randn(2, 3, 4)
    assert world_size() == 1
    assert gather_views(x) is x
    assert mean_across_ranks(x).equal(x)


def test_two_gloo_processes_match_one_process_on_the_global_batch(tmp_path: Path) -> None:
    mp.spawn(_worker, args=(_free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]
    helpers = [r.pop("helpers") for r in ranks]
    assert all(h["world_size"].item() == WORLD for h in helpers)
    assert torch.equal(helpers[0]["gathered"][0, :, 0], torch.tensor([0.0, 1.0]))
    assert torch.equal(helpers[1]["mean"], torch.full((3,), 0.5))

    single = _all_cases(rank=0, world=1)
    assert set(single) == set(ranks[0]) and len(single) == 2 * len(PRETEXTS)
    for key, expected in single.items():
        for rank, result in enumerate(ranks):
            for field, value in expected.items():
                got = result[key][field]
                if field == "x_grad":
                    value = WORLD * value[:, rank * LOCAL_BATCH:(rank + 1) * LOCAL_BATCH]
                assert got.shape == value.shape, f"{key} {field} rank {rank}"
                assert torch.allclose(got.double(), value.double(), atol=TOLERANCE, rtol=TOLERANCE), \
                    f"{key} {field} rank {rank}: {got} vs {value}"
