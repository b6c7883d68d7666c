"""Batch normalization (training statistics and running averages, or eval)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import _array
from .._array import prod
from ..autograd import Function
from ..dtypes import float32
from ..ops._args import _need_float, _opt

if TYPE_CHECKING:
    from ..tensor import Tensor


class _BatchNorm(Function):
    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, training, momentum, eps):
        N, Cc = x.shape[0], x.shape[1]
        HW = prod(x.shape[2:])
        out = _array.empty(x.shape, float32, x.device)
        mean = _array.empty((Cc,), float32, x.device)
        invstd = _array.empty((Cc,), float32, x.device)
        _array.run(
            "batchnorm_forward",
            x.device,
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
        _array.run(
            "batchnorm_backward",
            x.device,
            _opt(dx),
            _opt(dw),
            _opt(db),
            g._data,
            x._data,
            _opt(weight),
            mean._data,
            invstd._data,
            N,
            Cc,
            HW,
            training,
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
