"""Reference dropout: the mask regenerated from the Philox stream (random.py)."""

from __future__ import annotations

import numpy as np

from .random import philox_words, uniform_from_words

__all__ = ["dropout_backward", "dropout_forward", "dropout_mask"]


def dropout_mask(n: int, p: float, seed: int, offset: int) -> np.ndarray:
    """Multiplier per element: 1/(1-p) where u >= p (p compared as float32), else 0."""
    p32 = np.float32(p)
    if not (0.0 <= p32 <= 1.0):
        raise ValueError(f"dropout probability p={p} must be in [0, 1]")
    keep = uniform_from_words(philox_words(n, seed, offset)) >= float(p32)
    scale = 0.0 if p32 == 1 else 1.0 / (1.0 - float(p32))
    return np.where(keep, scale, 0.0)


def dropout_forward(inp, p: float, seed: int, offset: int) -> np.ndarray:
    x = np.asarray(inp, np.float64)
    return x * dropout_mask(x.size, p, seed, offset).reshape(x.shape)


def dropout_backward(dout, p: float, seed: int, offset: int) -> np.ndarray:
    dy = np.asarray(dout, np.float64)
    return dy * dropout_mask(dy.size, p, seed, offset).reshape(dy.shape)
