"""SGD with momentum, dampening, Nesterov, weight decay and maximize (one fused kernel)."""

from __future__ import annotations

from .. import _array

from typing import Callable, Iterable

from .optimizer import Optimizer, _check, _numel


class SGD(Optimizer):
    """Stochastic gradient descent, torch's rule (g = grad, negated when maximize)::

    g = g + weight_decay * p
    if momentum != 0:
        b = g                                   (first step)
        b = momentum * b + (1 - dampening) * g  (later steps)
        g = g + momentum * b if nesterov else b
    p = p - lr * g
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach=None,
        differentiable: bool = False,
        fused=None,
    ) -> None:
        _check(lr >= 0.0, f"Invalid learning rate: {lr}")
        _check(momentum >= 0.0, f"Invalid momentum value: {momentum}")
        _check(weight_decay >= 0.0, f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(
            params,
            dict(
                lr=lr,
                momentum=momentum,
                dampening=dampening,
                weight_decay=weight_decay,
                nesterov=nesterov,
                maximize=maximize,
            ),
        )

    def step(self, closure: Callable | None = None):
        loss = self._closure(closure)
        for group in self.param_groups:
            momentum = float(group["momentum"])
            for p, g in self._grads(group):
                state = self.state[p]
                buf = state.get("momentum_buffer")
                first = False
                if momentum != 0 and buf is None:
                    buf = self._zeros_like(p)
                    state["momentum_buffer"] = buf
                    first = True
                _array.run(
                    "sgd_step",
                    p.device,
                    p._data,
                    None if momentum == 0 else buf._data,
                    g._data,
                    _numel(p),
                    float(group["lr"]),
                    momentum,
                    float(group["dampening"]),
                    float(group["weight_decay"]),
                    bool(group["nesterov"]),
                    bool(group["maximize"]),
                    first,
                )
        return loss
