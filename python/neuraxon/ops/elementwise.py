"""Elementwise ops: arithmetic and comparisons with broadcasting and type promotion (Binary),
unary math (Unary), where and casts, each a Function over the binary/unary/where kernels."""

from __future__ import annotations

from .. import _array

import math
from typing import TYPE_CHECKING

import numpy as np

from .. import _codes as C
from .. import autograd as _autograd
from .._array import (
    binary_raw,
    cast,
    check_same_device,
    clone_raw,
    empty,
    full,
    is_scalar,
    scalar_dtype,
    sum_to,
    unary_raw,
    where_raw,
)
from .._tensor_base import TensorBase
from ..autograd import Function
from ..dtypes import bool_, float32, int64, promote

if TYPE_CHECKING:
    from ..tensor import Tensor

_wrap = TensorBase._wrap


class Binary(Function):
    @staticmethod
    def forward(ctx, a, b, op):
        ctx.op = op
        ctx.in_shapes = (a.shape, b.shape)
        out = binary_raw(a, b, op)
        if op in (C.BIN_MUL, C.BIN_DIV, C.BIN_MAX, C.BIN_MIN):
            ctx.save_for_backward(a, b)
            na, nb = ctx.needs_input_grad[:2]
            if op == C.BIN_MUL:  # d a = g * b, d b = g * a
                ctx._nx_read = (nb, na)
            elif op == C.BIN_DIV:  # d a = g / b, d b = -g * a / b^2
                ctx._nx_read = (nb, True)
        elif op == C.BIN_POW:
            ctx.save_for_backward(a, b, out)
            ctx._nx_read = (True, ctx.needs_input_grad[0], ctx.needs_input_grad[1])
        return out

    @staticmethod
    def backward(ctx, g):
        op = ctx.op
        na, nb = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        sa = sb = None
        ga = gb = None
        if op in (C.BIN_ADD, C.BIN_SUB):
            ga = g if na else None
            gb = (g if op == C.BIN_ADD else -g) if nb else None
            sa, sb = ctx.in_shapes
        else:
            saved = ctx.saved_tensors
            a, b = saved[0], saved[1]
            sa, sb = a.shape, b.shape
            if op == C.BIN_MUL:
                ga = g * b if na else None
                gb = g * a if nb else None
            elif op == C.BIN_DIV:
                ga = g / b if na else None
                gb = -(g * a) / (b * b) if nb else None
            elif op == C.BIN_POW:
                out = saved[2]
                ga = g * b * a ** (b - 1.0) if na else None
                if nb:
                    # d/db a**b = a**b log a; 0 where a == 0 (as PyTorch)
                    la = where_raw(
                        binary_raw(a, _scalar_like(a, 0.0), C.BIN_EQ),
                        _scalar_like(a, 0.0),
                        a.log(),
                    )
                    gb = g * out * la
            else:  # max / min: ties split the gradient evenly, as PyTorch
                cmp = C.BIN_GT if op == C.BIN_MAX else C.BIN_LT
                wa = cast(binary_raw(a, b, cmp), float32) + cast(binary_raw(a, b, C.BIN_EQ), float32) * 0.5
                ga = g * wa if na else None
                gb = g * (1.0 - wa) if nb else None
        return (
            sum_to(ga, sa) if ga is not None else None,
            sum_to(gb, sb) if gb is not None else None,
            None,
        )


def _scalar_like(x: Tensor, v) -> Tensor:
    return full((), v, x.dtype, x.device)


def binary(a, b, op: int, reverse: bool = False) -> Tensor:
    """Front end of every binary arithmetic/compare op: promotes dtypes and scalars."""
    T = TensorBase._cls
    if (
        type(b) is T
        and a.dtype is float32
        and b.dtype is float32
        and not ((a.requires_grad or b.requires_grad) and _autograd._state.enabled)
        and type(a) is T
    ):
        r = _array.binary_same_shape(a, b, op, reverse)
        if r is not None:
            return r
    if not isinstance(a, TensorBase):
        a, b, reverse = b, a, not reverse
    if op == C.BIN_SUB and (a.dtype is bool_ or getattr(b, "dtype", None) is bool_ or isinstance(b, (bool, np.bool_))):
        raise RuntimeError(
            "Subtraction, the `-` operator, with a bool tensor is not supported. "
            "If you are trying to invert a mask, use the `~` or `logical_not()` operator instead."
        )
    if isinstance(b, TensorBase):
        check_same_device(a, b)
        dt = promote(a.dtype, b.dtype)
    elif is_scalar(b):
        sdt = scalar_dtype(b)
        dt = promote(a.dtype, sdt) if a.dtype is not bool_ or sdt is not bool_ else bool_
        # a float tensor with a python scalar: fused affine / power kernels (one pass)
        if (
            dt is float32
            and op in (C.BIN_ADD, C.BIN_SUB, C.BIN_MUL, C.BIN_DIV, C.BIN_POW)
            and not (op == C.BIN_DIV and reverse)
        ):
            x = a if a.dtype is float32 else cast(a, float32)
            s = float(b)
            if op == C.BIN_ADD:
                return Unary.apply(x, C.UN_AFFINE, 1.0, s)
            if op == C.BIN_SUB:
                return Unary.apply(x, C.UN_AFFINE, -1.0, s) if reverse else Unary.apply(x, C.UN_AFFINE, 1.0, -s)
            if op == C.BIN_MUL:
                return Unary.apply(x, C.UN_AFFINE, s, 0.0)
            if op == C.BIN_DIV:
                return (
                    Unary.apply(
                        x,
                        C.UN_AFFINE,
                        1.0 / s if s != 0 else math.copysign(math.inf, s),
                        0.0,
                    )
                    if s != 0
                    else binary(x, full((), s, float32, x.device), op)
                )
            if op == C.BIN_POW:
                return Unary.apply(x, C.UN_RPOW_SCALAR if reverse else C.UN_POW_SCALAR, s, 0.0)
        b = full((), b, dt if dt is not bool_ else bool_, a.device)
    elif isinstance(b, np.ndarray):  # t + ndarray, ndarray + t (NumPy defers: __array_ufunc__ = None)
        return binary(a, _array.array_operand(b, a.device), op, reverse)
    else:
        return NotImplemented
    if op == C.BIN_DIV and dt is not float32:
        dt = float32  # true division
    dt_work = int64 if dt is bool_ else dt  # kernels take float32/int64
    x, y = cast(a, dt_work), cast(b, dt_work)
    if reverse:
        x, y = y, x
    if op >= C.BIN_EQ:
        return binary_raw(x, y, op)
    out = Binary.apply(x, y, op)
    if dt is bool_ and op in (C.BIN_ADD, C.BIN_MUL, C.BIN_MAX, C.BIN_MIN):
        out = cast(binary_raw(out, full((), 0, int64, out.device), C.BIN_NE), bool_)
    return out


