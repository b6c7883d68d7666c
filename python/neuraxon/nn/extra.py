"""More torch.nn modules, each a thin wrapper over a neuraxon.functional composite:
LayerNorm, GroupNorm, InstanceNorm2d; SiLU, Mish, Hardswish, Hardsigmoid, SELU, CELU, ReLU6,
Hardtanh, LogSigmoid, Softsign, Softmin, GLU, PReLU, Threshold, Tanhshrink; Dropout2d;
ZeroPad2d, ConstantPad2d, ReflectionPad2d, ReplicationPad2d, CircularPad2d; Upsample
(nearest), PixelShuffle, PixelUnshuffle; AdaptiveMaxPool2d; CosineSimilarity,
PairwiseDistance; SmoothL1Loss, HuberLoss, KLDivLoss. Parameter names, shapes, defaults and
state_dict keys follow torch.nn."""

from __future__ import annotations

from .. import functional as F
from ..creation import full, ones, zeros
from . import init
from ._util import float_only
from .activation import _legacy_dim
from .loss import _Loss
from .module import Module, Parameter


class LayerNorm(Module):
    """Normalizes over the trailing normalized_shape dims; weight = 1, bias = 0 of that shape."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True,
                 device=None, dtype=None) -> None:  # fmt: skip
        float_only(dtype, "LayerNorm")
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        if any(s <= 0 for s in shape):
            raise ValueError(f"LayerNorm: normalized_shape must be positive, got {shape}")
        self.normalized_shape = shape
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(ones(shape, device=device))
            self.bias = Parameter(zeros(shape, device=device)) if bias else None
        else:
            self.weight = None
            self.bias = None

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, input):
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class GroupNorm(Module):
    """Normalises each sample's channels in ``num_groups`` groups (mean and biased variance over a
    group's channels and positions), then scales and shifts per channel when ``affine``. Input (N,
    C, ...) with C == num_channels; no running statistics."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 device=None, dtype=None) -> None:  # fmt: skip
        float_only(dtype, "GroupNorm")
        super().__init__()
        if num_groups <= 0 or num_channels % num_groups:
            raise ValueError(f"num_channels ({num_channels}) must be divisible by num_groups ({num_groups})")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        if affine:
            self.weight = Parameter(ones(num_channels, device=device))
            self.bias = Parameter(zeros(num_channels, device=device))
        else:
            self.weight = None
            self.bias = None

    def forward(self, input):
        if input.ndim < 2 or input.shape[1] != self.num_channels:
            raise ValueError(f"GroupNorm: expected input with {self.num_channels} channels, got shape {input.shape}")
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


class InstanceNorm2d(Module):
    """Per-sample, per-channel normalization of (N, C, H, W); no running statistics."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = False,
                 track_running_stats: bool = False, device=None, dtype=None) -> None:  # fmt: skip
        float_only(dtype, "InstanceNorm2d")
        super().__init__()
        if track_running_stats:
            raise NotImplementedError("InstanceNorm2d: track_running_stats=True is not supported")
        self.num_features, self.eps, self.momentum, self.affine = num_features, eps, momentum, affine
        self.track_running_stats = False
        if affine:
            self.weight = Parameter(ones(num_features, device=device))
            self.bias = Parameter(zeros(num_features, device=device))
        else:
            self.weight = None
            self.bias = None

    def forward(self, input):
        if input.ndim not in (3, 4):
            raise ValueError(f"expected 3D or 4D input (got {input.ndim}D input)")
        x = input if input.ndim == 4 else input.unsqueeze(0)
        y = F.group_norm(x, x.shape[1], self.weight, self.bias, self.eps)
        return y if input.ndim == 4 else y.squeeze(0)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}"


# -- activations -----------------------------------------------------------------------


def _simple(name: str, fn, doc: str):
    def forward(self, input):
        return fn(input)

    return type(name, (Module,), {"forward": forward, "__doc__": doc, "__module__": __name__})


SiLU = _simple("SiLU", F.silu, "x * sigmoid(x)")
Mish = _simple("Mish", F.mish, "x * tanh(softplus(x))")
Hardswish = _simple("Hardswish", F.hardswish, "x * relu6(x + 3) / 6")
Hardsigmoid = _simple("Hardsigmoid", F.hardsigmoid, "relu6(x + 3) / 6")
SELU = _simple("SELU", F.selu, "scale * elu(x, alpha) with torch's constants")
ReLU6 = _simple("ReLU6", F.relu6, "min(max(x, 0), 6)")
LogSigmoid = _simple("LogSigmoid", F.logsigmoid, "log(sigmoid(x))")
Softsign = _simple("Softsign", F.softsign, "x / (1 + |x|)")
Tanhshrink = _simple("Tanhshrink", F.tanhshrink, "x - tanh(x)")


class CELU(Module):
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1)) elementwise. ``inplace`` is accepted for
    torch compatibility; the result is always a new tensor."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = alpha

    def forward(self, input):
        return F.celu(input, self.alpha)


class Hardtanh(Module):
    """x clipped to [min_val, max_val] elementwise. ``inplace`` is accepted for torch compatibility;
    the result is always a new tensor."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        if max_val <= min_val:
            raise ValueError(f"Hardtanh: max_val ({max_val}) must be greater than min_val ({min_val})")
        self.min_val, self.max_val = min_val, max_val

    def forward(self, input):
        return F.hardtanh(input, self.min_val, self.max_val)


