"""Reference optimizer steps: torch.optim's single-tensor update rules in float64.

Each function takes the current param, state and grad and returns the new (param, state...)
without modifying its arguments; `step` counts from 1.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["sgd_step", "adagrad_step", "adadelta_step", "rmsprop_step", "adam_step"]


def _f(x):
    return None if x is None else np.array(x, np.float64, copy=True)


def sgd_step(param, momentum_buf, grad, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
             maximize=False, first_step=False):
    """Returns (param, momentum_buf)."""
    p, buf, g = _f(param), _f(momentum_buf), _f(grad)
    g = -g if maximize else g
    if weight_decay != 0:
        g = g + weight_decay * p
    if momentum != 0:
        buf = g.copy() if first_step else momentum * buf + (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf
    return p - lr * g, buf


def adagrad_step(param, state_sum, grad, lr, lr_decay=0.0, weight_decay=0.0, eps=1e-10, step=1, maximize=False):
    """Returns (param, state_sum)."""
    p, s, g = _f(param), _f(state_sum), _f(grad)
    g = -g if maximize else g
    if weight_decay != 0:
        g = g + weight_decay * p
    clr = lr / (1 + (step - 1) * lr_decay)
    s = s + g * g
    return p - clr * g / (np.sqrt(s) + eps), s


def adadelta_step(param, square_avg, acc_delta, grad, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False):
    """Returns (param, square_avg, acc_delta)."""
    p, sa, ad, g = _f(param), _f(square_avg), _f(acc_delta), _f(grad)
    g = -g if maximize else g
    if weight_decay != 0:
        g = g + weight_decay * p
    sa = rho * sa + (1 - rho) * g * g
    delta = np.sqrt(ad + eps) / np.sqrt(sa + eps) * g
    ad = rho * ad + (1 - rho) * delta * delta
    return p - lr * delta, sa, ad


def rmsprop_step(param, square_avg, momentum_buf, grad_avg, grad, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0,
                 momentum=0.0, centered=False, maximize=False):
    """Returns (param, square_avg, momentum_buf, grad_avg)."""
    p, sa, buf, ga, g = _f(param), _f(square_avg), _f(momentum_buf), _f(grad_avg), _f(grad)
    g = -g if maximize else g
    if weight_decay != 0:
        g = g + weight_decay * p
    sa = alpha * sa + (1 - alpha) * g * g
    if centered:
        ga = ga + (1 - alpha) * (g - ga)
        avg = np.sqrt(sa - ga * ga) + eps
    else:
        avg = np.sqrt(sa) + eps
    if momentum > 0:
        buf = momentum * buf + g / avg
        return p - lr * buf, sa, buf, ga
    return p - lr * g / avg, sa, buf, ga


def adam_step(param, exp_avg, exp_avg_sq, max_exp_avg_sq, grad, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
              weight_decay=0.0, step=1, amsgrad=False, decoupled=False, maximize=False):
    """Adam (decoupled=False, L2 in the gradient) or AdamW (decoupled=True).
    Returns (param, exp_avg, exp_avg_sq, max_exp_avg_sq)."""
    p, m, v, vmax, g = _f(param), _f(exp_avg), _f(exp_avg_sq), _f(max_exp_avg_sq), _f(grad)
    g = -g if maximize else g
    if weight_decay != 0:
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
    m = m + (1 - beta1) * (g - m)
    v = beta2 * v + (1 - beta2) * g * g
    bc1, bc2 = 1 - beta1**step, 1 - beta2**step
    if amsgrad:
        vmax = np.maximum(vmax, v)
        denom = np.sqrt(vmax) / math.sqrt(bc2) + eps
    else:
        denom = np.sqrt(v) / math.sqrt(bc2) + eps
    return p - (lr / bc1) * m / denom, m, v, vmax