class Unary(Function):
    @staticmethod
    def forward(ctx, x, op, p0=0.0, p1=0.0):
        if x.dtype is not float32:
            raise TypeError(f"unary op {op} expects a float32 tensor, got {x.dtype.name}")
        out = unary_raw(x, op, p0, p1)
        ctx.op, ctx.p = op, (float(p0), float(p1))
        if op == C.UN_AFFINE:
            ctx.save_for_backward()
        else:
            ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, g):
        if ctx.op == C.UN_AFFINE:
            return unary_raw(g, C.UN_AFFINE, ctx.p[0], 0.0), None, None, None
        x, out = ctx.saved_tensors
        d = empty(x.shape, float32, x.device)
        if d.numel():
            _array.run(
                "unary_backward",
                x.device,
                d._data,
                g._data,
                x._data,
                out._data,
                d.numel(),
                ctx.op,
                ctx.p[0],
                ctx.p[1],
            )
        return d, None, None, None


def unary(x: Tensor, op: int, p0: float = 0.0, p1: float = 0.0) -> Tensor:
    if x.dtype is not float32:
        if op in (C.UN_NEG, C.UN_ABS, C.UN_SQUARE, C.UN_SIGN, C.UN_CLAMP) and x.dtype is int64:
            return _int_unary(x, op, p0, p1)
        x = cast(x, float32)
    return Unary.apply(x, op, p0, p1)


def _int_unary(x: Tensor, op, p0, p1) -> Tensor:
    """Exact int64 versions of neg/abs/square/sign/clamp built on binary kernels."""
    zero = full((), 0, int64, x.device)
    if op == C.UN_NEG:
        return binary_raw(zero, x, C.BIN_SUB)
    if op == C.UN_ABS:
        return binary_raw(x, binary_raw(zero, x, C.BIN_SUB), C.BIN_MAX)
    if op == C.UN_SQUARE:
        return binary_raw(x, x, C.BIN_MUL)
    if op == C.UN_SIGN:
        pos = cast(binary_raw(x, zero, C.BIN_GT), int64)
        neg = cast(binary_raw(x, zero, C.BIN_LT), int64)
        return binary_raw(pos, neg, C.BIN_SUB)
    if op == C.UN_CLAMP:
        r = x
        if p0 != -math.inf:
            r = binary_raw(r, full((), int(math.ceil(p0)), int64, x.device), C.BIN_MAX)
        if p1 != math.inf:
            r = binary_raw(r, full((), int(math.floor(p1)), int64, x.device), C.BIN_MIN)
        return r if r is not x else clone_raw(x)
    raise TypeError(f"unary op {op} is not defined for int64")


class Where(Function):
    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.save_for_backward(cond)
        ctx.shapes = (a.shape, b.shape)
        return where_raw(cond, a, b)

    @staticmethod
    def backward(ctx, g):
        (cond,) = ctx.saved_tensors
        z = full((), 0.0, float32, g.device)
        ga = sum_to(where_raw(cond, g, z), ctx.shapes[0]) if ctx.needs_input_grad[1] else None
        gb = sum_to(where_raw(cond, z, g), ctx.shapes[1]) if ctx.needs_input_grad[2] else None
        return None, ga, gb


def where(cond, a, b) -> Tensor:
    ref = next((t for t in (cond, a, b) if isinstance(t, TensorBase)), None)
    if not isinstance(cond, TensorBase):
        raise TypeError("where(): condition must be a bool tensor")
    if cond.dtype is not bool_:
        cond = binary(cond, 0, C.BIN_NE)
    dev = ref.device
    dts = [t.dtype if isinstance(t, TensorBase) else scalar_dtype(t) for t in (a, b)]
    dt = promote(dts[0], dts[1]) if dts[0] is not dts[1] else dts[0]
    if all(not isinstance(t, TensorBase) for t in (a, b)) and dt is int64 and any(isinstance(t, float) for t in (a, b)):
        dt = float32
    check_same_device(cond, a, b)
    a = cast(a, dt) if isinstance(a, TensorBase) else full((), a, dt, dev)
    b = cast(b, dt) if isinstance(b, TensorBase) else full((), b, dt, dev)
    if dt is float32:
        return Where.apply(cond, a, b)
    return where_raw(cond, a, b)


class Cast(Function):
    @staticmethod
    def forward(ctx, x, dtype):
        ctx.src = x.dtype
        return cast(x, dtype)

    @staticmethod
    def backward(ctx, g):
        return (cast(g, ctx.src) if ctx.src is float32 else None), None
