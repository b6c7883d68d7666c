"""Batch normalization: BatchNorm1d ((N, C) or (N, C, L)), BatchNorm2d ((N, C, H, W)) and
SyncBatchNorm ((N, C, *), statistics over every process's batch)."""

from __future__ import annotations

import numpy as np

from .. import autograd as _autograd
from .. import distributed as dist
from .. import dtypes as _dtypes
from .. import functional as F
from ..creation import empty, ones, tensor, zeros
from ..ops.normalization import sync_batch_norm
from . import init
from ._util import assign_, float_only
from .module import Module, Parameter


class _BatchNorm(Module):
    """weight (C) = 1, bias (C) = 0; buffers running_mean (C) = 0, running_var (C) = 1 and
    num_batches_tracked (int64 scalar). momentum=None uses the cumulative average
    (factor 1 / num_batches_tracked), as torch."""

    _dims: tuple[int, ...] = ()

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device=None,
        dtype=None,
    ) -> None:
        float_only(dtype, "_BatchNorm")
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = Parameter(empty((num_features,), device=device))
            self.bias = Parameter(empty((num_features,), device=device))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", zeros((num_features,), device=device))
            self.register_buffer("running_var", ones((num_features,), device=device))
            self.register_buffer("num_batches_tracked", tensor(0, dtype=_dtypes.int64, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            assign_(self.num_batches_tracked, np.array(0, dtype=np.int64))

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def _check_input_dim(self, input) -> None:
        if len(input.shape) not in self._dims:
            want = " or ".join(f"{d}D" for d in self._dims)
            raise ValueError(f"expected {want} input (got {len(input.shape)}D input)")

    def forward(self, input):
        self._check_input_dim(input)
        bn_training, rm, rv, factor = self._forward_args()
        return F.batch_norm(input, rm, rv, self.weight, self.bias, bn_training, factor, self.eps)

    def _forward_args(self) -> tuple:
        """(training statistics?, running_mean, running_var, momentum factor) of one forward, as
        torch: counts the batch in num_batches_tracked (momentum None: factor 1 / count)."""
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            if self.momentum is None:  # the count is needed on the host
                n = int(self.num_batches_tracked.item()) + 1
                assign_(self.num_batches_tracked, np.array(n, dtype=np.int64))
                factor = 1.0 / n
            else:  # counted on the device, no synchronisation
                with _autograd.no_grad():
                    self.num_batches_tracked.add_(1)
        bn_training = self.training or (self.running_mean is None and self.running_var is None)
        use_running = not self.training or self.track_running_stats
        return (
            bn_training,
            self.running_mean if use_running else None,
            self.running_var if use_running else None,
            factor,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Normalizes (N, C) or (N, C, L) over N (and L) per channel."""

    _dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Normalizes (N, C, H, W) over N, H, W per channel."""

    _dims = (4,)


class SyncBatchNorm(_BatchNorm):
    """Batch normalization whose training statistics are those of the global batch: every
    process of the default process group normalizes its (N_r, C, *) input (2-D to 5-D or more;
    N_r may differ between ranks) with the mean and variance of all ranks' inputs together, so
    that data-parallel training with small per-rank batches normalizes as one process on the
    whole batch would (torch.nn.SyncBatchNorm).

    Training, with a process group of two or more ranks: the forward gathers each rank's
    per-channel count, mean and M2 (one all-reduce; combined as Chan's parallel variance), and
    the backward all-reduces the per-channel sums of dy and dy * xhat, so the input gradient is
    the gradient of the whole batch; weight and bias get this rank's share (DDP averages them,
    as for any parameter). running_mean/running_var are updated with the global mean and
    unbiased variance, identical on every rank. Every rank must run each forward and backward
    (they are collectives). Otherwise (eval mode, no process group, a world of one) it is
    exactly BatchNorm: a single process trains the same with or without it.

    weight (C) = 1, bias (C) = 0, running_mean (C) = 0, running_var (C) = 1,
    num_batches_tracked; momentum None: cumulative average. process_group: None (the default
    group, the only one neuraxon has). Differences from torch: CPU tensors work too (torch
    wants GPU input); a channel count that does not match num_features raises ValueError.
    Use convert_sync_batchnorm(model) to replace a model's BatchNorm layers.
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        process_group=None,
        device=None,
        dtype=None,
    ) -> None:
        if process_group is not None and process_group is not dist.WORLD:
            raise ValueError("SyncBatchNorm: neuraxon.distributed has only the default group (process_group=None)")
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)
        self.process_group = process_group

    def _check_input_dim(self, input) -> None:
        if len(input.shape) < 2:
            raise ValueError(f"expected at least 2D input (got {len(input.shape)}D input)")

    def forward(self, input):
        self._check_input_dim(input)
        if input.shape[1] != self.num_features:
            raise ValueError(
                f"SyncBatchNorm: input of shape {tuple(input.shape)} has {input.shape[1]} channels, "
                f"expected {self.num_features} (num_features)"
            )
        bn_training, rm, rv, factor = self._forward_args()
        if self.training and bn_training and dist.is_initialized() and dist.get_world_size() > 1:
            return sync_batch_norm(input, rm, rv, self.weight, self.bias, factor, self.eps)
        return F.batch_norm(input, rm, rv, self.weight, self.bias, bn_training, factor, self.eps)

    @classmethod
    def convert_sync_batchnorm(cls, module, process_group=None):
        """`module` with every BatchNorm layer in it (itself included) replaced by a
        SyncBatchNorm holding the same parameters and buffers (the same tensors, not copies)
        and the same training flag; other modules are kept. Returns the converted module
        (`module` itself unless it is a BatchNorm layer), as torch."""
        out = module
        if isinstance(module, _BatchNorm):
            dev = module.running_mean.device if module.running_mean is not None else None
            if module.weight is not None:
                dev = module.weight.device
            out = cls(
                module.num_features,
                module.eps,
                module.momentum,
                module.affine,
                module.track_running_stats,
                process_group,
                device=dev,
            )
            if module.affine:
                out.weight, out.bias = module.weight, module.bias
            out.running_mean = module.running_mean
            out.running_var = module.running_var
            out.num_batches_tracked = module.num_batches_tracked
            out.training = module.training
        for name, child in module.named_children():
            out.add_module(name, cls.convert_sync_batchnorm(child, process_group))
        return out
