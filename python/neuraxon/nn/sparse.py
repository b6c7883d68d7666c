"""Embedding: a lookup table (num_embeddings, embedding_dim), N(0, 1) init, padding_idx row 0."""

from __future__ import annotations

from .. import functional as F
from ..creation import empty
from . import init
from ._util import float_only
from .module import Module, Parameter


class Embedding(Module):
    """A lookup table: ``weight`` (num_embeddings, embedding_dim), initialised N(0, 1), indexed by
    an int64 tensor of any shape (output: that shape + (embedding_dim,)). The ``padding_idx`` row
    starts at zero and gets no gradient. ``max_norm``, ``scale_grad_by_freq`` and ``sparse`` raise
    NotImplementedError; ``_weight``/``_freeze`` as torch's (``from_pretrained``)."""

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
        _weight=None,
        _freeze: bool = False,
        device=None,
        dtype=None,
    ) -> None:
        float_only(dtype, "Embedding")
        super().__init__()
        if padding_idx is not None:
            if padding_idx > 0 and padding_idx >= num_embeddings:
                raise AssertionError("Padding_idx must be within num_embeddings")
            if padding_idx < 0:
                if padding_idx < -num_embeddings:
                    raise AssertionError("Padding_idx must be within num_embeddings")
                padding_idx = num_embeddings + padding_idx
        if max_norm is not None or scale_grad_by_freq or sparse:
            raise NotImplementedError("Embedding: max_norm, scale_grad_by_freq and sparse are not supported")
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = padding_idx
        if _weight is None:
            self.weight = Parameter(
                empty((num_embeddings, embedding_dim), device=device), requires_grad=not _freeze
            )
            self.reset_parameters()
        else:
            self.weight = Parameter(_weight, requires_grad=not _freeze)

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        self._fill_padding_idx_with_zero()

    def _fill_padding_idx_with_zero(self) -> None:
        if self.padding_idx is not None:
            from ._util import assign_, to_numpy

            w = to_numpy(self.weight).copy()
            w[self.padding_idx] = 0
            assign_(self.weight, w)

    def forward(self, input):
        return F.embedding(input, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True, padding_idx: int | None = None) -> "Embedding":
        rows, cols = tuple(embeddings.shape)
        return cls(rows, cols, padding_idx=padding_idx, _weight=embeddings, _freeze=freeze)
