"""Optimizers vs NumPy re-implementations of torch's update rules (and vs torch.optim when
installed), argument validation, state_dict round trips; LR schedulers."""

from __future__ import annotations

import math

import neuraxon as nx
import numpy as np
import pytest
from neuraxon import optim
from neuraxon.optim import lr_scheduler as sched

STEPS = 20


# ---- NumPy twins of torch's single-tensor update rules (float64) ----------------------------


def np_sgd(p, g, st, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, maximize=False):
    g = -g if maximize else g
    if weight_decay:
        g = g + weight_decay * p
    if momentum:
        if "buf" not in st:
            st["buf"] = g.copy()
        else:
            st["buf"] = momentum * st["buf"] + (1 - dampening) * g
        g = g + momentum * st["buf"] if nesterov else st["buf"]
    return p - lr * g


def np_adagrad(
    p, g, st, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10, maximize=False
):
    st.setdefault("sum", np.full_like(p, initial_accumulator_value))
    st["step"] = st.get("step", 0) + 1
    g = -g if maximize else g
    if weight_decay:
        g = g + weight_decay * p
    clr = lr / (1 + (st["step"] - 1) * lr_decay)
    st["sum"] = st["sum"] + g * g
    return p - clr * g / (np.sqrt(st["sum"]) + eps)


def np_adadelta(p, g, st, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False):
    st.setdefault("v", np.zeros_like(p))
    st.setdefault("u", np.zeros_like(p))
    g = -g if maximize else g
    if weight_decay:
        g = g + weight_decay * p
    st["v"] = rho * st["v"] + (1 - rho) * g * g
    d = np.sqrt(st["u"] + eps) / np.sqrt(st["v"] + eps) * g
    st["u"] = rho * st["u"] + (1 - rho) * d * d
    return p - lr * d


def np_rmsprop(p, g, st, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False, maximize=False):
    st.setdefault("v", np.zeros_like(p))
    g = -g if maximize else g
    if weight_decay:
        g = g + weight_decay * p
    st["v"] = alpha * st["v"] + (1 - alpha) * g * g
    if centered:
        st["ga"] = alpha * st.get("ga", np.zeros_like(p)) + (1 - alpha) * g
        avg = np.sqrt(st["v"] - st["ga"] ** 2) + eps
    else:
        avg = np.sqrt(st["v"]) + eps
    if momentum > 0:
        st["b"] = momentum * st.get("b", np.zeros_like(p)) + g / avg
        return p - lr * st["b"]
    return p - lr * g / avg


def np_adam(
    p, g, st, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False, decoupled=False
):
    b1, b2 = betas
    st["step"] = t = st.get("step", 0) + 1
    g = -g if maximize else g
    if decoupled:
        p = p * (1 - lr * weight_decay)
    elif weight_decay:
        g = g + weight_decay * p
    st["m"] = b1 * st.get("m", np.zeros_like(p)) + (1 - b1) * g
    st["v"] = b2 * st.get("v", np.zeros_like(p)) + (1 - b2) * g * g
    bc1, bc2 = 1 - b1**t, 1 - b2**t
    v = st["v"]
    if amsgrad:
        st["vmax"] = np.maximum(st.get("vmax", np.zeros_like(p)), v)
        v = st["vmax"]
    denom = np.sqrt(v) / math.sqrt(bc2) + eps
    return p - (lr / bc1) * st["m"] / denom


def np_adamw(p, g, st, weight_decay=1e-2, **kw):
    return np_adam(p, g, st, weight_decay=weight_decay, decoupled=True, **kw)


CASES = [
    ("SGD", np_sgd, dict(lr=0.1)),
    ("SGD", np_sgd, dict(lr=0.05, momentum=0.9)),
    ("SGD", np_sgd, dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("SGD", np_sgd, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1)),
    ("SGD", np_sgd, dict(lr=0.05, momentum=0.5, maximize=True)),
    ("Adagrad", np_adagrad, dict(lr=0.1)),
    ("Adagrad", np_adagrad, dict(lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.5)),
    ("Adadelta", np_adadelta, dict()),
    ("Adadelta", np_adadelta, dict(lr=0.5, rho=0.8, weight_decay=0.05, maximize=True)),
    ("RMSprop", np_rmsprop, dict()),
    ("RMSprop", np_rmsprop, dict(momentum=0.9, centered=True, weight_decay=0.01)),
    ("RMSprop", np_rmsprop, dict(lr=1e-3, alpha=0.9, momentum=0.5)),
    ("Adam", np_adam, dict(lr=1e-2)),
    ("Adam", np_adam, dict(lr=1e-2, betas=(0.8, 0.99), weight_decay=0.1, amsgrad=True)),
    ("Adam", np_adam, dict(lr=1e-2, maximize=True, eps=1e-6)),
    ("AdamW", np_adamw, dict(lr=1e-2)),
    ("AdamW", np_adamw, dict(lr=1e-2, weight_decay=0.1, amsgrad=True)),
]
IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'default'}" for n, _, kw in CASES]


