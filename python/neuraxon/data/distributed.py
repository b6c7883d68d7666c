"""DistributedSampler: each rank's share of a dataset's indices (torch.utils.data.DistributedSampler)."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np


class DistributedSampler:
    """DistributedSampler(dataset, num_replicas=None, rank=None, shuffle=True, seed=0,
    drop_last=False): the indices rank `rank` of `num_replicas` iterates, for
    `DataLoader(dataset, sampler=...)`.

    Every rank gets the same number of indices, ceil(len / num_replicas): the index list is
    padded by repeating its start (so a few samples are seen twice per epoch), or, with
    drop_last, cut to floor(len / num_replicas) per rank. Rank r takes positions r,
    r + num_replicas, r + 2 * num_replicas, ... of the (shuffled) list, so the ranks' shares
    are disjoint and together cover the dataset once (plus the padding). The shuffle is a
    permutation drawn from NumPy's default_rng(seed + epoch): the same on every rank, new each
    epoch when the training loop calls set_epoch(epoch) before iterating, as with torch (the
    permutation itself differs from torch's). num_replicas and rank default to the process
    group's world size and rank.
    """

    def __init__(
        self,
        dataset,
        num_replicas: int | None = None,
        rank: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        if num_replicas is None or rank is None:
            from .. import distributed as dist

            if not dist.is_initialized():
                raise RuntimeError(
                    "DistributedSampler: give num_replicas and rank, or call "
                    "neuraxon.distributed.init_process_group first"
                )
            num_replicas = dist.get_world_size() if num_replicas is None else num_replicas
            rank = dist.get_rank() if rank is None else rank
        if int(num_replicas) < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be >= 1, got {num_replicas}")
        if not 0 <= int(rank) < int(num_replicas):
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval [0, {int(num_replicas) - 1}]")
        self.dataset = dataset
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.drop_last = bool(drop_last)
        self.epoch = 0
        n = len(dataset)
        if self.drop_last and n % self.num_replicas != 0:
            self.num_samples = math.ceil((n - self.num_replicas) / self.num_replicas)
        else:
            self.num_samples = math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def set_epoch(self, epoch: int) -> None:
        """The epoch whose permutation the next iteration uses (call it every epoch)."""
        self.epoch = int(epoch)

    def _all_indices(self) -> np.ndarray:
        n = len(self.dataset)
        if self.shuffle:
            idx = np.random.default_rng(self.seed + self.epoch).permutation(n)
        else:
            idx = np.arange(n, dtype=np.int64)
        if self.drop_last:
            return idx[: self.total_size]
        pad = self.total_size - n
        if pad > 0:
            idx = np.concatenate([idx, np.resize(idx, pad)]) if n else idx  # repeats from the start
        return idx

    def __iter__(self) -> Iterator[int]:
        mine = self._all_indices()[self.rank : self.total_size : self.num_replicas]
        return iter(mine.tolist())

    def __len__(self) -> int:
        return self.num_samples
