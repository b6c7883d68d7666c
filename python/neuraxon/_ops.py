"""The differentiable primitives behind Tensor's methods, each a thin layer over kernels.

Everything here calls `x.device.k.<kernel>`; shapes, strides and broadcasting are worked
out in Python. Tensors are always contiguous, so a tensor's strides are its shape's
row-major strides; permutes, slices and expands are `copy_strided` copies.
"""

from __future__ import annotations

import math
import numbers
from collections import namedtuple
from typing import TYPE_CHECKING

import numpy as np

from . import _codes as C
from . import autograd as _autograd
from .autograd import Function, is_grad_enabled, no_grad
from .dtypes import bool_, float32, get_dtype, int64, promote
from ._array import (  # noqa: F401  (re-used names)
    prod,
    strides_of,
    broadcast_shapes,
    bcast_strides,
    norm_dim,
    norm_dims,
    check_same_device,
    is_scalar,
    scalar_dtype,
    empty,
    full,
    zeros,
    strided_copy,
    copy_into,
    cast,
    expand_raw,
    from_numpy,
    binary_raw,
    unary_raw,
    reduce_raw,
    where_raw,
    arange_raw,
)
from ._tensor_base import TensorBase

if TYPE_CHECKING:
    from .tensor import Tensor

_wrap = TensorBase._wrap

# ------------------------------------------------------------------------------------
# gradient helpers
# ------------------------------------------------------------------------------------


def sum_to(g: Tensor, shape) -> Tensor:
    """Sum a broadcast gradient back to `shape`."""
    shape = tuple(shape)
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    dims = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape) if s == 1 and g.shape[lead + i] != 1)
    r = reduce_raw(g, dims, C.RED_SUM, True) if dims else g
    return _wrap(r._data, shape, r.dtype, r.device)


# ------------------------------------------------------------------------------------
# elementwise
# ------------------------------------------------------------------------------------


class Binary(Function):
    @staticmethod
    def forward(ctx, a, b, op):
        ctx.op = op
        ctx.in_shapes = (a.shape, b.shape)
        out = binary_raw(a, b, op)
        if op in (C.BIN_MUL, C.BIN_DIV, C.BIN_MAX, C.BIN_MIN):
            ctx.save_for_backward(a, b)
        elif op == C.BIN_POW:
            ctx.save_for_backward(a, b, out)
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
                    la = where_raw(binary_raw(a, _scalar_like(a, 0.0), C.BIN_EQ), _scalar_like(a, 0.0), a.log())
                    gb = g * out * la
            else:  # max / min: ties split the gradient evenly, as PyTorch
                cmp = C.BIN_GT if op == C.BIN_MAX else C.BIN_LT
                wa = cast(binary_raw(a, b, cmp), float32) + cast(binary_raw(a, b, C.BIN_EQ), float32) * 0.5
                ga = g * wa if na else None
                gb = g * (1.0 - wa) if nb else None
        return (sum_to(ga, sa) if ga is not None else None, sum_to(gb, sb) if gb is not None else None, None)


def _scalar_like(x: Tensor, v) -> Tensor:
    return full((), v, x.dtype, x.device)


# One-element float32 add/sub/mul are computed on Python floats: a kernel call's argument
# conversion alone (~1 us) costs more than the whole op. Exact: the double result of two
# float32 operands rounded once to float32 equals the float32 operation (53 >= 2*24 + 2 bits,
# so double rounding cannot differ). NumPy ufuncs would be as fast but warn on overflow or
# inf - inf, which PyTorch does not; a finite double beyond float32's range is stored as inf
# here for the same reason (NumPy's cast would warn).
_F32_ROUNDS_TO_INF = 3.4028235677973366e38  # FLT_MAX + half an ulp: rounds to inf


def _binary_fast(a: Tensor, b: Tensor, op: int, reverse: bool):
    """a op b for two float32 tensors of one shape on one device, no graph to record;
    None when the case is not that simple."""
    shape = a.shape
    dev = a.device
    if b.shape != shape or b.device is not dev or op > C.BIN_MIN or op == C.BIN_POW:
        return None
    x, y = (b._data, a._data) if reverse else (a._data, b._data)
    if dev.type == "cpu":
        n = x.shape[0]
        if n == 1 and op <= C.BIN_MUL:
            u, w = x.item(), y.item()
            v = u + w if op == C.BIN_ADD else (u - w if op == C.BIN_SUB else u * w)
            if not -_F32_ROUNDS_TO_INF < v < _F32_ROUNDS_TO_INF and v == v:
                v = math.copysign(math.inf, v)
            out = np.empty(1, np.float32)
            out[0] = v
            return _wrap(out, shape, float32, dev)
    else:
        n = prod(shape)
    out = dev.empty(n, float32)
    if n:
        dev.k.binary_forward(out, x, y, [n], _ONE, _ONE, op)
    return _wrap(out, shape, float32, dev)


