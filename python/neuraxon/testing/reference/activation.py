"""Reference activations: forward from act.py (shared with gemm's epilogue), and gradients."""

from __future__ import annotations

import math

import numpy as np

from .act import ELU, GELU, LEAKY_RELU, NONE, RELU, SIGMOID, SOFTPLUS, STEP, TANH, _erf, act_forward

__all__ = ["act_grad", "activation_backward", "activation_forward"]

_K0 = math.sqrt(2 / math.pi)  # gelu tanh form
_K1 = 0.044715


def activation_forward(inp, act: int, param: float = 0.0) -> np.ndarray:
    with np.errstate(invalid="ignore", over="ignore"):  # inf inputs: inf * 0 = NaN, as the kernels
        return act_forward(inp, act, param)


def act_grad(x, act: int, p: float = 0.0) -> np.ndarray:
    """act'(x) in float64; NaN conventions as PyTorch (see csrc/cpu/activation.cc)."""
    x = np.asarray(x, np.float64)
    if act == NONE:
        return np.ones_like(x)
    if act == RELU:
        return np.where(x <= 0, 0.0, 1.0)
    if act == LEAKY_RELU:
        return np.where(x > 0, 1.0, p)
    if act == SIGMOID:
        s = 1.0 / (1.0 + np.exp(-x))
        return s * (1 - s)
    if act == TANH:
        return 1 - np.tanh(x) ** 2
    if act == SOFTPLUS:
        bx = x * p
        z = np.exp(np.minimum(bx, 20))
        return np.where(bx > 20, 1.0, z / (z + 1))
    if act == ELU:
        return np.where(x <= 0, p * np.exp(np.minimum(x, 0)), 1.0)
    if act == GELU:
        if p != 0:
            t = np.tanh(_K0 * (x + _K1 * x**3))
            return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _K0 * (1 + 3 * _K1 * x * x)
        return 0.5 * (1 + _erf(x / math.sqrt(2))) + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
    if act == STEP:
        raise ValueError("step has no gradient")
    raise ValueError(f"unknown activation code {act}")


def activation_backward(dout, inp, act: int, param: float = 0.0, out=None) -> np.ndarray:
    """dinp = dout * act'(inp); sigmoid and tanh from the forward's result `out` when given
    (dout * y * (1 - y), dout * (1 - y^2)), as the kernels."""
    dout = np.asarray(dout, np.float64)
    if out is not None and act in (SIGMOID, TANH):
        y = np.asarray(out, np.float64)
        return dout * (y * (1 - y) if act == SIGMOID else 1 - y * y)
    with np.errstate(invalid="ignore", over="ignore"):  # inf inputs: inf * 0 = NaN, as the kernels
        return dout * act_grad(inp, act, param)
