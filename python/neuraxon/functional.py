"""Functional ops with autograd (re-exported as neuraxon.nn.functional), each over kernels.

Names, argument orders and defaults follow torch.nn.functional. Differences are noted in
docstrings (e.g. interpolate is mode='nearest' only; embedding has no max_norm).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import _array
from . import _codes as C
from ._tensor_base import TensorBase
from .autograd import no_grad as _no_grad
from .dtypes import float32, int64
from .ops import elementwise, movement
from .ops._args import _need_float
from .ops.activation import _act

# the ops whose Functions live in ops/<family>.py, re-exported as the public API
from .ops.conv import conv2d, conv_transpose2d  # noqa: F401
from .ops.dropout import dropout  # noqa: F401
from .ops.embedding import embedding  # noqa: F401
from .ops.linalg import bilinear, linear  # noqa: F401
from .ops.normalization import batch_norm  # noqa: F401
from .ops.padding import pad  # noqa: F401
from .ops.pooling import adaptive_avg_pool2d, avg_pool2d, max_pool2d, max_unpool2d  # noqa: F401
from .ops.rnn import lstm_cell, lstm_layer  # noqa: F401
from .ops.softmax import _CrossEntropy, _softmax

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


# ------------------------------------------------------------------------------------
# linear
# ------------------------------------------------------------------------------------


# ------------------------------------------------------------------------------------
# activations
# ------------------------------------------------------------------------------------


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0). (inplace is accepted and ignored: a new tensor is returned.) An int64
    input gives int64, as torch; the activation kernel is float32 only."""
    if isinstance(input, TensorBase) and input.dtype is int64:
        return input.clamp_min(0)
    return _act(input, C.ACT_RELU)