_ONE = [1]


def binary(a, b, op: int, reverse: bool = False) -> Tensor:
    """Front end of every binary arithmetic/compare op: promotes dtypes and scalars."""
    if (
        type(b) is TensorBase._cls
        and a.dtype is float32
        and b.dtype is float32
        and not ((a.requires_grad or b.requires_grad) and _autograd._grad_enabled)
        and type(a) is TensorBase._cls
    ):
        r = _binary_fast(a, b, op, reverse)
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
                    Unary.apply(x, C.UN_AFFINE, 1.0 / s if s != 0 else math.copysign(math.inf, s), 0.0)
                    if s != 0
                    else binary(x, full((), s, float32, x.device), op)
                )
            if op == C.BIN_POW:
                return Unary.apply(x, C.UN_RPOW_SCALAR if reverse else C.UN_POW_SCALAR, s, 0.0)
        b = full((), b, dt if dt is not bool_ else bool_, a.device)
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
            x.device.k.unary_backward(d._data, g._data, x._data, out._data, d.numel(), ctx.op, ctx.p[0], ctx.p[1])
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


def clone_raw(x: Tensor) -> Tensor:
    n = x.numel()
    out = empty(x.shape, x.dtype, x.device)
    if n:
        x.device.k.copy_strided(out._data, x._data, [n], [1], 0, [1], 0)
    return out


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


# ------------------------------------------------------------------------------------
# reductions
# ------------------------------------------------------------------------------------


class Reduce(Function):
    """sum / mean over dims."""

    @staticmethod
    def forward(ctx, x, dims, keepdim, op):
        ctx.in_shape, ctx.dims, ctx.op = x.shape, dims, op
        return reduce_raw(x, dims, op, keepdim)

    @staticmethod
    def backward(ctx, g):
        shape, dims = ctx.in_shape, ctx.dims
        kshape = tuple(1 if i in dims else s for i, s in enumerate(shape))
        g = _wrap(g._data, kshape, g.dtype, g.device)
        if ctx.op == C.RED_MEAN:
            cnt = prod(shape[d] for d in dims)
            g = unary_raw(g, C.UN_AFFINE, 1.0 / cnt if cnt else float("nan"), 0.0)
        return expand_raw(g, shape), None, None, None


def red_dim(dim):
    """A reduction's dim argument: an empty tuple/list means every dim (as torch)."""
    return None if isinstance(dim, (tuple, list)) and len(dim) == 0 else dim


def reduce(x: Tensor, dim, keepdim: bool, op: int, dtype=None) -> Tensor:
    dim = red_dim(dim)
    dims = norm_dims(dim, x.ndim)
    if dtype is not None:
        x = x.to(get_dtype(dtype))
    if op == C.RED_MEAN and x.dtype is not float32:
        raise RuntimeError(
            f"mean(): could not infer output dtype. Input dtype must be floating point, got {x.dtype.name}"
        )
    if x.dtype is bool_:
        x = cast(x, int64)
    if x.ndim == 0:
        return Reduce.apply(x.reshape(1), (0,), False, op)
    if x.dtype is float32:
        return Reduce.apply(x, dims, bool(keepdim), op)
    return reduce_raw(x, dims, op, bool(keepdim))


def flat_positions(shape, dim: int, idx: Tensor) -> Tensor:
    """Flat positions (int64, idx's shape) of the elements that `idx` (keepdim shape along
    `dim`) selects in a contiguous tensor of `shape`."""
    outer, size, inner = prod(shape[:dim]), shape[dim], prod(shape[dim + 1 :])
    dev = idx.device
    o = arange_raw(outer, dev)
    o = binary_raw(o, full((), size * inner, int64, dev), C.BIN_MUL)
    i = arange_raw(inner, dev)
    base = binary_raw(_wrap(o._data, (outer, 1), int64, dev), _wrap(i._data, (1, inner), int64, dev), C.BIN_ADD)
    pos = binary_raw(_wrap(idx._data, (outer, inner), int64, dev), full((), inner, int64, dev), C.BIN_MUL)
    pos = binary_raw(pos, base, C.BIN_ADD)
    return _wrap(pos._data, idx.shape, int64, dev)


def scatter_flat(numel: int, pos: Tensor, src: Tensor) -> Tensor:
    """zeros(numel) with src added at flat positions pos."""
    out = zeros((numel,), src.dtype, src.device)
    m = pos.numel()
    if m:
        src.device.k.scatter_add(out._data, src._data, pos._data, 1, numel, m, 1)
    return out


def gather_flat(x: Tensor, pos: Tensor) -> Tensor:
    out = empty(pos.shape, x.dtype, x.device)
    m = pos.numel()
    if m:
        x.device.k.gather(out._data, x._data, pos._data, 1, x.numel(), m, 1)
    return out