def _grads(rng, shapes, steps=STEPS):
    return [[rng.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(steps)]


def _run_ours(name, kw, p0, grads, device):
    params = [nx.tensor(p, device=device, requires_grad=True) for p in p0]
    opt = getattr(optim, name)(params, **kw)
    traj = []
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = nx.tensor(g, device=device)
        opt.step()
        traj.append([p.detach().cpu().numpy().copy() for p in params])
    return traj, opt, params


@pytest.mark.parametrize("name,ref,kw", CASES, ids=IDS)
def test_optimizer_vs_numpy(dev, rng, name, ref, kw):
    shapes = [(7, 5), (13,), (1,)]
    p0 = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = _grads(rng, shapes)
    traj, _, _ = _run_ours(name, kw, p0, grads, dev.name)
    ps = [p.astype(np.float64) for p in p0]
    states = [{} for _ in ps]
    for step, gs in enumerate(grads):
        ps = [ref(p, g.astype(np.float64), st, **kw) for p, g, st in zip(ps, gs, states)]
        for got, want in zip(traj[step], ps):
            np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-5, err_msg=f"step {step + 1}")


@pytest.mark.parametrize("name,ref,kw", CASES, ids=IDS)
def test_optimizer_vs_torch(rng, name, ref, kw):
    torch = pytest.importorskip("torch")
    shapes = [(4, 3), (6,)]
    p0 = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = _grads(rng, shapes)
    traj, _, _ = _run_ours(name, kw, p0, grads, "cpu")
    tp = [torch.tensor(p, requires_grad=True) for p in p0]
    topt = getattr(torch.optim, name)(tp, **kw)
    for step, gs in enumerate(grads):
        for p, g in zip(tp, gs):
            p.grad = torch.tensor(g)
        topt.step()
        for got, want in zip(traj[step], tp):
            np.testing.assert_allclose(got, want.detach().numpy(), rtol=1e-4, atol=1e-5, err_msg=f"step {step + 1}")


def test_param_without_grad_is_skipped():
    a = nx.tensor(np.ones(3, np.float32), requires_grad=True)
    b = nx.tensor(np.ones(3, np.float32), requires_grad=True)
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = nx.tensor(np.ones(3, np.float32))
    opt.step()
    assert np.all(a.detach().numpy() < 1) and np.all(b.detach().numpy() == 1)
    assert b not in opt.state and opt.state[a]["step"] == 1


def test_param_groups_have_own_hyperparameters():
    a = nx.tensor(np.zeros(2, np.float32), requires_grad=True)
    b = nx.tensor(np.zeros(2, np.float32), requires_grad=True)
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    for p in (a, b):
        p.grad = nx.tensor(np.ones(2, np.float32))
    opt.step()
    np.testing.assert_allclose(a.detach().numpy(), [-0.1, -0.1], rtol=1e-6)
    np.testing.assert_allclose(b.detach().numpy(), [-1.0, -1.0], rtol=1e-6)
    assert opt.param_groups[0]["momentum"] == 0.0


