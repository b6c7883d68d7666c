"""Adagrad (one fused kernel per parameter)."""

from __future__ import annotations

from .. import _array

from typing import Callable, Iterable

from .optimizer import Optimizer, _check, _numel


class Adagrad(Optimizer):
    """Adagrad, torch's rule (step t from 1; g negated when maximize)::

    clr = lr / (1 + (t - 1) * lr_decay)
    g = g + weight_decay * p
    sum = sum + g * g                      (sum starts at initial_accumulator_value)
    p = p - clr * g / (sqrt(sum) + eps)
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        foreach=None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused=None,
    ) -> None:
        _check(lr >= 0.0, f"Invalid learning rate: {lr}")
        _check(lr_decay >= 0.0, f"Invalid lr_decay value: {lr_decay}")
        _check(weight_decay >= 0.0, f"Invalid weight_decay value: {weight_decay}")
        _check(
            initial_accumulator_value >= 0.0, f"Invalid initial_accumulator_value value: {initial_accumulator_value}"
        )
        _check(eps >= 0.0, f"Invalid epsilon value: {eps}")
        super().__init__(
            params,
            dict(
                lr=lr,
                lr_decay=lr_decay,
                eps=eps,
                weight_decay=weight_decay,
                initial_accumulator_value=initial_accumulator_value,
                maximize=maximize,
            ),
        )
        for group in self.param_groups:  # torch creates the state eagerly
            for p in group["params"]:
                st = self.state[p]
                st["step"] = 0
                st["sum"] = self._full_like(p, group["initial_accumulator_value"])

    def step(self, closure: Callable | None = None):
        loss = self._closure(closure)
        for group in self.param_groups:
            for p, g in self._grads(group):
                st = self.state[p]
                if "sum" not in st:
                    st["step"] = 0
                    st["sum"] = self._full_like(p, group["initial_accumulator_value"])
                st["step"] += 1
                _array.run(
                    "adagrad_step",
                    p.device,
                    p._data,
                    st["sum"]._data,
                    g._data,
                    _numel(p),
                    float(group["lr"]),
                    float(group["lr_decay"]),
                    float(group["weight_decay"]),
                    float(group["eps"]),
                    int(st["step"]),
                    bool(group["maximize"]),
                )
        return loss
