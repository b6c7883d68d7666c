"""Functional ops with autograd (re-exported as neuraxon.nn.functional), each over kernels.

Names, argument orders and defaults follow torch.nn.functional. Differences are noted in
docstrings (e.g. interpolate is mode='nearest' only; embedding has no max_norm).
"""

from __future__ import annotations

from typing import TYPE_CHECKING


from . import _codes as C
from . import _array
from . import random as _random
from .autograd import Function
from .autograd import no_grad as _no_grad
from .dtypes import float32, int64
from ._tensor_base import TensorBase
from .ops import elementwise, movement

if TYPE_CHECKING:
    from .tensor import Tensor

_wrap = TensorBase._wrap
prod = _array.prod

__all__ = [
    "linear",
    "bilinear",
    "conv2d",
    "conv_transpose2d",
    "max_pool2d",
    "avg_pool2d",
    "adaptive_avg_pool2d",
    "max_unpool2d",
    "batch_norm",
    "dropout",
    "relu",
    "relu_",
    "leaky_relu",
    "sigmoid",
    "tanh",
    "softplus",
    "elu",
    "gelu",
    "silu",
    "hardtanh",
    "relu6",
    "logsigmoid",
    "softsign",
    "softmax",
    "log_softmax",
    "embedding",
    "cross_entropy",
    "nll_loss",
    "mse_loss",
    "l1_loss",
    "smooth_l1_loss",
    "huber_loss",
    "kl_div",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "pad",
    "one_hot",
    "normalize",
    "lstm_cell",
    "lstm_layer",
]


def _pair(x, name: str = "argument") -> tuple:
    if isinstance(x, (list, tuple)):
        if len(x) == 1:
            return (int(x[0]), int(x[0]))
        if len(x) != 2:
            raise ValueError(f"{name} must be an int or a pair, got {tuple(x)}")
        return (int(x[0]), int(x[1]))
    return (int(x), int(x))


def _need_float(name: str, *ts) -> None:
    for t in ts:
        if t is not None and t.dtype is not float32:
            raise TypeError(f"{name}: expected float32 tensors, got {t.dtype.name} (shape {t.shape})")


def _opt(t):
    return None if t is None else t._data


def _batched4(name: str, x: Tensor):
    """(N, C, H, W) view of x; 3-D (C, H, W) input is treated as a batch of one."""
    if x.ndim == 4:
        return x, False
    if x.ndim == 3:
        return x.reshape((1,) + x.shape), True
    raise RuntimeError(f"{name}: expected 3D (unbatched) or 4D (batched) input, got shape {x.shape}")


# ------------------------------------------------------------------------------------
# linear
# ------------------------------------------------------------------------------------


class _Linear(Function):
    @staticmethod
    def forward(ctx, x, w, b):
        n, i = x.shape
        o = w.shape[0]
        out = _array.empty((n, o), float32, x.device)
        if out.numel():
            x.device.k.gemm_forward(
                out._data, x._data, w._data, _opt(b), 1, n, o, i, False, True, 0, 0, 0, 1.0, 0.0, C.ACT_NONE, 0.0, -1
            )
        ctx.save_for_backward(x, w)
        return out

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        n, i = x.shape
        o = w.shape[0]
        nx_, nw, nb = ctx.needs_input_grad
        dx = _array.empty(x.shape, float32, x.device) if nx_ else None
        dw = _array.empty(w.shape, float32, x.device) if nw else None
        db = _array.empty((o,), float32, x.device) if nb else None
        if n * o * i:
            x.device.k.gemm_backward(_opt(dx), _opt(dw), _opt(db), g._data, x._data, w._data, n, o, i, False, True, -1)
        else:  # a zero-size product: gradients are zeros
            for t in (dx, dw, db):
                if t is not None and t.numel():
                    t.fill_(0.0)
            if db is not None and n and o:
                db = g.sum(0)
        return dx, dw, db


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = input @ weight.T + bias; input (..., in), weight (out, in), bias (out)."""
    _array.check_same_device(input, weight, bias)
    _need_float("linear", input, weight, bias)
    if weight.ndim != 2:
        raise RuntimeError(f"linear: weight must be 2-D (out, in), got shape {weight.shape}")
    i = input.shape[-1] if input.ndim else 1
    if input.ndim == 0 or i != weight.shape[1]:
        lead = prod(input.shape[:-1]) if input.ndim else 1
        raise RuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({lead}x{i} and {weight.shape[1]}x{weight.shape[0]}) "
            f"(input shape {input.shape}, weight shape {weight.shape})"
        )
    if bias is not None and bias.shape != (weight.shape[0],):
        raise RuntimeError(f"linear: bias of shape {bias.shape} does not match weight of shape {weight.shape}")
    lead = input.shape[:-1]
    x2 = input.reshape(prod(lead), i)
    out = _Linear.apply(x2, weight, bias)
    return out.reshape(lead + (weight.shape[0],))


def bilinear(input1, input2, weight, bias=None):
    """y[n, o] = x1[n] @ weight[o] @ x2[n] + bias[o]; weight (out, in1, in2)."""
    o, i1, i2 = weight.shape
    t = input1.reshape(-1, i1) @ weight.permute(1, 0, 2).reshape(i1, o * i2)  # (N, O*I2)
    y = (t.reshape(-1, o, i2) * input2.reshape(-1, 1, i2)).sum(-1)
    if bias is not None:
        y = y + bias
    return y.reshape(input1.shape[:-1] + (o,))


# ------------------------------------------------------------------------------------
# activations
# ------------------------------------------------------------------------------------


class _Act(Function):
    @staticmethod
    def forward(ctx, x, act, param):
        out = _array.empty(x.shape, float32, x.device)
        n = x.numel()
        if n:
            x.device.k.activation_forward(out._data, x._data, n, act, float(param))
        # sigmoid and tanh differentiate from their result (no exp/tanh in backward, as torch);
        # the others from their input.
        ctx.from_out = act in (C.ACT_SIGMOID, C.ACT_TANH)
        ctx.save_for_backward(out if ctx.from_out else x)
        ctx.act, ctx.param = act, float(param)
        return out

    @staticmethod
    def backward(ctx, g):
        (s,) = ctx.saved_tensors
        d = _array.empty(s.shape, float32, s.device)
        n = s.numel()
        if n:
            x, y = (None, s._data) if ctx.from_out else (s._data, None)
            s.device.k.activation_backward(d._data, g._data, x, y, n, ctx.act, ctx.param)
        return d, None, None


def _act(x: Tensor, act: int, param: float = 0.0) -> Tensor:
    if x.dtype is not float32:
        raise TypeError(f"activation expects a float32 tensor, got {x.dtype.name}")
    return _Act.apply(x, act, param)


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0). (inplace is accepted and ignored: a new tensor is returned.)"""
    return _act(input, C.ACT_RELU)


