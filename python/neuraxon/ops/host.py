"""The host backend: ops that neuraxon runs with NumPy on the host, for every device.

These have no kernel (yet): sorting and its relatives, unique, cumulative sums, rounding,
remainder/floor_divide, integer bitwise ops, nonzero/masked selection, searchsorted. A CUDA
tensor that goes through one of them is copied to the host and the result back, which waits
for the GPU: `to_host` counts every such round trip of a non-CPU tensor in `host_round_trips`
so tests and users can see when a step leaves the device. HOST_OPS lists the Tensor methods that take this path.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING

import numpy as np

from .. import _array
from .. import _codes as C
from .._tensor_base import TensorBase
from ..autograd import Function
from ..dtypes import bool_, float32, int64, promote

if TYPE_CHECKING:
    from ..tensor import Tensor


# Tensor methods that run here (see the module doc).
HOST_OPS = (
    "sort argsort topk kthvalue median unique cumsum floor ceil round trunc frac remainder fmod "
    "floor_divide // % & | ^ (integer bitwise) nonzero argwhere masked_select searchsorted bucketize "
    "repeat_interleave (tensor repeats) index_fill index_copy"
).split()

host_round_trips = 0  # non-CPU tensors read by to_host so far


def to_host(t: "Tensor") -> np.ndarray:
    """t's data as a NumPy array of its shape (on the CPU a view; otherwise a copy, counted)."""
    global host_round_trips
    if t.device.type != "cpu":
        host_round_trips += 1
    return np.asarray(t.device.to_numpy(t._data, t.shape, t.dtype))


def from_host(a: np.ndarray, dtype, device) -> "Tensor":
    """A new tensor on `device` holding host array `a` as `dtype`."""
    return _array.from_numpy(np.array(a, dtype=dtype.numpy, order="C"), dtype, device)  # 0-d stays 0-d


class Cumsum(Function):
    """Cumulative sum along dim, computed on the host (sequential, exact for int64; inf/NaN
    propagate as in torch). The gradient is the reversed cumulative sum of g."""

    @staticmethod
    def forward(ctx, x, d):
        ctx.d = d
        with np.errstate(all="ignore"):
            return from_host(np.cumsum(to_host(x), axis=d, dtype=x.dtype.numpy), x.dtype, x.device)

    @staticmethod
    def backward(ctx, g):
        d = ctx.d
        r = np.flip(np.cumsum(np.flip(to_host(g), d), axis=d, dtype=np.float32), d)
        return from_host(r, float32, g.device), None


class HostMap(Function):
    """A piecewise-constant map (floor, ceil, round, trunc) computed on the host; gradient 0."""

    @staticmethod
    def forward(ctx, x, fn):
        with np.errstate(all="ignore"):
            return from_host(fn(to_host(x)), x.dtype, x.device)

    @staticmethod
    def backward(ctx, g):
        return _array.zeros(g.shape, float32, g.device), None


class Remainder(Function):
    """a - b * floor(a / b) (sign of b, as torch.remainder) or fmod (sign of a), on the host.
    d/da = 1, d/db = -floor(a / b) (or -trunc(a / b) for fmod)."""

    @staticmethod
    def forward(ctx, a, b, fmod):
        ha, hb = to_host(a), to_host(b)
        with np.errstate(all="ignore"):
            r = np.fmod(ha, hb) if fmod else np.remainder(ha, hb)
            q = np.trunc(ha / hb) if fmod else np.floor(ha / hb)
        ctx.q = q.astype(np.float32)
        ctx.shapes = (a.shape, b.shape)
        return from_host(r, a.dtype, a.device)

    @staticmethod
    def backward(ctx, g):
        sa, sb = ctx.shapes
        ga = _array.sum_to(g, sa) if ctx.needs_input_grad[0] else None
        gb = None
        if ctx.needs_input_grad[1]:
            q = from_host(-ctx.q, float32, g.device)
            gb = _array.sum_to(_array.binary_raw(g, q, C.BIN_MUL), sb)
        return ga, gb, None


