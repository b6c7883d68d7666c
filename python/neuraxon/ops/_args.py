"""Argument helpers shared by the nn ops: pairs, float checks, optional tensors, batched input."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..dtypes import float32

if TYPE_CHECKING:
    from ..tensor import Tensor


def _pair(x, name: str = "argument") -> tuple:
    if isinstance(x, (list, tuple)):
        if len(x) == 1:
            return (int(x[0]), int(x[0]))
        if len(x) != 2:
            raise ValueError(f"{name} must be an int or a pair, got {tuple(x)}")
        return (int(x[0]), int(x[1]))
    return (int(x), int(x))


def _need_float(name: str, *ts) -> None:
    for t in ts:
        if t is not None and t.dtype is not float32:
            raise TypeError(f"{name}: expected float32 tensors, got {t.dtype.name} (shape {t.shape})")


def _opt(t):
    return None if t is None else t._data


def _batched4(name: str, x: Tensor):
    """(N, C, H, W) view of x; 3-D (C, H, W) input is treated as a batch of one."""
    if x.ndim == 4:
        return x, False
    if x.ndim == 3:
        return x.reshape((1,) + x.shape), True
    raise RuntimeError(f"{name}: expected 3D (unbatched) or 4D (batched) input, got shape {x.shape}")
