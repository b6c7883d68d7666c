"""Tensor methods: arithmetic and comparison operators, unary math, activations."""

from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING

import numpy as np

from .. import _array
from .. import _codes as C
from .. import functional as F
from .._tensor_base import TensorBase
from ..dtypes import bool_, float32, int64
from ..ops import elementwise, host, linalg

if TYPE_CHECKING:
    pass


class ElementwiseMethods:
    """Mixed into neuraxon.Tensor (see tensor.py); methods only, no state."""

    __slots__ = ()

    # -- arithmetic ---------------------------------------------------------------------
    def __add__(self, o):
        return elementwise.binary(self, o, C.BIN_ADD)

    def __radd__(self, o):
        return elementwise.binary(self, o, C.BIN_ADD, True)

    def __sub__(self, o):
        return elementwise.binary(self, o, C.BIN_SUB)

    def __rsub__(self, o):
        return elementwise.binary(self, o, C.BIN_SUB, True)

    def __mul__(self, o):
        return elementwise.binary(self, o, C.BIN_MUL)

    def __rmul__(self, o):
        return elementwise.binary(self, o, C.BIN_MUL, True)

    def __truediv__(self, o):
        return elementwise.binary(self, o, C.BIN_DIV)

    def __rtruediv__(self, o):
        return elementwise.binary(self, o, C.BIN_DIV, True)

    def __pow__(self, o):
        return elementwise.binary(self, o, C.BIN_POW)

    def __rpow__(self, o):
        return elementwise.binary(self, o, C.BIN_POW, True)

    def __matmul__(self, o):
        return linalg.matmul(self, o)

    def __rmatmul__(self, o):
        return linalg.matmul(o, self)

    def __neg__(self):
        if self.dtype is bool_:
            raise RuntimeError(
                "Negation, the `-` operator, on a bool tensor is not supported. "
                "If you are trying to invert a mask, use the `~` or `logical_not()` operator instead."
            )
        return elementwise.unary(self, C.UN_NEG)

    def __pos__(self):
        return self

    def __abs__(self):
        return self.abs()

    def __eq__(self, o):  # noqa: D105
        return elementwise.binary(self, o, C.BIN_EQ)

    def __ne__(self, o):
        return elementwise.binary(self, o, C.BIN_NE)

    def __lt__(self, o):
        return elementwise.binary(self, o, C.BIN_LT)

    def __le__(self, o):
        return elementwise.binary(self, o, C.BIN_LE)

    def __gt__(self, o):
        return elementwise.binary(self, o, C.BIN_GT)

    def __ge__(self, o):
        return elementwise.binary(self, o, C.BIN_GE)

    def __invert__(self):
        if self.dtype is int64:
            return -self - 1  # bitwise not of two's complement integers (as torch)
        if self.dtype is not bool_:
            raise TypeError(f"~ is only supported on bool and integer tensors, got {self.dtype.name}")
        return self == False  # noqa: E712

    def __and__(self, o):
        return host.logical(self, o, C.BIN_MIN)

    def __or__(self, o):
        return host.logical(self, o, C.BIN_MAX)

    def __xor__(self, o):
        return host.logical(self, o, C.BIN_NE)

    __rand__, __ror__, __rxor__ = __and__, __or__, __xor__

    def logical_and(self, other):
        return host.logical(self.bool(), other.bool() if isinstance(other, TensorBase) else bool(other), C.BIN_MIN)

    def logical_or(self, other):
        return host.logical(self.bool(), other.bool() if isinstance(other, TensorBase) else bool(other), C.BIN_MAX)

    def logical_xor(self, other):
        return host.logical(self.bool(), other.bool() if isinstance(other, TensorBase) else bool(other), C.BIN_NE)

    bitwise_and, bitwise_or, bitwise_xor = __and__, __or__, __xor__
    bitwise_not = __invert__

    def add(self, other, alpha=1):
        return self + (other * alpha if alpha != 1 else other)

    def sub(self, other, alpha=1):
        return self - (other * alpha if alpha != 1 else other)

    def mul(self, other):
        return self * other

    def div(self, other, *, rounding_mode=None):
        if rounding_mode is None:
            return self / other
        if rounding_mode == "floor":
            return host.floor_divide(self, other)
        if rounding_mode == "trunc":
            return host.trunc_divide(self, other)
        raise ValueError(
            f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found {rounding_mode!r}"
        )

    divide = div
    true_divide = div

    def pow(self, e):
        return self**e

    def matmul(self, other):
        return linalg.matmul(self, other)

    def mm(self, other):
        if self.ndim != 2 or getattr(other, "ndim", 2) != 2:
            raise RuntimeError(
                f"mm(): expected two matrices, got shapes {self.shape} and {getattr(other, 'shape', None)}"
            )
        return linalg.matmul(self, other)

    def bmm(self, other):
        if self.ndim != 3 or getattr(other, "ndim", 3) != 3 or self.shape[0] != other.shape[0]:
            raise RuntimeError(
                f"bmm(): expected two 3-D tensors with the same batch size, got shapes {self.shape} and "
                f"{getattr(other, 'shape', None)}"
            )
        return linalg.matmul(self, other)

    def dot(self, other):
        if self.ndim != 1 or getattr(other, "ndim", 1) != 1:
            raise RuntimeError(f"1D tensors expected, but got shapes {self.shape} and {getattr(other, 'shape', None)}")
        return linalg.matmul(self, other)

    def neg(self):
        return -self

    def eq(self, o):
        return self == o

    def ne(self, o):
        return self != o

    def lt(self, o):
        return self < o

    def le(self, o):
        return self <= o

    def gt(self, o):
        return self > o

    def ge(self, o):
        return self >= o

    def logical_not(self):
        return self.bool() == False  # noqa: E712

    def maximum(self, other):
        return elementwise.binary(self, other, C.BIN_MAX)

    def minimum(self, other):
        return elementwise.binary(self, other, C.BIN_MIN)

    def equal(self, other) -> bool:
        return self.shape == other.shape and bool((self == other).all())

    def allclose(self, other, rtol=1e-5, atol=1e-8) -> bool:
        return bool(np.allclose(np.asarray(self), np.asarray(other), rtol=rtol, atol=atol))

    # -- unary math -----------------------------------------------------------------------
    def exp(self):
        return elementwise.unary(self, C.UN_EXP)

    def log(self):
        return elementwise.unary(self, C.UN_LOG)

    def sqrt(self):
        return elementwise.unary(self, C.UN_SQRT)

    def rsqrt(self):
        return elementwise.unary(self, C.UN_RSQRT)

    def abs(self):
        return elementwise.unary(self, C.UN_ABS)

    def sin(self):
        return elementwise.unary(self, C.UN_SIN)

    def cos(self):
        return elementwise.unary(self, C.UN_COS)

    def reciprocal(self):
        return elementwise.unary(self, C.UN_RECIPROCAL)

    def square(self):
        return elementwise.unary(self, C.UN_SQUARE)

    def sign(self):
        return elementwise.unary(self, C.UN_SIGN)  # sign(NaN) == 0, as torch 2.x on the CPU

    sgn = sign

    def log1p(self):
        return elementwise.unary(self, C.UN_LOG1P)

    def expm1(self):
        return elementwise.unary(self, C.UN_EXPM1)

    def clamp(self, min=None, max=None):
        if isinstance(min, TensorBase) or isinstance(max, TensorBase):
            out = self
            if min is not None:
                out = out.maximum(min)
            if max is not None:
                out = out.minimum(max)
            return out
        if min is None and max is None:
            raise RuntimeError("clamp(): at least one of 'min' or 'max' must not be None")
        if self.dtype is not float32 and any(
            b is not None and not isinstance(b, (numbers.Integral, np.integer)) for b in (min, max)
        ):
            return self.float().clamp(min, max)  # int tensor, float bound: float result (as torch)
        lo = -math.inf if min is None else float(min)
        hi = math.inf if max is None else float(max)
        return elementwise.unary(self, C.UN_CLAMP, lo, hi)

    clip = clamp

    def clamp_min(self, m):
        return self.clamp(min=m)

    def clamp_max(self, m):
        return self.clamp(max=m)

    def _piecewise(self, fn):
        if self.dtype is not float32:
            return _array.clone_raw(self)  # integers are their own floor/ceil/round/trunc
        return host.HostMap.apply(self, fn)

    def floor(self):
        return self._piecewise(np.floor)

    def ceil(self):
        return self._piecewise(np.ceil)

    def trunc(self):
        return self._piecewise(np.trunc)

    fix = trunc

    def round(self, decimals: int = 0):
        if decimals:
            return self._piecewise(lambda a: np.round(a, int(decimals)))
        return self._piecewise(np.round)  # half to even, as torch

    def frac(self):
        return self - self.trunc()

    def floor_divide(self, other):
        return host.floor_divide(self, other)

    def remainder(self, other):
        return host.remainder(self, other)

    def fmod(self, other):
        return host.remainder(self, other, fmod=True)

    def __floordiv__(self, o):
        return host.floor_divide(self, o)

    def __rfloordiv__(self, o):
        return host.floor_divide(self, o, reverse=True)

    def __mod__(self, o):
        return host.remainder(self, o)

    def __rmod__(self, o):
        return host.remainder(self, o, reverse=True)

    def sigmoid(self):
        return F.sigmoid(self)

    def tanh(self):
        return F.tanh(self)

    def relu(self):
        return F.relu(self)

    def softmax(self, dim):
        return F.softmax(self, dim)

    def log_softmax(self, dim):
        return F.log_softmax(self, dim)

    def isnan(self):
        return self != self

    def isinf(self):
        if self.dtype is not float32:
            return _array.full(self.shape, False, bool_, self.device)
        return self.abs() == math.inf

    def isfinite(self):
        if self.dtype is not float32:
            return _array.full(self.shape, True, bool_, self.device)
        return self.abs() < math.inf  # False for NaN and +-inf

    def nan_to_num(self, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None):
        big = float(np.finfo(np.float32).max)
        out = elementwise.where(self.isnan(), nan, self)
        out = elementwise.where(out == math.inf, big if posinf is None else posinf, out)
        return elementwise.where(out == -math.inf, -big if neginf is None else neginf, out)

    def masked_fill(self, mask, value):
        if isinstance(value, TensorBase):
            if value.ndim:
                raise RuntimeError(
                    f"masked_fill only supports a 0-dimensional value tensor, but got one of shape {value.shape}"
                )
            value = value.to(self.dtype)
        elif self.dtype is int64:
            value = int(value)  # the result keeps this tensor's dtype (as torch)
        elif self.dtype is bool_:
            value = bool(value)
        return elementwise.where(mask, value, self)

    def unique(self, sorted: bool = True, return_inverse: bool = False, return_counts: bool = False, dim=None):
        """Distinct values (sorted), computed on the host; optional inverse indices and counts."""
        h = host.to_host(self.detach())
        if dim is None:
            vals, inv, cnt = np.unique(h.reshape(-1), return_inverse=True, return_counts=True)
            inv = inv.reshape(h.shape)
        else:
            d = _array.norm_dim(dim, self.ndim)
            vals, inv, cnt = np.unique(h, return_inverse=True, return_counts=True, axis=d)
            inv = inv.reshape(-1)
        out = [host.from_host(vals, self.dtype, self.device)]
        if return_inverse:
            out.append(host.from_host(inv.astype(np.int64), int64, self.device))
        if return_counts:
            out.append(host.from_host(cnt.astype(np.int64), int64, self.device))
        return out[0] if len(out) == 1 else tuple(out)

    def where(self, cond, other):
        return elementwise.where(cond, self, other)
