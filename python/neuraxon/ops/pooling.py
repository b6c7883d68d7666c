"""2-D pooling: max (with indices), average, adaptive average, max unpooling."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np

from .. import _array
from ..autograd import Function
from ..dtypes import bool_, float32, int64
from ..ops._args import _batched4, _need_float, _pair

if TYPE_CHECKING:
    from ..tensor import Tensor


def _window_out(size, k, stride, pad, dil, ceil_mode=False) -> int:
    """Pooling output size along one axis: PyTorch's formula, as window_out in csrc/common.h.
    With ceil_mode a last window hanging past the end counts, even when the span is negative
    (width 1, kernel 2, stride 2 gives one output); it must start inside the left-padded input."""
    span = size + 2 * pad - dil * (k - 1) - 1 + (stride - 1 if ceil_mode else 0)
    if span < 0:
        return 0
    out = span // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


@functools.lru_cache(maxsize=256)
def _empty_windows(size, k, stride, pad, dil, out) -> tuple:
    """Along one axis: the outputs whose window has every tap in the padding (possible only
    with dilation and padding, e.g. size 1, kernel 2, dilation 2, padding 1); () if none."""
    if dil == 1 or pad == 0:
        return ()
    return tuple(o for o in range(out) if not any(0 <= o * stride - pad + r * dil < size for r in range(k)))


class _MaxPool(Function):
    @staticmethod
    def forward(ctx, x, k, s, p, d, ceil_mode):
        N, Cc, H, W = x.shape
        P = _window_out(H, k[0], s[0], p[0], d[0], ceil_mode)
        Q = _window_out(W, k[1], s[1], p[1], d[1], ceil_mode)
        out = _array.empty((N, Cc, P, Q), float32, x.device)
        idx = _array.empty((N, Cc, P, Q), int64, x.device)
        if out.numel():
            _array.run(
                "maxpool2d_forward",
                x.device,
                out._data,
                idx._data,
                x._data,
                N,
                Cc,
                H,
                W,
                k[0],
                k[1],
                s[0],
                s[1],
                p[0],
                p[1],
                d[0],
                d[1],
                bool(ceil_mode),
            )
        ctx.save_for_backward(idx)
        ctx.dims = (N, Cc, H, W, P, Q)
        # A window of padding only gives -inf and, as torch, an index outside the plane; it
        # gets no gradient (the backward kernel refuses such an index), so mask those out.
        eh = _empty_windows(H, k[0], s[0], p[0], d[0], P)
        ew = _empty_windows(W, k[1], s[1], p[1], d[1], Q)
        ctx.empty = None
        if eh or ew:
            mask = np.zeros((P, Q), bool)
            mask[list(eh), :] = True
            mask[:, list(ew)] = True
            ctx.empty = _array.from_numpy(mask, bool_, x.device)
        return out, idx

    @staticmethod
    def backward(ctx, g, _gi=None):
        (idx,) = ctx.saved_tensors
        N, Cc, H, W, P, Q = ctx.dims
        d = _array.empty((N, Cc, H, W), float32, g.device)
        if d.numel():
            if ctx.empty is not None:
                idx = _array.where_raw(ctx.empty, _array.full((), 0, int64, g.device), idx)
                g = _array.where_raw(ctx.empty, _array.full((), 0.0, float32, g.device), g)
            _array.run("maxpool2d_backward", g.device, d._data, g._data, idx._data, N, Cc, H, W, P, Q)
        return d, None, None, None, None, None


def _pool_args(name, kernel_size, stride, padding, dilation=1):
    k = _pair(kernel_size, "kernel_size")
    s = k if stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0) else _pair(stride, "stride")
    p, d = _pair(padding, "padding"), _pair(dilation, "dilation")
    if min(k) <= 0 or min(s) <= 0 or min(d) <= 0 or min(p) < 0:
        raise RuntimeError(f"{name}: kernel_size {k}, stride {s}, dilation {d} must be positive, padding {p} >= 0")
    for i in range(2):
        if p[i] > k[i] // 2:  # torch 2.x and the kernel's check: half the kernel, not the dilated span
            raise RuntimeError(
                f"{name}: pad should be smaller than or equal to half of kernel size, but got pad={p}, "
                f"kernel_size={k}"
            )
    return k, s, p, d


def max_pool2d(
    input: Tensor,
    kernel_size,
    stride=None,
    padding=0,
    dilation=1,
    ceil_mode: bool = False,
    return_indices: bool = False,
):
    """Max pooling over (N, C, H, W) or (C, H, W); indices are flat h*W+w per plane."""
    _need_float("max_pool2d", input)
    x, unbatched = _batched4("max_pool2d", input)
    k, s, p, d = _pool_args("max_pool2d", kernel_size, stride, padding, dilation)
    N, Cc, H, W = x.shape
    if _window_out(H, k[0], s[0], p[0], d[0], ceil_mode) <= 0 or _window_out(W, k[1], s[1], p[1], d[1], ceil_mode) <= 0:
        raise RuntimeError(
            f"max_pool2d: output size is too small for input of shape {input.shape} "
            f"(kernel {k}, stride {s}, padding {p}, dilation {d})"
        )
    out, idx = _MaxPool.apply(x, k, s, p, d, bool(ceil_mode))
    if unbatched:
        out, idx = out.reshape(out.shape[1:]), idx.reshape(idx.shape[1:])
    return (out, idx) if return_indices else out


class _AvgPool(Function):
    @staticmethod
    def forward(ctx, x, k, s, p, ceil_mode, cip, div):
        N, Cc, H, W = x.shape
        P = _window_out(H, k[0], s[0], p[0], 1, ceil_mode)
        Q = _window_out(W, k[1], s[1], p[1], 1, ceil_mode)
        out = _array.empty((N, Cc, P, Q), float32, x.device)
        ctx.p = (N, Cc, H, W, k[0], k[1], s[0], s[1], p[0], p[1], bool(ceil_mode), bool(cip), int(div))
        if out.numel():
            _array.run("avgpool2d_forward", x.device, out._data, x._data, *ctx.p)
        return out

    @staticmethod
    def backward(ctx, g):
        N, Cc, H, W = ctx.p[:4]
        d = _array.empty((N, Cc, H, W), float32, g.device)
        if d.numel():
            if g.numel():
                _array.run("avgpool2d_backward", g.device, d._data, g._data, *ctx.p)
            else:
                d.fill_(0.0)
        return d, None, None, None, None, None, None


def avg_pool2d(
    input: Tensor,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override=None,
) -> Tensor:
    """2-D average pooling over (N, C, H, W) or (C, H, W) input, as torch.nn.functional.avg_pool2d
    (count_include_pad, divisor_override and ceil_mode included)."""
    _need_float("avg_pool2d", input)
    x, unbatched = _batched4("avg_pool2d", input)
    k, s, p, _ = _pool_args("avg_pool2d", kernel_size, stride, padding)
    if divisor_override is not None and int(divisor_override) <= 0:
        raise RuntimeError("avg_pool2d: divisor must be not zero")
    N, Cc, H, W = x.shape
    if _window_out(H, k[0], s[0], p[0], 1, ceil_mode) <= 0 or _window_out(W, k[1], s[1], p[1], 1, ceil_mode) <= 0:
        raise RuntimeError(f"avg_pool2d: output size is too small for input of shape {input.shape} (kernel {k})")
    out = _AvgPool.apply(x, k, s, p, bool(ceil_mode), bool(count_include_pad), int(divisor_override or 0))
    return out.reshape(out.shape[1:]) if unbatched else out


class _AdaptiveAvg(Function):
    @staticmethod
    def forward(ctx, x, P, Q):
        N, Cc, H, W = x.shape
        out = _array.empty((N, Cc, P, Q), float32, x.device)
        ctx.p = (N, Cc, H, W, P, Q)
        if out.numel():
            _array.run("adaptive_avgpool2d_forward", x.device, out._data, x._data, *ctx.p)
        return out

    @staticmethod
    def backward(ctx, g):
        N, Cc, H, W = ctx.p[:4]
        d = _array.empty((N, Cc, H, W), float32, g.device)
        if d.numel():
            _array.run("adaptive_avgpool2d_backward", g.device, d._data, g._data, *ctx.p)
        return d, None, None


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """output_size: int or (P, Q); None in the pair keeps the input size."""
    _need_float("adaptive_avg_pool2d", input)
    x, unbatched = _batched4("adaptive_avg_pool2d", input)
    H, W = x.shape[2:]
    if isinstance(output_size, (list, tuple)):
        P = H if output_size[0] is None else int(output_size[0])
        Q = W if output_size[1] is None else int(output_size[1])
    else:
        P = Q = int(output_size)
    if P <= 0 or Q <= 0 or H <= 0 or W <= 0:
        raise RuntimeError(f"adaptive_avg_pool2d: output size ({P}, {Q}) and input {input.shape} must be non-empty")
    out = _AdaptiveAvg.apply(x, P, Q)
    return out.reshape(out.shape[1:]) if unbatched else out


class _MaxUnpool(Function):
    @staticmethod
    def forward(ctx, x, idx, OH, OW):
        N, Cc, H, W = x.shape
        out = _array.empty((N, Cc, OH, OW), float32, x.device)
        ctx.p = (N, Cc, H, W, OH, OW)
        if out.numel():
            _array.run("maxunpool2d_forward", x.device, out._data, x._data, idx._data, *ctx.p)
        ctx.save_for_backward(idx)
        return out

    @staticmethod
    def backward(ctx, g):
        (idx,) = ctx.saved_tensors
        d = _array.empty(idx.shape, float32, g.device)
        if d.numel():
            _array.run("maxunpool2d_backward", g.device, d._data, g._data, idx._data, *ctx.p)
        return d, None, None, None


def max_unpool2d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:
    """Inverse of max_pool2d(return_indices=True): zeros except at the recorded positions."""
    _need_float("max_unpool2d", input)
    _array.check_same_device(input, indices)
    if indices.dtype is not int64 or indices.shape != input.shape:
        raise RuntimeError(
            f"max_unpool2d: indices must be int64 of the input's shape {input.shape}, got "
            f"{indices.dtype.name} {indices.shape}"
        )
    x, unbatched = _batched4("max_unpool2d", input)
    idx = indices.reshape(x.shape)
    k = _pair(kernel_size, "kernel_size")
    s = k if stride is None else _pair(stride, "stride")
    p = _pair(padding, "padding")
    H, W = x.shape[2:]
    if output_size is None:
        OH, OW = (H - 1) * s[0] - 2 * p[0] + k[0], (W - 1) * s[1] - 2 * p[1] + k[1]
    else:
        OH, OW = (int(v) for v in tuple(output_size)[-2:])
    out = _MaxUnpool.apply(x, idx, OH, OW)
    return out.reshape(out.shape[1:]) if unbatched else out
