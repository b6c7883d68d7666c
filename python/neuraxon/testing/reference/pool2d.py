"""Reference 2-D pooling: max (with PyTorch's flat h*W+w indices), average, adaptive average,
max unpooling, and their backwards.

Layouts as the kernels: inp (N, C, H, W), out (N, C, P, Q). Computed in float64 (indices
int64). The loops run over kernel taps in PyTorch's order (h outer, w inner) and operate on
all (n, c, p, q) at once, so tie-breaking (first maximum wins) and NaN propagation (a NaN
replaces the running maximum, as PyTorch's `val > max || isnan(val)`) match PyTorch's CPU
kernels.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "adaptive_avgpool2d_backward",
    "adaptive_avgpool2d_forward",
    "avgpool2d_backward",
    "avgpool2d_forward",
    "maxpool2d_backward",
    "maxpool2d_forward",
    "maxunpool2d_backward",
    "maxunpool2d_forward",
    "pool_out_size",
]


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if np.isscalar(v) else (int(v[0]), int(v[1]))


def pool_out_size(size: int, kernel: int, stride: int, pad: int = 0, dil: int = 1, ceil_mode: bool = False) -> int:
    """PyTorch's pooling output length: with ceil_mode the last window must start inside the
    left-padded input."""
    span = size + 2 * pad - dil * (kernel - 1) - 1
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _check(H, W, R, S, stride, padding, dilation, ceil_mode):
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    if ph > R // 2 or pw > S // 2:
        raise ValueError(f"pool2d: padding ({ph}, {pw}) must be at most half the kernel ({R}, {S})")
    P = pool_out_size(H, R, sh, ph, dh, ceil_mode)
    Q = pool_out_size(W, S, sw, pw, dw, ceil_mode)
    if P <= 0 or Q <= 0:
        raise ValueError(f"pool2d: input {H}x{W} gives empty output {P}x{Q}")
    return sh, sw, ph, pw, dh, dw, P, Q


def _first_valid(start, dil):
    """PyTorch's `while (start < 0) start += dil`, elementwise."""
    return np.where(start < 0, start + (-start + dil - 1) // dil * dil, start)


def maxpool2d_forward(inp, kernel, stride=None, padding=0, dilation=1, ceil_mode=False):
    """(out (N, C, P, Q), indices (N, C, P, Q) int64 flat h*W+w within the plane)."""
    x = np.asarray(inp, np.float64)
    N, C, H, W = x.shape
    R, S = _pair(kernel)
    sh, sw, ph, pw, dh, dw, P, Q = _check(H, W, R, S, stride if stride is not None else (R, S), padding, dilation, ceil_mode)
    h0 = np.arange(P) * sh - ph  # window starts (may be negative: padding)
    w0 = np.arange(Q) * sw - pw
    out = np.full((N, C, P, Q), -np.inf)
    # initial index: the first in-bounds tap of each window
    idx = np.broadcast_to((_first_valid(h0, dh)[:, None] * W + _first_valid(w0, dw)[None, :]), (N, C, P, Q)).astype(np.int64)
    idx = idx.copy()
    for r in range(R):
        ih = h0 + r * dh
        for s in range(S):
            iw = w0 + s * dw
            ok = (ih >= 0)[:, None] & (ih < H)[:, None] & (iw >= 0)[None, :] & (iw < W)[None, :]  # (P, Q)
            val = x[:, :, np.clip(ih, 0, H - 1)[:, None], np.clip(iw, 0, W - 1)[None, :]]  # (N, C, P, Q)
            take = ok & ((val > out) | np.isnan(val))
            out = np.where(take, val, out)
            idx = np.where(take, (ih[:, None] * W + iw[None, :]), idx)
    return out, idx


def maxpool2d_backward(dout, indices, input_hw) -> np.ndarray:
    """dinp (N, C, H, W): dout scattered (added) through indices."""
    d = np.asarray(dout, np.float64)
    ind = np.asarray(indices, np.int64)
    H, W = _pair(input_hw)
    N, C = d.shape[:2]
    if ind.size and (ind.min() < 0 or ind.max() >= H * W):
        raise ValueError("maxpool2d_backward: index out of range")
    PQ = d.shape[2] * d.shape[3]
    dx = np.zeros((N * C, H * W))
    np.add.at(dx, (np.arange(N * C)[:, None], ind.reshape(N * C, PQ)), d.reshape(N * C, PQ))
    return dx.reshape(N, C, H, W)


def _avg_windows(H, W, R, S, sh, sw, ph, pw, P, Q, count_include_pad, divisor_override):
    """Per output pixel: clipped row range [h0, h1), column range [w0, w1), and the divisor
    (PyTorch: pool_size counts the window clipped to the padded extent H + pad)."""
    h0 = np.arange(P) * sh - ph
    w0 = np.arange(Q) * sw - pw
    h1 = np.minimum(h0 + R, H + ph)
    w1 = np.minimum(w0 + S, W + pw)
    pool = (h1 - h0)[:, None] * (w1 - w0)[None, :]
    h0, w0 = np.maximum(h0, 0), np.maximum(w0, 0)
    h1, w1 = np.minimum(h1, H), np.minimum(w1, W)
    inside = (h1 - h0)[:, None] * (w1 - w0)[None, :]
    if divisor_override:
        div = np.full((P, Q), float(divisor_override))
    elif count_include_pad:
        div = pool.astype(np.float64)
    else:
        div = inside.astype(np.float64)
    empty = ((h1 <= h0)[:, None]) | ((w1 <= w0)[None, :])
    return h0, h1, w0, w1, np.where(empty, np.inf, div)  # empty window: output 0


def avgpool2d_forward(inp, kernel, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=0):
    x = np.asarray(inp, np.float64)
    N, C, H, W = x.shape
    R, S = _pair(kernel)
    sh, sw, ph, pw, _, _, P, Q = _check(H, W, R, S, stride if stride is not None else (R, S), padding, 1, ceil_mode)
    h0, h1, w0, w1, div = _avg_windows(H, W, R, S, sh, sw, ph, pw, P, Q, count_include_pad, divisor_override)
    out = np.zeros((N, C, P, Q))
    for p in range(P):
        for q in range(Q):
            out[:, :, p, q] = x[:, :, h0[p] : h1[p], w0[q] : w1[q]].sum(axis=(2, 3))
    return out / div


def avgpool2d_backward(dout, input_hw, kernel, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=0):
    d = np.asarray(dout, np.float64)
    H, W = _pair(input_hw)
    N, C = d.shape[:2]
    R, S = _pair(kernel)
    sh, sw, ph, pw, _, _, P, Q = _check(H, W, R, S, stride if stride is not None else (R, S), padding, 1, ceil_mode)
    h0, h1, w0, w1, div = _avg_windows(H, W, R, S, sh, sw, ph, pw, P, Q, count_include_pad, divisor_override)
    g = d / div
    dx = np.zeros((N, C, H, W))
    for p in range(P):
        for q in range(Q):
            dx[:, :, h0[p] : h1[p], w0[q] : w1[q]] += g[:, :, p, q][:, :, None, None]
    return dx


def _bins(size, out):
    i = np.arange(out)
    return (i * size) // out, -(-((i + 1) * size) // out)  # [floor(i*size/out), ceil((i+1)*size/out))


def adaptive_avgpool2d_forward(inp, output_hw):
    x = np.asarray(inp, np.float64)
    N, C, H, W = x.shape
    P, Q = _pair(output_hw)
    (h0, h1), (w0, w1) = _bins(H, P), _bins(W, Q)
    out = np.zeros((N, C, P, Q))
    for p in range(P):
        for q in range(Q):
            out[:, :, p, q] = x[:, :, h0[p] : h1[p], w0[q] : w1[q]].mean(axis=(2, 3))
    return out


def adaptive_avgpool2d_backward(dout, input_hw):
    d = np.asarray(dout, np.float64)
    H, W = _pair(input_hw)
    N, C, P, Q = d.shape
    (h0, h1), (w0, w1) = _bins(H, P), _bins(W, Q)
    dx = np.zeros((N, C, H, W))
    for p in range(P):
        for q in range(Q):
            area = (h1[p] - h0[p]) * (w1[q] - w0[q])
            dx[:, :, h0[p] : h1[p], w0[q] : w1[q]] += (d[:, :, p, q] / area)[:, :, None, None]
    return dx


def maxunpool2d_forward(inp, indices, output_hw):
    """out (N, C, OH, OW): zero except out[n, c].flat[indices[n, c, i]] = inp[n, c, i]; for a
    repeated index the last write (in flat order) wins."""
    x = np.asarray(inp, np.float64)
    ind = np.asarray(indices, np.int64)
    OH, OW = _pair(output_hw)
    N, C = x.shape[:2]
    if ind.size and (ind.min() < 0 or ind.max() >= OH * OW):
        raise ValueError("maxunpool2d_forward: index out of range")
    HW = x.shape[2] * x.shape[3]
    out = np.zeros((N * C, OH * OW))
    rows = np.repeat(np.arange(N * C), HW)
    out[rows, ind.reshape(-1)] = x.reshape(-1)  # NumPy assigns in order: last write wins
    return out.reshape(N, C, OH, OW)


def maxunpool2d_backward(dout, indices):
    """dinp (N, C, H, W) = dout[n, c].flat[indices[n, c, h, w]]."""
    d = np.asarray(dout, np.float64)
    ind = np.asarray(indices, np.int64)
    N, C = d.shape[:2]
    flat = d.reshape(N * C, d.shape[2] * d.shape[3])
    if ind.size and (ind.min() < 0 or ind.max() >= flat.shape[1]):
        raise ValueError("maxunpool2d_backward: index out of range")
    return np.take_along_axis(flat, ind.reshape(N * C, ind.shape[2] * ind.shape[3]), axis=1).reshape(ind.shape)