class MaxMinDim(Function):
    @staticmethod
    def forward(ctx, x, dim, keepdim, op):
        shape = x.shape
        outer, red, inner = prod(shape[:dim]), shape[dim], prod(shape[dim + 1 :])
        if red == 0:
            raise IndexError(f"max/min(): Expected reduction dim {dim} to have non-zero size (input shape {shape})")
        kshape = shape[:dim] + (1,) + shape[dim + 1 :]
        fshape = kshape if keepdim else shape[:dim] + shape[dim + 1 :]
        vals = empty(fshape, x.dtype, x.device)
        idx = empty(fshape, int64, x.device)
        if outer * inner:
            x.device.k.reduce_forward(vals._data, x._data, outer, red, inner, C.RED_MAX if op == 0 else C.RED_MIN)
            x.device.k.argreduce_forward(idx._data, x._data, outer, red, inner, op)
        ctx.save_for_backward(idx)
        ctx.shape, ctx.dim, ctx.kshape = shape, dim, kshape
        return vals, idx

    @staticmethod
    def backward(ctx, g, _gi=None):
        (idx,) = ctx.saved_tensors
        pos = flat_positions(ctx.shape, ctx.dim, _wrap(idx._data, ctx.kshape, int64, idx.device))
        d = scatter_flat(prod(ctx.shape), pos, g)
        return _wrap(d._data, ctx.shape, g.dtype, g.device), None, None, None


class MaxMinAll(Function):
    """max()/min() over all elements; the gradient is shared evenly by ties (as PyTorch)."""

    @staticmethod
    def forward(ctx, x, op):
        v = reduce_raw(x.reshape(-1) if x.ndim != 1 else x, (0,), C.RED_MAX if op == C.ARG_MAX else C.RED_MIN, False)
        ctx.save_for_backward(x, v)
        return v

    @staticmethod
    def backward(ctx, g):
        x, v = ctx.saved_tensors
        hit = cast(binary_raw(x, v, C.BIN_EQ), float32)
        cnt = reduce_raw(hit.reshape(-1), (0,), C.RED_SUM, False)
        return binary_raw(hit, binary_raw(g, cnt, C.BIN_DIV), C.BIN_MUL), None


_MaxRes = namedtuple("max", ["values", "indices"])
_MinRes = namedtuple("min", ["values", "indices"])


def maxmin(x: Tensor, dim, keepdim: bool, is_max: bool):
    if x.dtype is bool_:  # on 0/1 as int64; the values come back as bool (as torch)
        r = maxmin(cast(x, int64), dim, keepdim, is_max)
        if dim is None:
            return cast(r, bool_)
        return type(r)(cast(r.values, bool_), r.indices)
    op = C.ARG_MAX if is_max else C.ARG_MIN
    if dim is None:
        if x.numel() == 0:
            raise RuntimeError(
                f"{'max' if is_max else 'min'}(): Expected reduction dim to be specified for input.numel() == 0."
            )
        if x.dtype is float32:
            return MaxMinAll.apply(x, op)
        v, _ = _maxmin_raw(x.reshape(-1), 0, False, op)
        return v
    d = norm_dim(dim, x.ndim)
    xx = x if x.ndim else x.reshape(1)
    if x.dtype is float32:
        v, i = MaxMinDim.apply(xx, d, keepdim and x.ndim > 0, op)
    else:
        v, i = _maxmin_raw(xx, d, keepdim and x.ndim > 0, op)
    return (_MaxRes if is_max else _MinRes)(v, i)


def _maxmin_raw(x, dim, keepdim, op):
    with no_grad():
        return MaxMinDim.forward(type("Ctx", (), {"save_for_backward": lambda *a: None})(), x, dim, keepdim, op)


def argmaxmin(x: Tensor, dim, keepdim: bool, is_max: bool) -> Tensor:
    op = C.ARG_MAX if is_max else C.ARG_MIN
    if x.dtype is bool_:
        x = cast(x, int64)
    in_shape = x.shape
    if dim is None:
        x = x.reshape(-1)
        d = 0
    else:
        d = norm_dim(dim, x.ndim)
        if x.ndim == 0:
            x = x.reshape(1)
    shape = x.shape
    outer, red, inner = prod(shape[:d]), shape[d], prod(shape[d + 1 :])
    if red == 0:
        raise RuntimeError(f"argmax/argmin(): Expected reduction dim {d} to have non-zero size (input shape {shape})")
    if dim is None:
        fshape = (1,) * len(in_shape) if keepdim else ()
    else:
        fshape = shape[:d] + (1,) + shape[d + 1 :] if keepdim else shape[:d] + shape[d + 1 :]
    out = empty(fshape, int64, x.device)
    if outer * inner:
        x.device.k.argreduce_forward(out._data, x._data, outer, red, inner, op)
    return out


