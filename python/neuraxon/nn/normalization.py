"""Batch normalization: BatchNorm1d ((N, C) or (N, C, L)) and BatchNorm2d ((N, C, H, W))."""

from __future__ import annotations

import numpy as np

from .. import autograd as _autograd
from .. import dtypes as _dtypes
from .. import functional as F
from ..creation import empty, ones, tensor, zeros
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
        return F.batch_norm(
            input,
            self.running_mean if use_running else None,
            self.running_var if use_running else None,
            self.weight,
            self.bias,
            bn_training,
            factor,
            self.eps,
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