@pytest.mark.parametrize(
    "make,msg",
    [
        (lambda p: optim.SGD(p, lr=-1), "Invalid learning rate: -1"),
        (lambda p: optim.SGD(p, lr=0.1, momentum=-0.5), "Invalid momentum value: -0.5"),
        (lambda p: optim.SGD(p, lr=0.1, weight_decay=-1), "Invalid weight_decay value: -1"),
        (lambda p: optim.SGD(p, lr=0.1, nesterov=True), "Nesterov momentum requires a momentum and zero dampening"),
        (lambda p: optim.Adam(p, lr=-1), "Invalid learning rate: -1"),
        (lambda p: optim.Adam(p, eps=-1), "Invalid epsilon value: -1"),
        (lambda p: optim.Adam(p, betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
        (lambda p: optim.Adam(p, betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
        (lambda p: optim.AdamW(p, weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
        (lambda p: optim.Adagrad(p, lr_decay=-1), "Invalid lr_decay value: -1"),
        (lambda p: optim.Adadelta(p, rho=1.5), "Invalid rho value: 1.5"),
        (lambda p: optim.RMSprop(p, alpha=-1), "Invalid alpha value: -1"),
        (lambda p: optim.SGD([], lr=0.1), "optimizer got an empty parameter list"),
    ],
)
def test_argument_validation(make, msg):
    p = [nx.tensor(np.zeros(2, np.float32), requires_grad=True)]
    with pytest.raises(ValueError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        make(p)


def test_duplicate_and_bad_params():
    a = nx.tensor(np.zeros(2, np.float32), requires_grad=True)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [a]}, {"params": [a]}], lr=0.1)
    with pytest.raises(TypeError):
        optim.SGD(a, lr=0.1)
    with pytest.raises(TypeError):
        optim.SGD({a}, lr=0.1)
    opt = optim.SGD([a], lr=0.1)
    b = nx.tensor(np.zeros(2, np.float32), requires_grad=True)
    opt.add_param_group({"params": b, "lr": 0.5})
    assert len(opt.param_groups) == 2 and opt.param_groups[1]["lr"] == 0.5


def test_zero_grad():
    a = nx.tensor(np.zeros(3, np.float32), requires_grad=True)
    opt = optim.SGD([a], lr=0.1)
    a.grad = nx.tensor(np.ones(3, np.float32))
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(a.grad.numpy(), 0)
    opt.zero_grad()
    assert a.grad is None


@pytest.mark.parametrize(
    "name,kw",
    [
        ("SGD", dict(lr=0.1, momentum=0.9)),
        ("Adam", dict(lr=0.01, amsgrad=True)),
        ("RMSprop", dict(momentum=0.5, centered=True)),
        ("Adagrad", dict(lr=0.1)),
        ("Adadelta", dict()),
        ("AdamW", dict()),
    ],
)
def test_state_dict_round_trip_resumes_exactly(rng, name, kw, tmp_path):
    shapes = [(3, 4), (5,)]
    p0 = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = _grads(rng, shapes, 10)
    full, _, _ = _run_ours(name, kw, p0, grads, "cpu")
    half, opt, params = _run_ours(name, kw, p0, grads[:5], "cpu")
    sd = opt.state_dict()
    assert sorted(sd["state"]) == [0, 1] and sd["param_groups"][0]["params"] == [0, 1]
    nx.save(sd, tmp_path / "opt.npz")
    sd2 = nx.load(tmp_path / "opt.npz")
    params2 = [nx.tensor(p.detach().numpy(), requires_grad=True) for p in params]
    opt2 = getattr(optim, name)(params2, **kw)
    opt2.load_state_dict(sd2)
    for gs in grads[5:]:
        for p, g in zip(params2, gs):
            p.grad = nx.tensor(g)
        opt2.step()
    for got, want in zip(params2, full[-1]):
        np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-6, atol=1e-7)


def test_load_state_dict_mismatch():
    a = nx.tensor(np.zeros(2, np.float32), requires_grad=True)
    b = nx.tensor(np.zeros(2, np.float32), requires_grad=True)
    sd = optim.SGD([a, b], lr=0.1).state_dict()
    with pytest.raises(ValueError, match="doesn't match the size"):
        optim.SGD([a], lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.1).load_state_dict(sd)


def test_torch_state_dict_loads():
    torch = pytest.importorskip("torch")
    p = torch.zeros(3, requires_grad=True)
    topt = torch.optim.Adam([p], lr=0.1)
    p.grad = torch.ones(3)
    topt.step()
    a = nx.tensor(np.zeros(3, np.float32), requires_grad=True)
    opt = optim.Adam([a], lr=0.5)
    opt.load_state_dict(topt.state_dict())
    assert opt.param_groups[0]["lr"] == 0.1 and opt.state[a]["step"] == 1
    np.testing.assert_allclose(opt.state[a]["exp_avg"].numpy(), topt.state[p]["exp_avg"].numpy())


def test_closure_is_called():
    a = nx.tensor(np.array([2.0], np.float32), requires_grad=True)
    opt = optim.SGD([a], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (a * a).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert float(loss.item()) == pytest.approx(4.0)
    np.testing.assert_allclose(a.detach().numpy(), [2.0 - 0.1 * 4.0], rtol=1e-6)


# ---- schedulers -----------------------------------------------------------------------------

SCHEDS = [
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[2, 5, 5, 11], gamma=0.3)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=7, eta_min=0.01)),
    ("LambdaLR", dict(lr_lambda=lambda e: 1.0 / (1 + e))),
]


def _expected(name, kw, base, epoch):
    if name == "StepLR":
        return base * kw["gamma"] ** (epoch // kw["step_size"])
    if name == "MultiStepLR":
        return base * kw["gamma"] ** sum(1 for m in kw["milestones"] if m <= epoch)
    if name == "ExponentialLR":
        return base * kw["gamma"] ** epoch
    if name == "CosineAnnealingLR":
        return kw["eta_min"] + (base - kw["eta_min"]) * (1 + math.cos(math.pi * epoch / kw["T_max"])) / 2
    return base * kw["lr_lambda"](epoch)


@pytest.mark.parametrize("name,kw", SCHEDS, ids=[s[0] for s in SCHEDS])
def test_scheduler_trajectory(name, kw):
    a = nx.tensor(np.zeros(2, np.float32), requires_grad=True)
    opt = optim.SGD([a], lr=0.5)
    s = getattr(sched, name)(opt, **kw)
    lrs = [s.get_last_lr()[0]]
    for _ in range(25):
        opt.step()
        s.step()
        lrs.append(s.get_last_lr()[0])
        assert opt.param_groups[0]["lr"] == lrs[-1]
    want = [_expected(name, kw, 0.5, e) for e in range(26)]
    np.testing.assert_allclose(lrs, want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name,kw", SCHEDS, ids=[s[0] for s in SCHEDS])
def test_scheduler_vs_torch(name, kw):
    torch = pytest.importorskip("torch")
    p = torch.zeros(2, requires_grad=True)
    topt = torch.optim.SGD([p], lr=0.5)
    ts = getattr(torch.optim.lr_scheduler, name)(topt, **kw)
    a = nx.tensor(np.zeros(2, np.float32), requires_grad=True)
    opt = optim.SGD([a], lr=0.5)
    s = getattr(sched, name)(opt, **kw)
    for _ in range(30):
        topt.step()
        ts.step()
        opt.step()
        s.step()
        assert s.get_last_lr()[0] == pytest.approx(ts.get_last_lr()[0], rel=1e-12, abs=1e-15)


def test_reduce_lr_on_plateau_vs_torch():
    torch = pytest.importorskip("torch")
    metrics = [1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.79999, 0.5] + [0.5] * 12
    p = torch.zeros(1, requires_grad=True)
    topt = torch.optim.SGD([p], lr=1.0)
    ts = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, patience=2, factor=0.5, cooldown=1, min_lr=0.01)
    a = nx.tensor(np.zeros(1, np.float32), requires_grad=True)
    opt = optim.SGD([a], lr=1.0)
    s = sched.ReduceLROnPlateau(opt, patience=2, factor=0.5, cooldown=1, min_lr=0.01)
    for m in metrics:
        ts.step(m)
        s.step(m)
        assert s.get_last_lr()[0] == pytest.approx(ts.get_last_lr()[0])


def test_reduce_lr_on_plateau_rules():
    a = nx.tensor(np.zeros(1, np.float32), requires_grad=True)
    opt = optim.SGD([a], lr=1.0)
    s = sched.ReduceLROnPlateau(opt, mode="max", patience=1, factor=0.1)
    for m in [1, 2, 2, 2]:
        s.step(m)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)
    with pytest.raises(ValueError, match="Factor should be < 1.0"):
        sched.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="mode foo is unknown"):
        sched.ReduceLROnPlateau(opt, mode="foo")


def test_scheduler_state_dict_resume():
    a = nx.tensor(np.zeros(2, np.float32), requires_grad=True)
    opt = optim.SGD([a], lr=0.5)
    s = sched.CosineAnnealingLR(opt, T_max=10)
    for _ in range(4):
        opt.step()
        s.step()
    sd = s.state_dict()
    assert "optimizer" not in sd and sd["last_epoch"] == 4
    opt2 = optim.SGD([a], lr=0.5)
    opt2.load_state_dict(opt.state_dict())
    s2 = sched.CosineAnnealingLR(opt2, T_max=10)
    s2.load_state_dict(sd)
    for _ in range(3):
        opt.step()
        s.step()
        opt2.step()
        s2.step()
    assert s2.get_last_lr() == s.get_last_lr()
    with pytest.raises(TypeError, match="is not an Optimizer"):
        sched.StepLR(object(), 3)
