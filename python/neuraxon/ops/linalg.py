"""Linear algebra: batched matmul with broadcasting (BMM over the GEMM kernel)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .. import _array
from .. import _codes as C
from .._array import (
    broadcast_shapes,
    check_same_device,
    empty,
    prod,
    reduce_raw,
)
from .._tensor_base import TensorBase
from ..autograd import Function
from ..dtypes import float32
from ..ops._args import _need_float, _opt
from .movement import expand, reshape

if TYPE_CHECKING:
    from ..tensor import Tensor

_wrap = TensorBase._wrap


class BMM(Function):
    """a (Ba, m, k) @ b (Bb, k, n) -> (B, m, n) with Ba, Bb in {B, 1} (stride 0 broadcasts)."""

    @staticmethod
    def forward(ctx, a, b):
        Ba, m, k = a.shape
        Bb, _, n = b.shape
        B = max(Ba, Bb)
        out = empty((B, m, n), float32, a.device)
        if out.numel():
            _array.run(
                "gemm_forward",
                a.device,
                out._data,
                a._data,
                b._data,
                None,
                B,
                m,
                n,
                k,
                False,
                False,
                m * k if Ba > 1 else 0,
                k * n if Bb > 1 else 0,
                m * n,
                1.0,
                0.0,
                0,
                0.0,
                -1,
            )
        ctx.save_for_backward(a, b)
        ctx._nx_read = (ctx.needs_input_grad[1], ctx.needs_input_grad[0])  # dA = g B^T, dB = A^T g
        return out

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        Ba, m, k = a.shape
        Bb, _, n = b.shape
        B = g.shape[0]
        dev = a.device
        da = db = None
        if ctx.needs_input_grad[0]:
            # dA_b = dC_b @ B_b^T  (m, k)
            full_ = empty((B, m, k), float32, a.device)
            if full_.numel():
                _array.run(
                    "gemm_forward",
                    dev,
                    full_._data,
                    g._data,
                    b._data,
                    None,
                    B,
                    m,
                    k,
                    n,
                    False,
                    True,
                    m * n,
                    k * n if Bb > 1 else 0,
                    m * k,
                    1.0,
                    0.0,
                    0,
                    0.0,
                    -1,
                )
            da = full_ if Ba == B else reduce_raw(full_, (0,), C.RED_SUM, True)
        if ctx.needs_input_grad[1]:
            if Bb == B:
                # dB_b = A_b^T @ dC_b  (k, n)
                db = empty((B, k, n), float32, a.device)
                if db.numel():
                    _array.run(
                        "gemm_forward",
                        dev,
                        db._data,
                        a._data,
                        g._data,
                        None,
                        B,
                        k,
                        n,
                        m,
                        True,
                        False,
                        m * k if Ba > 1 else 0,
                        m * n,
                        k * n,
                        1.0,
                        0.0,
                        0,
                        0.0,
                        -1,
                    )
            else:
                # shared B: dB = A_flat^T @ dC_flat over all B*m rows (one GEMM)
                db = empty((1, k, n), float32, a.device)
                if db.numel():
                    _array.run(
                        "gemm_forward",
                        dev,
                        db._data,
                        a._data,
                        g._data,
                        None,
                        1,
                        k,
                        n,
                        B * m,
                        True,
                        False,
                        0,
                        0,
                        0,
                        1.0,
                        0.0,
                        0,
                        0.0,
                        -1,
                    )
        return da, db


def matmul(a: Tensor, b: Tensor) -> Tensor:
    if isinstance(a, np.ndarray) and isinstance(b, TensorBase):  # ndarray @ t
        a = _array.array_operand(a, b.device)
    elif isinstance(b, np.ndarray) and isinstance(a, TensorBase):  # t @ ndarray
        b = _array.array_operand(b, a.device)
    if not isinstance(a, TensorBase) or not isinstance(b, TensorBase):
        raise TypeError("matmul(): both arguments must be Tensors")
    check_same_device(a, b)
    if a.dtype is not float32 or b.dtype is not float32:
        raise TypeError(f"matmul(): expected both operands to be float32, got {a.dtype.name} and {b.dtype.name}")
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are {a.ndim}D and {b.ndim}D")
    a2 = reshape(a, (1,) + a.shape) if a.ndim == 1 else a
    b2 = reshape(b, b.shape + (1,)) if b.ndim == 1 else b
    m, k = a2.shape[-2:]
    k2, n = b2.shape[-2:]
    if k != k2:
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({m}x{k} and {k2}x{n}) (operands of shape {a.shape} and {b.shape})"
        )
    ba, bb = a2.shape[:-2], b2.shape[:-2]
    bshape = broadcast_shapes(ba, bb)
    B = prod(bshape)

    def as3(t, bt, r, c):
        if bt == bshape:
            return reshape(t, (B, r, c))
        if prod(bt) == 1 and B > 0:  # broadcast by the kernel (batch stride 0)
            return reshape(t, (1, r, c))
        return reshape(expand(t, bshape + (r, c)), (B, r, c))

    out = BMM.apply(as3(a2, ba, m, k), as3(b2, bb, k, n))
    shape = bshape + ((m,) if a.ndim > 1 else ()) + ((n,) if b.ndim > 1 else ())
    return reshape(out, shape)


class _Linear(Function):
    @staticmethod
    def forward(ctx, x, w, b):
        n, i = x.shape
        o = w.shape[0]
        out = _array.empty((n, o), float32, x.device)
        if out.numel():
            _array.run(
                "gemm_forward",
                x.device,
                out._data,
                x._data,
                w._data,
                _opt(b),
                1,
                n,
                o,
                i,
                False,
                True,
                0,
                0,
                0,
                1.0,
                0.0,
                C.ACT_NONE,
                0.0,
                -1,
            )
        ctx.save_for_backward(x, w)
        ctx._nx_read = (ctx.needs_input_grad[1], ctx.needs_input_grad[0])  # dx from w, dw from x
        return out

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        n, i = x.shape
        o = w.shape[0]
        nx_, nw, nb = ctx.needs_input_grad
        dx = _array.empty(x.shape, float32, x.device) if nx_ else None
        dw = _array.empty(w.shape, float32, x.device) if nw else None
        db = _array.empty((o,), float32, x.device) if nb else None
        if n * o * i:
            _array.run(
                "gemm_backward",
                x.device,
                _opt(dx),
                _opt(dw),
                _opt(db),
                g._data,
                x._data,
                w._data,
                n,
                o,
                i,
                False,
                True,
                -1,
            )
        else:  # a zero-size product: gradients are zeros
            for t in (dx, dw, db):
                if t is not None and t.numel():
                    t.fill_(0.0)
            if db is not None and n and o:
                db = g.sum(0)
        return dx, dw, db


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = input @ weight.T + bias; input (..., in), weight (out, in), bias (out)."""
    _array.check_same_device(input, weight, bias)
    _need_float("linear", input, weight, bias)
    if weight.ndim != 2:
        raise RuntimeError(f"linear: weight must be 2-D (out, in), got shape {weight.shape}")
    i = input.shape[-1] if input.ndim else 1
    if input.ndim == 0 or i != weight.shape[1]:
        lead = prod(input.shape[:-1]) if input.ndim else 1
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({lead}x{i} and {weight.shape[1]}x{weight.shape[0]}) "
            f"(input shape {input.shape}, weight shape {weight.shape})"
        )
    if bias is not None and bias.shape != (weight.shape[0],):
        raise RuntimeError(f"linear: bias of shape {bias.shape} does not match weight of shape {weight.shape}")
    if input.ndim == 2:  # no reshape nodes around the product (two autograd nodes less)
        return _Linear.apply(input, weight, bias)
    lead = input.shape[:-1]
    x2 = input.reshape(prod(lead), i)
    out = _Linear.apply(x2, weight, bias)
    return out.reshape(lead + (weight.shape[0],))


def bilinear(input1, input2, weight, bias=None):
    """y[n, o] = x1[n] @ weight[o] @ x2[n] + bias[o]; weight (out, in1, in2)."""
    o, i1, i2 = weight.shape
    t = input1.reshape(-1, i1) @ weight.permute(1, 0, 2).reshape(i1, o * i2)  # (N, O*I2)
    y = (t.reshape(-1, o, i2) * input2.reshape(-1, 1, i2)).sum(-1)
    if bias is not None:
        y = y + bias
    return y.reshape(input1.shape[:-1] + (o,))
