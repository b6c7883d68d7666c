"""Padding: constant (a Function over strided copies), reflect/replicate/circular (index_select)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import _array
from ..autograd import Function
from ..autograd import no_grad as _no_grad
from ..dtypes import float32, int64

if TYPE_CHECKING:
    from ..tensor import Tensor


class _Pad(Function):
    @staticmethod
    def forward(ctx, x, pads, value):
        nd = x.ndim
        lo_hi = [(0, 0)] * nd
        for i in range(len(pads) // 2):
            lo_hi[nd - 1 - i] = (int(pads[2 * i]), int(pads[2 * i + 1]))
        out_shape, reg, in_off, out_off = [], [], [], []
        for s, (lo, hi) in zip(x.shape, lo_hi):
            o = s + lo + hi
            if o < 0:
                raise RuntimeError(f"pad: padding {tuple(pads)} gives a negative size for input of shape {x.shape}")
            out_shape.append(o)
            a, b = max(-lo, 0), max(-hi, 0)
            reg.append(max(s - a - b, 0))
            in_off.append(a)
            out_off.append(max(lo, 0))
        out = _array.full(tuple(out_shape), value, x.dtype, x.device)
        ist, ost = _array.strides_of(x.shape), _array.strides_of(out.shape)
        io = sum(a * b for a, b in zip(in_off, ist))
        oo = sum(a * b for a, b in zip(out_off, ost))
        _array.copy_into(out, x, reg, ost, oo, ist, io)
        ctx.p = (x.shape, tuple(reg), ist, io, ost, oo)
        return out

    @staticmethod
    def backward(ctx, g):
        shape, reg, ist, io, ost, oo = ctx.p
        d = _array.zeros(shape, float32, g.device)
        _array.copy_into(d, g, reg, ist, io, ost, oo)
        return d, None, None


def pad(input: Tensor, pad, mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad the last len(pad)//2 dims: pad = (left, right, top, bottom, ...), last dim first.
    Negative amounts crop (constant mode). 'reflect', 'replicate' and 'circular' gather
    source positions computed on the host (index_select: gradients accumulate)."""
    if mode in ("reflect", "replicate", "circular"):
        return _pad_index(input, tuple(int(p) for p in pad), mode)
    if mode != "constant":
        raise NotImplementedError(f"pad: mode {mode!r} is not supported")
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise RuntimeError(f"pad: padding length {len(pad)} must be even and at most 2 * {input.ndim} dims")
    v = 0.0 if value is None else float(value)
    if input.dtype is float32:
        return _Pad.apply(input, pad, v)
    with _no_grad():
        return _Pad.apply(input, pad, v)


def _pad_index(x: Tensor, pads: tuple, mode: str) -> Tensor:
    import numpy as np

    if len(pads) % 2 or len(pads) // 2 > x.ndim:
        raise RuntimeError(f"pad: padding length {len(pads)} must be even and at most 2 * {x.ndim} dims")
    if len(pads) // 2 >= x.ndim:
        raise NotImplementedError(f"pad: mode {mode!r} pads at most the last {x.ndim - 1} dims (input {x.shape})")
    out = x
    for i in range(len(pads) // 2):
        d = x.ndim - 1 - i
        lo, hi = pads[2 * i], pads[2 * i + 1]
        n = x.shape[d]
        if mode == "reflect" and (lo >= n or hi >= n):
            raise RuntimeError(
                f"pad: reflect padding ({lo}, {hi}) must be smaller than the input size {n} at dim {d} "
                f"(input shape {x.shape})"
            )
        if n == 0 and (lo or hi):
            raise RuntimeError(f"pad: cannot {mode}-pad an empty dimension (input shape {x.shape})")
        if mode == "circular" and (lo > n or hi > n):
            raise RuntimeError(f"pad: circular padding ({lo}, {hi}) exceeds the input size {n} at dim {d}")
        pos = np.arange(-lo, n + hi)
        if mode == "reflect":
            period = 2 * (n - 1) if n > 1 else 1
            pos = np.abs(pos) % period
            pos = np.where(pos >= n, period - pos, pos)
        elif mode == "replicate":
            pos = np.clip(pos, 0, n - 1)
        else:
            pos = pos % n
        out = out.index_select(d, _array.from_numpy(pos.astype(np.int64), int64, x.device))
    return out
