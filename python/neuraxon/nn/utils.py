"""nn.utils: gradient clipping and parameter flattening helpers."""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np

from ._util import numel, to_numpy


def _params(parameters) -> list:
    import neuraxon

    if isinstance(parameters, neuraxon.Tensor):
        return [parameters]
    return list(parameters)


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach=None):
    """Scale gradients in place so their joint norm is at most max_norm; returns the total
    norm (a 0-d float32 tensor) before clipping, as torch."""
    import neuraxon

    grads = [p.grad for p in _params(parameters) if p.grad is not None]
    norm_type = float(norm_type)
    if not grads:
        return neuraxon.tensor(np.float32(0.0))
    host = [to_numpy(g).astype(np.float64).reshape(-1) for g in grads]
    if math.isinf(norm_type):
        total = max(float(np.max(np.abs(h))) if h.size else 0.0 for h in host)
    else:
        total = float(sum(float(np.sum(np.abs(h) ** norm_type)) for h in host) ** (1.0 / norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so "
                           "it cannot be clipped. To disable this error and scale the gradients by the non-finite "
                           "norm anyway, set `error_if_nonfinite=False`")
    coef = float(max_norm) / (total + 1e-6)
    if coef < 1.0:
        for g in grads:
            n = numel(g)
            if n:  # g = g * coef + 0, one affine kernel, in place
                from .. import _codes

                g.device.k.unary_forward(g._data, g._data, n, _codes.UN_AFFINE, float(np.float32(coef)), 0.0)
    return neuraxon.tensor(np.float32(total))


def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clamp every gradient element into [-clip_value, clip_value] in place."""
    from .. import _codes

    clip_value = float(clip_value)
    for p in _params(parameters):
        g = p.grad
        if g is not None and numel(g):
            g.device.k.unary_forward(g._data, g._data, numel(g), _codes.UN_CLAMP, -clip_value, clip_value)


def parameters_to_vector(parameters: Iterable):
    import neuraxon

    return neuraxon.tensor(np.concatenate([to_numpy(p).reshape(-1) for p in parameters]).astype(np.float32))


def vector_to_parameters(vec, parameters: Iterable) -> None:
    from ._util import assign_

    v = to_numpy(vec).reshape(-1)
    off = 0
    for p in parameters:
        n = numel(p)
        assign_(p, v[off : off + n])
        off += n
