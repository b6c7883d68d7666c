"""Reference glue ops: fill, cast, strided copy, broadcasting binary ops, unary ops and their
backward, where. Op codes mirror nx::BinOp / nx::UnOp in csrc/common.h."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

__all__ = ["fill", "cast", "copy_strided", "binary_forward", "unary_forward", "unary_backward", "where_forward"]

ADD, SUB, MUL, DIV, POW, MAX, MIN, EQ, NE, LT, LE, GT, GE = range(13)
BIN_COUNT = 13
COMPARE = (EQ, NE, LT, LE, GT, GE)

(NEG, EXP, LOG, SQRT, ABS, SIN, COS, RSQRT, RECIPROCAL, SQUARE, SIGN, POW_SCALAR, CLAMP, AFFINE,
 RPOW_SCALAR, LOG1P, EXPM1) = range(17)
UN_COUNT = 17

_INT64_MIN = np.iinfo(np.int64).min


def fill(n, value, dtype=np.float32):
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return np.full(n, value != 0, np.bool_)  # NaN -> True
    return np.full(n, value, dtype)


def cast(inp, dtype):
    """float -> int64 truncates toward zero; NaN/inf/out of range -> INT64_MIN."""
    inp, dtype = np.asarray(inp), np.dtype(dtype)
    if inp.dtype.kind == "f" and dtype == np.int64:
        x = inp.astype(np.float64)
        ok = (x >= -(2.0**63)) & (x < 2.0**63)
        out = np.full(x.shape, _INT64_MIN, np.int64)
        out[ok] = np.trunc(x[ok]).astype(np.int64)
        return out
    return inp.astype(dtype)


def _view(flat, shape, strides, offset):
    flat = np.asarray(flat).reshape(-1)
    if np.prod(shape, dtype=np.int64) == 0:
        return np.zeros(shape, flat.dtype)
    return as_strided(flat[offset:], shape=tuple(shape), strides=tuple(s * flat.itemsize for s in strides), writeable=False)


def copy_strided(out, inp, shape, out_strides, out_offset, in_strides, in_offset):
    """Returns a copy of the flat `out` with the strided writes applied."""
    res = np.array(out, copy=True).reshape(-1)
    src = _view(inp, shape, in_strides, in_offset)
    if src.size:
        dst = as_strided(res[out_offset:], shape=tuple(shape), strides=tuple(s * res.itemsize for s in out_strides))
        dst[...] = src
    return res


def binary_forward(a, b, shape, a_strides, b_strides, op):
    """out (shape): float ops in float64 (compares on the float32 values), int64 ops in int64
    (div = floor division; zero divisor or negative power raise ValueError)."""
    x, y = _view(a, shape, a_strides, 0), _view(b, shape, b_strides, 0)
    if op in COMPARE:
        f = {EQ: np.equal, NE: np.not_equal, LT: np.less, LE: np.less_equal, GT: np.greater, GE: np.greater_equal}[op]
        return f(x, y)
    if x.dtype == np.int64:
        with np.errstate(over="ignore"):
            if op == DIV:
                if np.any(y == 0):
                    raise ValueError("integer division by zero")
                return np.floor_divide(x, y)
            if op == POW and np.any(y < 0):
                raise ValueError("integers to negative integer powers are not allowed")
            f = {ADD: np.add, SUB: np.subtract, MUL: np.multiply, POW: np.power, MAX: np.maximum, MIN: np.minimum}[op]
            return f(x, y).astype(np.int64)
    x, y = x.astype(np.float64), y.astype(np.float64)
    f = {ADD: np.add, SUB: np.subtract, MUL: np.multiply, DIV: np.divide, POW: np.power, MAX: np.maximum, MIN: np.minimum}[op]
    with np.errstate(all="ignore"):
        return f(x, y)


def _sign(x):
    """torch's sign: 0 at NaN (NumPy's is NaN)."""
    return np.where(np.isnan(x), 0.0, np.sign(x))


def unary_forward(inp, op, p0=0.0, p1=0.0):
    x = np.asarray(inp, np.float64)
    with np.errstate(all="ignore"):
        return {
            NEG: lambda: -x, EXP: lambda: np.exp(x), LOG: lambda: np.log(x), SQRT: lambda: np.sqrt(x),
            ABS: lambda: np.abs(x), SIN: lambda: np.sin(x), COS: lambda: np.cos(x),
            RSQRT: lambda: 1.0 / np.sqrt(x), RECIPROCAL: lambda: 1.0 / x, SQUARE: lambda: x * x,
            SIGN: lambda: _sign(x), POW_SCALAR: lambda: np.power(x, p0),
            CLAMP: lambda: np.minimum(np.maximum(x, p0), p1), AFFINE: lambda: x * p0 + p1,
            RPOW_SCALAR: lambda: np.power(float(p0), x), LOG1P: lambda: np.log1p(x), EXPM1: lambda: np.expm1(x),
        }[op]()


def unary_backward(dout, inp, out, op, p0=0.0, p1=0.0):
    """dinp = dout * op'(inp); the same formulas as torch's autograd (see elementwise.cc)."""
    g, x = np.asarray(dout, np.float64), np.asarray(inp, np.float64)
    y = unary_forward(x, op, p0, p1) if out is None else np.asarray(out, np.float64)
    with np.errstate(all="ignore"):
        if op == POW_SCALAR:
            return np.zeros_like(x) if p0 == 0 else g * p0 * np.power(x, p0 - 1)
        if op == RPOW_SCALAR:
            d = g * y * np.log(float(p0))  # -inf at base 0 (masked below), NaN for a negative base
            return np.where((p0 == 0) & (x >= 0), 0.0, d)
        return {
            NEG: lambda: -g, EXP: lambda: g * y, LOG: lambda: g / x, SQRT: lambda: g / (2 * y),
            ABS: lambda: g * _sign(x), SIN: lambda: g * np.cos(x), COS: lambda: -g * np.sin(x),
            RSQRT: lambda: -0.5 * g * y**3, RECIPROCAL: lambda: -g * y * y, SQUARE: lambda: 2 * x * g,
            SIGN: lambda: np.zeros_like(x), CLAMP: lambda: np.where((x >= p0) & (x <= p1), g, 0.0),
            AFFINE: lambda: g * p0, LOG1P: lambda: g / (1 + x), EXPM1: lambda: g * (y + 1),
        }[op]()


def where_forward(cond, a, b):
    return np.where(np.asarray(cond, bool), np.asarray(a, np.float64), np.asarray(b, np.float64))
