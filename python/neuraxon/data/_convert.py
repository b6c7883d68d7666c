"""Host data to tensors for the data package: sample/batch conversion and the RNG rule."""

from __future__ import annotations

import numpy as np

from .. import random
from ..creation import from_numpy
from ..tensor import Tensor


def _as_tensor(a: np.ndarray):
    """A host array as a neuraxon tensor in the working dtypes (float32, int64, bool)."""
    a = np.asarray(a)
    if a.dtype.kind == "f":
        a = a.astype(np.float32, copy=False)
    elif a.dtype.kind in "iu":
        a = a.astype(np.int64, copy=False)
    return from_numpy(a if a.flags.c_contiguous else np.array(a, order="C"))


def _is_tensor(x) -> bool:
    return isinstance(x, Tensor)


def _rng(generator, seed) -> np.random.Generator:
    if isinstance(generator, np.random.Generator):
        return generator
    if hasattr(generator, "numpy_rng") and seed is None:  # a neuraxon.random.Generator
        return generator.numpy_rng()
    if generator is not None and seed is None:
        seed = int(generator)
    if seed is None:  # follow neuraxon.manual_seed: derived from the global generator
        return random.default_generator.numpy_rng()
    return np.random.default_rng(seed)
