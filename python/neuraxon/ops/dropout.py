"""Dropout with a Philox mask (the same bits on every backend)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import _array
from .. import random as _random
from ..autograd import Function
from ..dtypes import float32
from ..ops._args import _need_float

if TYPE_CHECKING:
    from ..tensor import Tensor


class _Dropout(Function):
    @staticmethod
    def forward(ctx, x, p):
        n = x.numel()
        seed, off = _random.next_offset(n)
        out = _array.empty(x.shape, float32, x.device)
        if n:
            _array.run("dropout_forward", x.device, out._data, x._data, n, float(p), seed, off)
        ctx.p = (n, float(p), seed, off)
        return out

    @staticmethod
    def backward(ctx, g):
        n, p, seed, off = ctx.p
        d = _array.empty(g.shape, float32, g.device)
        if n:
            _array.run("dropout_backward", g.device, d._data, g._data, n, p, seed, off)
        return d, None


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1-p) (training only).
    The mask comes from the global generator (neuraxon.manual_seed) and is never stored."""
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    _need_float("dropout", input)
    if p == 1.0:
        return input * 0.0
    return _Dropout.apply(input, float(p))
