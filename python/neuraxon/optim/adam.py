"""Adam (with amsgrad) and AdamW (decoupled weight decay), one fused kernel per parameter."""

from __future__ import annotations

from .. import _array

from typing import Callable, Iterable

from .optimizer import Optimizer, _check, _numel


class Adam(Optimizer):
    """Adam, torch's rule (step t from 1; g negated when maximize)::

    g = g + weight_decay * p                   (Adam; AdamW instead p = p * (1 - lr * wd))
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    vmax = max(vmax, v)                        (amsgrad; used instead of v below)
    p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
    """

    _decoupled = False

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        foreach=None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused=None,
        decoupled_weight_decay: bool = False,
    ) -> None:
        _check(lr >= 0.0, f"Invalid learning rate: {lr}")
        _check(eps >= 0.0, f"Invalid epsilon value: {eps}")
        _check(0.0 <= betas[0] < 1.0, f"Invalid beta parameter at index 0: {betas[0]}")
        _check(0.0 <= betas[1] < 1.0, f"Invalid beta parameter at index 1: {betas[1]}")
        _check(weight_decay >= 0.0, f"Invalid weight_decay value: {weight_decay}")
        self._decoupled = self._decoupled or decoupled_weight_decay
        super().__init__(
            params,
            dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize),
        )

    def step(self, closure: Callable | None = None):
        loss = self._closure(closure)
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            amsgrad = bool(group["amsgrad"])
            for p, g in self._grads(group):
                st = self.state[p]
                if "exp_avg" not in st:
                    st["step"] = 0
                    st["exp_avg"] = self._zeros_like(p)
                    st["exp_avg_sq"] = self._zeros_like(p)
                    if amsgrad:
                        st["max_exp_avg_sq"] = self._zeros_like(p)
                if amsgrad and "max_exp_avg_sq" not in st:
                    st["max_exp_avg_sq"] = self._zeros_like(p)
                st["step"] += 1
                mx = st["max_exp_avg_sq"]._data if amsgrad else None
                _array.run(
                    "adam_step",
                    p.device,
                    p._data,
                    st["exp_avg"]._data,
                    st["exp_avg_sq"]._data,
                    mx,
                    g._data,
                    _numel(p),
                    float(group["lr"]),
                    float(beta1),
                    float(beta2),
                    float(group["eps"]),
                    float(group["weight_decay"]),
                    int(st["step"]),
                    amsgrad,
                    self._decoupled,
                    bool(group["maximize"]),
                )
        return loss


class AdamW(Adam):
    """Adam with decoupled weight decay (default 1e-2): p = p * (1 - lr * weight_decay) first."""

    _decoupled = True

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach=None,
        capturable: bool = False,
        differentiable: bool = False,
        fused=None,
    ) -> None:
        super().__init__(
            params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize
        )
