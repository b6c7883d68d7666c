"""2-D convolution and transposed convolution (NCHW, PyTorch weight layouts)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import _array
from .. import _codes as C
from ..autograd import Function
from ..dtypes import float32
from ..ops._args import _batched4, _need_float, _opt, _pair
from ..ops.padding import pad

if TYPE_CHECKING:
    from ..tensor import Tensor


def _window_out(size, k, stride, pad, dil, ceil_mode=False) -> int:
    span = size + 2 * pad - dil * (k - 1) - 1
    if span < 0:
        return 0
    out = ((span + stride - 1) // stride if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


class _Conv2d(Function):
    @staticmethod
    def forward(ctx, x, w, b, stride, padding, dilation, groups):
        N, Cin, H, W = x.shape
        K, _, R, S = w.shape
        P = _window_out(H, R, stride[0], padding[0], dilation[0])
        Q = _window_out(W, S, stride[1], padding[1], dilation[1])
        out = _array.empty((N, K, P, Q), float32, x.device)
        ctx.p = (N, Cin, H, W, K, R, S, stride[0], stride[1], padding[0], padding[1], dilation[0], dilation[1], groups)
        if out.numel():
            _array.run("conv2d_forward", x.device, out._data, x._data, w._data, _opt(b), *ctx.p, -1)
        ctx.save_for_backward(x, w)
        ctx._nx_read = (ctx.needs_input_grad[1], ctx.needs_input_grad[0])  # dx from w, dw from x
        return out

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        nx_, nw, nb = ctx.needs_input_grad[:3]
        dev = x.device
        dx = dw = db = None
        if nx_:
            dx = _array.empty(x.shape, float32, x.device)
            if g.numel():
                _array.run("conv2d_backward_data", dev, dx._data, g._data, w._data, *ctx.p, -1)
            elif dx.numel():
                dx.fill_(0.0)
        if nw or nb:
            dw = _array.empty(w.shape, float32, x.device) if nw else None
            db = _array.empty((w.shape[0],), float32, x.device) if nb else None
            if g.numel():
                _array.run("conv2d_backward_weight", dev, _opt(dw), _opt(db), g._data, x._data, *ctx.p, -1)
            else:
                for t in (dw, db):
                    if t is not None and t.numel():
                        t.fill_(0.0)
        return dx, dw, db, None, None, None, None


def conv2d(
    input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1, groups: int = 1
) -> Tensor:
    """2-D convolution: input (N, C, H, W) or (C, H, W), weight (K, C/groups, R, S), bias (K).

    padding: int, pair, 'valid' or 'same' (stride 1; odd total padding goes to the
    bottom/right, as PyTorch)."""
    _array.check_same_device(input, weight, bias)
    _need_float("conv2d", input, weight, bias)
    x, unbatched = _batched4("conv2d", input)
    if weight.ndim != 4:
        raise RuntimeError(f"conv2d: weight must be 4-D (K, C/groups, R, S), got shape {weight.shape}")
    groups = int(groups)
    N, Cin, H, W = x.shape
    K, Cg, R, S = weight.shape
    if groups <= 0 or Cin != Cg * groups or K % groups:
        raise RuntimeError(
            f"conv2d: expected input with {Cg * groups} channels (weight {weight.shape}, groups={groups}), "
            f"got input of shape {input.shape}"
        )
    if bias is not None and bias.shape != (K,):
        raise RuntimeError(f"conv2d: bias of shape {bias.shape} does not match {K} output channels")
    stride, dilation = _pair(stride, "stride"), _pair(dilation, "dilation")
    if min(stride) <= 0 or min(dilation) <= 0:
        raise RuntimeError(f"conv2d: stride {stride} and dilation {dilation} must be positive")
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0, 0)
        elif padding == "same":
            if stride != (1, 1):
                raise ValueError("padding='same' is not supported for strided convolutions")
            tot = (dilation[0] * (R - 1), dilation[1] * (S - 1))
            lo = (tot[0] // 2, tot[1] // 2)
            if tot[0] % 2 or tot[1] % 2:
                x = pad(x, (lo[1], tot[1] - lo[1], lo[0], tot[0] - lo[0]))
                padding = (0, 0)
            else:
                padding = lo
        else:
            raise ValueError(f"Invalid padding string {padding!r}, should be one of ['valid', 'same']")
    padding = _pair(padding, "padding")
    if min(padding) < 0:
        raise RuntimeError(f"conv2d: negative padding {padding} is not supported")
    Hp, Wp = x.shape[2] + 2 * padding[0], x.shape[3] + 2 * padding[1]
    if Hp < dilation[0] * (R - 1) + 1 or Wp < dilation[1] * (S - 1) + 1:
        raise RuntimeError(
            f"conv2d: calculated padded input size per channel: ({Hp} x {Wp}). Kernel size: "
            f"({dilation[0] * (R - 1) + 1} x {dilation[1] * (S - 1) + 1}). Kernel size can't be greater than actual "
            f"input size (input shape {input.shape})"
        )
    out = _Conv2d.apply(x, weight, bias, stride, padding, dilation, groups)
    return out.reshape(out.shape[1:]) if unbatched else out


class _ConvT2d(Function):
    @staticmethod
    def forward(ctx, x, w, b, stride, padding, dilation, groups, out_hw):
        N, Cin, H, W = x.shape
        _, Cg, R, S = w.shape
        Cout = Cg * groups
        Ho, Wo = out_hw
        # as a convolution: input (N, Cout, Ho, Wo) -> output (N, Cin, H, W), weight (Cin, Cout/g, R, S)
        ctx.p = (
            N,
            Cout,
            Ho,
            Wo,
            Cin,
            R,
            S,
            stride[0],
            stride[1],
            padding[0],
            padding[1],
            dilation[0],
            dilation[1],
            groups,
        )
        out = _array.empty((N, Cout, Ho, Wo), float32, x.device)
        if out.numel():
            if x.numel():
                _array.run("conv2d_backward_data", x.device, out._data, x._data, w._data, *ctx.p, -1)
            else:
                out.fill_(0.0)
            if b is not None:
                _array.binary_raw(out, b.reshape(1, Cout, 1, 1), C.BIN_ADD, out=out)
        ctx.save_for_backward(x, w)
        ctx._nx_read = (ctx.needs_input_grad[1], ctx.needs_input_grad[0])  # dx from w, dw from x
        return out

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        nx_, nw, nb = ctx.needs_input_grad[:3]
        dev = x.device
        dx = dw = db = None
        if nx_:
            dx = _array.empty(x.shape, float32, x.device)
            if dx.numel():
                _array.run("conv2d_forward", dev, dx._data, g._data, w._data, None, *ctx.p, -1)
        if nw:
            dw = _array.empty(w.shape, float32, x.device)
            if x.numel() and g.numel():
                _array.run("conv2d_backward_weight", dev, dw._data, None, x._data, g._data, *ctx.p, -1)
            elif dw.numel():
                dw.fill_(0.0)
        if nb:
            db = g.sum((0, 2, 3))
        return dx, dw, db, None, None, None, None, None


def conv_transpose2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride=1,
    padding=0,
    output_padding=0,
    groups: int = 1,
    dilation=1,
) -> Tensor:
    """Transposed convolution (the gradient of conv2d w.r.t. its input): input (N, Cin, H, W),
    weight (Cin, Cout/groups, R, S), bias (Cout); output H_out = (H-1)*stride - 2*padding +
    dilation*(R-1) + output_padding + 1."""
    _array.check_same_device(input, weight, bias)
    _need_float("conv_transpose2d", input, weight, bias)
    x, unbatched = _batched4("conv_transpose2d", input)
    if weight.ndim != 4:
        raise RuntimeError(f"conv_transpose2d: weight must be 4-D (Cin, Cout/groups, R, S), got {weight.shape}")
    groups = int(groups)
    N, Cin, H, W = x.shape
    if groups <= 0 or weight.shape[0] != Cin or Cin % groups:
        raise RuntimeError(
            f"conv_transpose2d: weight of shape {weight.shape} expects {weight.shape[0]} input channels "
            f"(groups={groups}), got input of shape {input.shape}"
        )
    Cout = weight.shape[1] * groups
    if bias is not None and bias.shape != (Cout,):
        raise RuntimeError(f"conv_transpose2d: bias of shape {bias.shape} does not match {Cout} output channels")
    stride, padding = _pair(stride, "stride"), _pair(padding, "padding")
    output_padding, dilation = _pair(output_padding, "output_padding"), _pair(dilation, "dilation")
    for i in range(2):
        if output_padding[i] >= stride[i] and output_padding[i] >= dilation[i]:
            raise RuntimeError(
                f"conv_transpose2d: output padding {output_padding} must be smaller than either stride {stride} "
                f"or dilation {dilation}"
            )
    R, S = weight.shape[2:]
    Ho = (H - 1) * stride[0] - 2 * padding[0] + dilation[0] * (R - 1) + output_padding[0] + 1
    Wo = (W - 1) * stride[1] - 2 * padding[1] + dilation[1] * (S - 1) + output_padding[1] + 1
    if Ho <= 0 or Wo <= 0:
        raise RuntimeError(f"conv_transpose2d: output size ({Ho} x {Wo}) is too small (input shape {input.shape})")
    # The kernel runs the gradient of the convolution (Ho, Wo) -> (H, W), whose output size is
    # H + output_padding // stride: output_padding may reach the stride when it is below the
    # dilation (torch's rule), which adds rows/columns. The input gets that many zero rows and
    # columns at the end (they add nothing to the output; pad's backward drops their gradient).
    eh, ew = output_padding[0] // stride[0], output_padding[1] // stride[1]
    if eh or ew:
        x = pad(x, (0, ew, 0, eh))
    out = _ConvT2d.apply(x, weight, bias, stride, padding, dilation, groups, (Ho, Wo))
    return out.reshape(out.shape[1:]) if unbatched else out
