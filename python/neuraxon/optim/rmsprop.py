"""RMSprop with momentum and the centered variant (one fused kernel per parameter)."""

from __future__ import annotations

from .. import _array

from typing import Callable, Iterable

from .optimizer import Optimizer, _check, _numel


class RMSprop(Optimizer):
    """RMSprop, torch's rule (g negated when maximize)::

    g = g + weight_decay * p
    v = alpha * v + (1 - alpha) * g * g
    avg = sqrt(v - ga * ga) + eps, ga = alpha * ga + (1 - alpha) * g   (centered)
    avg = sqrt(v) + eps                                             (otherwise)
    b = momentum * b + g / avg; p = p - lr * b                      (momentum > 0)
    p = p - lr * g / avg                                            (otherwise)
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        capturable: bool = False,
        foreach=None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check(lr >= 0.0, f"Invalid learning rate: {lr}")
        _check(eps >= 0.0, f"Invalid epsilon value: {eps}")
        _check(momentum >= 0.0, f"Invalid momentum value: {momentum}")
        _check(weight_decay >= 0.0, f"Invalid weight_decay value: {weight_decay}")
        _check(alpha >= 0.0, f"Invalid alpha value: {alpha}")
        super().__init__(
            params,
            dict(
                lr=lr,
                momentum=momentum,
                alpha=alpha,
                eps=eps,
                centered=centered,
                weight_decay=weight_decay,
                maximize=maximize,
            ),
        )

    def step(self, closure: Callable | None = None):
        loss = self._closure(closure)
        for group in self.param_groups:
            momentum = float(group["momentum"])
            centered = bool(group["centered"])
            for p, g in self._grads(group):
                st = self.state[p]
                if "square_avg" not in st:
                    st["step"] = 0
                    st["square_avg"] = self._zeros_like(p)
                    if momentum > 0:
                        st["momentum_buffer"] = self._zeros_like(p)
                    if centered:
                        st["grad_avg"] = self._zeros_like(p)
                st["step"] += 1
                mb = st.get("momentum_buffer") if momentum > 0 else None
                ga = st.get("grad_avg") if centered else None
                if momentum > 0 and mb is None:
                    mb = st["momentum_buffer"] = self._zeros_like(p)
                if centered and ga is None:
                    ga = st["grad_avg"] = self._zeros_like(p)
                _array.run(
                    "rmsprop_step",
                    p.device,
                    p._data,
                    st["square_avg"]._data,
                    None if mb is None else mb._data,
                    None if ga is None else ga._data,
                    g._data,
                    _numel(p),
                    float(group["lr"]),
                    float(group["alpha"]),
                    float(group["eps"]),
                    float(group["weight_decay"]),
                    momentum,
                    centered,
                    bool(group["maximize"]),
                )
        return loss
