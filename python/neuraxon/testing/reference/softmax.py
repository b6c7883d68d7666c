"""Reference softmax / log_softmax over the last axis and cross-entropy (mean over counted rows)."""

from __future__ import annotations

import numpy as np

__all__ = ["cross_entropy_backward", "cross_entropy_forward", "softmax_backward", "softmax_forward"]


def _lse(x: np.ndarray) -> np.ndarray:
    """logsumexp over the last axis, max-shifted; (rows,)."""
    if x.shape[-1] == 0:
        return np.full(x.shape[:-1], -np.inf)
    m = x.max(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", over="ignore"):
        return (m + np.log(np.exp(x - m).sum(axis=-1, keepdims=True)))[..., 0]


def softmax_forward(inp, log: bool = False) -> np.ndarray:
    x = np.asarray(inp, np.float64)
    with np.errstate(invalid="ignore"):
        y = x - _lse(x)[..., None]
    return y if log else np.exp(y)


def softmax_backward(dout, out, log: bool = False) -> np.ndarray:
    """From the forward's out: softmax out*(dout - sum(dout*out)); log dout - exp(out)*sum(dout)."""
    dy, y = np.asarray(dout, np.float64), np.asarray(out, np.float64)
    if log:
        return dy - np.exp(y) * dy.sum(axis=-1, keepdims=True)
    return y * (dy - (dy * y).sum(axis=-1, keepdims=True))


def _counted(target, cols: int, ignore_index: int) -> np.ndarray:
    t = np.asarray(target, np.int64)
    keep = t != ignore_index
    bad = keep & ((t < 0) | (t >= cols))
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise ValueError(f"target[{r}] = {t[r]} is out of range [0, {cols})")
    return keep


def cross_entropy_forward(logits, target, ignore_index: int = -100):
    """Returns (loss (1,), lse (rows,)); loss = mean over counted rows of lse - x[target]."""
    x = np.asarray(logits, np.float64)
    rows, cols = x.shape
    keep = _counted(target, cols, ignore_index)
    lse = _lse(x)
    t = np.where(keep, target, 0)
    picked = x[np.arange(rows), t] if cols else np.zeros(rows)
    count = int(keep.sum())
    loss = np.sum(np.where(keep, lse - picked, 0.0)) / count if count else np.nan
    return np.array([loss]), lse


def cross_entropy_backward(dloss, logits, lse, target, ignore_index: int = -100) -> np.ndarray:
    """dlogits = dloss * (softmax(x) - onehot(target)) / count; 0 on ignored rows.

    lse may be None (recomputed)."""
    x = np.asarray(logits, np.float64)
    cols = x.shape[1]
    keep = _counted(target, cols, ignore_index)
    count = int(keep.sum())
    if count == 0:
        return np.zeros_like(x)
    lse = _lse(x) if lse is None else np.asarray(lse, np.float64)
    g = np.exp(x - lse[:, None])
    g[np.flatnonzero(keep), np.asarray(target)[keep]] -= 1.0
    g[~keep] = 0.0
    return float(np.asarray(dloss).reshape(-1)[0]) * g / count
