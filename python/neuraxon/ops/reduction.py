"""Reductions: sum/mean/prod/max/min over dims (Reduce), max/min with indices, argmax/argmin."""

from __future__ import annotations

from collections import namedtuple
from typing import TYPE_CHECKING

from .. import _array
from .. import _codes as C
from .._array import (
    binary_raw,
    cast,
    empty,
    expand_raw,
    flat_positions,
    full,
    norm_dim,
    norm_dims,
    prod,
    reduce_raw,
    scatter_flat,
    unary_raw,
)
from .._tensor_base import TensorBase
from ..autograd import Function, no_grad
from ..dtypes import bool_, float32, get_dtype, int64
from ..ops.elementwise import where

if TYPE_CHECKING:
    from ..tensor import Tensor

_wrap = TensorBase._wrap


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
            _array.run(
                "reduce_forward",
                x.device,
                vals._data,
                x._data,
                outer,
                red,
                inner,
                C.RED_MAX if op == 0 else C.RED_MIN,
            )
            _array.run("argreduce_forward", x.device, idx._data, x._data, outer, red, inner, op)
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
        v = reduce_raw(
            x.reshape(-1) if x.ndim != 1 else x,
            (0,),
            C.RED_MAX if op == C.ARG_MAX else C.RED_MIN,
            False,
        )
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
        return MaxMinDim.forward(
            type("Ctx", (), {"save_for_backward": lambda *a: None})(),
            x,
            dim,
            keepdim,
            op,
        )


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
    elif not in_shape:  # a 0-d input gives a 0-d index, keepdim or not (as torch)
        fshape = ()
    else:
        fshape = shape[:d] + (1,) + shape[d + 1 :] if keepdim else shape[:d] + shape[d + 1 :]
    out = empty(fshape, int64, x.device)
    if outer * inner:
        _array.run("argreduce_forward", x.device, out._data, x._data, outer, red, inner, op)
    return out


class Prod(Function):
    @staticmethod
    def forward(ctx, x, dims, keepdim):
        out = _array.reduce_raw(x, dims, C.RED_PROD, True)
        ctx.save_for_backward(x, out)
        ctx.dims = dims
        return out if keepdim else out.reshape(tuple(s for i, s in enumerate(x.shape) if i not in dims))

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        g = g.reshape(out.shape)
        # d prod / d x_i = product of the others: prod / x_i without zeros in the group; with
        # one zero, the product of the non-zeros at the zero and 0 elsewhere; with two, 0.
        is0 = x == 0.0
        nz = where(is0, 1.0, x)
        n0 = is0.float().sum(ctx.dims, keepdim=True)
        p_nz = _array.reduce_raw(nz, ctx.dims, C.RED_PROD, True)
        one_zero = where(is0 & (n0 == 1.0), p_nz, 0.0)
        d = where(n0 == 0.0, out / nz, one_zero)
        return g * d, None, None


class AMaxMin(Function):
    """amax/amin over dims; ties share the gradient evenly (as torch's amax/amin)."""

    @staticmethod
    def forward(ctx, x, dims, keepdim, is_max):
        out = _array.reduce_raw(x, dims, C.RED_MAX if is_max else C.RED_MIN, True)
        ctx.save_for_backward(x, out)
        ctx.dims = dims
        return out if keepdim else out.reshape(tuple(s for i, s in enumerate(x.shape) if i not in dims))

    @staticmethod
    def backward(ctx, g):
        x, out = ctx.saved_tensors
        g = g.reshape(out.shape)
        hit = _array.cast(_array.binary_raw(x, out, C.BIN_EQ), float32)
        cnt = _array.reduce_raw(hit, ctx.dims, C.RED_SUM, True)
        return _array.binary_raw(hit, _array.binary_raw(g, cnt, C.BIN_DIV), C.BIN_MUL), None, None, None


class StdFromVar(Function):
    """std = sqrt(var), with torch's gradient: 0 where the std is 0 (sqrt's derivative is
    infinite there, and the variance's zero gradient times it gave NaN)."""

    @staticmethod
    def forward(ctx, v):
        y = unary_raw(v, C.UN_SQRT)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        d = binary_raw(g, unary_raw(y, C.UN_AFFINE, 2.0, 0.0), C.BIN_DIV)  # g / (2 std)
        zero = full((), 0.0, float32, y.device)
        return _array.where_raw(binary_raw(y, zero, C.BIN_EQ), expand_raw(zero, d.shape), d)


class Norm0(Function):
    """The 0-"norm": the number of non-zero elements over dims (NaN counts). As torch, the
    result is part of the graph (requires grad, has a grad_fn) but its gradient is undefined:
    backward gives the input nothing (x.grad stays None; autograd.grad needs allow_unused).
    """

    @staticmethod
    def forward(ctx, x, dims, keepdim):
        nz = _array.cast(_array.binary_raw(x, _array.full((), 0.0, float32, x.device), C.BIN_NE), float32)
        n = _array.reduce_raw(nz, dims, C.RED_SUM, True) if dims else nz
        return n if keepdim else n.reshape(tuple(s for i, s in enumerate(x.shape) if i not in dims))

    @staticmethod
    def backward(ctx, g):
        return None, None, None


class Norm2(Function):
    """The 2-norm over dims; its gradient x / norm is 0 where the norm is 0 (as torch)."""

    @staticmethod
    def forward(ctx, x, dims, keepdim):
        sq = _array.binary_raw(x, x, C.BIN_MUL)
        n = _array.unary_raw(_array.reduce_raw(sq, dims, C.RED_SUM, True) if dims else sq, C.UN_SQRT)
        ctx.save_for_backward(x, n)
        return n if keepdim else n.reshape(tuple(s for i, s in enumerate(x.shape) if i not in dims))

    @staticmethod
    def backward(ctx, g):
        x, n = ctx.saved_tensors
        g = g.reshape(n.shape)
        zero = _array.full((), 0.0, float32, x.device)
        safe = _array.where_raw(_array.binary_raw(n, zero, C.BIN_EQ), _array.full((), 1.0, float32, x.device), n)
        scale = _array.where_raw(_array.binary_raw(n, zero, C.BIN_EQ), zero, _array.binary_raw(g, safe, C.BIN_DIV))
        return _array.binary_raw(x, scale, C.BIN_MUL), None, None
