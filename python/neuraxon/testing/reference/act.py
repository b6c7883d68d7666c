"""Activation codes (nx::Act in csrc/common.h) and their float64 formulas, shared by the
gemm epilogue reference and the activation reference."""

from __future__ import annotations

import math

import numpy as np

NONE, RELU, LEAKY_RELU, SIGMOID, TANH, SOFTPLUS, ELU, GELU, STEP = range(9)
NAMES = {
    "none": NONE, "relu": RELU, "leaky_relu": LEAKY_RELU, "sigmoid": SIGMOID, "tanh": TANH,
    "softplus": SOFTPLUS, "elu": ELU, "gelu": GELU, "step": STEP,
}

_erf = np.vectorize(math.erf, otypes=[np.float64])


def act_forward(x, act, p=0.0):
    x = np.asarray(x, np.float64)
    if act == NONE:
        return x
    if act == RELU:
        return np.where(x > 0, x, np.where(np.isnan(x), x, 0.0))
    if act == LEAKY_RELU:
        return np.where(x > 0, x, x * p)
    if act == SIGMOID:
        return 1.0 / (1.0 + np.exp(-x))
    if act == TANH:
        return np.tanh(x)
    if act == SOFTPLUS:
        bx = x * p
        return np.where(bx > 20, x, np.log1p(np.exp(np.minimum(bx, 20))) / p)
    if act == ELU:
        return np.where(x > 0, x, p * np.expm1(np.minimum(x, 0)))
    if act == GELU:
        if p != 0:
            return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
        return 0.5 * x * (1 + _erf(x / math.sqrt(2)))
    if act == STEP:
        return (x > 0).astype(np.float64)
    raise ValueError(f"unknown activation code {act}")
