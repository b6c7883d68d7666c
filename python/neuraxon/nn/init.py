"""nn.init: in-place initialisers with torch's gains and fan rules (Philox global generator)."""

from __future__ import annotations

import math

from ..autograd import no_grad
from . import _util


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """torch.nn.init.calculate_gain: the recommended std gain for a nonlinearity."""
    linear_fns = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"]
    if nonlinearity in linear_fns or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, (int, float)):
            slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(tensor) -> tuple[int, int]:
    shape = tuple(tensor.shape)
    if len(shape) < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    receptive = math.prod(shape[2:]) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def _calculate_correct_fan(tensor, mode: str) -> int:
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of fan_in, fan_out")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


@no_grad()
def uniform_(tensor, a: float = 0.0, b: float = 1.0, generator=None):
    _util.uniform_(tensor, a, b)
    return tensor


@no_grad()
def normal_(tensor, mean: float = 0.0, std: float = 1.0, generator=None):
    _util.normal_(tensor, mean, std)
    return tensor


@no_grad()
def constant_(tensor, val: float):
    _util.fill_(tensor, val)
    return tensor


def zeros_(tensor):
    return constant_(tensor, 0.0)


def ones_(tensor):
    return constant_(tensor, 1.0)


def xavier_uniform_(tensor, gain: float = 1.0, generator=None):
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    a = math.sqrt(3.0) * std
    return uniform_(tensor, -a, a)


def xavier_normal_(tensor, gain: float = 1.0, generator=None):
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std)


def kaiming_uniform_(tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", generator=None):
    if 0 in tuple(tensor.shape):
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    gain = calculate_gain(nonlinearity, a)
    bound = math.sqrt(3.0) * gain / math.sqrt(fan)
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", generator=None):
    if 0 in tuple(tensor.shape):
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return normal_(tensor, 0.0, std)


__all__ = [
    "calculate_gain",
    "uniform_",
    "normal_",
    "constant_",
    "zeros_",
    "ones_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
    "_calculate_fan_in_and_fan_out",
]


# -- initialisers drawn on the host (NumPy, from the global generator's state, so they are
# reproducible under neuraxon.manual_seed) and copied into the tensor ------------------------


def _host_rng(generator=None):
    from .. import random

    g = generator if generator is not None and hasattr(generator, "numpy_rng") else random.default_generator
    return g.numpy_rng()


def trunc_normal_(tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0, generator=None):
    """Normal(mean, std) redrawn until inside [a, b] (as torch's inverse-CDF sampler, in law)."""
    import numpy as np

    n = _util.numel(tensor)
    rng = _host_rng(generator)
    out = np.empty(0)
    while out.size < n:
        draw = rng.normal(mean, std, max(2 * (n - out.size), 16))
        out = np.concatenate([out, draw[(draw >= a) & (draw <= b)]])
    with no_grad():
        _util.assign_(tensor, out[:n].astype(np.float32).reshape(tuple(tensor.shape)))
    return tensor


def orthogonal_(tensor, gain: float = 1.0, generator=None):
    """A (semi-)orthogonal matrix over (shape[0], prod(shape[1:])) from the QR of a normal draw."""
    import numpy as np

    if len(tensor.shape) < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    if _util.numel(tensor) == 0:
        return tensor
    rows = tensor.shape[0]
    cols = _util.numel(tensor) // rows
    flat = _host_rng(generator).normal(0.0, 1.0, (rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    with no_grad():
        _util.assign_(tensor, (gain * q).astype(np.float32).reshape(tuple(tensor.shape)))
    return tensor


def eye_(tensor):
    import numpy as np

    if len(tensor.shape) != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    with no_grad():
        _util.assign_(tensor, np.eye(*tensor.shape, dtype=np.float32))
    return tensor


def dirac_(tensor, groups: int = 1):
    import numpy as np

    shape = tuple(tensor.shape)
    if len(shape) not in (3, 4, 5):
        raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
    if shape[0] % groups:
        raise ValueError("dim 0 must be divisible by groups")
    out_g = shape[0] // groups
    w = np.zeros(shape, np.float32)
    centre = tuple(s // 2 for s in shape[2:])
    for g in range(groups):
        for d in range(min(out_g, shape[1])):
            w[(g * out_g + d, d) + centre] = 1.0
    with no_grad():
        _util.assign_(tensor, w)
    return tensor
