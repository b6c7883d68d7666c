"""Tensor methods: shape and movement (reshape, permute, expand, cat/split, gather/scatter)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .. import _array, autograd
from .._tensor_base import TensorBase
from ..creation import full, tensor, zeros
from ..dtypes import bool_, float32, get_dtype, int64
from ..ops import elementwise, host, indexing, movement
from ..tensor_functions import _KthRes, _shape_args, _SortRes, _TopkRes, chunk, nonzero, split

if TYPE_CHECKING:
    pass


class ShapeMethods:
    """Mixed into neuraxon.Tensor (see tensor.py); methods only, no state."""

    __slots__ = ()

    # -- shape ----------------------------------------------------------------------------
    def reshape(self, *shape):
        return movement.reshape(self, _shape_args(shape))

    def view(self, *shape):
        if len(shape) == 1 and not isinstance(shape[0], (tuple, list, int)) and shape[0] is not None:
            return self.to(get_dtype(shape[0]))  # view(dtype): a cast here (no reinterpretation)
        return movement.reshape(self, _shape_args(shape))

    def view_as(self, other):
        return self.reshape(other.shape)

    def reshape_as(self, other):
        return self.reshape(other.shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        if self.ndim == 0:
            return self.reshape(1)
        s = _array.norm_dim(start_dim, self.ndim)
        e = _array.norm_dim(end_dim, self.ndim)
        if s > e:
            raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
        n = 1
        for d in self.shape[s : e + 1]:
            n *= d
        return self.reshape(self.shape[:s] + (n,) + self.shape[e + 1 :])

    def unflatten(self, dim: int, sizes):
        d = _array.norm_dim(dim, self.ndim)
        sizes = movement.infer_shape(sizes, self.shape[d])
        return self.reshape(self.shape[:d] + tuple(sizes) + self.shape[d + 1 :])

    def squeeze(self, dim=None):
        if dim is None:
            return self.reshape(tuple(s for s in self.shape if s != 1))
        dims = _array.norm_dims(dim, self.ndim) if self.ndim else ()
        return self.reshape(tuple(s for i, s in enumerate(self.shape) if not (i in dims and s == 1)))

    def unsqueeze(self, dim: int):
        d = _array.norm_dim(dim, self.ndim + 1)
        return self.reshape(self.shape[:d] + (1,) + self.shape[d:])

    def permute(self, *dims):
        return movement.permute(self, _shape_args(dims))

    def transpose(self, dim0: int, dim1: int):
        if self.ndim == 0:
            return self
        p = list(range(self.ndim))
        a, b = _array.norm_dim(dim0, self.ndim), _array.norm_dim(dim1, self.ndim)
        p[a], p[b] = p[b], p[a]
        return movement.permute(self, p)

    swapaxes = transpose
    swapdims = transpose

    def movedim(self, source, destination):
        src = [source] if isinstance(source, int) else list(source)
        dst = [destination] if isinstance(destination, int) else list(destination)
        if len(src) != len(dst):
            raise RuntimeError(f"movedim: source {src} and destination {dst} must have the same number of dims")
        src = [_array.norm_dim(d, self.ndim) for d in src]
        dst = [_array.norm_dim(d, self.ndim) for d in dst]
        if len(set(src)) != len(src) or len(set(dst)) != len(dst):
            raise RuntimeError(f"movedim: repeated dim in source {src} or destination {dst}")
        order = [None] * self.ndim
        for s_, d_ in zip(src, dst):
            order[d_] = s_
        rest = iter(d for d in range(self.ndim) if d not in src)
        order = [o if o is not None else next(rest) for o in order]
        return self.permute(order) if self.ndim else self

    moveaxis = movedim

    def select(self, dim: int, index: int):
        d = _array.norm_dim(dim, self.ndim)
        size = self.shape[d]
        if not -size <= index < size:
            raise IndexError(f"select(): index {index} out of range for tensor of size {self.shape} at dimension {d}")
        return self.narrow(d, index % size, 1).squeeze(d)

    def tile(self, *dims):
        dims = _shape_args(dims)
        dims = (1,) * (self.ndim - len(dims)) + dims
        return self.repeat(dims)

    def roll(self, shifts, dims=None):
        if dims is None:
            return self.flatten().roll(shifts, 0).reshape(self.shape)
        shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
        dims = (dims,) if isinstance(dims, int) else tuple(dims)
        if len(shifts) != len(dims):
            raise RuntimeError(f"roll: shifts {shifts} and dims {dims} must have the same length")
        out = self
        for sh, d in zip(shifts, dims):
            d = _array.norm_dim(d, out.ndim)
            n = out.shape[d]
            if n == 0 or sh % n == 0:
                continue
            k = sh % n
            out = movement.cat([out.narrow(d, n - k, k), out.narrow(d, 0, n - k)], d)
        return out if out is not self else self.clone()

    def _tri(self, diagonal, upper):
        if self.ndim < 2:
            raise RuntimeError(f"{'triu' if upper else 'tril'}: input tensor must have at least 2 dimensions")
        r, c = self.shape[-2:]
        mask = np.triu(np.ones((r, c), bool), diagonal) if upper else np.tril(np.ones((r, c), bool), diagonal)
        zero = False if self.dtype is bool_ else 0
        return elementwise.where(tensor(mask, device=self.device), self, zero)

    def triu(self, diagonal: int = 0):
        return self._tri(diagonal, True)

    def tril(self, diagonal: int = 0):
        return self._tri(diagonal, False)

    def diagonal(self, offset: int = 0, dim1: int = 0, dim2: int = 1):
        a, b = _array.norm_dim(dim1, self.ndim), _array.norm_dim(dim2, self.ndim)
        if a == b:
            raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
        x = self.movedim((a, b), (-2, -1))
        r, c = x.shape[-2:]
        i0, j0 = (0, offset) if offset >= 0 else (-offset, 0)
        n = max(min(r - i0, c - j0), 0)
        flat = x.reshape(x.shape[:-2] + (r * c,))
        pos = tensor(np.arange(n, dtype=np.int64) * (c + 1) + i0 * c + j0, device=self.device)
        return flat.index_select(-1, pos)

    def diag(self, diagonal: int = 0):
        if self.ndim == 2:
            return self.diagonal(diagonal)
        if self.ndim != 1:
            raise RuntimeError(f"diag(): expected a 1-D or 2-D tensor, got shape {self.shape}")
        n = self.shape[0] + abs(diagonal)
        i0, j0 = (0, diagonal) if diagonal >= 0 else (-diagonal, 0)
        pos = tensor(np.arange(self.shape[0], dtype=np.int64) * (n + 1) + i0 * n + j0, device=self.device)
        out = zeros(n * n, dtype=self.dtype, device=self.device)
        return out.index_add(0, pos, self).reshape(n, n)

    def outer(self, other):
        if self.ndim != 1 or other.ndim != 1:
            raise RuntimeError(f"outer: expected 1-D tensors, got shapes {self.shape} and {other.shape}")
        return self.unsqueeze(1) * other.unsqueeze(0)

    ger = outer

    def nonzero(self, as_tuple: bool = False):
        return nonzero(self, as_tuple)

    def argwhere(self):
        return nonzero(self)

    def masked_select(self, mask):
        shape = _array.broadcast_shapes(self.shape, mask.shape)
        return self.expand(shape)[mask.expand(shape)]

    def take(self, index):
        return self.reshape(-1)[index]

    def take_along_dim(self, indices, dim=None):
        if dim is None:
            return self.reshape(-1)[indices.reshape(-1)]
        if indices.ndim != self.ndim:
            raise RuntimeError(
                "take_along_dim(): input and indices should have the same number of dimensions, but got "
                f"{self.ndim} dimensions for input, and {indices.ndim} dimensions for indices"
            )
        if not self.ndim:
            raise IndexError(f"take_along_dim(): dimension specified as {dim} but tensor has no dimensions")
        d = _array.norm_dim(dim, self.ndim)
        shape = list(_array.broadcast_shapes(self.shape[:d] + (1,) + self.shape[d + 1 :],
                                           indices.shape[:d] + (1,) + indices.shape[d + 1 :]))  # fmt: skip
        xs, ishape = list(shape), list(shape)
        xs[d], ishape[d] = self.shape[d], indices.shape[d]
        return self.expand(xs).gather(d, indices.expand(ishape))

    def index_add(self, dim: int, index, source, alpha=1):
        d = _array.norm_dim(dim, self.ndim) if self.ndim else 0
        if not isinstance(index, TensorBase) or index.dtype is not int64 or index.ndim > 1:
            raise TypeError("index_add(): index must be a 1-D int64 tensor")
        x = self if self.ndim else self.reshape(1)
        src = source if source.ndim else source.reshape(1)
        want = x.shape[:d] + (index.numel(),) + x.shape[d + 1 :]
        if src.shape != want:
            raise RuntimeError(f"index_add(): source of shape {source.shape} must have shape {want}")
        if alpha != 1:
            src = src * alpha
        src = src.to(x.dtype)
        out = (
            indexing.IndexAdd.apply(x, d, index.reshape(-1), src)
            if x.dtype is float32
            else indexing.IndexAdd.forward(None, x, d, index.reshape(-1), src)
        )
        return out.reshape(self.shape)

    def scatter_add(self, dim: int, index, src):
        if _has_scalar(self, index, src):  # torch reads a 0-d self/index/src as 1-D of size 1
            return _at_least_1d(self).scatter_add(dim, _at_least_1d(index), _at_least_1d(src)).reshape(self.shape)
        d = _array.norm_dim(dim, self.ndim) if self.ndim else 0
        self._check_scatter(d, index, src)
        pos = indexing._gather_positions(self.shape, d, index).reshape(-1)
        s = indexing._narrow_to(src, index.shape).reshape(-1).to(self.dtype)
        flat = self.reshape(-1)
        out = (
            indexing.IndexAdd.apply(flat, 0, pos, s)
            if self.dtype is float32
            else indexing.IndexAdd.forward(None, flat, 0, pos, s)
        )
        return out.reshape(self.shape)

    def scatter(self, dim: int, index, src=None, value=None, reduce=None):
        if reduce is not None:
            if reduce != "add":
                raise NotImplementedError(f"scatter(reduce={reduce!r}) is not supported (only 'add')")
            if not isinstance(src, TensorBase):
                src = full(index.shape, src if value is None else value, dtype=self.dtype, device=self.device)
            return self.scatter_add(dim, index, src)
        if not isinstance(src, TensorBase):
            src = full(index.shape, src if value is None else value, dtype=self.dtype, device=self.device)
        if _has_scalar(self, index, src):  # torch reads a 0-d self/index/src as 1-D of size 1
            return _at_least_1d(self).scatter(dim, _at_least_1d(index), _at_least_1d(src)).reshape(self.shape)
        d = _array.norm_dim(dim, self.ndim) if self.ndim else 0
        self._check_scatter(d, index, src)
        pos = indexing._gather_positions(self.shape, d, index).reshape(-1)
        s = indexing._narrow_to(src, index.shape).reshape(-1).to(self.dtype)
        if self.dtype is float32 and (self.requires_grad or s.requires_grad) and autograd.is_grad_enabled():
            return indexing.Scatter.apply(self.reshape(-1), pos, s).reshape(self.shape)
        with autograd.no_grad():
            out = _array.clone_raw(self)
            flat = TensorBase._wrap(out._data, (out.numel(),), out.dtype, out.device)
            flat[pos] = s.detach()
        return out

    def _check_scatter(self, d, index, src):
        if not isinstance(index, TensorBase) or index.dtype is not int64:
            raise TypeError("scatter(): index must be an int64 tensor")
        if index.ndim != self.ndim or any(
            index.shape[i] > src.shape[i] or (i != d and index.shape[i] > self.shape[i]) for i in range(index.ndim)
        ):
            raise RuntimeError(
                f"scatter(): index of shape {index.shape} must be no larger than src {src.shape} and, except in "
                f"dim {d}, than self {self.shape}"
            )
        if index.numel():
            h = host.to_host(index)
            if h.min() < 0 or h.max() >= self.shape[d]:
                raise IndexError(f"scatter(): index out of range for dimension {d} of size {self.shape[d]}")

    def repeat_interleave(self, repeats, dim=None):
        x = self.reshape(-1) if dim is None else self
        d = 0 if dim is None else _array.norm_dim(dim, x.ndim)
        n = x.shape[d]
        r = host.to_host(repeats) if isinstance(repeats, TensorBase) else np.asarray(repeats)
        if (r < 0).any():
            raise RuntimeError("repeat_interleave: repeats can not be negative")
        if r.ndim and r.size not in (1, n):
            raise RuntimeError(f"repeat_interleave: repeats must have size 1 or {n}, got {r.size}")
        idx = np.repeat(np.arange(n, dtype=np.int64), r.reshape(-1) if r.ndim else int(r))
        return x.index_select(d, tensor(idx, device=self.device))

    def tensor_split(self, indices_or_sections, dim: int = 0):
        d = _array.norm_dim(dim, self.ndim)
        n = self.shape[d]
        if isinstance(indices_or_sections, int):
            k = indices_or_sections
            if k <= 0:
                raise RuntimeError(f"tensor_split: number of sections must be greater than 0, got {k}")
            sizes = [n // k + 1] * (n % k) + [n // k] * (k - n % k)
        else:
            cuts = [min(max(int(i) if i >= 0 else int(i) + n, 0), n) for i in indices_or_sections]
            bounds = [0] + cuts + [n]
            sizes = [max(b - a, 0) for a, b in zip(bounds[:-1], bounds[1:])]
            starts = bounds[:-1]
            return tuple(self.narrow(d, min(s0, n), sz) for s0, sz in zip(starts, sizes))
        out, off = [], 0
        for sz in sizes:
            out.append(self.narrow(d, off, sz))
            off += sz
        return tuple(out)

    def kthvalue(self, k: int, dim: int = -1, keepdim: bool = False):
        d = _array.norm_dim(dim, self.ndim) if self.ndim else 0
        size = self.shape[d] if self.ndim else 1
        if not 1 <= k <= size:
            raise RuntimeError(f"kthvalue(): selected number k ({k}) out of range for dimension {d} of size {size}")
        v, i = self.sort(d)
        if not self.ndim:
            return _KthRes(v, i)
        v, i = v.narrow(d, k - 1, 1), i.narrow(d, k - 1, 1)
        return _KthRes(v if keepdim else v.squeeze(d), i if keepdim else i.squeeze(d))

    def diff(self, n: int = 1, dim: int = -1):
        out = self
        d = _array.norm_dim(dim, self.ndim)
        for _ in range(n):
            m = out.shape[d]
            if m == 0:
                break
            a, b = out.narrow(d, 1, m - 1), out.narrow(d, 0, m - 1)
            out = (a ^ b) if out.dtype is bool_ else a - b
        return out

    def lerp(self, end, weight):
        return self + (end - self) * weight

    def isclose(self, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False):
        a, b = self, other if isinstance(other, TensorBase) else full((), other, device=self.device)
        if a.dtype is not float32 and b.dtype is not float32:
            return a == b
        a, b = a.float(), b.float()
        close = (a - b).abs() <= atol + rtol * b.abs()
        close = close | (a == b)  # equal infinities
        if equal_nan:
            close = close | (a.isnan() & b.isnan())
        return close

    def log2(self):
        return self.log() * (1.0 / math.log(2.0))

    def log10(self):
        return self.log() * (1.0 / math.log(10.0))

    def exp2(self):
        return 2.0**self if self.dtype is float32 else 2.0 ** self.float()

    def tan(self):
        return self.sin() / self.cos()

    def t(self):
        if self.ndim > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {self.ndim}D")
        return self.transpose(0, 1) if self.ndim == 2 else self

    @property
    def T(self):
        return movement.permute(self, tuple(range(self.ndim - 1, -1, -1)))

    @property
    def mT(self):
        return self.transpose(-2, -1)

    def expand(self, *sizes):
        return movement.expand(self, _shape_args(sizes))

    def expand_as(self, other):
        return movement.expand(self, other.shape)

    def repeat(self, *sizes):
        return movement.repeat(self, _shape_args(sizes))

    def flip(self, *dims):
        return indexing.flip(self, _shape_args(dims))

    def narrow(self, dim: int, start: int, length: int):
        return movement.narrow(self, dim, int(start), int(length))

    def split(self, split_size_or_sections, dim: int = 0):
        return split(self, split_size_or_sections, dim)

    def chunk(self, chunks: int, dim: int = 0):
        return chunk(self, chunks, dim)

    def unbind(self, dim: int = 0):
        d = _array.norm_dim(dim, self.ndim)
        return tuple(self.narrow(d, i, 1).squeeze(d) for i in range(self.shape[d]))

    def index_select(self, dim: int, index):
        if isinstance(index, TensorBase) and (self.ndim == 0 or index.ndim == 0):
            # as torch: a 0-d index selects one element and keeps the dim; a 0-d self takes
            # exactly one index (dim 0 or -1) and stays 0-d
            if self.ndim == 0:
                _array.norm_dim(dim, 0)
                if index.ndim > 1:
                    raise IndexError("index_select(): Index is supposed to be a vector")
                if index.numel() != 1:
                    raise RuntimeError(
                        f"index_select(): Index to scalar can have only 1 value, got {index.numel()} value(s)"
                    )
                return indexing.index_select(self.reshape(1), 0, index.reshape(1)).reshape(())
            return indexing.index_select(self, dim, index.reshape(1))
        return indexing.index_select(self, dim, index)

    def gather(self, dim: int, index):
        d = _array.norm_dim(dim, self.ndim)
        if not isinstance(index, TensorBase) or index.dtype is not int64:
            raise TypeError("gather(): index must be an int64 tensor")
        # torch reads a 0-d self or index as 1-D of size 1; the result has index's shape
        x, idx = _at_least_1d(self), _at_least_1d(index)
        if idx.ndim != x.ndim or any(i != d and idx.shape[i] > x.shape[i] for i in range(idx.ndim)):
            raise RuntimeError(
                f"gather(): index of shape {index.shape} must have as many dimensions as input of shape "
                f"{self.shape} and be no larger except in dimension {d}"
            )
        # an index outside [0, size) would read a neighbouring row through the flat positions:
        # RuntimeError as torch (on CUDA a deferred device error, raised at the next sync)
        _array.check_index(idx, 0, x.shape[d], d, runtime_error=True)
        return x._gather_along(d, idx).reshape(index.shape)

    def _gather_along(self, d: int, index):
        """gather(d, index) for a checked, in-range index of self's ndim (sort, median)."""
        pos = indexing._gather_positions(self.shape, d, index)
        return indexing.index_select(self.reshape(-1), 0, pos.reshape(-1)).reshape(index.shape)

    def sort(self, dim: int = -1, descending: bool = False, stable: bool = True):
        """(values, indices) along dim. The order is computed on the host (NumPy, stable)
        and the values gathered on the device, so values carry gradients."""
        d = _array.norm_dim(dim, self.ndim) if self.ndim else 0
        if self.ndim == 0:  # a new tensor (with a graph), as torch
            return _SortRes(self.clone(), _array.full((), 0, int64, self.device))
        h = host.to_host(self.detach())
        if not descending:
            order = np.argsort(h, axis=d, kind="stable")  # NaN last, as torch
        elif h.dtype == np.bool_:
            order = np.argsort(~h, axis=d, kind="stable")
        elif h.dtype.kind == "f":
            # descending with NaN first (torch treats NaN as the largest); both sorts stable
            order = np.argsort(-h, axis=d, kind="stable")  # NaN land last here
            nan_last = ~np.isnan(np.take_along_axis(h, order, axis=d))
            order = np.take_along_axis(order, np.argsort(nan_last, axis=d, kind="stable"), axis=d)
        else:
            order = np.argsort(-h, axis=d, kind="stable")
        idx = tensor(order.astype(np.int64), device=self.device)
        return _SortRes(self._gather_along(d, idx), idx)

    def argsort(self, dim: int = -1, descending: bool = False, stable: bool = True):
        return self.sort(dim, descending).indices

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):
        """(values, indices) of the k largest (smallest) along dim; order found on the host."""
        d = _array.norm_dim(dim, self.ndim)
        size = self.shape[d] if self.ndim else 1
        if not 0 <= k <= size:
            raise RuntimeError(f"topk: k ({k}) is out of range for dimension {d} of size {size} (shape {self.shape})")
        v, i = self.sort(d, descending=largest)
        if self.ndim == 0:  # torch: a 0-d input gives 0-d values and indices (k 0 or 1)
            return _TopkRes(v, i)
        return _TopkRes(v.narrow(d, 0, k), i.narrow(d, 0, k))

    def cumsum(self, dim: int, dtype=None):
        """Cumulative sum along dim (computed on the host; see Cumsum)."""
        x = self.to(dtype) if dtype is not None else self
        if x.dtype is bool_:
            x = x.long()
        d = _array.norm_dim(dim, x.ndim)
        if x.ndim == 0:
            return x.clone()
        if x.dtype is float32:
            return host.Cumsum.apply(x, d)
        return host.from_host(np.cumsum(host.to_host(x), axis=d, dtype=np.int64), int64, x.device)


def _has_scalar(*ts) -> bool:
    return any(isinstance(t, TensorBase) and t.ndim == 0 for t in ts)


def _at_least_1d(t):
    """A 0-d tensor as shape (1,) (a differentiable reshape); anything else unchanged."""
    return t.reshape(1) if isinstance(t, TensorBase) and t.ndim == 0 else t
