"""Datasets: the map-style protocol (len + getitem), TensorDataset, Subset, random_split."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ._convert import _as_tensor, _rng


class Dataset:
    """A map-style dataset: ``len(ds)`` items, ``ds[i]`` one sample.

    A dataset may also define ``get_batch(indices) -> sample-of-arrays`` that returns a
    whole batch at once (already stacked along a new first axis); DataLoader uses it with
    the default collation, which turns a 60000-image epoch into a few hundred NumPy fancy
    indexings instead of 60000 Python calls.
    """

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def __add__(self, other: "Dataset") -> "ConcatDataset":
        return ConcatDataset([self, other])


def _to_numpy(t) -> np.ndarray:
    if isinstance(t, np.ndarray):
        return t
    if hasattr(t, "numpy"):
        return t.numpy()
    return np.asarray(t)


class TensorDataset(Dataset):
    """Samples are ``tuple(t[i] for t in tensors)``; every tensor has the same first size.

    Tensors (or NumPy arrays) are kept as host NumPy arrays; batches come back as
    neuraxon tensors through the DataLoader's collation.
    """

    def __init__(self, *tensors) -> None:
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        arrays = [_to_numpy(t) for t in tensors]
        n = arrays[0].shape[0] if arrays[0].ndim else None
        for a in arrays:
            if a.ndim == 0 or a.shape[0] != n:
                raise ValueError(f"Size mismatch between tensors: first sizes {[tuple(x.shape)[:1] for x in arrays]}")
        self.tensors = tuple(arrays)

    def __getitem__(self, index: int):
        # samples are tensors, as torch's TensorDataset
        return tuple(_as_tensor(np.asarray(a[index])) for a in self.tensors)

    def get_batch(self, indices: np.ndarray):
        return tuple(a[indices] for a in self.tensors)

    def __len__(self) -> int:
        return int(self.tensors[0].shape[0])


class Subset(Dataset):
    """The items of ``dataset`` at ``indices``."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64)

    def __getitem__(self, index: int):
        return self.dataset[int(self.indices[index])]

    def get_batch(self, indices: np.ndarray):
        inner = getattr(self.dataset, "get_batch", None)
        if inner is None:
            return NotImplemented
        return inner(self.indices[np.asarray(indices)])

    def __len__(self) -> int:
        return len(self.indices)


class ConcatDataset(Dataset):
    """Datasets one after another."""

    def __init__(self, datasets: Sequence[Dataset]) -> None:
        self.datasets = list(datasets)
        self.cumulative_sizes = list(np.cumsum([len(d) for d in self.datasets]))

    def __len__(self) -> int:
        return int(self.cumulative_sizes[-1]) if self.cumulative_sizes else 0

    def __getitem__(self, index: int):
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for ConcatDataset of {len(self)}")
        d = int(np.searchsorted(self.cumulative_sizes, index, side="right"))
        start = 0 if d == 0 else int(self.cumulative_sizes[d - 1])
        return self.datasets[d][index - start]


def random_split(dataset: Dataset, lengths: Sequence[int], generator=None, seed: int | None = None) -> list[Subset]:
    """Split into non-overlapping Subsets of the given lengths (fractions summing to 1 ok).
    The permutation comes from `generator` (neuraxon or NumPy Generator, or an int seed),
    `seed`, or else the global generator (reproducible under neuraxon.manual_seed)."""
    n = len(dataset)
    lengths = list(lengths)
    if all(isinstance(x, float) and 0 <= x <= 1 for x in lengths) and abs(sum(lengths) - 1) < 1e-6:
        counts = [int(np.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if sum(lengths) != n:
        raise ValueError("Sum of input lengths does not equal the length of the input dataset!")
    if any(x < 0 for x in lengths):
        raise ValueError(f"random_split: lengths must be non-negative, got {lengths}")
    perm = _rng(generator, seed).permutation(n)
    out, start = [], 0
    for length in lengths:
        out.append(Subset(dataset, perm[start : start + length]))
        start += length
    return out
