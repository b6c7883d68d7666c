"""Reference gather / scatter_add along the middle axis of (outer, size, inner)."""

from __future__ import annotations

import numpy as np

__all__ = ["gather", "scatter_add"]


def _norm(index, size):
    idx = np.asarray(index, np.int64).reshape(-1)
    if np.any((idx < -size) | (idx >= size)):
        raise ValueError(f"index out of range for an axis of size {size}")
    return np.where(idx < 0, idx + size, idx)


def gather(inp, index, outer, size, m, inner):
    """out (outer, m, inner) = inp (outer, size, inner)[:, index, :]."""
    return np.asarray(inp).reshape(outer, size, inner)[:, _norm(index, size), :]


def scatter_add(out, src, index, outer, size, m, inner):
    """Returns out (outer, size, inner) + src (outer, m, inner) added at index (repeats add up)."""
    res = np.array(out, np.float64 if np.asarray(out).dtype.kind == "f" else np.int64, copy=True).reshape(outer, size, inner)
    np.add.at(res, (slice(None), _norm(index, size), slice(None)), np.asarray(src).reshape(outer, m, inner))
    return res
