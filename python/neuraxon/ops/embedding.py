"""Embedding lookup (gather rows) with padding_idx, max_norm and scatter-add backward."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import _array
from .. import _codes as C
from ..autograd import Function
from ..dtypes import float32, int64

if TYPE_CHECKING:
    from ..tensor import Tensor


class _Embedding(Function):
    @staticmethod
    def forward(ctx, idx, weight, padding_idx):
        V, D = weight.shape
        flat = idx.reshape(-1)
        m = flat.numel()
        out = _array.empty(idx.shape + (D,), float32, weight.device)
        if out.numel():
            _array.run("gather", weight.device, out._data, weight._data, flat._data, 1, V, m, D)
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
            keep = _array.cast(
                _array.binary_raw(flat, _array.full((), padding_idx, int64, g.device), C.BIN_NE), float32
            )
            src = _array.binary_raw(src, keep.reshape(m, 1), C.BIN_MUL)
        d = _array.zeros((V, D), float32, g.device)
        if m * D:
            _array.run("scatter_add", g.device, d._data, src._data, flat._data, 1, V, m, D)
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
    _array.check_index(input, 0, weight.shape[0], 0)  # on CUDA: raised at the next sync
    return _Embedding.apply(input, weight, padding_idx)