# ------------------------------------------------------------------------------------
# shape ops
# ------------------------------------------------------------------------------------


def infer_shape(shape, numel: int, src_shape=None) -> tuple:
    shape = list(int(s) for s in shape)
    neg = [i for i, s in enumerate(shape) if s == -1]
    if len(neg) > 1:
        raise RuntimeError("only one dimension can be inferred")
    if any(s < -1 for s in shape):
        raise RuntimeError(f"invalid shape dimension in {tuple(shape)}")
    if neg:
        rest = prod(s for s in shape if s != -1)
        if rest == 0 or numel % rest:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        shape[neg[0]] = numel // rest
    if prod(shape) != numel:
        raise RuntimeError(
            f"shape '{list(shape)}' is invalid for input of size {numel}"
            + (f" (input shape {tuple(src_shape)})" if src_shape is not None else "")
        )
    return tuple(shape)


class Reshape(Function):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        return _wrap(x._data, shape, x.dtype, x.device)

    @staticmethod
    def backward(ctx, g):
        return _wrap(g._data, ctx.in_shape, g.dtype, g.device), None


def reshape(x: Tensor, shape) -> Tensor:
    shape = infer_shape(shape, x.numel(), x.shape)
    if shape == x.shape:
        return x if not x.requires_grad else Reshape.apply(x, shape)
    return Reshape.apply(x, shape)


class Strided(Function):
    """A copy of x read through (shape, strides, offset): permute, slice, expand, repeat.
    Backward scatters (accumulating when the view repeats elements)."""

    @staticmethod
    def forward(ctx, x, shape, strides, offset, overlapping):
        ctx.args = (x.shape, shape, strides, offset, overlapping)
        return strided_copy(x, shape, strides, offset)

    @staticmethod
    def backward(ctx, g):
        in_shape, shape, strides, offset, overlapping = ctx.args
        if not overlapping:
            d = zeros(in_shape, g.dtype, g.device)
            copy_into(d, g, shape, strides, offset, strides_of(shape), 0)
            return d, None, None, None, None
        # repeated reads (expand / repeat): accumulate through flat positions
        pos = strided_positions(shape, strides, offset, g.device)
        d = scatter_flat(prod(in_shape), pos, g.reshape(-1))
        return _wrap(d._data, in_shape, g.dtype, g.device), None, None, None, None


def strided_positions(shape, strides, offset, device) -> Tensor:
    """Flat positions (int64, (prod(shape),)) that a strided read visits."""
    nd = len(shape)
    pos = full((1,) * nd, offset, int64, device)
    for d, (s, st) in enumerate(zip(shape, strides)):
        if st == 0 or s == 1:
            continue
        a = binary_raw(arange_raw(s, device), full((), st, int64, device), C.BIN_MUL)
        sh = [1] * nd
        sh[d] = s
        pos = binary_raw(pos, _wrap(a._data, tuple(sh), int64, device), C.BIN_ADD)
    return reshape(expand_raw(pos, tuple(shape)), (prod(shape),))


def permute(x: Tensor, dims) -> Tensor:
    nd = x.ndim
    dims = tuple(norm_dim(d, nd) for d in dims)
    if len(dims) != nd or sorted(dims) != list(range(nd)):
        raise RuntimeError(f"permute(): dims {dims} do not match a tensor of shape {x.shape}")
    if dims == tuple(range(nd)):
        return x
    st = strides_of(x.shape)
    shape = tuple(x.shape[d] for d in dims)
    # permuting size-1 axes only changes the shape
    if [d for d in dims if x.shape[d] != 1] == [d for d in range(nd) if x.shape[d] != 1]:
        return reshape(x, shape)
    return Strided.apply(x, shape, [st[d] for d in dims], 0, False)


def expand(x: Tensor, sizes) -> Tensor:
    sizes = tuple(int(s) for s in sizes)
    if len(sizes) < x.ndim:
        raise RuntimeError(
            f"expand: the number of sizes provided ({len(sizes)}) must be greater or equal to the number of "
            f"dimensions in the tensor ({x.ndim}) (tensor shape {x.shape}, sizes {sizes})"
        )
    off = len(sizes) - x.ndim
    shape = []
    for i, s in enumerate(sizes):
        if i < off:
            if s < 0:
                raise RuntimeError(f"expand: -1 is not allowed in a leading, non-existing dimension (sizes {sizes})")
            shape.append(s)
        else:
            d = x.shape[i - off]
            if s == -1:
                s = d
            if d != s and d != 1:
                raise RuntimeError(
                    f"The expanded size of the tensor ({s}) must match the existing size ({d}) at non-singleton "
                    f"dimension {i}. Target sizes: {list(sizes)}. Tensor sizes: {list(x.shape)}"
                )
            shape.append(s)
    shape = tuple(shape)
    if shape == x.shape:
        return x
    if prod(shape) == x.numel():  # only adds or keeps size-1 axes
        return reshape(x, shape)
    return Strided.apply(x, shape, bcast_strides(x.shape, shape), 0, True)


