"""Reference conv2d (cross-correlation, as PyTorch), its two backwards, and the output size.

Layouts as the kernels: inp (N, C, H, W), weight (K, C/groups, R, S), bias (K),
out (N, K, P, Q). Every function computes in float64 and returns new arrays. The loops run
over the R*S kernel taps (and groups) only; each tap is one strided slice of the padded
input and one einsum, so the code reads as the definition:
    out[n, k, p, q] = bias[k] + sum_{c, r, s} w[k, c, r, s] * x[n, g*Cg + c, p*sh - ph + r*dh, q*sw - pw + s*dw]
with x zero outside the image and g = k // (K/groups).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "conv2d_backward_data",
    "conv2d_backward_weight",
    "conv2d_forward",
    "conv_out_size",
    "conv_transpose_out_size",
]


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if np.isscalar(v) else (int(v[0]), int(v[1]))


def conv_out_size(size: int, kernel: int, stride: int = 1, pad: int = 0, dil: int = 1) -> int:
    """PyTorch's output length of a convolution along one axis (may be <= 0: no output)."""
    return (size + 2 * pad - dil * (kernel - 1) - 1) // stride + 1


def conv_transpose_out_size(size: int, kernel: int, stride: int = 1, pad: int = 0, dil: int = 1, output_padding: int = 0) -> int:
    """PyTorch's ConvTranspose2d output length: (size-1)*stride - 2*pad + dil*(kernel-1) + output_padding + 1."""
    return (size - 1) * stride - 2 * pad + dil * (kernel - 1) + output_padding + 1


def _geometry(H, W, R, S, stride, padding, dilation):
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    P, Q = conv_out_size(H, R, sh, ph, dh), conv_out_size(W, S, sw, pw, dw)
    if P <= 0 or Q <= 0:
        raise ValueError(f"conv2d: input {H}x{W} with kernel {R}x{S} gives empty output {P}x{Q}")
    return sh, sw, ph, pw, dh, dw, P, Q


def _tap(r, s, sh, sw, dh, dw, P, Q):
    """The slice of the padded image that kernel tap (r, s) reads for every output pixel."""
    return (slice(r * dh, r * dh + (P - 1) * sh + 1, sh), slice(s * dw, s * dw + (Q - 1) * sw + 1, sw))


def conv2d_forward(inp, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> np.ndarray:
    """out (N, K, P, Q) = conv2d(inp, weight) + bias."""
    x = np.asarray(inp, np.float64)
    w = np.asarray(weight, np.float64)
    N, C, H, W = x.shape
    K, Cg, R, S = w.shape
    G = int(groups)
    if C != Cg * G or K % G:
        raise ValueError(f"conv2d: C={C}, K={K}, weight {w.shape} do not fit groups={G}")
    sh, sw, ph, pw, dh, dw, P, Q = _geometry(H, W, R, S, stride, padding, dilation)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    Kg = K // G
    out = np.zeros((N, K, P, Q))
    for g in range(G):
        xg, wg = xp[:, g * Cg : (g + 1) * Cg], w[g * Kg : (g + 1) * Kg]
        for r in range(R):
            for s in range(S):
                hs, ws = _tap(r, s, sh, sw, dh, dw, P, Q)
                out[:, g * Kg : (g + 1) * Kg] += np.einsum("ncpq,kc->nkpq", xg[:, :, hs, ws], wg[:, :, r, s], optimize=True)
    if bias is not None:
        out += np.asarray(bias, np.float64)[None, :, None, None]
    return out


def conv2d_backward_data(dout, weight, input_hw, stride=1, padding=0, dilation=1, groups=1) -> np.ndarray:
    """dinp (N, C, H, W) for input size input_hw = (H, W); also a transposed convolution of
    dout with the same weight (PyTorch's ConvTranspose2d weight layout (in=K, out/groups, R, S))."""
    d = np.asarray(dout, np.float64)
    w = np.asarray(weight, np.float64)
    H, W = _pair(input_hw)
    N, K, P0, Q0 = d.shape
    _, Cg, R, S = w.shape
    G = int(groups)
    sh, sw, ph, pw, dh, dw, P, Q = _geometry(H, W, R, S, stride, padding, dilation)
    if (P, Q) != (P0, Q0):
        raise ValueError(f"conv2d_backward_data: dout {d.shape} does not match output size {(P, Q)} of input {(H, W)}")
    C, Kg = Cg * G, K // G
    # The padded image must hold every tap of every output pixel (it may be longer than H+2ph).
    Hp = max(H + 2 * ph, (P - 1) * sh + (R - 1) * dh + 1)
    Wp = max(W + 2 * pw, (Q - 1) * sw + (S - 1) * dw + 1)
    dxp = np.zeros((N, C, Hp, Wp))
    for g in range(G):
        dg, wg = d[:, g * Kg : (g + 1) * Kg], w[g * Kg : (g + 1) * Kg]
        for r in range(R):
            for s in range(S):
                hs, ws = _tap(r, s, sh, sw, dh, dw, P, Q)
                dxp[:, g * Cg : (g + 1) * Cg, hs, ws] += np.einsum("nkpq,kc->ncpq", dg, wg[:, :, r, s], optimize=True)
    return dxp[:, :, ph : ph + H, pw : pw + W].copy()


def conv2d_backward_weight(dout, inp, kernel_rs, stride=1, padding=0, dilation=1, groups=1):
    """(dweight (K, C/groups, R, S), dbias (K)) for kernel size kernel_rs = (R, S)."""
    d = np.asarray(dout, np.float64)
    x = np.asarray(inp, np.float64)
    R, S = _pair(kernel_rs)
    N, C, H, W = x.shape
    K = d.shape[1]
    G = int(groups)
    Cg, Kg = C // G, K // G
    sh, sw, ph, pw, dh, dw, P, Q = _geometry(H, W, R, S, stride, padding, dilation)
    Hp = max(H + 2 * ph, (P - 1) * sh + (R - 1) * dh + 1)
    Wp = max(W + 2 * pw, (Q - 1) * sw + (S - 1) * dw + 1)
    xp = np.zeros((N, C, Hp, Wp))
    xp[:, :, ph : ph + H, pw : pw + W] = x
    dw_ = np.zeros((K, Cg, R, S))
    for g in range(G):
        dg, xg = d[:, g * Kg : (g + 1) * Kg], xp[:, g * Cg : (g + 1) * Cg]
        for r in range(R):
            for s in range(S):
                hs, ws = _tap(r, s, sh, sw, dh, dw, P, Q)
                dw_[g * Kg : (g + 1) * Kg, :, r, s] = np.einsum("nkpq,ncpq->kc", dg, xg[:, :, hs, ws], optimize=True)
    return dw_, d.sum(axis=(0, 2, 3))
