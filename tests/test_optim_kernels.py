"""optim kernels: fused SGD / Adagrad / Adadelta / RMSprop / Adam(W) steps against the NumPy
reference (torch.optim's update rules), several steps and hyperparameter sets each; absent
state where the rule does not use it; bad input."""

import numpy as np
import pytest

from neuraxon.testing import reference as ref
from neuraxon.testing.tolerances import TOL, assert_close

SIZES = [0, 1, 37, 20011]


def _vec(rng, n, positive=False):
    x = rng.standard_normal(n).astype(np.float32)
    return np.abs(x) if positive else x


def _check(dev, arrays, wants, what):
    """float32 kernel vs float64 reference from the same state. Sums of terms of opposite sign
    (momentum buffers) lose absolute, not relative, precision: atol scales with the array."""
    rtol, atol = TOL["optim"]
    for name, a, w in zip(what, arrays, wants):
        if a is not None:
            scale = float(np.max(np.abs(w))) if w.size else 0.0
            assert_close(dev.get(a), w, (rtol, max(atol, 4e-7 * scale)), name)


SGD = [
    dict(momentum=0.0), dict(momentum=0.9), dict(momentum=0.9, dampening=0.1), dict(momentum=0.9, nesterov=True),
    dict(momentum=0.5, weight_decay=0.01), dict(weight_decay=0.1, maximize=True),
    dict(momentum=0.9, nesterov=True, weight_decay=1e-3, maximize=True),
]


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("hp", SGD, ids=str)
def test_sgd_step(dev, rng, n, hp):
    hp = {"momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False, "maximize": False, **hp}
    lr = 0.05
    p = dev.put(_vec(rng, n))
    buf = dev.out((n,)) if hp["momentum"] != 0 else None  # poisoned: the first step must not read it
    for step in range(3):
        g = _vec(rng, n)
        p0 = dev.get(p)
        b0 = dev.get(buf) if buf is not None and step > 0 else None
        dev.k.sgd_step(p, buf, dev.put(g), n, lr, hp["momentum"], hp["dampening"], hp["weight_decay"], hp["nesterov"],
                       hp["maximize"], step == 0)
        wp, wb = ref.sgd_step(p0, b0, g, lr, first_step=step == 0, **hp)
        _check(dev, [p, buf], [wp, wb], ["param", "momentum_buf"])


ADAGRAD = [dict(), dict(lr_decay=0.01), dict(weight_decay=0.1), dict(eps=1e-3, maximize=True)]


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("hp", ADAGRAD, ids=str)
def test_adagrad_step(dev, rng, n, hp):
    hp = {"lr_decay": 0.0, "weight_decay": 0.0, "eps": 1e-10, "maximize": False, **hp}
    lr = 0.1
    p, s = dev.put(_vec(rng, n)), dev.put(np.full(n, 0.1, np.float32))  # initial accumulator is the caller's
    for step in range(1, 4):
        g = _vec(rng, n)
        p0, s0 = dev.get(p), dev.get(s)
        dev.k.adagrad_step(p, s, dev.put(g), n, lr, hp["lr_decay"], hp["weight_decay"], hp["eps"], step, hp["maximize"])
        _check(dev, [p, s], ref.adagrad_step(p0, s0, g, lr, step=step, **hp), ["param", "state_sum"])


ADADELTA = [dict(), dict(weight_decay=0.1), dict(rho=0.5, eps=1e-3, maximize=True)]


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("hp", ADADELTA, ids=str)
def test_adadelta_step(dev, rng, n, hp):
    hp = {"rho": 0.9, "eps": 1e-6, "weight_decay": 0.0, "maximize": False, **hp}
    lr = 1.0
    p, sa, ad = dev.put(_vec(rng, n)), dev.put(np.zeros(n, np.float32)), dev.put(np.zeros(n, np.float32))
    for _ in range(3):
        g = _vec(rng, n)
        p0, sa0, ad0 = dev.get(p), dev.get(sa), dev.get(ad)
        dev.k.adadelta_step(p, sa, ad, dev.put(g), n, lr, hp["rho"], hp["eps"], hp["weight_decay"], hp["maximize"])
        _check(dev, [p, sa, ad], ref.adadelta_step(p0, sa0, ad0, g, lr, **hp), ["param", "square_avg", "acc_delta"])


RMSPROP = [dict(), dict(centered=True), dict(momentum=0.9), dict(centered=True, momentum=0.5, weight_decay=0.01),
           dict(alpha=0.9, eps=1e-4, maximize=True)]


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("hp", RMSPROP, ids=str)
def test_rmsprop_step(dev, rng, n, hp):
    hp = {"alpha": 0.99, "eps": 1e-8, "weight_decay": 0.0, "momentum": 0.0, "centered": False, "maximize": False, **hp}
    lr = 0.01
    p, sa = dev.put(_vec(rng, n)), dev.put(np.zeros(n, np.float32))
    buf = dev.put(np.zeros(n, np.float32)) if hp["momentum"] > 0 else None
    ga = dev.put(np.zeros(n, np.float32)) if hp["centered"] else None
    for _ in range(3):
        g = _vec(rng, n)
        p0, sa0 = dev.get(p), dev.get(sa)
        b0 = None if buf is None else dev.get(buf)
        ga0 = None if ga is None else dev.get(ga)
        dev.k.rmsprop_step(p, sa, buf, ga, dev.put(g), n, lr, hp["alpha"], hp["eps"], hp["weight_decay"],
                           hp["momentum"], hp["centered"], hp["maximize"])
        want = ref.rmsprop_step(p0, sa0, b0, ga0, g, lr, **hp)
        _check(dev, [p, sa, buf, ga], want, ["param", "square_avg", "momentum_buf", "grad_avg"])


ADAM = [dict(), dict(amsgrad=True), dict(weight_decay=0.1), dict(weight_decay=0.1, decoupled=True),
        dict(amsgrad=True, weight_decay=0.01, decoupled=True, maximize=True), dict(beta1=0.5, beta2=0.9, eps=1e-3)]


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("hp", ADAM, ids=str)
def test_adam_step(dev, rng, n, hp):
    hp = {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0, "amsgrad": False, "decoupled": False,
          "maximize": False, **hp}
    lr = 1e-2
    p, m, v = dev.put(_vec(rng, n)), dev.put(np.zeros(n, np.float32)), dev.put(np.zeros(n, np.float32))
    vmax = dev.put(np.zeros(n, np.float32)) if hp["amsgrad"] else None
    for step in range(1, 5):
        g = _vec(rng, n)
        p0, m0, v0 = dev.get(p), dev.get(m), dev.get(v)
        vmax0 = None if vmax is None else dev.get(vmax)
        dev.k.adam_step(p, m, v, vmax, dev.put(g), n, lr, hp["beta1"], hp["beta2"], hp["eps"], hp["weight_decay"], step,
                        hp["amsgrad"], hp["decoupled"], hp["maximize"])
        want = ref.adam_step(p0, m0, v0, vmax0, g, lr, step=step, **hp)
        _check(dev, [p, m, v, vmax], want, ["param", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"])


def test_adam_first_step_moves_by_lr(dev):
    # Bias correction makes Adam's first step lr * sign(g) (for |g| >> eps), whatever |g| is.
    g = np.array([3.0, -0.02, 1e4], np.float32)
    p = dev.put(np.zeros(3, np.float32))
    dev.k.adam_step(p, dev.put(np.zeros(3, np.float32)), dev.put(np.zeros(3, np.float32)), None, dev.put(g), 3, 0.1,
                    0.9, 0.999, 1e-8, 0.0, 1, False, False, False)
    assert_close(dev.get(p), [-0.1, 0.1, -0.1], (1e-5, 1e-6))


def test_nan_gradient_reaches_param(dev):
    p = dev.put(np.ones(4, np.float32))
    g = np.array([0.0, np.nan, 1.0, 0.0], np.float32)
    dev.k.sgd_step(p, None, dev.put(g), 4, 0.1, 0.0, 0.0, 0.0, False, False, False)
    got = dev.get(p)
    assert np.isnan(got[1]) and np.isfinite(got[[0, 2, 3]]).all()


def test_optim_bad_input(dev):
    k = dev.k
    p, g, s = dev.put(np.ones(5, np.float32)), dev.put(np.ones(5, np.float32)), dev.put(np.ones(5, np.float32))
    with pytest.raises(ValueError, match="'momentum_buf' is None"):
        k.sgd_step(p, None, g, 5, 0.1, 0.9, 0.0, 0.0, False, False, True)
    with pytest.raises(ValueError, match="Nesterov"):
        k.sgd_step(p, s, g, 5, 0.1, 0.9, 0.5, 0.0, True, False, True)
    with pytest.raises(ValueError, match="'grad' has 4 elements, expected 5"):
        k.sgd_step(p, None, dev.put(np.ones(4, np.float32)), 5, 0.1, 0.0, 0.0, 0.0, False, False, False)
    with pytest.raises(ValueError, match="step 0"):
        k.adagrad_step(p, s, g, 5, 0.1, 0.0, 0.0, 1e-10, 0, False)
    with pytest.raises(ValueError, match="step 0"):
        k.adam_step(p, s, s, None, g, 5, 0.1, 0.9, 0.999, 1e-8, 0.0, 0, False, False, False)
    with pytest.raises(ValueError, match="'max_exp_avg_sq' is None"):
        k.adam_step(p, s, s, None, g, 5, 0.1, 0.9, 0.999, 1e-8, 0.0, 1, True, False, False)
    with pytest.raises(ValueError, match="'grad_avg' is None"):
        k.rmsprop_step(p, s, None, None, g, 5, 0.01, 0.99, 1e-8, 0.0, 0.0, True, False)
    with pytest.raises(ValueError, match="'momentum_buf' is None"):
        k.rmsprop_step(p, s, None, None, g, 5, 0.01, 0.99, 1e-8, 0.0, 0.9, False, False)
    with pytest.raises(ValueError, match="'acc_delta'"):
        k.adadelta_step(p, s, dev.put(np.ones(6, np.float32)), g, 5, 1.0, 0.9, 1e-6, 0.0, False)
    with pytest.raises(TypeError, match="int64"):
        k.adagrad_step(p, dev.put(np.ones(5, np.int64)), g, 5, 0.1, 0.0, 0.0, 1e-10, 1, False)
    with pytest.raises(ValueError, match=">= 0"):
        k.sgd_step(p, None, g, -1, 0.1, 0.0, 0.0, 0.0, False, False, False)
