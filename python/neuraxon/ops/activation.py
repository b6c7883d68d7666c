"""Activations over the activation kernels (relu, leaky_relu, sigmoid, tanh, softplus, elu, gelu)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import _array
from .. import _codes as C
from ..autograd import Function
from ..dtypes import float32

if TYPE_CHECKING:
    from ..tensor import Tensor


class _Act(Function):
    @staticmethod
    def forward(ctx, x, act, param):
        out = _array.empty(x.shape, float32, x.device)
        n = x.numel()
        if n:
            _array.run("activation_forward", x.device, out._data, x._data, n, act, float(param))
        # sigmoid and tanh differentiate from their result (no exp/tanh in backward, as torch);
        # the others from their input.
        ctx.from_out = act in (C.ACT_SIGMOID, C.ACT_TANH)
        ctx.save_for_backward(out if ctx.from_out else x)
        ctx.act, ctx.param = act, float(param)
        return out

    @staticmethod
    def backward(ctx, g):
        (s,) = ctx.saved_tensors
        d = _array.empty(s.shape, float32, s.device)
        n = s.numel()
        if n:
            x, y = (None, s._data) if ctx.from_out else (s._data, None)
            _array.run("activation_backward", s.device, d._data, g._data, x, y, n, ctx.act, ctx.param)
        return d, None, None


def _act(x: Tensor, act: int, param: float = 0.0) -> Tensor:
    if x.dtype is not float32:
        raise TypeError(f"activation expects a float32 tensor, got {x.dtype.name}")
    return _Act.apply(x, act, param)
