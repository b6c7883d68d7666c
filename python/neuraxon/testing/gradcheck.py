"""Numerical gradients by central differences.

`numeric_grad(f, x)` differentiates a scalar function of one array; `check_vjp` compares a
vector-Jacobian product (a reference backward formula) against it in float64.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..autograd import no_grad
from ..creation import tensor
from ..dtypes import float32
from ..tensor import Tensor
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


def gradcheck_tensor(
    fn: Callable[..., object],
    inputs: list,
    device: str = "cpu",
    wrt: list[int] | None = None,
    eps: float | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    seed: int = 0,
) -> None:
    """Assert Tensor.backward (float32) of fn == central differences of the same op.

    fn takes neuraxon Tensors (one per entry of `inputs`, NumPy arrays or numbers put on
    `device`) and returns a Tensor or a tuple of Tensors. The scalar differentiated is
    sum(out_i * dout_i) with fixed random dout_i, so every output element is checked. The
    numeric gradient perturbs each element of a float input by +-eps in float32 and
    accumulates the difference in float64 (tolerances GRADCHECK_F32). Ops with randomness
    must reseed inside fn. `wrt`: indices of the inputs to check (default: all float ones).
    """
    from .tolerances import GRADCHECK_F32

    eps = GRADCHECK_F32["eps"] if eps is None else eps
    rtol = GRADCHECK_F32["rtol"] if rtol is None else rtol
    atol = GRADCHECK_F32["atol"] if atol is None else atol
    arrays = [np.asarray(a) for a in inputs]
    arrays = [a.astype(np.float32) if a.dtype.kind == "f" else a for a in arrays]
    if wrt is None:
        wrt = [i for i, a in enumerate(arrays) if a.dtype == np.float32]
    rng = np.random.default_rng(seed)

    def outputs(arrs, grad_idx=()):
        ts = [tensor(a, device=device, requires_grad=(i in grad_idx)) for i, a in enumerate(arrs)]
        out = fn(*ts)
        return ts, (out if isinstance(out, (tuple, list)) else (out,))

    ts, outs = outputs(arrays, wrt)
    outs = [o for o in outs if isinstance(o, Tensor) and o.dtype is float32]
    douts = [rng.standard_normal(o.shape).astype(np.float32) for o in outs]
    total = None
    for o, d in zip(outs, douts):
        term = (o * tensor(d, device=device)).sum()
        total = term if total is None else total + term
    total.backward()

    def f64(arrs) -> float:
        with no_grad():
            _, os = outputs(arrs)
            os = [o for o in os if isinstance(o, Tensor) and o.dtype is float32]
            return float(sum(np.sum(np.asarray(o.cpu(), dtype=np.float64) * d) for o, d in zip(os, douts)))

    for i in wrt:
        analytic = ts[i].grad
        analytic = np.zeros(arrays[i].shape) if analytic is None else np.asarray(analytic.cpu(), dtype=np.float64)
        num = np.zeros(arrays[i].shape, dtype=np.float64)
        base = arrays[i]
        flat = num.reshape(-1)
        for j in range(base.size):
            plus, minus = base.copy(), base.copy()
            plus.reshape(-1)[j] += eps
            minus.reshape(-1)[j] -= eps
            h = float(plus.reshape(-1)[j]) - float(minus.reshape(-1)[j])  # the float32 step actually taken
            ap, am = list(arrays), list(arrays)
            ap[i], am[i] = plus, minus
            flat[j] = (f64(ap) - f64(am)) / h
        np.testing.assert_allclose(analytic, num, rtol=rtol, atol=atol, err_msg=f"gradient of input {i}")
