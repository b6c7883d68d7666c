"""Tensor methods: indexing and in-place updates (the *_ variants, fills, copies, random fills)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .. import _array, autograd
from .. import _codes as C
from .._tensor_base import TensorBase
from ..creation import _require_float, full, rand, tensor, zeros_like
from ..dtypes import bool_, float32, int64, promote
from ..ops import elementwise, host, indexing
from ..tensor_functions import _check_probability

if TYPE_CHECKING:
    pass


class InPlaceMethods:
    """Mixed into neuraxon.Tensor (see tensor.py); methods only, no state."""

    __slots__ = ()

    # -- indexing -------------------------------------------------------------------------
    def __getitem__(self, idx):
        return indexing.getitem(self, idx)

    def __setitem__(self, idx, value):
        indexing.setitem(self, idx, value)

    # -- in place ------------------------------------------------------------------------
    def _check_inplace(self, what: str) -> None:
        if self.requires_grad and autograd.is_grad_enabled():
            if self._node is None:
                raise RuntimeError(
                    f"a leaf Variable that requires grad is being used in an in-place operation ({what}); "
                    "use neuraxon.no_grad()"
                )
            raise RuntimeError(
                f"in-place operation {what} on a tensor that is part of an autograd graph is not supported"
            )
        self._bump_version()  # every in-place method passes here before changing the data

    def _inplace_binary(self, other, op: int, what: str):
        self._check_inplace(what)
        if isinstance(other, TensorBase):
            _array.check_same_device(self, other)
            other = other.detach()
            dt = promote(self.dtype, other.dtype)
        elif isinstance(other, np.ndarray):  # t += ndarray
            return self._inplace_binary(_array.array_operand(other, self.device), op, what)
        else:
            dt = promote(self.dtype, _array.scalar_dtype(other))
        if op == C.BIN_DIV and self.dtype is not float32:
            dt = float32
        if dt is not self.dtype:
            raise TypeError(f"{what}: result type {dt.name} can't be cast to the desired output type {self.dtype.name}")
        with autograd.no_grad():
            if (
                not isinstance(other, TensorBase)
                and self.dtype is float32
                and op in (C.BIN_ADD, C.BIN_SUB, C.BIN_MUL, C.BIN_DIV)
            ):
                s = float(other)
                a, b = {
                    C.BIN_ADD: (1.0, s),
                    C.BIN_SUB: (1.0, -s),
                    C.BIN_MUL: (s, 0.0),
                    C.BIN_DIV: (1.0 / s if s else math.nan, 0.0),
                }[op]
                if op == C.BIN_DIV and s == 0:
                    other = full((), s, device=self.device)
                else:
                    _array.unary_raw(self, C.UN_AFFINE, a, b, out=self)
                    return self
            if not isinstance(other, TensorBase):
                other = full((), other, dtype=self.dtype, device=self.device)
            other = _array.cast(other, self.dtype)
            shape = _array.broadcast_shapes(self.shape, other.shape)
            if shape != self.shape:
                raise RuntimeError(
                    f"{what}: output with shape {self.shape} doesn't match the broadcast shape {shape} "
                    f"(other has shape {other.shape})"
                )
            work = self if self.dtype is not bool_ else _array.cast(self, int64)
            res = _array.binary_raw(
                work, _array.cast(other, work.dtype), op, out=work if self.dtype is not bool_ else None
            )
            if self.dtype is bool_:
                _array.copy_into(self, _array.cast(res, bool_), (self.numel(),), [1], 0, [1], 0)
        return self

    def add_(self, other, alpha=1):
        return self._inplace_binary(other * alpha if alpha != 1 else other, C.BIN_ADD, "add_")

    def sub_(self, other, alpha=1):
        return self._inplace_binary(other * alpha if alpha != 1 else other, C.BIN_SUB, "sub_")

    def mul_(self, other):
        return self._inplace_binary(other, C.BIN_MUL, "mul_")

    def div_(self, other):
        return self._inplace_binary(other, C.BIN_DIV, "div_")

    def pow_(self, other):
        return self._inplace_binary(other, C.BIN_POW, "pow_")

    __iadd__ = add_
    __isub__ = sub_
    __imul__ = mul_
    __itruediv__ = div_

    def addcmul_(self, t1, t2, value=1):
        return self.add_(t1 * t2 * value)

    def addcdiv_(self, t1, t2, value=1):
        return self.add_(t1 / t2 * value)

    def lerp_(self, end, weight):
        return self.add_((end - self) * weight)

    def fill_(self, value):
        self._check_inplace("fill_")
        if isinstance(value, TensorBase):
            value = value.item()
        if self.numel():
            _array.run("fill", self.device, self._data, self.numel(), float(value))
        return self

    def zero_(self):
        return self.fill_(0.0)

    def copy_(self, src, non_blocking: bool = False):
        self._check_inplace("copy_")
        if not isinstance(src, TensorBase):
            src = tensor(src, dtype=self.dtype)
        src = src.detach()
        if src.device != self.device:
            src = src.to(self.device)
        src = _array.cast(src, self.dtype)
        shape = _array.broadcast_shapes(self.shape, src.shape)
        if shape != self.shape:
            raise RuntimeError(f"copy_: source of shape {src.shape} cannot be broadcast to {self.shape}")
        _array.copy_into(
            self, src, self.shape, _array.strides_of(self.shape), 0, _array.bcast_strides(src.shape, self.shape)
        )
        return self

    def clamp_(self, min=None, max=None):
        self._check_inplace("clamp_")
        with autograd.no_grad():
            r = self.clamp(min, max)
        _array.copy_into(self, r, (self.numel(),), [1], 0, [1], 0)
        return self

    def neg_(self):
        return self.mul_(-1)

    def exp_(self):
        return self._apply_unary_(C.UN_EXP)

    def sqrt_(self):
        return self._apply_unary_(C.UN_SQRT)

    def abs_(self):
        return self._apply_unary_(C.UN_ABS)

    def _apply_unary_(self, op):
        self._check_inplace("unary_")
        if self.dtype is not float32:
            raise TypeError(f"in-place unary op needs a float32 tensor, got {self.dtype.name}")
        _array.unary_raw(self, op, out=self)
        return self

    def masked_fill_(self, mask, value):
        self._check_inplace("masked_fill_")
        with autograd.no_grad():
            r = self.masked_fill(mask, value)
        if r.shape != self.shape:
            raise RuntimeError(
                f"masked_fill_: mask of shape {mask.shape} broadcasts the result to {r.shape}, not {self.shape}"
            )
        _array.copy_into(self, r, (self.numel(),), [1], 0, [1], 0)
        return self

    def uniform_(self, a: float = 0.0, b: float = 1.0, generator=None):
        self._check_inplace("uniform_")
        _require_float(self, "uniform_")
        return _array.uniform_(self, a, b, generator)

    def normal_(self, mean: float = 0.0, std: float = 1.0, generator=None):
        self._check_inplace("normal_")
        _require_float(self, "normal_")
        return _array.normal_(self, mean, std, generator)

    def bernoulli_(self, p: float = 0.5):
        _check_probability(p, "bernoulli_")
        u = rand(self.shape, device=self.device)
        return self.copy_((u < p).to(self.dtype))


def _make_inplace(name: str, shape_op: bool = False):
    """Tensor.<name>_ from the out-of-place <name>: computed without a graph, written back
    into this tensor's buffer (value ops: same shape, cast to this dtype) or, for shape ops
    (t_, transpose_, unsqueeze_, squeeze_), taking the result's data and shape."""

    def method(self, *args, **kwargs):
        self._check_inplace(name + "_")
        with autograd.no_grad():
            r = getattr(self, name)(*args, **kwargs)
        if shape_op:
            self._data, self.shape = r._data, r.shape
            return self
        if r.shape != self.shape:
            raise RuntimeError(f"{name}_: result of shape {r.shape} does not fit the tensor of shape {self.shape}")
        if r.dtype is not self.dtype:
            if self.dtype is not float32 and r.dtype is float32:
                raise TypeError(
                    f"{name}_: result type float32 can't be cast to the desired output type {self.dtype.name}"
                )
            r = _array.cast(r, self.dtype)
        _array.copy_into(self, r, (self.numel(),), [1], 0, [1], 0)
        return self

    method.__name__ = name + "_"
    method.__doc__ = f"In-place {name} (see Tensor.{name})."
    return method


