"""The three tensor dtypes (float32, int64, bool) and how Python/NumPy types map onto them."""

from __future__ import annotations

import builtins

import numpy as np


class dtype:
    """A tensor element type: .name, .itemsize, .numpy (NumPy dtype), .code (nx::DType)."""

    __slots__ = ("name", "itemsize", "numpy", "code", "is_floating_point")

    def __init__(self, name: str, np_dtype, code: int, is_float: bool):
        self.name = name
        self.numpy = np.dtype(np_dtype)
        self.itemsize = self.numpy.itemsize
        self.code = code
        self.is_floating_point = is_float

    def __repr__(self) -> str:
        return f"neuraxon.{self.name}"

    def __reduce__(self):
        return (get_dtype, (self.name,))


float32 = dtype("float32", np.float32, 0, True)
int64 = dtype("int64", np.int64, 1, False)
bool_ = dtype("bool", np.bool_, 2, False)

_BY_CODE = {0: float32, 1: int64, 2: bool_}
_ALIASES = {
    "float32": float32,
    "float": float32,
    "int64": int64,
    "long": int64,
    "bool": bool_,
    builtins.float: float32,
    builtins.int: int64,
    builtins.bool: bool_,
}


def get_dtype(x) -> dtype:
    """Map a neuraxon dtype, a name, a Python type or a NumPy dtype to a neuraxon dtype.

    NumPy float16/float64 map to float32 and other integer types to int64 (neuraxon computes
    in float32 and indexes in int64); anything else raises TypeError.
    """
    if isinstance(x, dtype):
        return x
    if isinstance(x, str) or isinstance(x, type) and x in _ALIASES:
        if x in _ALIASES:
            return _ALIASES[x]
    try:
        nd = np.dtype(x)
    except TypeError:
        raise TypeError(f"unsupported dtype {x!r}: neuraxon has float32, int64 and bool") from None
    if nd.kind == "f":
        return float32
    if nd.kind in "iu":
        return int64
    if nd.kind == "b":
        return bool_
    raise TypeError(f"unsupported dtype {x!r}: neuraxon has float32, int64 and bool")


def from_code(code: int) -> dtype:
    return _BY_CODE[code]


def promote(a: dtype, b: dtype) -> dtype:
    """PyTorch's promotion among our three dtypes: float32 > int64 > bool."""
    if a is b:
        return a
    if a is float32 or b is float32:
        return float32
    return int64