class Threshold(Module):
    """x if x > threshold else value, elementwise. ``inplace`` is accepted for torch compatibility;
    the result is always a new tensor."""

    def __init__(self, threshold: float, value: float, inplace: bool = False) -> None:
        super().__init__()
        self.threshold, self.value = threshold, value

    def forward(self, input):
        return F.threshold(input, self.threshold, self.value)


class GLU(Module):
    """Gated linear unit: splits the input in two halves a, b along ``dim`` (its size must be even)
    and returns a * sigmoid(b)."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return F.glu(input, self.dim)


class Softmin(Module):
    """softmax(-x) along ``dim`` (``None``: torch's legacy default as Softmax)."""

    def __init__(self, dim=None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input):
        return F.softmin(input, self.dim if self.dim is not None else _legacy_dim(input))


class PReLU(Module):
    """weight (num_parameters) = init."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device=None, dtype=None) -> None:
        float_only(dtype, "PReLU")
        super().__init__()
        self.num_parameters = num_parameters
        self.weight = Parameter(full((num_parameters,), float(init), device=device))

    def forward(self, input):
        return F.prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


# -- dropout / padding / resampling / pooling -------------------------------------------


class Dropout2d(Module):
    """In training, zeroes whole channels (N, C, H, W) of each sample with probability ``p`` and
    scales the rest by 1 / (1 - p); the identity in eval mode. ``inplace`` is accepted for torch
    compatibility; the result is always a new tensor."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, input):
        return F.dropout2d(input, self.p, self.training)


class _Pad2d(Module):
    _mode = "constant"

    def __init__(self, padding, value: float = 0.0) -> None:
        super().__init__()
        self.padding = (padding,) * 4 if isinstance(padding, int) else tuple(padding)
        if len(self.padding) != 4:
            raise ValueError(f"{type(self).__name__}: padding must be an int or 4 ints, got {padding}")
        self.value = value

    def forward(self, input):
        if self._mode == "constant":
            return F.pad(input, self.padding, value=self.value)
        return F.pad(input, self.padding, mode=self._mode)

    def extra_repr(self) -> str:
        return f"{self.padding}" + (f", value={self.value}" if self._mode == "constant" else "")


class ZeroPad2d(_Pad2d):
    """Pads the last two dimensions with zeros: ``padding`` is an int or (left, right, top, bottom)."""

    def __init__(self, padding) -> None:
        super().__init__(padding, 0.0)


class ConstantPad2d(_Pad2d):
    """Pads the last two dimensions with ``value``: ``padding`` is an int or (left, right, top,
    bottom)."""

    pass


class ReflectionPad2d(_Pad2d):
    """Pads the last two dimensions by reflection (the edge not repeated): ``padding`` is an int or
    (left, right, top, bottom), each smaller than that dimension."""

    _mode = "reflect"


class ReplicationPad2d(_Pad2d):
    """Pads the last two dimensions by repeating the edge values: ``padding`` is an int or (left,
    right, top, bottom)."""

    _mode = "replicate"


class CircularPad2d(_Pad2d):
    """Pads the last two dimensions by wrapping around (periodic): ``padding`` is an int or (left,
    right, top, bottom)."""

    _mode = "circular"


class Upsample(Module):
    """Resizes (N, C, L) or (N, C, H, W) input to ``size`` or by ``scale_factor``: 'nearest',
    'linear' or 'bilinear' (``align_corners`` as torch); see nn.functional.interpolate. Other modes
    raise NotImplementedError."""

    def __init__(self, size=None, scale_factor=None, mode: str = "nearest", align_corners=None,
                 recompute_scale_factor=None) -> None:  # fmt: skip
        super().__init__()
        if mode not in ("nearest", "linear", "bilinear"):
            raise NotImplementedError(f"Upsample: mode {mode!r} is not supported (nearest, linear, bilinear)")
        self.size, self.scale_factor, self.mode, self.align_corners = size, scale_factor, mode, align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input):
        return F.interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners,
                             recompute_scale_factor=self.recompute_scale_factor)  # fmt: skip


