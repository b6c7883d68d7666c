"""Dropout: zeroes elements with probability p in training, scales the rest by 1/(1-p)."""

from __future__ import annotations

from .. import functional as F
from .module import Module


class Dropout(Module):
    """In training, zeroes each element with probability ``p`` and scales the rest by 1 / (1 - p);
    in eval mode the identity. The mask comes from the global generator (``neuraxon.manual_seed``).
    ``inplace`` is accepted for torch compatibility; the result is always a new tensor."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def forward(self, input):
        return F.dropout(input, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
