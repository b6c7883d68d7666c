"""nn.utils: gradient clipping and parameter flattening helpers."""

from __future__ import annotations

from .. import _array

import math
from typing import Iterable

import numpy as np

from ._util import numel, to_numpy
from .. import autograd as _autograd
from ..tensor import Tensor
from ..creation import tensor, zeros
from ..tensor_functions import stack


def _params(parameters) -> list:
    if isinstance(parameters, Tensor):
        return [parameters]
    return list(parameters)


def clip_grad_norm_(
    parameters, max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False, foreach=None
):
    """Scale gradients in place so their joint norm is at most max_norm; returns the total
    norm before clipping (a 0-d tensor on the gradients' device), as torch. Computed on the
    device: no host synchronisation unless error_if_nonfinite."""
    grads = [p.grad for p in _params(parameters) if p.grad is not None]
    norm_type = float(norm_type)
    if not grads:
        return tensor(0.0)
    with _autograd.no_grad():
        if math.isinf(norm_type):
            norms = [g.abs().max() if numel(g) else zeros((), device=g.device) for g in grads]
            total = stack(norms).max()
        else:
            norms = [g.norm(norm_type) for g in grads]
            total = stack(norms).norm(norm_type)
        if error_if_nonfinite and not math.isfinite(float(total.item())):
            raise RuntimeError(
                f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, "
                "so it cannot be clipped. To disable this error and scale the gradients by the "
                "non-finite norm anyway, set `error_if_nonfinite=False`"
            )
        coef = (float(max_norm) / (total + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(coef)
    return total


def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clamp every gradient element into [-clip_value, clip_value] in place."""
    from .. import _codes

    clip_value = float(clip_value)
    for p in _params(parameters):
        g = p.grad
        if g is not None and numel(g):
            _array.run("unary_forward", g.device, g._data, g._data, numel(g), _codes.UN_CLAMP, -clip_value, clip_value)


def parameters_to_vector(parameters: Iterable):
    return tensor(np.concatenate([to_numpy(p).reshape(-1) for p in parameters]).astype(np.float32))


def vector_to_parameters(vec, parameters: Iterable) -> None:
    from ._util import assign_

    v = to_numpy(vec).reshape(-1)
    off = 0
    for p in parameters:
        n = numel(p)
        assign_(p, v[off : off + n])
        off += n
