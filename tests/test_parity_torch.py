"""Parity with PyTorch: every nn module gets torch's state_dict (as NumPy arrays) and the same
input; outputs, the input gradient and every parameter gradient (and updated buffers) must
agree. Whole-model training trajectories with every optimizer and scheduler must agree
over 20+ steps. Skipped when torch is not installed."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import neuraxon as nx  # noqa: E402
from neuraxon import nn, optim  # noqa: E402
from neuraxon.optim import lr_scheduler  # noqa: E402

tnn = torch.nn


def _flat(out):
    if isinstance(out, (tuple, list)):
        r = []
        for o in out:
            r += _flat(o)
        return r
    return [out]


def check_module(tmod, nmod, inputs, rtol=1e-4, atol=1e-5, grad_inputs=None, train=True, seed=0):
    """Copy torch's state into ours, run both on `inputs` (NumPy), compare outputs,
    gradients of a random projection of the outputs, and the buffers afterwards."""
    nmod.load_state_dict({k: v.detach().numpy() for k, v in tmod.state_dict().items()})
    tmod.train(train)
    nmod.train(train)
    grad_inputs = [a.dtype.kind == "f" for a in inputs] if grad_inputs is None else grad_inputs
    t_in = [torch.tensor(a, requires_grad=g) for a, g in zip(inputs, grad_inputs)]
    n_in = [nx.tensor(a, requires_grad=g) for a, g in zip(inputs, grad_inputs)]
    t_out = _flat(tmod(*t_in))
    n_out = _flat(nmod(*n_in))
    assert len(t_out) == len(n_out)
    rng = np.random.default_rng(seed)
    t_loss, n_loss = 0, 0
    for to, no in zip(t_out, n_out):
        assert tuple(no.shape) == tuple(to.shape), f"shape {tuple(no.shape)} vs torch {tuple(to.shape)}"
        np.testing.assert_allclose(no.detach().numpy(), to.detach().numpy(), rtol=rtol, atol=atol, err_msg="forward")
        if to.dtype.is_floating_point and to.requires_grad:
            w = rng.standard_normal(tuple(to.shape)).astype(np.float32)
            t_loss = t_loss + (to * torch.tensor(w)).sum()
            n_loss = n_loss + (no * nx.tensor(w)).sum()
    if isinstance(t_loss, torch.Tensor):
        t_loss.backward()
        n_loss.backward()
    for i, (ti, ni) in enumerate(zip(t_in, n_in)):
        if ti.requires_grad and ti.grad is not None:
            np.testing.assert_allclose(
                ni.grad.numpy(), ti.grad.numpy(), rtol=rtol, atol=atol, err_msg=f"input {i} grad"
            )
    tp = dict(tmod.named_parameters())
    for name, p in nmod.named_parameters():
        t = tp[name]
        if t.grad is None:
            assert p.grad is None or not np.any(p.grad.numpy()), name
            continue
        np.testing.assert_allclose(p.grad.numpy(), t.grad.numpy(), rtol=rtol, atol=atol, err_msg=f"grad {name}")
    tb = dict(tmod.named_buffers())
    for name, b in nmod.named_buffers():
        np.testing.assert_allclose(b.numpy(), tb[name].numpy(), rtol=rtol, atol=atol, err_msg=f"buffer {name}")
    return n_out


R = np.random.default_rng(7)


def rnd(*shape):
    return R.standard_normal(shape).astype(np.float32)


MODULE_CASES = [
    ("Linear", lambda m: m.Linear(5, 3), [(4, 5)]),
    ("Linear-nobias-3d", lambda m: m.Linear(5, 3, bias=False), [(2, 4, 5)]),
    ("Conv2d", lambda m: m.Conv2d(3, 4, 3), [(2, 3, 7, 6)]),
    ("Conv2d-stride-pad", lambda m: m.Conv2d(3, 5, (3, 2), stride=(2, 1), padding=(1, 2)), [(2, 3, 9, 7)]),
    ("Conv2d-dilation-groups", lambda m: m.Conv2d(4, 6, 3, dilation=2, groups=2, bias=False), [(1, 4, 9, 9)]),
    ("Conv2d-same-even", lambda m: m.Conv2d(2, 3, 4, padding="same"), [(2, 2, 7, 6)]),
    ("Conv2d-valid", lambda m: m.Conv2d(2, 3, 3, padding="valid"), [(2, 2, 5, 5)]),
    ("ConvTranspose2d", lambda m: m.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1), [(2, 3, 4, 5)]),
    ("ConvTranspose2d-groups", lambda m: m.ConvTranspose2d(4, 6, 2, stride=2, groups=2), [(1, 4, 3, 3)]),
    ("MaxPool2d", lambda m: m.MaxPool2d(2), [(2, 3, 8, 7)]),
    ("MaxPool2d-ceil-pad", lambda m: m.MaxPool2d(3, 2, 1, ceil_mode=True), [(2, 2, 8, 9)]),
    ("AvgPool2d", lambda m: m.AvgPool2d(3, 2, 1), [(2, 2, 7, 8)]),
    ("AvgPool2d-nopad-count", lambda m: m.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False), [(1, 2, 8, 7)]),
    ("AdaptiveAvgPool2d", lambda m: m.AdaptiveAvgPool2d((3, 5)), [(2, 3, 7, 11)]),
    ("BatchNorm1d-2d", lambda m: m.BatchNorm1d(4), [(8, 4)]),
    ("BatchNorm1d-3d", lambda m: m.BatchNorm1d(3, momentum=0.3), [(5, 3, 6)]),
    ("BatchNorm2d", lambda m: m.BatchNorm2d(3), [(4, 3, 5, 5)]),
    ("BatchNorm2d-cumulative", lambda m: m.BatchNorm2d(3, momentum=None), [(4, 3, 2, 5)]),
    ("BatchNorm2d-noaffine", lambda m: m.BatchNorm2d(3, affine=False), [(4, 3, 2, 2)]),
    ("Flatten", lambda m: m.Flatten(), [(2, 3, 4)]),
    ("Unflatten", lambda m: m.Unflatten(1, (2, 3)), [(4, 6)]),
    ("Identity", lambda m: m.Identity(), [(3, 2)]),
    ("ReLU", lambda m: m.ReLU(), [(4, 7)]),
    ("LeakyReLU", lambda m: m.LeakyReLU(0.2), [(4, 7)]),
    ("Sigmoid", lambda m: m.Sigmoid(), [(4, 7)]),
    ("Tanh", lambda m: m.Tanh(), [(4, 7)]),
    ("Softplus", lambda m: m.Softplus(beta=2.0, threshold=3.0), [(4, 7)]),
    ("ELU", lambda m: m.ELU(0.5), [(4, 7)]),
    ("GELU", lambda m: m.GELU(), [(4, 7)]),
    ("GELU-tanh", lambda m: m.GELU("tanh"), [(4, 7)]),
    ("Softmax", lambda m: m.Softmax(dim=1), [(3, 5, 2)]),
    ("LogSoftmax", lambda m: m.LogSoftmax(dim=-1), [(3, 5)]),
    (
        "Sequential-LeNet",
        lambda m: m.Sequential(
            m.Conv2d(1, 6, 5, padding=2),
            m.ReLU(),
            m.MaxPool2d(2),
            m.Conv2d(6, 16, 5),
            m.ReLU(),
            m.MaxPool2d(2),
            m.Flatten(),
            m.Linear(400, 120),
            m.ReLU(),
            m.Linear(120, 84),
            m.ReLU(),
            m.Linear(84, 10),
        ),
        [(3, 1, 28, 28)],
    ),
    ("RNN-tanh", lambda m: m.RNN(4, 5), [(6, 3, 4)]),
    (
        "RNN-relu-2layer-bidir-batchfirst",
        lambda m: m.RNN(4, 5, num_layers=2, nonlinearity="relu", bidirectional=True, batch_first=True),
        [(3, 6, 4)],
    ),
    ("LSTM", lambda m: m.LSTM(4, 5), [(6, 3, 4)]),
    ("LSTM-2layer-bidir", lambda m: m.LSTM(4, 5, num_layers=2, bidirectional=True), [(5, 2, 4)]),
    ("LSTM-batchfirst-nobias", lambda m: m.LSTM(3, 4, bias=False, batch_first=True), [(2, 5, 3)]),
    ("GRU", lambda m: m.GRU(4, 5), [(6, 3, 4)]),
    ("GRU-2layer-bidir", lambda m: m.GRU(4, 5, num_layers=2, bidirectional=True), [(5, 2, 4)]),
    ("RNNCell", lambda m: m.RNNCell(4, 5), [(3, 4)]),
    ("LSTMCell", lambda m: m.LSTMCell(4, 5), [(3, 4)]),
    ("GRUCell", lambda m: m.GRUCell(4, 5), [(3, 4)]),
]


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name,make,shapes", MODULE_CASES, ids=[c[0] for c in MODULE_CASES])
def test_module_parity(name, make, shapes):
    torch.manual_seed(0)
    tmod = make(tnn)
    nmod = make(nn)
    check_module(tmod, nmod, [rnd(*s) for s in shapes], rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("make", [lambda m: m.BatchNorm2d(3), lambda m: m.BatchNorm1d(3, momentum=None)])
def test_batchnorm_eval_parity(make):
    tmod, nmod = make(tnn), make(nn)
    x = rnd(4, 3, 3, 3) if isinstance(tmod, tnn.BatchNorm2d) else rnd(6, 3)
    check_module(tmod, nmod, [x], train=True)  # one training step updates running stats
    check_module(tmod, nmod, [x + 1], train=False)


def test_rnn_with_initial_state():
    for kind in ("RNN", "GRU", "LSTM"):
        torch.manual_seed(1)
        tmod = getattr(tnn, kind)(3, 4, num_layers=2, bidirectional=True)
        nmod = getattr(nn, kind)(3, 4, num_layers=2, bidirectional=True)
        x, h0, c0 = rnd(5, 2, 3), rnd(4, 2, 4), rnd(4, 2, 4)
        nmod.load_state_dict({k: v.detach().numpy() for k, v in tmod.state_dict().items()})
        if kind == "LSTM":
            to, (th, tc) = tmod(torch.tensor(x), (torch.tensor(h0), torch.tensor(c0)))
            no, (nh, nc) = nmod(nx.tensor(x), (nx.tensor(h0), nx.tensor(c0)))
            np.testing.assert_allclose(nc.detach().numpy(), tc.detach().numpy(), rtol=2e-4, atol=2e-5)
        else:
            to, th = tmod(torch.tensor(x), torch.tensor(h0))
            no, nh = nmod(nx.tensor(x), nx.tensor(h0))
        np.testing.assert_allclose(no.detach().numpy(), to.detach().numpy(), rtol=2e-4, atol=2e-5)
        np.testing.assert_allclose(nh.detach().numpy(), th.detach().numpy(), rtol=2e-4, atol=2e-5)


def test_lstm_cell_with_state_and_unbatched():
    torch.manual_seed(2)
    tmod, nmod = tnn.LSTMCell(3, 4), nn.LSTMCell(3, 4)
    nmod.load_state_dict({k: v.numpy() for k, v in tmod.state_dict().items()})
    x, h, c = rnd(3), rnd(4), rnd(4)
    th, tc = tmod(torch.tensor(x), (torch.tensor(h), torch.tensor(c)))
    nh, nc = nmod(nx.tensor(x), (nx.tensor(h), nx.tensor(c)))
    np.testing.assert_allclose(nh.detach().numpy(), th.detach().numpy(), rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(nc.detach().numpy(), tc.detach().numpy(), rtol=2e-4, atol=2e-5)


def test_embedding_parity():
    torch.manual_seed(3)
    tmod, nmod = tnn.Embedding(10, 4, padding_idx=1), nn.Embedding(10, 4, padding_idx=1)
    idx = np.array([[1, 2, 3], [9, 1, 2]])
    check_module(tmod, nmod, [idx], grad_inputs=[False])


def test_maxunpool_parity():
    x = rnd(2, 3, 6, 8)
    tx, nxx = torch.tensor(x, requires_grad=True), nx.tensor(x, requires_grad=True)
    ty, ti = tnn.MaxPool2d(2, return_indices=True)(tx)
    ny, ni = nn.MaxPool2d(2, return_indices=True)(nxx)
    np.testing.assert_array_equal(ni.numpy(), ti.numpy())
    tu = tnn.MaxUnpool2d(2)(ty, ti, output_size=(7, 9))
    nu = nn.MaxUnpool2d(2)(ny, ni, output_size=(7, 9))
    np.testing.assert_allclose(nu.detach().numpy(), tu.detach().numpy())
    w = rnd(*tu.shape)
    (tu * torch.tensor(w)).sum().backward()
    (nu * nx.tensor(w)).sum().backward()
    np.testing.assert_allclose(nxx.grad.numpy(), tx.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_dropout_parity_in_eval_and_p0():
    x = rnd(4, 5)
    check_module(tnn.Dropout(0.3), nn.Dropout(0.3), [x], train=False)
    check_module(tnn.Dropout(0.0), nn.Dropout(0.0), [x], train=True)


LOSS_CASES = [
    ("CrossEntropyLoss", lambda m, w: m.CrossEntropyLoss(), "class"),
    (
        "CrossEntropyLoss-weight-ignore-sum",
        lambda m, w: m.CrossEntropyLoss(weight=w, ignore_index=2, reduction="sum"),
        "class",
    ),
    ("CrossEntropyLoss-smoothing", lambda m, w: m.CrossEntropyLoss(label_smoothing=0.1), "class"),
    ("CrossEntropyLoss-none", lambda m, w: m.CrossEntropyLoss(reduction="none"), "class"),
    ("NLLLoss", lambda m, w: m.NLLLoss(), "logp"),
    ("NLLLoss-weight", lambda m, w: m.NLLLoss(weight=w), "logp"),
    ("MSELoss", lambda m, w: m.MSELoss(), "real"),
    ("MSELoss-sum", lambda m, w: m.MSELoss(reduction="sum"), "real"),
    ("L1Loss", lambda m, w: m.L1Loss(), "real"),
    ("BCELoss", lambda m, w: m.BCELoss(), "prob"),
    ("BCEWithLogitsLoss", lambda m, w: m.BCEWithLogitsLoss(), "binary"),
    ("BCEWithLogitsLoss-posweight", lambda m, w: m.BCEWithLogitsLoss(pos_weight=w[:4]), "binary"),
]


@pytest.mark.parametrize("name,make,kind", LOSS_CASES, ids=[c[0] for c in LOSS_CASES])
def test_loss_parity(name, make, kind):
    w = np.abs(rnd(5)) + 0.5
    tl = make(tnn, torch.tensor(w))
    nl = make(nn, nx.tensor(w))
    if kind in ("class", "logp"):
        x = rnd(6, 5)
        if kind == "logp":
            x = x - np.log(np.exp(x).sum(1, keepdims=True))
        tgt = np.random.default_rng(1).integers(0, 5, 6)
    elif kind == "real":
        x, tgt = rnd(3, 4), rnd(3, 4)
    elif kind == "prob":
        x, tgt = 1 / (1 + np.exp(-rnd(3, 4))), (rnd(3, 4) > 0).astype(np.float32)
    else:
        x, tgt = rnd(3, 4), (rnd(3, 4) > 0).astype(np.float32)
    tx, nxx = torch.tensor(x, requires_grad=True), nx.tensor(x, requires_grad=True)
    to, no = tl(tx, torch.tensor(tgt)), nl(nxx, nx.tensor(tgt))
    np.testing.assert_allclose(no.detach().numpy(), to.detach().numpy(), rtol=1e-5, atol=1e-6)
    g = rnd(*to.shape)
    (to * torch.tensor(g)).sum().backward()
    (no * nx.tensor(g)).sum().backward()
    np.testing.assert_allclose(nxx.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-6)


# ---- training trajectories --------------------------------------------------------------------

OPT_CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)),
    ("Adagrad", dict(lr=0.05, lr_decay=1e-3)),
    ("Adadelta", dict(lr=1.0)),
    ("RMSprop", dict(lr=1e-3, momentum=0.5, centered=True)),
    ("Adam", dict(lr=1e-3, amsgrad=True)),
    ("AdamW", dict(lr=1e-3, weight_decay=0.05)),
]
SCHED_CASES = [
    (None, {}),
    ("StepLR", dict(step_size=5, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[3, 8, 15], gamma=0.5)),
    ("ExponentialLR", dict(gamma=0.95)),
    ("CosineAnnealingLR", dict(T_max=10, eta_min=1e-4)),
    ("LambdaLR", dict(lr_lambda=lambda e: 0.9**e)),
]


def _mlp(m):
    return m.Sequential(m.Linear(6, 16), m.Tanh(), m.Linear(16, 4))


# every optimizer alone, every scheduler on SGD-with-momentum and on Adam (the full cross
# product is marked slow)
TRAJ = [(o, s) for o in OPT_CASES for s in SCHED_CASES[:1]] + [
    (o, s) for o in (OPT_CASES[1], OPT_CASES[5]) for s in SCHED_CASES[1:]
]
TRAJ_SLOW = [(o, s) for o in OPT_CASES for s in SCHED_CASES if (o, s) not in TRAJ]


def _traj_params(cases, marks=()):
    return [
        pytest.param(o[0], o[1], s[0], s[1], marks=marks, id=f"{o[0]}-{OPT_CASES.index(o)}-{s[0] or 'none'}")
        for o, s in cases
    ]


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("opt_name,okw,sched_name,skw", _traj_params(TRAJ) + _traj_params(TRAJ_SLOW, pytest.mark.slow))
def test_training_trajectory(opt_name, okw, sched_name, skw):
    torch.manual_seed(0)
    tm, nm = _mlp(tnn), _mlp(nn)
    nm.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    topt = getattr(torch.optim, opt_name)(tm.parameters(), **okw)
    nopt = getattr(optim, opt_name)(nm.parameters(), **okw)
    ts = getattr(torch.optim.lr_scheduler, sched_name)(topt, **skw) if sched_name else None
    ns = getattr(lr_scheduler, sched_name)(nopt, **skw) if sched_name else None
    rng = np.random.default_rng(0)
    for step in range(20):
        x, y = rng.standard_normal((8, 6)).astype(np.float32), rng.integers(0, 4, 8)
        tl = tnn.functional.cross_entropy(tm(torch.tensor(x)), torch.tensor(y))
        nl = nn.functional.cross_entropy(nm(nx.tensor(x)), nx.tensor(y))
        assert float(nl.item()) == pytest.approx(float(tl.item()), rel=1e-3, abs=1e-5), f"loss at step {step}"
        topt.zero_grad()
        nopt.zero_grad()
        tl.backward()
        nl.backward()
        topt.step()
        nopt.step()
        if ts is not None:
            ts.step()
            ns.step()
            assert ns.get_last_lr()[0] == pytest.approx(ts.get_last_lr()[0], rel=1e-9)
    tp = dict(tm.named_parameters())
    for name, p in nm.named_parameters():
        np.testing.assert_allclose(p.detach().numpy(), tp[name].detach().numpy(), rtol=1e-3, atol=1e-4, err_msg=name)


def test_lenet_training_trajectory():
    """LeNet-5 (conv, pool, linear, relu, cross-entropy) trained 5 steps with SGD-momentum."""
    from neuraxon.train import build_model

    torch.manual_seed(0)
    tm = tnn.Sequential(
        tnn.Conv2d(1, 6, 5, padding=2),
        tnn.ReLU(),
        tnn.MaxPool2d(2),
        tnn.Conv2d(6, 16, 5),
        tnn.ReLU(),
        tnn.MaxPool2d(2),
        tnn.Flatten(),
        tnn.Linear(400, 120),
        tnn.ReLU(),
        tnn.Linear(120, 84),
        tnn.ReLU(),
        tnn.Linear(84, 10),
    )
    nm = build_model("lenet", (1, 28, 28))  # neuraxon.models.LeNet5: features (0-5) + classifier (6-11)

    def ours(key):  # torch's flat index -> our features./classifier. name
        i, rest = key.split(".", 1)
        return f"features.{i}.{rest}" if int(i) < 6 else f"classifier.{int(i) - 6}.{rest}"

    nm.load_state_dict({ours(k): v.numpy() for k, v in tm.state_dict().items()})
    topt = torch.optim.SGD(tm.parameters(), lr=0.05, momentum=0.9)
    nopt = optim.SGD(nm.parameters(), lr=0.05, momentum=0.9)
    rng = np.random.default_rng(1)
    for _ in range(5):
        x, y = rng.standard_normal((4, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, 4)
        tl = tnn.functional.cross_entropy(tm(torch.tensor(x)), torch.tensor(y))
        nl = nn.functional.cross_entropy(nm(nx.tensor(x)), nx.tensor(y))
        assert float(nl.item()) == pytest.approx(float(tl.item()), rel=1e-3)
        topt.zero_grad(), nopt.zero_grad()
        tl.backward(), nl.backward()
        topt.step(), nopt.step()
    tp = {ours(k): v for k, v in tm.named_parameters()}
    assert sorted(tp) == sorted(n for n, _ in nm.named_parameters())
    for name, p in nm.named_parameters():
        np.testing.assert_allclose(p.detach().numpy(), tp[name].detach().numpy(), rtol=1e-3, atol=1e-4, err_msg=name)
