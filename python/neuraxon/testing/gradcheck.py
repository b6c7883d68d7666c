"""Numerical gradients by central differences.

`numeric_grad(f, x)` differentiates a scalar function of one array; `check_vjp` compares a
vector-Jacobian product (a reference backward formula) against it in float64.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .tolerances import GRADCHECK


def numeric_grad(f: Callable[[np.ndarray], float], x: np.ndarray, eps: float = GRADCHECK["eps"]) -> np.ndarray:
    """d f / d x by central differences; f is evaluated 2*x.size times; x is not modified."""
    x = np.array(x, dtype=np.float64, copy=True)
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        fp = float(f(x))
        flat[i] = old - eps
        fm = float(f(x))
        flat[i] = old
        gflat[i] = (fp - fm) / (2 * eps)
    return g


def check_vjp(
    forward: Callable[..., np.ndarray],
    backward_grads: dict[str, np.ndarray],
    inputs: dict[str, np.ndarray],
    dout: np.ndarray,
    rtol: float = GRADCHECK["rtol"],
    atol: float = GRADCHECK["atol"],
    eps: float = GRADCHECK["eps"],
) -> None:
    """Assert backward_grads[name] == d sum(forward(**inputs) * dout) / d inputs[name].

    forward takes the inputs as keyword float64 arrays and returns one array.
    """
    inputs = {k: np.asarray(v, dtype=np.float64) for k, v in inputs.items()}
    for name, analytic in backward_grads.items():

        def f(x, name=name):
            args = dict(inputs)
            args[name] = x
            return float(np.sum(forward(**args) * dout))

        num = numeric_grad(f, inputs[name], eps)
        np.testing.assert_allclose(analytic, num, rtol=rtol, atol=atol, err_msg=f"gradient of {name}")