def relu_(input: Tensor) -> Tensor:
    return input.copy_(relu(input.detach()))


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    return _act(input, C.ACT_LEAKY_RELU, negative_slope)


def sigmoid(input: Tensor) -> Tensor:
    return _act(input, C.ACT_SIGMOID)


def tanh(input: Tensor) -> Tensor:
    return _act(input, C.ACT_TANH)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta x)) / beta, linear where beta x > threshold (kernel: threshold 20)."""
    if threshold == 20.0:
        return _act(input, C.ACT_SOFTPLUS, beta)
    bx = input * beta
    return elementwise.where(bx > threshold, input, bx.exp().log1p() / beta)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    return _act(input, C.ACT_ELU, alpha)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return _act(input, C.ACT_GELU, 0.0 if approximate == "none" else 1.0)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    return input * sigmoid(input)


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    return input.clamp(min_val, max_val)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    return input.clamp(0.0, 6.0)


def logsigmoid(input: Tensor) -> Tensor:
    return -softplus(-input)


def softsign(input: Tensor) -> Tensor:
    return input / (input.abs() + 1.0)


# ------------------------------------------------------------------------------------
# softmax
# ------------------------------------------------------------------------------------


class _SoftmaxLast(Function):
    @staticmethod
    def forward(ctx, x, log):
        cols = x.shape[-1] if x.ndim else 1
        rows = x.numel() // cols if cols else 0
        out = _array.empty(x.shape, float32, x.device)
        if out.numel():
            x.device.k.softmax_forward(out._data, x._data, rows, cols, bool(log))
        ctx.save_for_backward(out)
        ctx.log, ctx.rc = bool(log), (rows, cols)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        d = _array.empty(out.shape, float32, out.device)
        if d.numel():
            out.device.k.softmax_backward(d._data, g._data, out._data, ctx.rc[0], ctx.rc[1], ctx.log)
        return d, None


def _softmax(x: Tensor, dim, log: bool, dtype=None) -> Tensor:
    if dtype is not None:
        x = x.to(dtype)
    if x.dtype is not float32:
        raise TypeError(f"softmax expects a float32 tensor, got {x.dtype.name}")
    if dim is None:
        dim = 0 if x.ndim in (0, 1, 3) else 1  # PyTorch's legacy implicit dim
    if x.ndim == 0:
        return _SoftmaxLast.apply(x.reshape(1), log).reshape(())
    d = _array.norm_dim(dim, x.ndim)
    if d == x.ndim - 1:
        return _SoftmaxLast.apply(x, log)
    y = x.transpose(d, -1)
    return _SoftmaxLast.apply(y, log).transpose(d, -1)


def softmax(input: Tensor, dim=None, _stacklevel: int = 3, dtype=None) -> Tensor:
    return _softmax(input, dim, False, dtype)


def log_softmax(input: Tensor, dim=None, _stacklevel: int = 3, dtype=None) -> Tensor:
    return _softmax(input, dim, True, dtype)


def softmin(input: Tensor, dim=None, _stacklevel: int = 3, dtype=None) -> Tensor:
    return _softmax(-input, dim, False, dtype)


# ------------------------------------------------------------------------------------
# convolution
# ------------------------------------------------------------------------------------


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
            x.device.k.conv2d_forward(out._data, x._data, w._data, _opt(b), *ctx.p, -1)
        ctx.save_for_backward(x, w)
        return out

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        nx_, nw, nb = ctx.needs_input_grad[:3]
        k = x.device.k
        dx = dw = db = None
        if nx_:
            dx = _array.empty(x.shape, float32, x.device)
            if g.numel():
                k.conv2d_backward_data(dx._data, g._data, w._data, *ctx.p, -1)
            elif dx.numel():
                dx.fill_(0.0)
        if nw or nb:
            dw = _array.empty(w.shape, float32, x.device) if nw else None
            db = _array.empty((w.shape[0],), float32, x.device) if nb else None
            if g.numel():
                k.conv2d_backward_weight(_opt(dw), _opt(db), g._data, x._data, *ctx.p, -1)
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
                x.device.k.conv2d_backward_data(out._data, x._data, w._data, *ctx.p, -1)
            else:
                out.fill_(0.0)
            if b is not None:
                _array.binary_raw(out, b.reshape(1, Cout, 1, 1), C.BIN_ADD, out=out)
        ctx.save_for_backward(x, w)
        return out

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        nx_, nw, nb = ctx.needs_input_grad[:3]
        k = x.device.k
        dx = dw = db = None
        if nx_:
            dx = _array.empty(x.shape, float32, x.device)
            if dx.numel():
                k.conv2d_forward(dx._data, g._data, w._data, None, *ctx.p, -1)
        if nw:
            dw = _array.empty(w.shape, float32, x.device)
            if x.numel() and g.numel():
                k.conv2d_backward_weight(dw._data, None, x._data, g._data, *ctx.p, -1)
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
    out = _ConvT2d.apply(x, weight, bias, stride, padding, dilation, groups, (Ho, Wo))
    return out.reshape(out.shape[1:]) if unbatched else out


# ------------------------------------------------------------------------------------
# pooling
# ------------------------------------------------------------------------------------


class _MaxPool(Function):
    @staticmethod
    def forward(ctx, x, k, s, p, d, ceil_mode):
        N, Cc, H, W = x.shape
        P = _window_out(H, k[0], s[0], p[0], d[0], ceil_mode)
        Q = _window_out(W, k[1], s[1], p[1], d[1], ceil_mode)
        out = _array.empty((N, Cc, P, Q), float32, x.device)
        idx = _array.empty((N, Cc, P, Q), int64, x.device)
        if out.numel():
            x.device.k.maxpool2d_forward(
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
        return out, idx

    @staticmethod
    def backward(ctx, g, _gi=None):
        (idx,) = ctx.saved_tensors
        N, Cc, H, W, P, Q = ctx.dims
        d = _array.empty((N, Cc, H, W), float32, g.device)
        if d.numel():
            g.device.k.maxpool2d_backward(d._data, g._data, idx._data, N, Cc, H, W, P, Q)
        return d, None, None, None, None, None


def _pool_args(name, kernel_size, stride, padding, dilation=1):
    k = _pair(kernel_size, "kernel_size")
    s = k if stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0) else _pair(stride, "stride")
    p, d = _pair(padding, "padding"), _pair(dilation, "dilation")
    if min(k) <= 0 or min(s) <= 0 or min(d) <= 0 or min(p) < 0:
        raise RuntimeError(f"{name}: kernel_size {k}, stride {s}, dilation {d} must be positive, padding {p} >= 0")
    for i in range(2):
        if p[i] > (d[i] * (k[i] - 1) + 1) // 2:
            raise RuntimeError(
                f"{name}: pad should be at most half of effective kernel size, but got pad={p}, "
                f"kernel_size={k} and dilation={d}"
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
            x.device.k.avgpool2d_forward(out._data, x._data, *ctx.p)
        return out

    @staticmethod
    def backward(ctx, g):
        N, Cc, H, W = ctx.p[:4]
        d = _array.empty((N, Cc, H, W), float32, g.device)
        if d.numel():
            if g.numel():
                g.device.k.avgpool2d_backward(d._data, g._data, *ctx.p)
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
            x.device.k.adaptive_avgpool2d_forward(out._data, x._data, *ctx.p)
        return out

    @staticmethod
    def backward(ctx, g):
        N, Cc, H, W = ctx.p[:4]
        d = _array.empty((N, Cc, H, W), float32, g.device)
        if d.numel():
            g.device.k.adaptive_avgpool2d_backward(d._data, g._data, *ctx.p)
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
            x.device.k.maxunpool2d_forward(out._data, x._data, idx._data, *ctx.p)
        ctx.save_for_backward(idx)
        return out

    @staticmethod
    def backward(ctx, g):
        (idx,) = ctx.saved_tensors
        d = _array.empty(idx.shape, float32, g.device)
        if d.numel():
            g.device.k.maxunpool2d_backward(d._data, g._data, idx._data, *ctx.p)
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


# ------------------------------------------------------------------------------------
# batch norm, dropout
# ------------------------------------------------------------------------------------


class _BatchNorm(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, training, momentum, eps):
        N, Cc = x.shape[0], x.shape[1]
        HW = prod(x.shape[2:])
        out = _array.empty(x.shape, float32, x.device)
        mean = _array.empty((Cc,), float32, x.device)
        invstd = _array.empty((Cc,), float32, x.device)
        x.device.k.batchnorm_forward(
            out._data,
            mean._data,
            invstd._data,
            _opt(running_mean),
            _opt(running_var),
            x._data,
            _opt(weight),
            _opt(bias),
            N,
            Cc,
            HW,
            bool(training),
            float(momentum),
            float(eps),
        )
        ctx.save_for_backward(x, weight, mean, invstd)
        ctx.p = (N, Cc, HW, bool(training))
        return out

    @staticmethod
    def backward(ctx, g):
        x, weight, mean, invstd = ctx.saved_tensors
        N, Cc, HW, training = ctx.p
        nx_, nw, nb = ctx.needs_input_grad[:3]
        dx = _array.empty(x.shape, float32, x.device) if nx_ else None
        dw = _array.empty((Cc,), float32, x.device) if nw else None
        db = _array.empty((Cc,), float32, x.device) if nb else None
        x.device.k.batchnorm_backward(
            _opt(dx), _opt(dw), _opt(db), g._data, x._data, _opt(weight), mean._data, invstd._data, N, Cc, HW, training
        )
        return dx, dw, db, None, None, None, None, None


def batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalization over (N, C) or (N, C, *). In training the kernel updates
    running_mean/running_var in place (unbiased variance, as PyTorch)."""
    _array.check_same_device(input, running_mean, running_var, weight, bias)
    _need_float("batch_norm", input, running_mean, running_var, weight, bias)
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected input of at least 2 dims (N, C, ...), got shape {input.shape}")
    Cc = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight), ("bias", bias)):
        if t is not None and t.numel() != Cc:
            raise RuntimeError(
                f"batch_norm: {name} of shape {t.shape} does not match {Cc} channels (input shape {input.shape})"
            )
    if not training and (running_mean is None or running_var is None):
        raise RuntimeError("batch_norm: running_mean and running_var must be given when training=False")
    if training and input.numel() // max(Cc, 1) <= 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size {input.shape}")
    rm = running_mean.detach() if running_mean is not None else None
    rv = running_var.detach() if running_var is not None else None
    return _BatchNorm.apply(input, weight, bias, rm, rv, bool(training), float(momentum or 0.0), float(eps))


