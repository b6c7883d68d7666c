"""Small helpers shared by nn, optim and the trainer: host<->tensor copies at the kernel level."""

from __future__ import annotations

from .. import _array

import math

import numpy as np

from ..dtypes import float32, get_dtype


def float_only(dtype, who: str) -> None:
    """A layer's ``dtype=`` argument: None or float32 (its parameters are float32); any other
    dtype raises TypeError (an unsupported one names itself through get_dtype) rather than
    being ignored."""
    if dtype is None:
        return
    if get_dtype(dtype) is not float32:
        raise TypeError(f"{who}: parameters are float32, got dtype={dtype!r}")


def numel(t) -> int:
    return int(math.prod(tuple(t.shape)))


def to_numpy(x) -> np.ndarray:
    """A neuraxon tensor, a torch tensor, a NumPy array or a number as a host NumPy array."""
    if isinstance(x, np.ndarray):
        return x
    v = x
    if hasattr(v, "detach"):
        v = v.detach()
    if hasattr(v, "cpu") and not isinstance(v, np.ndarray):
        try:
            v = v.cpu()
        except TypeError:
            pass
    if hasattr(v, "numpy"):
        return np.asarray(v.numpy())
    return np.asarray(v)


def assign_(t, value) -> None:
    """Overwrite tensor ``t``'s elements with ``value`` (same number of elements) in place,
    with one copy kernel on t's device; the tensor object (and its identity) is kept."""
    arr = np.ascontiguousarray(to_numpy(value), dtype=t.dtype.numpy).reshape(-1)
    n = numel(t)
    if arr.size != n:
        raise ValueError(f"cannot assign {arr.size} elements to a tensor of shape {tuple(t.shape)}")
    if n == 0:
        return
    t._bump_version()
    src = t.device.from_numpy(arr, t.dtype)
    _array.run("copy_strided", t.device, t._data, src, [n], [1], 0, [1], 0)


def fill_(t, value: float) -> None:
    t._bump_version()
    n = numel(t)
    if n:
        _array.run("fill", t.device, t._data, n, float(value))


def uniform_(t, low: float, high: float) -> None:
    """U[low, high) from the global Philox generator (neuraxon.manual_seed replays it)."""
    from .. import random

    t._bump_version()
    n = numel(t)
    if n:
        seed, off = random.next_offset(n)
        _array.run("random_uniform", t.device, t._data, n, float(low), float(high), seed, off)


def normal_(t, mean: float, std: float) -> None:
    from .. import random

    t._bump_version()
    n = numel(t)
    if n:
        seed, off = random.next_offset(n)
        _array.run("random_normal", t.device, t._data, n, float(mean), float(std), seed, off)


def pair(x, n: int = 2) -> tuple:
    if isinstance(x, (list, tuple)):
        if len(x) != n:
            raise ValueError(f"expected {n} values, got {tuple(x)}")
        return tuple(x)
    return (x,) * n
