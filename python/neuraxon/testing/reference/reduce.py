"""Reference reductions over the middle axis of (outer, red, inner). Codes mirror nx::RedOp
and nx::ArgRedOp."""

from __future__ import annotations

import numpy as np

__all__ = ["reduce_forward", "argreduce_forward"]

SUM, MEAN, MAX, MIN, PROD = range(5)
ARGMAX, ARGMIN = range(2)


def reduce_forward(inp, outer, red, inner, op):
    """out (outer, inner): float64 for float input, int64 (wrapping) for int64 input."""
    x = np.asarray(inp).reshape(outer, red, inner)
    if x.dtype.kind == "f":
        x = x.astype(np.float64)
    if red == 0:
        if op in (MAX, MIN):
            raise ValueError("max/min over an empty axis")
        return np.full((outer, inner), {SUM: 0, MEAN: np.nan, PROD: 1}[op], x.dtype)
    with np.errstate(over="ignore"):
        return {SUM: np.sum, MEAN: np.mean, MAX: np.max, MIN: np.min, PROD: np.prod}[op](x, axis=1)


def argreduce_forward(inp, outer, red, inner, op):
    """First occurrence; a NaN counts as the extreme (the first NaN wins), as numpy/torch."""
    if red == 0:
        raise ValueError("argmax/argmin over an empty axis")
    x = np.asarray(inp).reshape(outer, red, inner)
    return (np.argmax if op == ARGMAX else np.argmin)(x, axis=1).astype(np.int64)