class _Dropout(Function):
    @staticmethod
    def forward(ctx, x, p):
        n = x.numel()
        seed, off = _random.next_offset(n)
        out = _array.empty(x.shape, float32, x.device)
        if n:
            x.device.k.dropout_forward(out._data, x._data, n, float(p), seed, off)
        ctx.p = (n, float(p), seed, off)
        return out

    @staticmethod
    def backward(ctx, g):
        n, p, seed, off = ctx.p
        d = _array.empty(g.shape, float32, g.device)
        if n:
            g.device.k.dropout_backward(d._data, g._data, n, p, seed, off)
        return d, None


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1-p) (training only).
    The mask comes from the global generator (neuraxon.manual_seed) and is never stored."""
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    _need_float("dropout", input)
    if p == 1.0:
        return input * 0.0
    return _Dropout.apply(input, float(p))


# ------------------------------------------------------------------------------------
# embedding, one_hot, pad, normalize
# ------------------------------------------------------------------------------------


class _Embedding(Function):
    @staticmethod
    def forward(ctx, idx, weight, padding_idx):
        V, D = weight.shape
        flat = idx.reshape(-1)
        m = flat.numel()
        out = _array.empty(idx.shape + (D,), float32, weight.device)
        if out.numel():
            weight.device.k.gather(out._data, weight._data, flat._data, 1, V, m, D)
        ctx.save_for_backward(flat)
        ctx.p = (V, D, padding_idx)
        return out

    @staticmethod
    def backward(ctx, g):
        (flat,) = ctx.saved_tensors
        V, D, padding_idx = ctx.p
        m = flat.numel()
        src = g.reshape(m, D)
        if padding_idx is not None:
            keep = _array.cast(_array.binary_raw(flat, _array.full((), padding_idx, int64, g.device), C.BIN_NE), float32)
            src = _array.binary_raw(src, keep.reshape(m, 1), C.BIN_MUL)
        d = _array.zeros((V, D), float32, g.device)
        if m * D:
            g.device.k.scatter_add(d._data, src._data, flat._data, 1, V, m, D)
        return None, d, None


def embedding(
    input: Tensor,
    weight: Tensor,
    padding_idx: int | None = None,
    max_norm=None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
) -> Tensor:
    """Rows of weight (V, D) at int64 indices input (any shape) -> input.shape + (D,).
    padding_idx rows get no gradient. max_norm / scale_grad_by_freq / sparse are not supported."""
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: max_norm, scale_grad_by_freq and sparse are not supported")
    _array.check_same_device(input, weight)
    if input.dtype is not int64:
        raise TypeError(f"embedding: indices must be int64, got {input.dtype.name}")
    if weight.ndim != 2:
        raise RuntimeError(f"embedding: weight must be 2-D (num_embeddings, dim), got shape {weight.shape}")
    if padding_idx is not None:
        V = weight.shape[0]
        if not -V <= int(padding_idx) < V:
            raise ValueError(f"embedding: padding_idx {padding_idx} must be within num_embeddings {V}")
        padding_idx = int(padding_idx) % V
    if input.numel():
        lo, hi = int(input.min().item()), int(input.max().item())
        if lo < 0 or hi >= weight.shape[0]:
            raise IndexError(
                f"embedding: index {lo if lo < 0 else hi} out of range for num_embeddings {weight.shape[0]} "
                f"(indices must be in [0, {weight.shape[0]}))"
            )
    return _Embedding.apply(input, weight, padding_idx)


def one_hot(tensor_: Tensor, num_classes: int = -1) -> Tensor:
    """int64 (..., num_classes) with a 1 at each index (num_classes=-1: max + 1)."""
    if tensor_.dtype is not int64:
        raise TypeError(f"one_hot is only applicable to index tensor (int64), got {tensor_.dtype.name}")
    if num_classes < 0:
        num_classes = int(tensor_.max().item()) + 1 if tensor_.numel() else 0
    if tensor_.numel():
        lo, hi = int(tensor_.min().item()), int(tensor_.max().item())
        if lo < 0 or hi >= num_classes:
            raise RuntimeError(f"one_hot: class values must be in [0, {num_classes}), got [{lo}, {hi}]")
    classes = _array.arange_raw(num_classes, tensor_.device)
    eq = _array.binary_raw(tensor_.reshape(tensor_.shape + (1,)), classes, C.BIN_EQ)
    return _array.cast(eq, int64)


class _Pad(Function):
    @staticmethod
    def forward(ctx, x, pads, value):
        nd = x.ndim
        lo_hi = [(0, 0)] * nd
        for i in range(len(pads) // 2):
            lo_hi[nd - 1 - i] = (int(pads[2 * i]), int(pads[2 * i + 1]))
        out_shape, reg, in_off, out_off = [], [], [], []
        for s, (lo, hi) in zip(x.shape, lo_hi):
            o = s + lo + hi
            if o < 0:
                raise RuntimeError(f"pad: padding {tuple(pads)} gives a negative size for input of shape {x.shape}")
            out_shape.append(o)
            a, b = max(-lo, 0), max(-hi, 0)
            reg.append(max(s - a - b, 0))
            in_off.append(a)
            out_off.append(max(lo, 0))
        out = _array.full(tuple(out_shape), value, x.dtype, x.device)
        ist, ost = _array.strides_of(x.shape), _array.strides_of(out.shape)
        io = sum(a * b for a, b in zip(in_off, ist))
        oo = sum(a * b for a, b in zip(out_off, ost))
        _array.copy_into(out, x, reg, ost, oo, ist, io)
        ctx.p = (x.shape, tuple(reg), ist, io, ost, oo)
        return out

    @staticmethod
    def backward(ctx, g):
        shape, reg, ist, io, ost, oo = ctx.p
        d = _array.zeros(shape, float32, g.device)
        _array.copy_into(d, g, reg, ist, io, ost, oo)
        return d, None, None


def pad(input: Tensor, pad, mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad the last len(pad)//2 dims: pad = (left, right, top, bottom, ...), last dim first.
    Negative amounts crop (constant mode). 'reflect', 'replicate' and 'circular' gather
    source positions computed on the host (index_select: gradients accumulate)."""
    if mode in ("reflect", "replicate", "circular"):
        return _pad_index(input, tuple(int(p) for p in pad), mode)
    if mode != "constant":
        raise NotImplementedError(f"pad: mode {mode!r} is not supported")
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise RuntimeError(f"pad: padding length {len(pad)} must be even and at most 2 * {input.ndim} dims")
    v = 0.0 if value is None else float(value)
    if input.dtype is float32:
        return _Pad.apply(input, pad, v)
    with _no_grad():
        return _Pad.apply(input, pad, v)


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:
    n = input.norm(p, dim, keepdim=True)
    return input / n.clamp(min=eps)


