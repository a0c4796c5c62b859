"""The order of the training triplets, resumable in the middle of an epoch.

One process: the permutations of `RandomSampler(data, generator=Generator().manual_seed(seed))` (one
`randperm` per epoch, then the second, empty draw that sampler makes), so a fresh run sees exactly
the triplets it saw before this module existed. Under torchrun: `DistributedSampler`'s shards
(epoch e: `randperm` seeded seed + e, padded to a multiple of the world size, every world-th index
from the rank's own). Either way `state()` (the generator at the epoch's start, the epoch and the
samples already taken) goes into `train_state.pth`, and `restore()` continues the same epoch from
the next sample: a run killed and resumed sees the triplets an uninterrupted one sees.
"""

from __future__ import annotations

import math

import torch
from torch.utils.data import Sampler


class TripletOrder(Sampler[int]):
    """Indices of `num` triplets for rank `rank` of `world`; epoch by epoch (`set_epoch` under DDP)."""

    def __init__(self, num: int, seed: int, rank: int = 0, world: int = 1):
        self.num, self.seed, self.rank, self.world = num, seed, rank, world
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch, self.skip = 0, 0
        self._epoch_start = self.generator.get_state()
        self.taken = 0  # samples of the current epoch handed to the loader's consumer (`advance`)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return math.ceil(self.num / self.world) if self.world > 1 else self.num

    def __iter__(self):
        skip, self.skip = self.skip, 0
        self.taken = skip
        if self.world > 1:  # DistributedSampler's shard of epoch e
            g = torch.Generator().manual_seed(self.seed + self.epoch)
            order = torch.randperm(self.num, generator=g).tolist()
            total = len(self) * self.world
            order = (order * math.ceil(total / max(len(order), 1)))[:total]
            order = order[self.rank:total:self.world]
        else:
            self._epoch_start = self.generator.get_state()
            order = torch.randperm(self.num, generator=self.generator).tolist()
            torch.randperm(self.num, generator=self.generator)  # RandomSampler's second, empty draw
        return iter(order[skip:])

    def advance(self, samples: int) -> None:
        """`samples` more of this epoch were trained on (the loader prefetches, so it cannot tell)."""
        self.taken += samples

    def state(self) -> dict:
        return {"generator": self._epoch_start, "epoch": self.epoch, "taken": self.taken}

    def restore(self, state: dict) -> None:
        """Continue the saved epoch at its next sample (the next `iter` starts there)."""
        self.generator.set_state(state["generator"])
        self.epoch, self.skip, self.taken = int(state["epoch"]), int(state["taken"]), int(state["taken"])
