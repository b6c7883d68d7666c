"""Movement: reshape, strided copies (permute, expand, narrow, flip), repeat, cat and stack.
Tensors are always contiguous, so every movement but reshape is a `copy_strided` copy."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .. import _array
from .. import _codes as C
from .._array import (
    arange_raw,
    bcast_strides,
    binary_raw,
    check_same_device,
    copy_into,
    empty,
    expand_raw,
    full,
    norm_dim,
    prod,
    scatter_flat,
    strided_copy,
    strides_of,
    zeros,
)
from .._tensor_base import TensorBase, _Version
from ..autograd import Function
from ..dtypes import int64, promote

if TYPE_CHECKING:
    from ..tensor import Tensor

_wrap = TensorBase._wrap


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
        t = _wrap(x._data, shape, x.dtype, x.device)
        v = x._ver  # a view: same data, same version counter (inline: reshape is hot)
        if v is None:
            v = x._ver = _Version()
        t._ver = v
        return t

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
    """Concatenation along dim. A legacy empty tensor (shape (0,)) next to tensors of another
    rank is skipped, as torch, but stays an input: its gradient is zeros of shape (0,)."""

    @staticmethod
    def forward(ctx, *ts, dim=0):
        ref = next((t for t in ts if not _legacy_empty(t)), ts[0])
        shape = list(ref.shape)
        parts = [t for t in ts if t.ndim == ref.ndim]
        shape[dim] = sum(t.shape[dim] for t in parts)
        out = empty(tuple(shape), ref.dtype, ref.device)
        ost = strides_of(out.shape)
        off = 0
        sizes = []
        for t in ts:
            if t.ndim != ref.ndim:  # a skipped legacy empty
                sizes.append(None)
                continue
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
            if s is None:
                res.append(zeros((0,), g.dtype, g.device) if need else None)
                continue
            if need:
                res.append(strided_copy(g, s, gst, off * gst[dim]))
            else:
                res.append(None)
            off += s[dim]
        return tuple(res)


def _legacy_empty(t) -> bool:
    return t.ndim == 1 and t.shape[0] == 0


def cat(tensors, dim: int = 0) -> Tensor:
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("cat(): expected a non-empty list of Tensors")
    # PyTorch skips 1-D empty tensors in the shape checks (they still count for the dtype and
    # the graph: Cat leaves them out of the result and gives them a (0,) gradient)
    ts = [t for t in tensors if not _legacy_empty(t)] or tensors[:1]
    ref = ts[0]
    dim = norm_dim(dim, ref.ndim)
    check_same_device(*tensors)
    dt = tensors[0].dtype
    for t in tensors[1:]:
        dt = promote(dt, t.dtype)
    for t in ts:
        if t.ndim != ref.ndim or any(a != b for i, (a, b) in enumerate(zip(t.shape, ref.shape)) if i != dim):
            raise RuntimeError(
                f"Sizes of tensors must match except in dimension {dim}: got shapes "
                + ", ".join(str(x.shape) for x in ts)
            )
    return Cat.apply(*[t if t.dtype is dt else t.to(dt) for t in tensors], dim=dim)


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


class ToDevice(Function):
    @staticmethod
    def forward(ctx, x, dev):
        ctx.src = x.device
        host = np.asarray(x.device.to_numpy(x._data, (x.numel(),), x.dtype))
        return _wrap(dev.from_numpy(host, x.dtype), x.shape, x.dtype, dev)

    @staticmethod
    def backward(ctx, g):
        return g.to(ctx.src), None


class Clone(Function):
    @staticmethod
    def forward(ctx, x):
        return _array.clone_raw(x)

    @staticmethod
    def backward(ctx, g):
        return g