class PixelShuffle(Module):
    """(N, C * r^2, H, W) -> (N, C, H * r, W * r) with r = upscale_factor (sub-pixel convolution's
    rearrangement)."""

    def __init__(self, upscale_factor: int) -> None:
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, input):
        return F.pixel_shuffle(input, self.upscale_factor)


class PixelUnshuffle(Module):
    """The inverse of PixelShuffle: (N, C, H * r, W * r) -> (N, C * r^2, H, W) with r =
    downscale_factor."""

    def __init__(self, downscale_factor: int) -> None:
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, input):
        return F.pixel_unshuffle(input, self.downscale_factor)


class AdaptiveMaxPool2d(Module):
    """Max pooling of (N, C, H, W) or (C, H, W) to ``output_size`` (an int or (h, w); None
    keeps that size), over torch's adaptive windows. ``return_indices=True`` raises
    NotImplementedError."""

    def __init__(self, output_size, return_indices: bool = False) -> None:
        super().__init__()
        self.output_size, self.return_indices = output_size, return_indices

    def forward(self, input):
        return F.adaptive_max_pool2d(input, self.output_size, self.return_indices)


class CosineSimilarity(Module):
    """x1 . x2 / max(||x1|| * ||x2||, eps) along ``dim`` (inputs broadcast)."""

    def __init__(self, dim: int = 1, eps: float = 1e-8) -> None:
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x1, x2):
        return F.cosine_similarity(x1, x2, self.dim, self.eps)


class PairwiseDistance(Module):
    """||x1 - x2 + eps||_p along the last dimension (``keepdim`` keeps it as size 1)."""

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> None:
        super().__init__()
        self.norm, self.eps, self.keepdim = p, eps, keepdim

    def forward(self, x1, x2):
        return F.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)


# -- losses ----------------------------------------------------------------------------


class SmoothL1Loss(_Loss):
    """0.5 * d^2 / beta where |d| < beta, else |d| - 0.5 * beta (d = input - target), reduced by
    ``reduction``."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input, target):
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(_Loss):
    """0.5 * d^2 where |d| <= delta, else delta * (|d| - 0.5 * delta) (d = input - target), reduced
    by ``reduction``."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(None, None, reduction)
        self.delta = delta

    def forward(self, input, target):
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class KLDivLoss(_Loss):
    """Kullback-Leibler divergence with ``input`` as log-probabilities: target * (log(target) -
    input) (``log_target``: target given as log-probabilities), reduced by ``reduction``
    ('batchmean': the sum divided by the batch size, the mathematically correct KL; 'mean' divides
    by every element as torch)."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean", log_target: bool = False) -> None:
        if reduction == "batchmean":
            super().__init__(size_average, reduce, "mean")
            self.reduction = "batchmean"
        else:
            super().__init__(size_average, reduce, reduction)
        self.log_target = log_target

    def forward(self, input, target):
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)