# ------------------------------------------------------------------------------------
# losses
# ------------------------------------------------------------------------------------


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{reduction} is not a valid value for reduction")


def _legacy_reduction(size_average, reduce, reduction):
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    return "none" if not reduce else ("mean" if size_average else "sum")


class _CrossEntropy(Function):
    @staticmethod
    def forward(ctx, logits, target, ignore_index):
        rows, cols = logits.shape
        loss = _array.empty((), float32, logits.device)
        lse = _array.empty((rows,), float32, logits.device)
        logits.device.k.cross_entropy_forward(
            loss._data, lse._data, logits._data, target._data, rows, cols, int(ignore_index)
        )
        ctx.save_for_backward(logits, lse, target)
        ctx.p = (rows, cols, int(ignore_index))
        return loss

    @staticmethod
    def backward(ctx, g):
        logits, lse, target = ctx.saved_tensors
        rows, cols, ii = ctx.p
        d = _array.empty(logits.shape, float32, g.device)
        g.device.k.cross_entropy_backward(d._data, g._data, logits._data, lse._data, target._data, rows, cols, ii)
        return d, None, None


def _classes_last(input: Tensor, target: Tensor, name: str):
    """(N, C, d1, ...) logits and (N, d1, ...) targets -> (M, C) and (M,); also (C,) with ()."""
    if input.ndim == 1:
        return input.reshape(1, -1), target.reshape(1), ()
    if input.ndim == 2:
        if target.ndim != 1 or target.shape[0] != input.shape[0]:
            raise ValueError(
                f"{name}: expected target of shape ({input.shape[0]},), got {target.shape} (input shape {input.shape})"
            )
        return input, target, target.shape
    N, Cc = input.shape[:2]
    if target.shape != (N,) + input.shape[2:]:
        raise ValueError(
            f"{name}: expected target of shape {(N,) + input.shape[2:]}, got {target.shape} (input shape {input.shape})"
        )
    perm = (0,) + tuple(range(2, input.ndim)) + (1,)
    return input.permute(perm).reshape(-1, Cc), target.reshape(-1), target.shape


