"""Adadelta (one fused kernel per parameter)."""

from __future__ import annotations

from .. import _array

from typing import Callable, Iterable

from .optimizer import Optimizer, _check, _numel


class Adadelta(Optimizer):
    """Adadelta, torch's rule (g negated when maximize)::

    g = g + weight_decay * p
    v = rho * v + (1 - rho) * g * g
    d = sqrt(u + eps) / sqrt(v + eps) * g
    u = rho * u + (1 - rho) * d * d
    p = p - lr * d
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        foreach=None,
        *,
        capturable: bool = False,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check(lr >= 0.0, f"Invalid learning rate: {lr}")
        _check(0.0 <= rho <= 1.0, f"Invalid rho value: {rho}")
        _check(eps >= 0.0, f"Invalid epsilon value: {eps}")
        _check(weight_decay >= 0.0, f"Invalid weight_decay value: {weight_decay}")
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize))

    def step(self, closure: Callable | None = None):
        loss = self._closure(closure)
        for group in self.param_groups:
            for p, g in self._grads(group):
                st = self.state[p]
                if "square_avg" not in st:
                    st["step"] = 0
                    st["square_avg"] = self._zeros_like(p)
                    st["acc_delta"] = self._zeros_like(p)
                st["step"] += 1
                _array.run(
                    "adadelta_step",
                    p.device,
                    p._data,
                    st["square_avg"]._data,
                    st["acc_delta"]._data,
                    g._data,
                    _numel(p),
                    float(group["lr"]),
                    float(group["rho"]),
                    float(group["eps"]),
                    float(group["weight_decay"]),
                    bool(group["maximize"]),
                )
        return loss