def _int_div_check(a, b, what):
    if a.dtype is not float32 and b.dtype is not float32 and bool((to_host(b) == 0).any()):
        raise RuntimeError(f"ZeroDivisionError: integer {what} by zero")


def _divmod_args(a, b, reverse=False):
    """(a, b) as two tensors of one promoted dtype (int64 or float32) on a's device."""
    if isinstance(b, TensorBase):
        _array.check_same_device(a, b)
        dt = promote(a.dtype, b.dtype)
    elif _array.is_scalar(b):
        dt = promote(a.dtype, _array.scalar_dtype(b))
        b = _array.full((), b, dt, a.device)
    elif isinstance(b, np.ndarray):
        return _divmod_args(a, _array.array_operand(b, a.device), reverse)
    else:
        raise TypeError(f"unsupported operand of type {type(b).__name__} (expected a Tensor or a number)")
    if dt is bool_:
        dt = int64
    a, b = a.to(dt), b.to(dt)
    return (b, a) if reverse else (a, b)


def floor_divide(a, b, reverse: bool = False) -> "Tensor":
    """a // b rounded toward -inf (torch.floor_divide / the // operator); no gradient."""
    a, b = _divmod_args(a, b, reverse)
    _int_div_check(a, b, "division")
    shape = _array.broadcast_shapes(a.shape, b.shape)
    with np.errstate(all="ignore"):
        r = np.floor_divide(to_host(a), to_host(b))
    return from_host(np.broadcast_to(r, shape), a.dtype, a.device)


def trunc_divide(a, b) -> "Tensor":
    """a / b rounded toward zero (div(rounding_mode="trunc")); integers exact, on the host."""
    a, b = _divmod_args(a, b)
    if a.dtype is float32:
        return (a / b).trunc()
    _int_div_check(a, b, "division")
    ha, hb = to_host(a), to_host(b)
    q = (np.abs(ha) // np.abs(hb)) * (np.sign(ha) * np.sign(hb))
    return from_host(np.broadcast_to(q, _array.broadcast_shapes(a.shape, b.shape)), int64, a.device)


def remainder(a, b, reverse: bool = False, fmod: bool = False) -> "Tensor":
    a, b = _divmod_args(a, b, reverse)
    _int_div_check(a, b, "modulo")
    shape = _array.broadcast_shapes(a.shape, b.shape)
    if a.dtype is float32:
        return Remainder.apply(a, b, fmod)
    with np.errstate(all="ignore"):
        r = np.fmod(to_host(a), to_host(b)) if fmod else np.remainder(to_host(a), to_host(b))
    return from_host(np.broadcast_to(r, shape), a.dtype, a.device)


def logical(a, b, op):
    """&, |, ^ on bool tensors (min, max, != of 0/1); bitwise on integers (as torch)."""
    if not isinstance(b, TensorBase):
        if isinstance(b, (bool, np.bool_)):
            b = _array.full((), bool(b), bool_, a.device)
        elif isinstance(b, (numbers.Integral, np.integer)):
            b = _array.full((), int(b), int64, a.device)
        elif isinstance(b, np.ndarray):
            b = _array.array_operand(b, a.device)
        else:
            raise TypeError(f"&, |, ^ need bool or integer operands, got {type(b).__name__}")
    if a.dtype is float32 or b.dtype is float32:
        raise TypeError(f"&, |, ^ are not defined for float tensors (got {a.dtype.name} and {b.dtype.name})")
    _array.check_same_device(a, b)
    if a.dtype is not bool_ or b.dtype is not bool_:  # bitwise on int64, on the host
        fn = {C.BIN_MIN: np.bitwise_and, C.BIN_MAX: np.bitwise_or, C.BIN_NE: np.bitwise_xor}[op]
        r = fn(to_host(a).astype(np.int64), to_host(b).astype(np.int64))
        return from_host(np.broadcast_to(r, _array.broadcast_shapes(a.shape, b.shape)), int64, a.device)
    r = _array.binary_raw(_array.cast(a, int64), _array.cast(b, int64), op)
    return r if r.dtype is bool_ else _array.cast(r, bool_)