def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average=None,
    ignore_index: int = -100,
    reduce=None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Softmax cross-entropy: input (N, C) or (N, C, d1, ...) logits; target class indices
    (int64, (N) or (N, d1, ...)) or class probabilities (float, input's shape)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _array.check_same_device(input, target, weight)
    _need_float("cross_entropy", input, weight)
    label_smoothing = float(label_smoothing or 0.0)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
    if target.dtype is float32:  # class probabilities
        if target.shape != input.shape:
            raise ValueError(
                f"cross_entropy: probability target of shape {target.shape} must match input {input.shape}"
            )
        Cc = input.shape[1] if input.ndim > 1 else input.shape[0]
        dim = 1 if input.ndim > 1 else 0
        t = target * (1.0 - label_smoothing) + label_smoothing / Cc if label_smoothing else target
        lp = log_softmax(input, dim)
        if weight is not None:
            lp = lp * weight.reshape((Cc,) + (1,) * (input.ndim - 2)) if input.ndim > 1 else lp * weight
        loss = -(t * lp).sum(dim)
        # 'mean' averages over every non-class position (N * d1 * ...), as torch
        return _reduce(loss, reduction)
    if target.dtype is not int64:
        raise TypeError(
            f"cross_entropy: target must be int64 class indices or float32 probabilities, got {target.dtype.name}"
        )
    x, t, tshape = _classes_last(input, target, "cross_entropy")
    if weight is None and label_smoothing == 0.0 and reduction == "mean":
        return _CrossEntropy.apply(x, t, ignore_index)
    lp = log_softmax(x, 1)
    loss = nll_loss(lp, t, weight, ignore_index=ignore_index, reduction="none")
    if label_smoothing:
        Cc = x.shape[1]
        valid = (t != ignore_index).float()
        sm = -(lp * weight if weight is not None else lp).sum(1) * valid
        loss = loss * (1.0 - label_smoothing)
        if reduction == "mean":
            if weight is not None:
                wsum = (_pick_weight(weight, t, ignore_index) * valid).sum()
            else:
                wsum = valid.sum()
            return loss.sum() / wsum + sm.sum() * (label_smoothing / Cc) / wsum
        loss = loss + sm * (label_smoothing / Cc)
        return loss.reshape(tshape) if reduction == "none" else loss.sum()
    if reduction == "mean":
        wrow = _pick_weight(weight, t, ignore_index) if weight is not None else (t != ignore_index).float()
        return loss.sum() / wrow.sum()
    return loss.reshape(tshape) if reduction == "none" else loss.sum()


def _safe_target(t: Tensor, ignore_index: int, C_: int) -> tuple:
    valid = t != ignore_index
    ts = _array.where_raw(valid, t, _array.full((), 0, int64, t.device))
    if ts.numel():
        lo, hi = int(ts.min().item()), int(ts.max().item())
        if lo < 0 or hi >= C_:
            bad = lo if lo < 0 else hi
            raise IndexError(f"Target {bad} is out of bounds (number of classes {C_})")
    return ts, valid


def _pick_weight(weight, t, ignore_index):
    ts, valid = _safe_target(t, ignore_index, weight.shape[0])
    return weight.index_select(0, ts) * valid.float()


def nll_loss(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average=None,
    ignore_index: int = -100,
    reduce=None,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of log-probabilities input (N, C) / (N, C, d...) at int64 targets."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _array.check_same_device(input, target, weight)
    _need_float("nll_loss", input, weight)
    if target.dtype is not int64:
        raise TypeError(f"nll_loss: target must be int64, got {target.dtype.name}")
    x, t, tshape = _classes_last(input, target, "nll_loss")
    M, Cc = x.shape
    ts, valid = _safe_target(t, ignore_index, Cc)
    rows = _array.binary_raw(_array.arange_raw(M, x.device), _array.full((), Cc, int64, x.device), C.BIN_MUL)
    pos = _array.binary_raw(rows, ts, C.BIN_ADD)
    picked = x.reshape(-1).index_select(0, pos)
    w = valid.float()
    if weight is not None:
        if weight.shape != (Cc,):
            raise RuntimeError(f"nll_loss: weight of shape {weight.shape} does not match {Cc} classes")
        w = weight.index_select(0, ts) * w
    loss = -(picked * w)
    if reduction == "mean":
        return loss.sum() / w.sum()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss.reshape(tshape)
    raise ValueError(f"{reduction} is not a valid value for reduction")


def _check_same_shape(name, input, target):
    _array.check_same_device(input, target)
    if input.shape != target.shape:
        _array.broadcast_shapes(input.shape, target.shape)  # raises naming both shapes if incompatible


def mse_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    _check_same_shape("mse_loss", input, target)
    d = input - target
    return _reduce(d * d, _legacy_reduction(size_average, reduce, reduction))


def l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    _check_same_shape("l1_loss", input, target)
    return _reduce((input - target).abs(), _legacy_reduction(size_average, reduce, reduction))


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta: float = 1.0):
    _check_same_shape("smooth_l1_loss", input, target)
    d = (input - target).abs()
    if beta == 0:
        return _reduce(d, reduction)
    loss = elementwise.where(d < beta, d * d * (0.5 / beta), d - 0.5 * beta)
    return _reduce(loss, _legacy_reduction(size_average, reduce, reduction))


def huber_loss(input, target, reduction="mean", delta: float = 1.0):
    _check_same_shape("huber_loss", input, target)
    d = (input - target).abs()
    loss = elementwise.where(d < delta, d * d * 0.5, (d - 0.5 * delta) * delta)
    return _reduce(loss, reduction)


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target: bool = False):
    """KL(target || exp(input)); input log-probabilities. 'batchmean' divides by input.shape[0]."""
    if log_target:
        loss = target.exp() * (target - input)
    else:
        tl = elementwise.where(target > 0, target, 1.0).log()
        loss = target * (tl - input)
    if reduction == "batchmean":
        return loss.sum() / (input.shape[0] if input.ndim else 1)
    return _reduce(loss, _legacy_reduction(size_average, reduce, reduction))


