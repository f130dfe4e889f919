"""Step-indexed batches: a resumed run sees exactly the batches it would have seen, and each rank its slice."""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from engine.data.views import MultiViewDataset


class EpochIndexed(Dataset):
    """Global index e * N + i -> item i of epoch e (workers stay persistent across epochs)."""

    def __init__(self, dataset: MultiViewDataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> torch.Tensor:
        n = len(self.dataset)
        self.dataset.set_epoch(index // n)
        return self.dataset[index % n]


class StepBatches(Sampler[list[int]]):
    """Batches for steps start..total: epoch e is a permutation seeded by (seed, e); rank r takes its slice."""

    def __init__(self, n_items: int, batch_size: int, seed: int, start: int, total: int,
                 rank: int = 0, world: int = 1) -> None:
        self.global_batch = batch_size * world
        if n_items < self.global_batch:
            raise ValueError(f"corpus has {n_items} training tracks, fewer than one batch "
                             f"({self.global_batch}); lower batch_size")
        self.n, self.b, self.seed, self.start, self.total = n_items, batch_size, seed, start, total
        self.rank, self.world = rank, world
        self.steps_per_epoch = n_items // self.global_batch

    def __len__(self) -> int:
        return max(0, self.total - self.start)

    def __iter__(self) -> Iterator[list[int]]:
        for step in range(self.start, self.total):
            epoch, k = divmod(step, self.steps_per_epoch)
            order = np.random.default_rng((self.seed, epoch)).permutation(self.n)
            batch = order[k * self.global_batch:(k + 1) * self.global_batch]
            mine = batch[self.rank * self.b:(self.rank + 1) * self.b]
            yield [int(epoch * self.n + i) for i in mine]
