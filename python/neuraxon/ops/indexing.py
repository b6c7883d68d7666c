"""Indexing: index_select, and Python indexing (basic, advanced, boolean) for get and set."""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

import numpy as np

from .. import _array
from .. import _codes as C
from .._array import (
    arange_raw,
    bcast_strides,
    binary_raw,
    broadcast_shapes,
    cast,
    check_same_device,
    copy_into,
    empty,
    expand_raw,
    from_numpy,
    full,
    norm_dim,
    norm_dims,
    prod,
    scatter_flat,
    strided_copy,
    strides_of,
    where_raw,
    zeros,
)
from .._tensor_base import TensorBase
from ..autograd import Function, is_grad_enabled, no_grad
from ..dtypes import bool_, dtype_of_data, float32, int64
from .movement import Strided, permute, reshape

if TYPE_CHECKING:
    from ..tensor import Tensor

_wrap = TensorBase._wrap


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
            _array.run("gather", x.device, out._data, x._data, index._data, outer, size, m, inner)
        ctx.save_for_backward(index)
        ctx.args = (shape, dim, outer, size, m, inner)
        return out

    @staticmethod
    def backward(ctx, g):
        (index,) = ctx.saved_tensors
        shape, dim, outer, size, m, inner = ctx.args
        d = zeros(shape, g.dtype, g.device)
        if g.numel():
            _array.run("scatter_add", g.device, d._data, g._data, index._data, outer, size, m, inner)
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
        t = from_numpy(arr, dtype_of_data(arr.dtype), device)
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
                        (
                            "adv",
                            _wrap(
                                x.device.from_numpy(a.astype(np.int64)),
                                (a.size,),
                                int64,
                                x.device,
                            ),
                            t.shape,
                        )
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
        _array.check_index(flat, -s0, s0, p0)  # on CUDA: raised at the next sync
        merged = y
    else:
        flat = None
        mult = 1
        for t, s, p in reversed(list(zip(tensors, sizes, positions))):
            _array.check_index(t, -s, s, p)
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
    x._bump_version()
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


def flip_index(n: int, device) -> Tensor:
    return _wrap(device.from_numpy(np.arange(n - 1, -1, -1, dtype=np.int64)), (n,), int64, device)


def flip(x: Tensor, dims) -> Tensor:
    for d in norm_dims(dims, x.ndim):
        if x.shape[d] > 1:
            x = index_select(x, d, flip_index(x.shape[d], x.device))
    return x


def _narrow_to(src, shape):
    """src's leading block of `shape` (scatter reads only the part of src that index covers)."""
    for d, s in enumerate(shape):
        if src.shape[d] != s:
            src = src.narrow(d, 0, s)
    return src


def _gather_positions(shape, d, index):
    """Flat positions in a tensor of `shape` of torch.gather(dim=d, index)."""
    ishape = index.shape
    dev = index.device
    st = _array.strides_of(shape)
    pos = _array.binary_raw(index, _array.full((), st[d], int64, dev), C.BIN_MUL)
    for k, s in enumerate(ishape):
        if k == d or s == 1:
            continue
        a = _array.binary_raw(_array.arange_raw(s, dev), _array.full((), st[k], int64, dev), C.BIN_MUL)
        sh = [1] * len(ishape)
        sh[k] = s
        pos = _array.binary_raw(pos, _wrap(a._data, tuple(sh), int64, dev), C.BIN_ADD)
    return pos


class IndexAdd(Function):
    """out = x with src (outer, m, inner) added at x (outer, size, inner)[:, index, :]
    (scatter_add kernel, accumulating repeated indices); d src = g[:, index, :]."""

    @staticmethod
    def forward(ctx, x, d, index, src):
        shape = x.shape
        outer, size, inner = _array.prod(shape[:d]), shape[d], _array.prod(shape[d + 1 :])
        m = index.numel()
        if m and size == 0:
            raise IndexError(f"index_add(): index out of range for dimension {d} of size 0")
        out = _array.clone_raw(x)
        if src.numel():
            _array.run("scatter_add", x.device, out._data, src._data, index._data, outer, size, m, inner)
        if ctx is not None:
            ctx.save_for_backward(index)
            ctx.d = d
        return out

    @staticmethod
    def backward(ctx, g):
        (index,) = ctx.saved_tensors
        gs = index_select(g, ctx.d, index) if ctx.needs_input_grad[3] else None
        return g, None, None, gs


class Scatter(Function):
    """flat x with src written at positions pos (the last write wins on repeats)."""

    @staticmethod
    def forward(ctx, x, pos, src):
        out = _array.clone_raw(x)
        with no_grad():
            out[pos] = src
        hit = _array.zeros(x.shape, float32, x.device)
        hit[pos] = 1.0
        ctx.save_for_backward(pos, hit)
        return out

    @staticmethod
    def backward(ctx, g):
        pos, hit = ctx.saved_tensors
        gx = _array.binary_raw(g, _array.unary_raw(hit, C.UN_AFFINE, -1.0, 1.0), C.BIN_MUL)
        return gx, None, index_select(g, 0, pos)