def binary_cross_entropy(
    input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None, reduce=None, reduction: str = "mean"
) -> Tensor:
    """-(t log x + (1-t) log(1-x)) on probabilities x; logs clamped at -100 (as PyTorch)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _array.check_same_device(input, target, weight)
    if input.shape != target.shape:
        raise ValueError(
            f"Using a target size ({target.shape}) that is different to the input size ({input.shape}) "
            "is deprecated. Please ensure they have the same size."
        )
    if input.numel():
        with _no_grad():
            outside = bool(((input < 0.0) | (input > 1.0) | (input != input)).any())
        if outside:
            raise RuntimeError("binary_cross_entropy: all elements of input should be between 0 and 1")
    lx = input.log().clamp(min=-100.0)
    l1x = (1.0 - input).log().clamp(min=-100.0)
    loss = -(target * lx + (1.0 - target) * l1x)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    size_average=None,
    reduce=None,
    reduction: str = "mean",
    pos_weight: Tensor | None = None,
) -> Tensor:
    """Sigmoid + binary cross-entropy, stable: softplus(x) - t x (pos_weight: (1-t) x +
    (1 + (pw-1) t) softplus(-x))."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _array.check_same_device(input, target, weight, pos_weight)
    if input.shape != target.shape:
        raise ValueError(f"Target size ({target.shape}) must be the same as input size ({input.shape})")
    if pos_weight is None:
        loss = softplus(input) - input * target
    else:
        lw = (pos_weight - 1.0) * target + 1.0
        loss = (1.0 - target) * input + lw * softplus(-input)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


# ------------------------------------------------------------------------------------
# LSTM
# ------------------------------------------------------------------------------------


class _LSTMCell(Function):
    @staticmethod
    def forward(ctx, x, h, c, w_ih, w_hh, b_ih, b_hh):
        B, I = x.shape
        H = h.shape[1]
        dev = x.device
        h_out = _array.empty((B, H), float32, dev)
        c_out = _array.empty((B, H), float32, dev)
        gates = _array.empty((B, 4 * H), float32, dev)
        dev.k.lstm_cell_forward(
            h_out._data,
            c_out._data,
            gates._data,
            x._data,
            h._data,
            c._data,
            w_ih._data,
            w_hh._data,
            _opt(b_ih),
            _opt(b_hh),
            B,
            I,
            H,
        )
        ctx.save_for_backward(x, h, c, w_ih, w_hh, gates, c_out)
        ctx.p = (B, I, H)
        return h_out, c_out

    @staticmethod
    def backward(ctx, dh_out, dc_out):
        x, h, c, w_ih, w_hh, gates, c_out = ctx.saved_tensors
        B, I, H = ctx.p
        need = ctx.needs_input_grad
        dev = x.device
        shapes = [x.shape, h.shape, c.shape, w_ih.shape, w_hh.shape, (4 * H,), (4 * H,)]
        outs = [_array.empty(s, float32, dev) if n else None for s, n in zip(shapes, need)]
        dev.k.lstm_cell_backward(
            *[_opt(o) for o in outs],
            dh_out._data,
            dc_out._data,
            gates._data,
            x._data,
            h._data,
            c._data,
            c_out._data,
            w_ih._data,
            w_hh._data,
            B,
            I,
            H,
        )
        return tuple(outs)


def _lstm_check(x, w_ih, w_hh, b_ih, b_hh, I, H):
    if w_ih.shape != (4 * H, I) or w_hh.shape != (4 * H, H):
        raise RuntimeError(
            f"lstm: weight_ih {w_ih.shape} must be (4H, I) = {(4 * H, I)} and weight_hh {w_hh.shape} "
            f"must be (4H, H) = {(4 * H, H)} (input shape {x.shape})"
        )
    for name, b in (("bias_ih", b_ih), ("bias_hh", b_hh)):
        if b is not None and b.shape != (4 * H,):
            raise RuntimeError(f"lstm: {name} of shape {b.shape} must be ({4 * H},)")


def lstm_cell(input: Tensor, hx, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None, b_hh: Tensor | None = None):
    """One LSTM step: input (B, I) or (I,), hx = (h, c) each (B, H) or None (zeros);
    weights (4H, I), (4H, H), biases (4H) or None; gates i, f, g, o. Returns (h', c')."""
    _need_float("lstm_cell", input, w_ih, w_hh, b_ih, b_hh)
    unbatched = input.ndim == 1
    x = input.reshape(1, -1) if unbatched else input
    B, I = x.shape
    H = w_hh.shape[1] if w_hh.ndim == 2 else 0
    _lstm_check(x, w_ih, w_hh, b_ih, b_hh, I, H)
    if hx is None:
        h = _array.zeros((B, H), float32, x.device)
        c = _array.zeros((B, H), float32, x.device)
    else:
        h, c = hx
        h = h.reshape(1, -1) if h.ndim == 1 else h
        c = c.reshape(1, -1) if c.ndim == 1 else c
    if h.shape != (B, H) or c.shape != (B, H):
        raise RuntimeError(f"lstm_cell: h {h.shape} and c {c.shape} must be ({B}, {H})")
    _array.check_same_device(x, h, c, w_ih, w_hh, b_ih, b_hh)
    h2, c2 = _LSTMCell.apply(x, h, c, w_ih, w_hh, b_ih, b_hh)
    if unbatched:
        return h2.reshape(H), c2.reshape(H)
    return h2, c2


class _LSTMLayer(Function):
    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh):
        T, B, I = x.shape
        H = w_hh.shape[1]
        dev = x.device
        out = _array.empty((T, B, H), float32, dev)
        h_n = _array.empty((B, H), float32, dev)
        c_n = _array.empty((B, H), float32, dev)
        gates = _array.empty((T, B, 4 * H), float32, dev)
        cells = _array.empty((T, B, H), float32, dev)
        dev.k.lstm_layer_forward(
            out._data,
            h_n._data,
            c_n._data,
            gates._data,
            cells._data,
            x._data,
            _opt(h0),
            _opt(c0),
            w_ih._data,
            w_hh._data,
            _opt(b_ih),
            _opt(b_hh),
            T,
            B,
            I,
            H,
        )
        ctx.save_for_backward(x, h0, c0, w_ih, w_hh, gates, cells, out)
        ctx.p = (T, B, I, H, b_ih is not None, b_hh is not None)
        return out, h_n, c_n

    @staticmethod
    def backward(ctx, dout, dh_n, dc_n):
        x, h0, c0, w_ih, w_hh, gates, cells, out = ctx.saved_tensors
        T, B, I, H, has_bi, has_bh = ctx.p
        need = ctx.needs_input_grad
        dev = x.device
        shapes = [x.shape, (B, H), (B, H), w_ih.shape, w_hh.shape, (4 * H,), (4 * H,)]
        present = [True, h0 is not None, c0 is not None, True, True, has_bi, has_bh]
        outs = [_array.empty(s, float32, dev) if n and p else None for s, n, p in zip(shapes, need, present)]
        dev.k.lstm_layer_backward(
            *[_opt(o) for o in outs],
            dout._data,
            dh_n._data,
            dc_n._data,
            gates._data,
            cells._data,
            out._data,
            x._data,
            _opt(h0),
            _opt(c0),
            w_ih._data,
            w_hh._data,
            T,
            B,
            I,
            H,
        )
        return tuple(outs)


