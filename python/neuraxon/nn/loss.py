"""Loss modules: CrossEntropyLoss, NLLLoss, MSELoss, L1Loss, BCELoss, BCEWithLogitsLoss."""

from __future__ import annotations

from .. import functional as F
from .module import Module

_REDUCTIONS = ("none", "mean", "sum")


def _legacy_reduction(size_average, reduce, reduction: str) -> str:
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if not reduce:
        return "none"
    return "mean" if size_average else "sum"


class _Loss(Module):
    def __init__(self, size_average=None, reduce=None, reduction: str = "mean") -> None:
        super().__init__()
        reduction = _legacy_reduction(size_average, reduce, reduction)
        if reduction not in _REDUCTIONS:
            raise ValueError(f"{reduction} is not a valid value for reduction")
        self.reduction = reduction

    def _kw(self, **extra) -> dict:
        """Keyword arguments for the functional: only those that differ from the defaults."""
        kw = {k: v for k, v in extra.items() if v is not None}
        if self.reduction != "mean":
            kw["reduction"] = self.reduction
        return kw


class _WeightedLoss(_Loss):
    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)


class CrossEntropyLoss(_WeightedLoss):
    """input (N, C) logits (or (N, C, d...)), target (N) class indices (int64)."""

    def __init__(
        self,
        weight=None,
        size_average=None,
        ignore_index: int = -100,
        reduce=None,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(
            input,
            target,
            **self._kw(
                weight=self.weight,
                ignore_index=None if self.ignore_index == -100 else self.ignore_index,
                label_smoothing=self.label_smoothing or None,
            ),
        )


class NLLLoss(_WeightedLoss):
    """input (N, C) log-probabilities, target (N) class indices."""

    def __init__(
        self, weight=None, size_average=None, ignore_index: int = -100, reduce=None, reduction: str = "mean"
    ) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        return F.nll_loss(
            input,
            target,
            **self._kw(weight=self.weight, ignore_index=None if self.ignore_index == -100 else self.ignore_index),
        )


class MSELoss(_Loss):
    """Mean squared error (input - target)^2, reduced by ``reduction`` ('mean', 'sum' or 'none')."""

    def forward(self, input, target):
        return F.mse_loss(input, target, **self._kw())


class L1Loss(_Loss):
    """Mean absolute error |input - target|, reduced by ``reduction`` ('mean', 'sum' or 'none')."""

    def forward(self, input, target):
        return F.l1_loss(input, target, **self._kw())


class BCELoss(_WeightedLoss):
    """input probabilities in [0, 1], target of the same shape."""

    def forward(self, input, target):
        return F.binary_cross_entropy(input, target, **self._kw(weight=self.weight))


class BCEWithLogitsLoss(_Loss):
    """Sigmoid + BCE in one numerically stable op; optional weight and pos_weight."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean", pos_weight=None) -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input, target):
        return F.binary_cross_entropy_with_logits(
            input, target, **self._kw(weight=self.weight, pos_weight=self.pos_weight)
        )