def repeat(x: Tensor, sizes) -> Tensor:
    sizes = tuple(int(s) for s in sizes)
    if len(sizes) < x.ndim:
        raise RuntimeError(
            "Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor "
            f"(repeat {sizes}, tensor shape {x.shape})"
        )
    xs = (1,) * (len(sizes) - x.ndim) + x.shape
    st = strides_of(xs)
    shape2, strides2 = [], []
    for r, s, t in zip(sizes, xs, st):
        shape2 += [r, s]
        strides2 += [0, t]
    out_shape = tuple(r * s for r, s in zip(sizes, xs))
    y = Strided.apply(reshape(x, xs), tuple(shape2), strides2, 0, True)
    return reshape(y, out_shape)


class Cat(Function):
    @staticmethod
    def forward(ctx, *ts, dim=0):
        ref = ts[0]
        shape = list(ref.shape)
        total = sum(t.shape[dim] for t in ts)
        shape[dim] = total
        out = empty(tuple(shape), ref.dtype, ref.device)
        ost = strides_of(out.shape)
        off = 0
        sizes = []
        for t in ts:
            copy_into(out, t, t.shape, ost, off * ost[dim], strides_of(t.shape), 0)
            off += t.shape[dim]
            sizes.append(t.shape)
        ctx.dim, ctx.sizes = dim, sizes
        return out

    @staticmethod
    def backward(ctx, g):
        dim = ctx.dim
        gst = strides_of(g.shape)
        res, off = [], 0
        for s, need in zip(ctx.sizes, ctx.needs_input_grad):
            if need:
                res.append(strided_copy(g, s, gst, off * gst[dim]))
            else:
                res.append(None)
            off += s[dim]
        return tuple(res)


def cat(tensors, dim: int = 0) -> Tensor:
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("cat(): expected a non-empty list of Tensors")
    # PyTorch skips 1-D empty tensors
    ts = [t for t in tensors if not (t.ndim == 1 and t.shape[0] == 0)] or tensors[:1]
    ref = ts[0]
    dim = norm_dim(dim, ref.ndim)
    check_same_device(*ts)
    dt = ref.dtype
    for t in ts[1:]:
        dt = promote(dt, t.dtype)
    for t in ts:
        if t.ndim != ref.ndim or any(a != b for i, (a, b) in enumerate(zip(t.shape, ref.shape)) if i != dim):
            raise RuntimeError(
                f"Sizes of tensors must match except in dimension {dim}: got shapes "
                + ", ".join(str(x.shape) for x in ts)
            )
    ts = [t if t.dtype is dt else t.to(dt) for t in ts]
    if len(ts) == 1:
        return ts[0].clone()  # a new tensor, as torch (never the input itself)
    return Cat.apply(*ts, dim=dim)


def stack(tensors, dim: int = 0) -> Tensor:
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    s0 = tensors[0].shape
    for t in tensors:
        if t.shape != s0:
            raise RuntimeError(
                "stack expects each tensor to be equal size, but got " + ", ".join(str(t.shape) for t in tensors)
            )
    dim = norm_dim(dim, len(s0) + 1)
    return cat([t.unsqueeze(dim) for t in tensors], dim)


def narrow(x: Tensor, dim: int, start: int, length: int) -> Tensor:
    dim = norm_dim(dim, x.ndim)
    size = x.shape[dim]
    if start < 0:
        start += size
    if not (0 <= start <= size and 0 <= length and start + length <= size):
        raise IndexError(
            f"narrow(): start {start} + length {length} exceeds dimension {dim} of size {size} (shape {x.shape})"
        )
    if start == 0 and length == size:
        return x
    st = strides_of(x.shape)
    shape = x.shape[:dim] + (length,) + x.shape[dim + 1 :]
    return Strided.apply(x, shape, st, start * st[dim], False)


# ------------------------------------------------------------------------------------
# indexing
# ------------------------------------------------------------------------------------