def lstm_layer(
    input: Tensor,
    h0: Tensor | None,
    c0: Tensor | None,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
):
    """A whole LSTM layer over time: input (T, B, I), h0, c0 (B, H) or None (zeros).
    Returns (out (T, B, H), h_n (B, H), c_n (B, H)); one kernel call each way."""
    _need_float("lstm_layer", input, h0, c0, w_ih, w_hh, b_ih, b_hh)
    if input.ndim != 3:
        raise RuntimeError(f"lstm_layer: input must be (T, B, I), got shape {input.shape}")
    T, B, I = input.shape
    H = w_hh.shape[1] if w_hh.ndim == 2 else 0
    _lstm_check(input, w_ih, w_hh, b_ih, b_hh, I, H)
    for name, t in (("h0", h0), ("c0", c0)):
        if t is not None and t.shape != (B, H):
            raise RuntimeError(f"lstm_layer: {name} of shape {t.shape} must be ({B}, {H})")
    _array.check_same_device(input, h0, c0, w_ih, w_hh, b_ih, b_hh)
    return _LSTMLayer.apply(input, h0, c0, w_ih, w_hh, b_ih, b_hh)


# ------------------------------------------------------------------------------------
# composites (engineer "api"): torch.nn.functional names built from the ops above, so
# their gradients come from autograd; each checked (values and gradients) against torch in
# tests/test_api_conformance.py rather than gradchecked in test_functional.py, hence not in
# __all__ (which that file's completeness check reads)
# ------------------------------------------------------------------------------------


