"""Tensor methods: reductions (sum, mean, var, max/min, norms, cumulative ops, sorting)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .. import _array, autograd
from .. import _codes as C
from .._tensor_base import TensorBase
from ..creation import full
from ..dtypes import bool_, float32, int64
from ..ops import elementwise, reduction
from ..tensor_functions import _MedianRes

if TYPE_CHECKING:
    pass


class ReductionMethods:
    """Mixed into neuraxon.Tensor (see tensor.py); methods only, no state."""

    __slots__ = ()

    # -- reductions -----------------------------------------------------------------------
    def sum(self, dim=None, keepdim: bool = False, dtype=None):
        return reduction.reduce(self, dim, keepdim, C.RED_SUM, dtype)

    def mean(self, dim=None, keepdim: bool = False, dtype=None):
        return reduction.reduce(self, dim, keepdim, C.RED_MEAN, dtype)

    def prod(self, dim=None, keepdim: bool = False):
        if self.dtype is float32 and self.requires_grad:
            return reduction.Prod.apply(self, _array.norm_dims(dim, self.ndim), keepdim)
        return reduction.reduce(self, dim, keepdim, C.RED_PROD)

    def var(self, dim=None, unbiased: bool | None = None, keepdim: bool = False, *, correction=None):
        if correction is None:
            correction = 1 if unbiased is None or unbiased else 0
        if self.ndim == 0 and dim is not None:  # dim 0 / -1 of a 0-d tensor: itself, as torch
            _array.norm_dims(dim, 1)
            return self.reshape(1).var(0, keepdim=False, correction=correction)
        dims = _array.norm_dims(reduction.red_dim(dim), self.ndim)
        n = 1
        for d in dims:
            n *= self.shape[d]
        x = self if self.dtype is float32 else self.float()
        mu = x.mean(dims if dims else None, keepdim=True) if dims else x
        sq = ((x - mu) ** 2).sum(dims, keepdim=keepdim)
        denom = max(n - correction, 0)
        return sq / denom if denom > 0 else sq * float("nan")

    def std(self, dim=None, unbiased: bool | None = None, keepdim: bool = False, *, correction=None):
        return reduction.StdFromVar.apply(self.var(dim, unbiased, keepdim, correction=correction))

    def max(self, dim=None, keepdim: bool = False):
        if isinstance(dim, TensorBase):
            return self.maximum(dim)
        return reduction.maxmin(self, dim, keepdim, True)

    def min(self, dim=None, keepdim: bool = False):
        if isinstance(dim, TensorBase):
            return self.minimum(dim)
        return reduction.maxmin(self, dim, keepdim, False)

    def amax(self, dim=None, keepdim: bool = False):
        return self._amaxmin(dim, keepdim, True)

    def amin(self, dim=None, keepdim: bool = False):
        return self._amaxmin(dim, keepdim, False)

    def _amaxmin(self, dim, keepdim, is_max):
        if dim is None and not keepdim:
            return self.max() if is_max else self.min()
        if isinstance(dim, (list, tuple)) and len(dim) == 0:
            dim = None
        dims = _array.norm_dims(dim, self.ndim)
        if self.dtype is float32 and self.requires_grad and autograd.is_grad_enabled() and self.ndim:
            return reduction.AMaxMin.apply(self, dims, bool(keepdim), is_max)
        out = self
        for d in sorted(dims, reverse=True):
            r = out.max(d, keepdim) if is_max else out.min(d, keepdim)
            out = r.values
        return out

    def argmax(self, dim=None, keepdim: bool = False):
        return reduction.argmaxmin(self, dim, keepdim, True)

    def argmin(self, dim=None, keepdim: bool = False):
        return reduction.argmaxmin(self, dim, keepdim, False)

    def norm(self, p=2, dim=None, keepdim: bool = False):
        dim = reduction.red_dim(dim)
        if not self.dtype.is_floating_point:
            raise RuntimeError(f"norm(): expected a floating point tensor, got {self.dtype.name}")
        if p in ("fro", 2, 2.0):
            if self.dtype is float32 and self.requires_grad and autograd.is_grad_enabled():
                return reduction.Norm2.apply(self, _array.norm_dims(dim, self.ndim), bool(keepdim))
            return (self * self).sum(dim, keepdim).sqrt()
        if p in (1, 1.0):
            return self.abs().sum(dim, keepdim)
        if p in (math.inf, float("inf")):
            return self.abs().amax(dim, keepdim)
        if p in (-math.inf, float("-inf")):
            return self.abs().amin(dim, keepdim)
        if p == 0:  # the number of non-zero elements: in the graph, no gradient (as torch)
            return reduction.Norm0.apply(self, _array.norm_dims(dim, self.ndim), bool(keepdim))
        p = float(p)
        return (self.abs() ** p).sum(dim, keepdim) ** (1.0 / p)

    def logsumexp(self, dim, keepdim: bool = False):
        if self.dtype is not float32:
            return self.float().logsumexp(dim, keepdim)
        dim = reduction.red_dim(dim)
        dims = _array.norm_dims(dim, self.ndim)
        if self.numel() == 0:  # log(sum of nothing) = -inf, as torch
            shape = (
                tuple(1 if i in dims else s for i, s in enumerate(self.shape))
                if keepdim
                else tuple(s for i, s in enumerate(self.shape) if i not in dims)
            )
            return full(shape, -math.inf, device=self.device)
        if dim is None:
            dim = dims
        m = self.detach().amax(dim, keepdim=True)
        m = elementwise.where(m.abs() == math.inf, 0.0, m)
        out = (self - m).exp().sum(dim, keepdim=True).log() + m
        if not keepdim:
            out = (
                out.squeeze(dim)
                if isinstance(dim, int)
                else out.reshape(
                    tuple(s for i, s in enumerate(self.shape) if i not in _array.norm_dims(dim, self.ndim))
                )
            )
        return out

    def all(self, dim=None, keepdim: bool = False):
        if isinstance(dim, (tuple, list)) and not dim:
            return self.bool().clone()  # torch: all over no dims is elementwise
        # all == no element is zero: count the zeros (works on empty tensors too)
        x = (self == 0) if self.dtype is not bool_ else (self == False)  # noqa: E712
        return x.long().sum(dim, keepdim) == 0

    def any(self, dim=None, keepdim: bool = False):
        if isinstance(dim, (tuple, list)) and not dim:
            return self.bool().clone()
        x = (self != 0) if self.dtype is not bool_ else self
        return x.long().sum(dim, keepdim) > 0

    def count_nonzero(self, dim=None):
        return (self != 0).sum(reduction.red_dim(dim))

    def nansum(self, dim=None, keepdim: bool = False, dtype=None):
        x = self if self.dtype is not float32 else elementwise.where(self.isnan(), 0.0, self)
        return x.sum(dim, keepdim, dtype=dtype)

    def nanmean(self, dim=None, keepdim: bool = False, dtype=None):
        if self.dtype is not float32 and dtype is None:
            raise RuntimeError(f"nanmean(): expected a floating point tensor, got {self.dtype.name}")
        x = self.to(dtype) if dtype is not None else self
        ok = (x == x).float()
        return x.nansum(dim, keepdim) / ok.sum(dim, keepdim)

    def median(self, dim=None, keepdim: bool = False):
        """The lower of the two middle values (as torch); with dim, (values, indices)."""
        if dim is None:
            if self.numel() == 0:
                return full((), math.nan, device=self.device)  # as torch
            v, _ = self.reshape(-1).sort()
            n = v.shape[0]
            nan = v.isnan()
            if bool(nan.any()):
                return v[n - 1]  # NaN sorts last: the median of data with NaN is NaN
            return v[(n - 1) // 2]
        d = _array.norm_dim(dim, self.ndim)
        if self.ndim == 0:
            return _MedianRes(self.clone(), full((), 0, dtype=int64, device=self.device))
        size = self.shape[d]
        if size == 0:
            raise IndexError(f"median(): Expected reduction dim {d} to have non-zero size (shape {self.shape})")
        v, i = self.sort(d)
        k = (size - 1) // 2
        if self.dtype is float32:
            # a row holding NaN has median NaN: after sorting, its last element
            pos = elementwise.where(v.isnan().any(d, keepdim=True), size - 1, k)
            vals, idx = v._gather_along(d, pos), i._gather_along(d, pos)
        else:
            vals, idx = v.narrow(d, k, 1), i.narrow(d, k, 1)
        if not keepdim:
            vals, idx = vals.squeeze(d), idx.squeeze(d)
        return _MedianRes(vals, idx)
