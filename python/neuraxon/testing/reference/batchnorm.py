"""Reference batch normalization over (N, C, HW): forward (training/eval) and backward."""

from __future__ import annotations

import numpy as np

__all__ = ["batchnorm_backward", "batchnorm_forward"]


def batchnorm_forward(running_mean, running_var, inp, gamma=None, beta=None, training=True, momentum=0.1, eps=1e-5):
    """inp (N, C, HW). Returns (out, save_mean, save_invstd, new_running_mean, new_running_var).

    training: biased batch variance normalises; running stats (None stays None) move by
    momentum towards the batch mean and the UNBIASED variance. eval: running stats normalise.
    """
    x = np.asarray(inp, np.float64)
    N, C, HW = x.shape
    M = N * HW
    rm = None if running_mean is None else np.asarray(running_mean, np.float64)
    rv = None if running_var is None else np.asarray(running_var, np.float64)
    if training:
        if M == 1:
            raise ValueError("Expected more than 1 value per channel when training")
        if M == 0:
            mean, invstd = np.zeros(C), np.zeros(C)
        else:
            mean = x.mean(axis=(0, 2))
            var = ((x - mean[None, :, None]) ** 2).mean(axis=(0, 2))
            invstd = 1.0 / np.sqrt(var + eps)
            if rm is not None:
                rm = (1 - momentum) * rm + momentum * mean
            if rv is not None:
                rv = (1 - momentum) * rv + momentum * var * M / (M - 1)
    else:
        mean, invstd = rm, 1.0 / np.sqrt(rv + eps)
    g = np.ones(C) if gamma is None else np.asarray(gamma, np.float64)
    b = np.zeros(C) if beta is None else np.asarray(beta, np.float64)
    out = (x - mean[None, :, None]) * (invstd * g)[None, :, None] + b[None, :, None]
    return out, mean, invstd, rm, rv


def batchnorm_backward(dout, inp, gamma, save_mean, save_invstd, training=True):
    """Returns (dinp, dgamma, dbeta); training includes the batch statistics' dependence on inp."""
    dy, x = np.asarray(dout, np.float64), np.asarray(inp, np.float64)
    N, C, HW = x.shape
    M = N * HW
    mean, invstd = np.asarray(save_mean, np.float64), np.asarray(save_invstd, np.float64)
    g = np.ones(C) if gamma is None else np.asarray(gamma, np.float64)
    xhat = (x - mean[None, :, None]) * invstd[None, :, None]
    dbeta = dy.sum(axis=(0, 2))
    dgamma = (dy * xhat).sum(axis=(0, 2))
    w = (g * invstd)[None, :, None]
    if training and M > 0:
        dinp = w * (dy - dbeta[None, :, None] / M - xhat * dgamma[None, :, None] / M)
    else:
        dinp = w * dy
    return dinp, dgamma, dbeta
