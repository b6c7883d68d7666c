"""Reference gemm: C = act(alpha*op(A)@op(B) + beta*C + bias), and its backward."""

from __future__ import annotations

import numpy as np

from .act import act_forward

__all__ = ["gemm_forward", "gemm_backward"]


def gemm_forward(c, a, b, bias=None, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, act=0, act_param=0.0):
    """a, b, c are (batch, ...) or 2-D; returns the new C in float64."""
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    opa = np.swapaxes(a64, -1, -2) if trans_a else a64
    opb = np.swapaxes(b64, -1, -2) if trans_b else b64
    out = alpha * (opa @ opb)
    if beta != 0.0:
        out = out + beta * np.asarray(c, np.float64)
    if bias is not None:
        out = out + np.asarray(bias, np.float64)
    return act_forward(out, act, act_param)


def gemm_backward(dc, a, b, trans_a=False, trans_b=False):
    """Gradients of op(A)@op(B) + bias: returns (da, db, dbias) in A's, B's and (n) layout."""
    dc, a, b = (np.asarray(x, np.float64) for x in (dc, a, b))
    opa = a.T if trans_a else a
    opb = b.T if trans_b else b
    d_opa = dc @ opb.T
    d_opb = opa.T @ dc
    return (d_opa.T if trans_a else d_opa), (d_opb.T if trans_b else d_opb), dc.sum(axis=0)