def relu_(input: Tensor) -> Tensor:
    """relu in place: input is overwritten with max(input, 0)."""
    return input.copy_(relu(input.detach()))


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x for x > 0, negative_slope * x otherwise.
    `inplace` is accepted for PyTorch compatibility; the result is a new tensor."""
    return _act(input, C.ACT_LEAKY_RELU, negative_slope)


def sigmoid(input: Tensor) -> Tensor:
    """1 / (1 + exp(-x))."""
    return _act(input, C.ACT_SIGMOID)


def tanh(input: Tensor) -> Tensor:
    """The hyperbolic tangent."""
    return _act(input, C.ACT_TANH)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta x)) / beta, linear where beta x > threshold (kernel: threshold 20)."""
    if threshold == 20.0:
        return _act(input, C.ACT_SOFTPLUS, beta)
    bx = input * beta
    return elementwise.where(bx > threshold, input, bx.exp().log1p() / beta)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """ELU: x for x > 0, alpha * (exp(x) - 1) otherwise.
    `inplace` is accepted for PyTorch compatibility; the result is a new tensor."""
    return _act(input, C.ACT_ELU, alpha)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """GELU: x * Phi(x) (approximate='tanh' for the tanh formula)."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return _act(input, C.ACT_GELU, 0.0 if approximate == "none" else 1.0)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """SiLU (swish): x * sigmoid(x).
    `inplace` is accepted for PyTorch compatibility; the result is a new tensor."""
    return input * sigmoid(input)


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    """clamp(x, min_val, max_val).
    `inplace` is accepted for PyTorch compatibility; the result is a new tensor."""
    return input.clamp(min_val, max_val)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """clamp(x, 0, 6).
    `inplace` is accepted for PyTorch compatibility; the result is a new tensor."""
    return input.clamp(0.0, 6.0)


def logsigmoid(input: Tensor) -> Tensor:
    """log(sigmoid(x)), computed stably as -softplus(-x)."""
    return -softplus(-input)


def softsign(input: Tensor) -> Tensor:
    """x / (1 + |x|)."""
    return input / (input.abs() + 1.0)


# ------------------------------------------------------------------------------------
# softmax
# ------------------------------------------------------------------------------------


def softmax(input: Tensor, dim=None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """exp(x) / sum(exp(x)) along dim, computed stably (max subtracted first)."""
    return _softmax(input, dim, False, dtype)


def log_softmax(input: Tensor, dim=None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """log(softmax(input)) along dim, computed stably."""
    return _softmax(input, dim, True, dtype)


def softmin(input: Tensor, dim=None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """softmax(-x) along dim."""
    return _softmax(-input, dim, False, dtype)


# ------------------------------------------------------------------------------------
# convolution
# ------------------------------------------------------------------------------------


# ------------------------------------------------------------------------------------
# pooling
# ------------------------------------------------------------------------------------


# ------------------------------------------------------------------------------------
# batch norm, dropout
# ------------------------------------------------------------------------------------


# ------------------------------------------------------------------------------------
# embedding, one_hot, pad, normalize
# ------------------------------------------------------------------------------------


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


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:
    """input divided by its p-norm along dim (at least eps)."""
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
        if ignore_index != -100:  # torch refuses it rather than ignoring it silently
            raise RuntimeError("cross_entropy: ignore_index is not supported for floating point target")
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
        # where, not * valid: an ignored row adds 0 even when its logits hold NaN/inf (torch)
        sm = elementwise.where(t != ignore_index, -(lp * weight if weight is not None else lp).sum(1), 0.0)
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
    # where, not * w: an ignored element is 0 even when its input is NaN/inf (torch skips it)
    loss = elementwise.where(valid, -(picked * w), 0.0)
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
    """Mean (or sum, or none) of (input - target)^2."""
    _check_same_shape("mse_loss", input, target)
    d = input - target
    return _reduce(d * d, _legacy_reduction(size_average, reduce, reduction))


def l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """Mean (or sum, or none) of |input - target|."""
    _check_same_shape("l1_loss", input, target)
    return _reduce((input - target).abs(), _legacy_reduction(size_average, reduce, reduction))


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta: float = 1.0):
    """Smooth L1: 0.5 d^2 / beta for |d| < beta, |d| - 0.5 beta otherwise (d = input - target)."""
    _check_same_shape("smooth_l1_loss", input, target)
    d = (input - target).abs()
    if beta == 0:
        return _reduce(d, reduction)
    loss = elementwise.where(d < beta, d * d * (0.5 / beta), d - 0.5 * beta)
    return _reduce(loss, _legacy_reduction(size_average, reduce, reduction))


def huber_loss(input, target, reduction="mean", delta: float = 1.0):
    """Huber loss: 0.5 d^2 for |d| < delta, delta (|d| - 0.5 delta) otherwise (d = input - target),
    reduced by `reduction`."""
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


# ------------------------------------------------------------------------------------
# composites (engineer "api"): torch.nn.functional names built from the ops above, so
# their gradients come from autograd; each checked (values and gradients) against torch in
# tests/test_api_conformance.py rather than gradchecked in test_functional.py, hence not in
# __all__ (which that file's completeness check reads)
# ------------------------------------------------------------------------------------


def layer_norm(input: Tensor, normalized_shape, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    """Layer normalisation over the last dimensions given by normalized_shape, then the elementwise
    affine weight and bias when given."""
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
    """Group normalisation over (N, C, ...): statistics per sample and group of C / num_groups channels,
    then the per-channel affine weight and bias when given."""
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
    """Instance normalisation: statistics per sample and channel over the spatial dimensions,
    then the per-channel affine weight and bias when given. Running statistics
    (use_input_stats=False or running_mean/var) raise NotImplementedError."""
    if not use_input_stats or running_mean is not None or running_var is not None:
        raise NotImplementedError("instance_norm: running statistics are not supported (use_input_stats only)")
    return group_norm(input, input.shape[1], weight, bias, eps)


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """SELU: scale * (max(0, x) + min(0, alpha * (exp(x) - 1))) with the self-normalising constants.
    `inplace` is accepted for PyTorch compatibility; the result is a new tensor."""
    alpha, scale = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
    return elu(input, alpha) * scale


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """CELU: max(0, x) + min(0, alpha * (exp(x / alpha) - 1)).
    `inplace` is accepted for PyTorch compatibility; the result is a new tensor."""
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError: celu alpha must not be 0")
    return elu(input / alpha, 1.0) * alpha


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """Mish: x * tanh(softplus(x)).
    `inplace` is accepted for PyTorch compatibility; the result is a new tensor."""
    return input * tanh(softplus(input))


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """Hard sigmoid: clamp(x / 6 + 1/2, 0, 1).
    `inplace` is accepted for PyTorch compatibility; the result is a new tensor."""
    return (input * (1.0 / 6.0) + 0.5).clamp(0.0, 1.0)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """Hard swish: x * hardsigmoid(x).
    `inplace` is accepted for PyTorch compatibility; the result is a new tensor."""
    return input * hardsigmoid(input)


def tanhshrink(input: Tensor) -> Tensor:
    """x - tanh(x)."""
    return input - tanh(input)


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """x where x > threshold, else value.
    `inplace` is accepted for PyTorch compatibility; the result is a new tensor."""
    return elementwise.where(input > threshold, input, value)


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """Gated linear unit: a * sigmoid(b), a and b the two halves of input along dim."""
    d = _array.norm_dim(dim, input.ndim)
    if input.shape[d] % 2:
        raise RuntimeError(f"glu: halving dimension {d} of size {input.shape[d]} must be even (shape {input.shape})")
    a, b = input.chunk(2, d)
    return a * sigmoid(b)


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """x for x > 0, weight * x otherwise (one weight, or one per channel of dimension 1)."""
    if weight.numel() != 1 and (input.ndim < 2 or weight.numel() != input.shape[1]):
        raise RuntimeError(f"prelu: weight of {weight.numel()} elements does not match input of shape {input.shape}")
    w = weight.reshape(()) if weight.numel() == 1 else weight.reshape((1, -1) + (1,) * (input.ndim - 2))
    return elementwise.where(input > 0, input, input * w)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """The cosine of the angle between x1 and x2 along dim: x1.x2 / max(|x1| |x2|, eps)."""
    dot = (x1 * x2).sum(dim)
    n1 = (x1 * x1).sum(dim)
    n2 = (x2 * x2).sum(dim)
    return dot / ((n1 * n2).clamp(min=eps * eps)).sqrt()


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> Tensor:
    """The p-norm of x1 - x2 + eps along the last dimension."""
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
    """(*, C r^2, H, W) -> (*, C, H r, W r): sub-pixel rearrangement by upscale_factor r."""
    r = int(upscale_factor)
    *lead, Cc, H, W = input.shape
    if Cc % (r * r):
        raise RuntimeError(f"pixel_shuffle: {Cc} channels are not divisible by upscale_factor**2 = {r * r}")
    x = input.reshape(*lead, Cc // (r * r), r, r, H, W)
    n = len(lead)
    x = x.permute(*range(n), n, n + 3, n + 1, n + 4, n + 2)
    return x.reshape(*lead, Cc // (r * r), H * r, W * r)


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """(*, C, H r, W r) -> (*, C r^2, H, W): the inverse of pixel_shuffle."""
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