class IndexSelect(Function):
    """out (outer, m, inner) = x (outer, size, inner)[:, index, :] (gather kernel); backward
    scatter_adds, so repeated indices accumulate."""

    @staticmethod
    def forward(ctx, x, dim, index):
        shape = x.shape
        outer, size, inner = prod(shape[:dim]), shape[dim], prod(shape[dim + 1 :])
        m = index.numel()
        out = empty(shape[:dim] + index.shape + shape[dim + 1 :], x.dtype, x.device)
        if out.numel():
            if size == 0:
                raise IndexError(f"index is out of bounds for dimension {dim} with size 0")
            x.device.k.gather(out._data, x._data, index._data, outer, size, m, inner)
        ctx.save_for_backward(index)
        ctx.args = (shape, dim, outer, size, m, inner)
        return out

    @staticmethod
    def backward(ctx, g):
        (index,) = ctx.saved_tensors
        shape, dim, outer, size, m, inner = ctx.args
        d = zeros(shape, g.dtype, g.device)
        if g.numel():
            g.device.k.scatter_add(d._data, g._data, index._data, outer, size, m, inner)
        return d, None, None


def index_select(x: Tensor, dim: int, index: Tensor) -> Tensor:
    dim = norm_dim(dim, x.ndim)
    check_same_device(x, index)
    if index.dtype is not int64:
        raise IndexError(f"tensors used as indices must be long (int64), got {index.dtype.name}")
    if x.dtype is float32:
        return IndexSelect.apply(x, dim, index)
    with no_grad():
        return IndexSelect.apply(x, dim, index)


def _to_index_tensor(it, device):
    if isinstance(it, TensorBase):
        t = it
    else:
        arr = np.asarray(it)
        if arr.dtype == object:
            raise IndexError(f"unsupported index {it!r}")
        if not arr.size:
            arr = arr.astype(np.int64)
        t = from_numpy(arr, get_dtype(arr.dtype), device)
    if t.device != device:
        if t.device.type == "cpu":
            t = t.to(device)
        else:
            raise RuntimeError(
                f"indices should be either on cpu or on the same device as the indexed tensor ({device})"
            )
    if t.dtype is float32:
        raise IndexError("tensors used as indices must be long, int or bool tensors")
    return t