for _n in (
    "log sigmoid tanh relu floor ceil round trunc reciprocal square sign clip rsqrt sin cos log1p expm1 "
    "index_add scatter scatter_add index_fill index_copy frac remainder fmod floor_divide lerp"
).split():
    if _n + "_" not in vars(InPlaceMethods):  # explicit ones elsewhere come first in the MRO
        setattr(InPlaceMethods, _n + "_", _make_inplace(_n))
for _n in ("t", "transpose", "unsqueeze", "squeeze", "swapdims", "swapaxes"):
    setattr(InPlaceMethods, _n + "_", _make_inplace(_n, shape_op=True))
del _n


def _index_fill(self, dim: int, index, value):
    d = _array.norm_dim(dim, self.ndim) if self.ndim else 0
    if isinstance(value, TensorBase):
        value = value.item()
    mask = np.zeros(self.shape[d] if self.ndim else 1, bool)
    mask[host.to_host(index).reshape(-1)] = True
    sh = [1] * max(self.ndim, 1)
    sh[d] = mask.size
    m = tensor(mask.reshape(sh) if self.ndim else mask.reshape(()), device=self.device)
    return elementwise.where(m, value, self)


def _index_copy(self, dim: int, index, source):
    d = _array.norm_dim(dim, self.ndim) if self.ndim else 0
    keep = np.ones(self.shape[d] if self.ndim else 1, np.float32)
    keep[host.to_host(index).reshape(-1)] = 0.0
    sh = [1] * max(self.ndim, 1)
    sh[d] = keep.size
    k = tensor(keep.reshape(sh) if self.ndim else keep.reshape(()), device=self.device)
    if self.dtype is not float32:
        return elementwise.where(k == 0.0, zeros_like(self).index_add(d, index, source), self)
    return (self * k).index_add(d, index, source)


def _fill_diagonal_(self, fill_value, wrap: bool = False):
    self._check_inplace("fill_diagonal_")
    if self.ndim < 2 or (self.ndim > 2 and len(set(self.shape)) != 1):
        raise RuntimeError(f"fill_diagonal_: all dimensions of input must be of equal length (shape {self.shape})")
    n = min(self.shape)
    st = sum(_array.strides_of(self.shape))
    pos = list(range(0, n * st, st))
    if wrap and self.ndim == 2 and self.shape[0] > self.shape[1] + 1:
        c = self.shape[1]
        pos = list(range(0, self.numel(), c + 1))
    with autograd.no_grad():
        flat = TensorBase._wrap(self._data, (self.numel(),), self.dtype, self.device)
        flat[tensor(np.asarray(pos, np.int64), device=self.device)] = fill_value
    return self


InPlaceMethods.index_fill = _index_fill
InPlaceMethods.index_copy = _index_copy
InPlaceMethods.index_fill_ = _make_inplace("index_fill")
InPlaceMethods.index_copy_ = _make_inplace("index_copy")
InPlaceMethods.fill_diagonal_ = _fill_diagonal_