def _pad_index(x: Tensor, pads: tuple, mode: str) -> Tensor:
    import numpy as np

    if len(pads) % 2 or len(pads) // 2 > x.ndim:
        raise RuntimeError(f"pad: padding length {len(pads)} must be even and at most 2 * {x.ndim} dims")
    if len(pads) // 2 >= x.ndim:
        raise NotImplementedError(f"pad: mode {mode!r} pads at most the last {x.ndim - 1} dims (input {x.shape})")
    out = x
    for i in range(len(pads) // 2):
        d = x.ndim - 1 - i
        lo, hi = pads[2 * i], pads[2 * i + 1]
        n = x.shape[d]
        if mode == "reflect" and (lo >= n or hi >= n):
            raise RuntimeError(
                f"pad: reflect padding ({lo}, {hi}) must be smaller than the input size {n} at dim {d} "
                f"(input shape {x.shape})"
            )
        if n == 0 and (lo or hi):
            raise RuntimeError(f"pad: cannot {mode}-pad an empty dimension (input shape {x.shape})")
        if mode == "circular" and (lo > n or hi > n):
            raise RuntimeError(f"pad: circular padding ({lo}, {hi}) exceeds the input size {n} at dim {d}")
        pos = np.arange(-lo, n + hi)
        if mode == "reflect":
            period = 2 * (n - 1) if n > 1 else 1
            pos = np.abs(pos) % period
            pos = np.where(pos >= n, period - pos, pos)
        elif mode == "replicate":
            pos = np.clip(pos, 0, n - 1)
        else:
            pos = pos % n
        out = out.index_select(d, _array.from_numpy(pos.astype(np.int64), int64, x.device))
    return out


def layer_norm(input: Tensor, normalized_shape, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or tuple(input.shape[input.ndim - k :]) != shape:
        raise RuntimeError(
            f"layer_norm: normalized_shape {shape} must match the trailing dims of input of shape {input.shape}"
        )
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != shape:
            raise RuntimeError(f"layer_norm: {name} of shape {t.shape} must have shape {shape}")
    dims = tuple(range(input.ndim - k, input.ndim))
    mu = input.mean(dims, keepdim=True)
    xc = input - mu
    var = (xc * xc).mean(dims, keepdim=True)
    y = xc * (var + eps).rsqrt()
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


def group_norm(input: Tensor, num_groups: int, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    if input.ndim < 2:
        raise RuntimeError(f"group_norm: expected at least 2-D input (N, C, ...), got shape {input.shape}")
    N, Cc = input.shape[:2]
    if num_groups <= 0 or Cc % num_groups:
        raise RuntimeError(f"group_norm: {Cc} channels are not divisible into {num_groups} groups")
    x = input.reshape(N, num_groups, -1)
    mu = x.mean(2, keepdim=True)
    xc = x - mu
    y = (xc * ((xc * xc).mean(2, keepdim=True) + eps).rsqrt()).reshape(input.shape)
    aff = (1, Cc) + (1,) * (input.ndim - 2)
    if weight is not None:
        y = y * weight.reshape(aff)
    if bias is not None:
        y = y + bias.reshape(aff)
    return y


def instance_norm(
    input: Tensor,
    running_mean=None,
    running_var=None,
    weight=None,
    bias=None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    if not use_input_stats or running_mean is not None or running_var is not None:
        raise NotImplementedError("instance_norm: running statistics are not supported (use_input_stats only)")
    return group_norm(input, input.shape[1], weight, bias, eps)


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    alpha, scale = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
    return elu(input, alpha) * scale


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError: celu alpha must not be 0")
    return elu(input / alpha, 1.0) * alpha


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    return input * tanh(softplus(input))


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    return (input * (1.0 / 6.0) + 0.5).clamp(0.0, 1.0)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    return input * hardsigmoid(input)


def tanhshrink(input: Tensor) -> Tensor:
    return input - tanh(input)


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    return elementwise.where(input > threshold, input, value)


def glu(input: Tensor, dim: int = -1) -> Tensor:
    d = _array.norm_dim(dim, input.ndim)
    if input.shape[d] % 2:
        raise RuntimeError(f"glu: halving dimension {d} of size {input.shape[d]} must be even (shape {input.shape})")
    a, b = input.chunk(2, d)
    return a * sigmoid(b)


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    if weight.numel() != 1 and (input.ndim < 2 or weight.numel() != input.shape[1]):
        raise RuntimeError(f"prelu: weight of {weight.numel()} elements does not match input of shape {input.shape}")
    w = weight.reshape(()) if weight.numel() == 1 else weight.reshape((1, -1) + (1,) * (input.ndim - 2))
    return elementwise.where(input > 0, input, input * w)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    dot = (x1 * x2).sum(dim)
    n1 = (x1 * x1).sum(dim)
    n2 = (x2 * x2).sum(dim)
    return dot / ((n1 * n2).clamp(min=eps * eps)).sqrt()


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> Tensor:
    return (x1 - x2 + eps).norm(p, dim=-1, keepdim=keepdim)


def adaptive_max_pool2d(input: Tensor, output_size, return_indices: bool = False):
    """Max over torch's adaptive windows (start floor(i*H/oh), end ceil((i+1)*H/oh)); one
    reduction per output cell, so meant for small outputs."""
    if return_indices:
        raise NotImplementedError("adaptive_max_pool2d: return_indices is not supported")
    if input.ndim not in (3, 4):
        raise RuntimeError(f"adaptive_max_pool2d: expected 3-D or 4-D input, got shape {input.shape}")
    H, W = input.shape[-2:]
    oh, ow = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
    oh = H if oh is None else int(oh)
    ow = W if ow is None else int(ow)
    if oh <= 0 or ow <= 0 or H == 0 or W == 0:
        raise RuntimeError(f"adaptive_max_pool2d: output size ({oh}, {ow}) or input {input.shape} is empty")
    rows = []
    for i in range(oh):
        h0, h1 = (i * H) // oh, -((-(i + 1) * H) // oh)
        cols = [input[..., h0:h1, (j * W) // ow : -((-(j + 1) * W) // ow)].amax((-2, -1)) for j in range(ow)]
        rows.append(movement.stack(cols, -1))
    return movement.stack(rows, -2)


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    r = int(upscale_factor)
    *lead, Cc, H, W = input.shape
    if Cc % (r * r):
        raise RuntimeError(f"pixel_shuffle: {Cc} channels are not divisible by upscale_factor**2 = {r * r}")
    x = input.reshape(*lead, Cc // (r * r), r, r, H, W)
    n = len(lead)
    x = x.permute(*range(n), n, n + 3, n + 1, n + 4, n + 2)
    return x.reshape(*lead, Cc // (r * r), H * r, W * r)


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    r = int(downscale_factor)
    *lead, Cc, H, W = input.shape
    if H % r or W % r:
        raise RuntimeError(f"pixel_unshuffle: spatial size ({H}, {W}) is not divisible by {r}")
    n = len(lead)
    x = input.reshape(*lead, Cc, H // r, r, W // r, r)
    x = x.permute(*range(n), n, n + 2, n + 4, n + 1, n + 3)
    return x.reshape(*lead, Cc * r * r, H // r, W // r)


def interpolate(input: Tensor, size=None, scale_factor=None, mode: str = "nearest", align_corners=None,
                recompute_scale_factor=None, antialias: bool = False) -> Tensor:  # fmt: skip
    """mode 'nearest' (torch's index rule floor(out_index * scale)), 'linear' (3-D input) or
    'bilinear' (4-D input), separable: one gather-and-blend per spatial dim, so gradients
    come from autograd."""
    import numpy as np

    if mode not in ("nearest", "linear", "bilinear"):
        raise NotImplementedError(f"interpolate: mode {mode!r} is not supported (nearest, linear, bilinear)")
    if mode == "linear" and input.ndim != 3 or mode == "bilinear" and input.ndim != 4:
        raise NotImplementedError(f"interpolate: mode {mode!r} does not take input of shape {input.shape}")
    if mode == "nearest" and align_corners is not None:
        raise ValueError("align_corners option can only be set with the interpolating modes: linear | bilinear")
    sp = input.ndim - 2
    if sp < 1:
        raise RuntimeError(f"interpolate: expected input with batch and channel dims, got shape {input.shape}")
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: exactly one of size and scale_factor must be given")
    ins = input.shape[2:]
    if size is not None:
        outs = (size,) * sp if isinstance(size, int) else tuple(size)
        scales = [i / o for i, o in zip(ins, outs)]
    else:
        sf = (scale_factor,) * sp if not isinstance(scale_factor, (tuple, list)) else tuple(scale_factor)
        outs = tuple(int(np.floor(i * f)) for i, f in zip(ins, sf))
        scales = [1.0 / f if not recompute_scale_factor else i / o for i, f, o in zip(ins, sf, outs)]
    if len(outs) != sp:
        raise ValueError(f"interpolate: size {outs} must have {sp} entries for input of shape {input.shape}")
    out = input
    for k, (i, o, sc) in enumerate(zip(ins, outs, scales)):
        if mode == "nearest":
            idx = np.minimum(np.floor(np.arange(o) * np.float32(sc)).astype(np.int64), i - 1)
            out = out.index_select(2 + k, _array.from_numpy(idx, int64, input.device))
            continue
        if align_corners:
            src = np.arange(o, dtype=np.float64) * ((i - 1) / (o - 1) if o > 1 else 0.0)
        else:
            src = np.maximum((np.arange(o, dtype=np.float64) + 0.5) * sc - 0.5, 0.0)
        i0 = np.minimum(np.floor(src).astype(np.int64), i - 1)
        i1 = np.minimum(i0 + 1, i - 1)
        w = (src - i0).astype(np.float32)
        sh = [1] * out.ndim
        sh[2 + k] = o
        wt = _array.from_numpy(w.reshape(sh), float32, input.device)
        a = out.index_select(2 + k, _array.from_numpy(i0, int64, input.device))
        b = out.index_select(2 + k, _array.from_numpy(i1, int64, input.device))
        out = a + (b - a) * wt
    return out


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels (dims 2.. of (N, C, H, W) or 1.. of (C, H, W)) with probability p."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    if input.ndim not in (3, 4):
        raise RuntimeError(f"dropout2d: expected 3-D or 4-D input, got shape {input.shape}")
    mshape = input.shape[: input.ndim - 2] + (1, 1)
    if p == 1.0:
        return input * 0.0
    keep = (_array.uniform_(_array.empty(mshape, float32, input.device), 0.0, 1.0) >= p).float() * (1.0 / (1.0 - p))
    return input * keep