def parse_index(x: Tensor, idx):
    """Split an index into the basic part (shape, strides, offset over x's data) and the
    advanced indices [(position in the basic result, int64 tensor), ...]."""
    if (
        isinstance(idx, list)
        and len(idx) < 32
        and any(it is None or it is Ellipsis or isinstance(it, (slice, list, tuple, TensorBase)) for it in idx)
    ):
        idx = tuple(idx)  # torch (legacy NumPy) reads such a list as a tuple of indices
    if not isinstance(idx, tuple):
        idx = (idx,)
    items = []
    for it in idx:
        if it is None or it is Ellipsis or isinstance(it, slice):
            items.append(it)
        elif isinstance(it, (bool, np.bool_)):
            # a Python bool adds a new axis of size 1 (True) or 0 (False), as torch
            items.append(None if it else "false")
        elif isinstance(it, (numbers.Integral,)):
            items.append(int(it))
        elif isinstance(it, TensorBase) and it.ndim == 0 and it.dtype is int64:
            items.append(int(it.item()))
        else:
            t = _to_index_tensor(it, x.device)
            if t.dtype is bool_:
                # a mask over the next t.ndim dims -> one int64 index per dim (host nonzero)
                nz = np.nonzero(t.numpy())
                for a in nz:
                    items.append(
                        ("adv", _wrap(x.device.from_numpy(a.astype(np.int64)), (a.size,), int64, x.device), t.shape)
                    )
            else:
                items.append(("adv", t, None))
    consume = sum(1 for it in items if it is not None and it is not Ellipsis and not isinstance(it, str))
    if sum(1 for it in items if it is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if consume > x.ndim:
        raise IndexError(f"too many indices for tensor of dimension {x.ndim} (shape {x.shape})")
    if Ellipsis in [it for it in items if not isinstance(it, tuple)]:
        k = next(i for i, it in enumerate(items) if it is Ellipsis)
        items = items[:k] + [slice(None)] * (x.ndim - consume) + items[k + 1 :]
    else:
        items = items + [slice(None)] * (x.ndim - consume)
    in_st = strides_of(x.shape)
    shape, strides, offset, adv, flips = [], [], 0, [], []
    dim = 0
    mask_dims = {}
    for it in items:
        if it is None:
            shape.append(1)
            strides.append(0)
        elif isinstance(it, str):  # "false": an empty new axis
            shape.append(0)
            strides.append(0)
        elif isinstance(it, int):
            size = x.shape[dim]
            if not -size <= it < size:
                raise IndexError(f"index {it} is out of bounds for dimension {dim} with size {size}")
            offset += (it % size) * in_st[dim]
            dim += 1
        elif isinstance(it, slice):
            size = x.shape[dim]
            if it.step == 0:
                raise ValueError("slice step cannot be zero")
            start, stop, step = it.indices(size)
            n = len(range(start, stop, step))
            if step < 0:  # read ascending, flip afterwards (copy_strided takes strides >= 0)
                if n:
                    start = start + (n - 1) * step
                step = -step
                if n > 1:
                    flips.append(len(shape))
            if n:
                offset += start * in_st[dim]
            shape.append(n)
            strides.append(step * in_st[dim])
            dim += 1
        else:
            _, t, mshape = it
            if mshape is not None:
                want = tuple(mshape)
                have = x.shape[dim : dim + len(want)]
                key = id(mshape)
                if key not in mask_dims:
                    mask_dims[key] = True
                    if have != want:
                        raise IndexError(
                            f"The shape of the mask {want} at index {dim} does not match the shape of the indexed "
                            f"tensor {x.shape}"
                        )
            adv.append((len(shape), t))
            shape.append(x.shape[dim])
            strides.append(in_st[dim])
            dim += 1
    return tuple(shape), strides, offset, adv, flips


def getitem(x: Tensor, idx) -> Tensor:
    shape, strides, offset, adv, flips = parse_index(x, idx)
    if shape == x.shape and offset == 0 and list(strides) == strides_of(x.shape):
        y = x
    elif prod(shape) == x.numel() and offset == 0 and _same_order(shape, strides, x.shape):
        y = reshape(x, shape)  # only None / full slices: a reshape
    else:
        y = (
            Strided.apply(x, shape, strides, offset, False)
            if x.dtype is float32
            else strided_copy(x, shape, strides, offset)
        )
    for d in flips:
        y = index_select(y, d, flip_index(y.shape[d], y.device))
    if not adv:
        return y
    return _advanced(y, adv)


def flip_index(n: int, device) -> Tensor:
    return _wrap(device.from_numpy(np.arange(n - 1, -1, -1, dtype=np.int64)), (n,), int64, device)


def flip(x: Tensor, dims) -> Tensor:
    for d in norm_dims(dims, x.ndim):
        if x.shape[d] > 1:
            x = index_select(x, d, flip_index(x.shape[d], x.device))
    return x


def _same_order(shape, strides, xshape) -> bool:
    return [st for s, st in zip(shape, strides) if s != 1] == [
        st for s, st in zip(xshape, strides_of(xshape)) if s != 1
    ]


def _advanced(y: Tensor, adv) -> Tensor:
    positions = [p for p, _ in adv]
    tensors = [t for _, t in adv]
    bshape = broadcast_shapes(*(t.shape for t in tensors))
    k = len(positions)
    if positions != list(range(positions[0], positions[0] + k)):
        # non-adjacent advanced indices: their dims go first (PyTorch/NumPy rule)
        rest = [d for d in range(y.ndim) if d not in positions]
        y = permute(y, positions + rest)
        positions = list(range(k))
    p0 = positions[0]
    sizes = [y.shape[p] for p in positions]
    if k == 1:
        flat = tensors[0].reshape(-1) if tensors[0].ndim != 1 else tensors[0]
        s0 = sizes[0]
        if flat.numel():
            h = np.asarray(flat.device.to_numpy(flat._data, (flat.numel(),), int64))
            lo, hi = int(h.min()), int(h.max())
            if lo < -s0 or hi >= s0:
                bad = hi if hi >= s0 else lo
                raise IndexError(f"index {bad} is out of bounds for dimension {p0} with size {s0}")
        merged = y
    else:
        flat = None
        mult = 1
        for t, s in reversed(list(zip(tensors, sizes))):
            lo = int(t.min().item()) if t.numel() else 0
            hi = int(t.max().item()) if t.numel() else 0
            if t.numel() and (lo < -s or hi >= s):
                bad = hi if hi >= s else lo
                raise IndexError(f"index {bad} is out of bounds for dimension with size {s}")
            tt = binary_raw(
                t,
                binary_raw(
                    cast(binary_raw(t, full((), 0, int64, t.device), C.BIN_LT), int64),
                    full((), s, int64, t.device),
                    C.BIN_MUL,
                ),
                C.BIN_ADD,
            )
            if mult != 1:
                tt = binary_raw(tt, full((), mult, int64, t.device), C.BIN_MUL)
            flat = tt if flat is None else binary_raw(flat, tt, C.BIN_ADD)
            mult *= s
        flat = expand_raw(flat, bshape).reshape(-1)
        merged = reshape(y, y.shape[:p0] + (prod(sizes),) + y.shape[p0 + k :])
    out = index_select(merged, p0, flat)
    return reshape(out, y.shape[:p0] + bshape + y.shape[p0 + k :])


def setitem(x: Tensor, idx, value) -> None:
    if x.requires_grad and is_grad_enabled():
        raise RuntimeError(
            "a leaf Variable that requires grad is being used in an in-place operation (index assignment); "
            "wrap it in neuraxon.no_grad()"
            if x._node is None
            else "index assignment into a tensor that is part of an autograd graph is not supported"
        )
    dev = x.device
    if isinstance(value, TensorBase):
        check_same_device(x, value)
        v = cast(value.detach(), x.dtype)
    else:
        v = full((), value, x.dtype, dev)
    # boolean mask over the leading dims: a select, no host round trip
    if (
        isinstance(idx, TensorBase)
        and idx.dtype is bool_
        and idx.ndim
        and idx.shape == x.shape[: idx.ndim]
        and v.numel() == 1
    ):
        m = reshape(idx, idx.shape + (1,) * (x.ndim - idx.ndim))
        res = where_raw(m, reshape(v, ()), x)
        copy_into(x, res, (x.numel(),), [1], 0, [1], 0)
        return
    shape, strides, offset, adv, flips = parse_index(x, idx)
    if not adv and not flips:
        vs = v.shape
        while len(vs) > len(shape) and vs[0] == 1:
            vs = vs[1:]
        v = reshape(v, vs)
        if not _broadcasts_to(vs, shape):
            raise RuntimeError(
                f"shape mismatch: value tensor of shape {value_shape(value)} cannot be broadcast "
                f"to indexing result of shape {tuple(shape)}"
            )
        copy_into(x, v, shape, strides, offset, bcast_strides(vs, shape), 0)
        return
    # advanced: positions of the selected elements, then a masked select
    pos_all = _wrap(arange_raw(x.numel(), dev)._data, x.shape, int64, dev)
    with no_grad():
        pos = getitem(pos_all, idx)
    vs = v.shape
    while len(vs) > pos.ndim and vs[0] == 1:
        vs = vs[1:]
    v = reshape(v, vs)
    if not _broadcasts_to(vs, pos.shape):
        raise RuntimeError(
            f"shape mismatch: value tensor of shape {value_shape(value)} cannot be broadcast to "
            f"indexing result of shape {pos.shape}"
        )
    work_dt = int64 if x.dtype is bool_ else x.dtype
    vv = expand_raw(cast(v, work_dt), pos.shape).reshape(-1)
    posf = pos.reshape(-1)
    hp = np.asarray(dev.to_numpy(posf._data, (posf.numel(),), int64))
    if np.unique(hp).size != hp.size:
        # repeated positions: keep one write per element (the last, as NumPy) instead of a sum
        _, first_in_rev = np.unique(hp[::-1], return_index=True)
        keep = np.sort(hp.size - 1 - first_in_rev).astype(np.int64)
        kt = _wrap(dev.from_numpy(keep), (keep.size,), int64, dev)
        vv, posf = index_select(vv, 0, kt), index_select(posf, 0, kt)
    n = x.numel()
    hit = scatter_flat(n, posf, full((posf.numel(),), 1, int64, dev))
    vals = scatter_flat(n, posf, vv)
    cond = binary_raw(hit, full((), 0, int64, dev), C.BIN_GT)
    res = where_raw(cond, vals, cast(x, work_dt).reshape(-1))
    res = cast(res, x.dtype)
    copy_into(x, res, (n,), [1], 0, [1], 0)


def _broadcasts_to(shape, target) -> bool:
    if len(shape) > len(target):
        return False
    return all(s == 1 or s == t for s, t in zip(reversed(shape), reversed(tuple(target))))


def value_shape(v):
    return v.shape if isinstance(v, TensorBase) else ()


# ------------------------------------------------------------------------------------
# matmul
# ------------------------------------------------------------------------------------


class BMM(Function):
    """a (Ba, m, k) @ b (Bb, k, n) -> (B, m, n) with Ba, Bb in {B, 1} (stride 0 broadcasts)."""

    @staticmethod
    def forward(ctx, a, b):
        Ba, m, k = a.shape
        Bb, _, n = b.shape
        B = max(Ba, Bb)
        out = empty((B, m, n), float32, a.device)
        if out.numel():
            a.device.k.gemm_forward(
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
        return out

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        Ba, m, k = a.shape
        Bb, _, n = b.shape
        B = g.shape[0]
        k_ = a.device.k
        da = db = None
        if ctx.needs_input_grad[0]:
            # dA_b = dC_b @ B_b^T  (m, k)
            full_ = empty((B, m, k), float32, a.device)
            if full_.numel():
                k_.gemm_forward(
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
                    k_.gemm_forward(
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
                    k_.gemm_forward(
                        db._data, a._data, g._data, None, 1, k, n, B * m, True, False, 0, 0, 0, 1.0, 0.0, 0, 0.0, -1
                    )
        return da, db


def matmul(a: Tensor, b: Tensor) -> Tensor:
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
        if prod(bt) == 1:
            return reshape(t, (1, r, c))
        return reshape(expand(t, bshape + (r, c)), (B, r, c))

    out = BMM.apply(as3(a2, ba, m, k), as3(b2, bb, k, n))
    shape = bshape + ((m,) if a.ndim > 1 else ()) + ((n,) if b.ndim > 1 else ())
    return reshape(out, shape)
