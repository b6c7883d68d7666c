"""Softmax / log-softmax over the last dim, and cross-entropy (log-softmax + NLL fused)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import _array
from ..autograd import Function
from ..dtypes import float32

if TYPE_CHECKING:
    from ..tensor import Tensor


class _SoftmaxLast(Function):
    @staticmethod
    def forward(ctx, x, log):
        cols = x.shape[-1] if x.ndim else 1
        rows = x.numel() // cols if cols else 0
        out = _array.empty(x.shape, float32, x.device)
        if out.numel():
            _array.run("softmax_forward", x.device, out._data, x._data, rows, cols, bool(log))
        ctx.save_for_backward(out)
        ctx.log, ctx.rc = bool(log), (rows, cols)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        d = _array.empty(out.shape, float32, out.device)
        if d.numel():
            _array.run("softmax_backward", out.device, d._data, g._data, out._data, ctx.rc[0], ctx.rc[1], ctx.log)
        return d, None


def _softmax(x: Tensor, dim, log: bool, dtype=None) -> Tensor:
    if dtype is not None:
        x = x.to(dtype)
    if x.dtype is not float32:
        raise TypeError(f"softmax expects a float32 tensor, got {x.dtype.name}")
    if dim is None:
        dim = 0 if x.ndim in (0, 1, 3) else 1  # PyTorch's legacy implicit dim
    if x.ndim == 0:
        return _SoftmaxLast.apply(x.reshape(1), log).reshape(())
    d = _array.norm_dim(dim, x.ndim)
    if d == x.ndim - 1:
        return _SoftmaxLast.apply(x, log)
    y = x.transpose(d, -1)
    return _SoftmaxLast.apply(y, log).transpose(d, -1)


class _CrossEntropy(Function):
    @staticmethod
    def forward(ctx, logits, target, ignore_index):
        rows, cols = logits.shape
        loss = _array.empty((), float32, logits.device)
        lse = _array.empty((rows,), float32, logits.device)
        _array.run(
            "cross_entropy_forward",
            logits.device,
            loss._data,
            lse._data,
            logits._data,
            target._data,
            rows,
            cols,
            int(ignore_index),
        )
        ctx.save_for_backward(logits, lse, target)
        ctx.p = (rows, cols, int(ignore_index))
        return loss

    @staticmethod
    def backward(ctx, g):
        logits, lse, target = ctx.saved_tensors
        rows, cols, ii = ctx.p
        d = _array.empty(logits.shape, float32, g.device)
        _array.run(
            "cross_entropy_backward", g.device, d._data, g._data, logits._data, lse._data, target._data, rows, cols, ii
        )
        return d, None, None
