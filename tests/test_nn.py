"""nn: Module registration and traversal, state_dict round trips and error messages,
containers, layer behaviour (init rules, BatchNorm statistics, Dropout modes, padding modes),
losses vs NumPy, init and utils. Outputs vs torch live in test_parity_torch.py."""

from __future__ import annotations

import math
from collections import OrderedDict

import neuraxon as nx
import numpy as np
import pytest
from neuraxon import nn
from neuraxon.nn import functional as F
from neuraxon.nn import init


def T(a, **kw):
    return nx.tensor(np.asarray(a, dtype=np.float32), **kw)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.bn = nn.BatchNorm2d(2)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
        self.register_buffer("scale", nx.ones(1))
        self.register_buffer("tmp", nx.zeros(1), persistent=False)
        self.extra = nn.Parameter(nx.zeros(2))

    def forward(self, x):
        return self.head(F.relu(self.bn(self.conv(x)))) * self.scale


# ---- Module ----------------------------------------------------------------------------------


def test_registration_and_traversal():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["extra", "conv.weight", "conv.bias", "bn.weight", "bn.bias", "head.1.weight", "head.1.bias"]
    assert [n for n, _ in net.named_buffers()] == [
        "scale",
        "tmp",
        "bn.running_mean",
        "bn.running_var",
        "bn.num_batches_tracked",
    ]
    assert [n for n, _ in net.named_children()] == ["conv", "bn", "head"]
    assert [n for n, _ in net.named_modules()] == ["", "conv", "bn", "head", "head.0", "head.1"]
    assert len(list(net.parameters(recurse=False))) == 1
    assert all(isinstance(p, nn.Parameter) and isinstance(p, nx.Tensor) and p.requires_grad for p in net.parameters())
    assert net.conv is net._modules["conv"] and net.scale is net._buffers["scale"]
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        net.nope
    net.conv = None
    assert "conv" in net._modules and net.conv is None
    with pytest.raises(TypeError, match="cannot assign"):
        net.extra = nx.zeros(2)  # a plain tensor over a parameter
    del net.extra
    assert "extra" not in dict(net.named_parameters())


def test_shared_parameters_are_listed_once():
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(seq.parameters())) == 2
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_train_eval_zero_grad_apply():
    net = Net()
    net.eval()
    assert not net.training and all(not m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    x = nx.randn(2, 1, 6, 6)
    net(x).sum().backward()
    assert all(p.grad is not None for n, p in net.named_parameters() if n != "extra")
    net.zero_grad(set_to_none=False)
    assert float(np.abs(net.conv.weight.grad.numpy()).sum()) == 0.0
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen[-1] == "Net" and "Linear" in seen


def test_repr_like_torch():
    seq = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4, 2))
    r = repr(seq)
    assert r.splitlines()[0] == "Sequential("
    assert "(0): Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))" in r
    assert "(1): ReLU()" in r
    assert "(4): Linear(in_features=4, out_features=2, bias=True)" in r
    assert repr(nn.BatchNorm2d(3)) == "BatchNorm2d(3, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)"
    assert repr(nn.Dropout(0.2)) == "Dropout(p=0.2, inplace=False)"
    assert repr(nn.Linear(2, 3).weight).startswith("Parameter containing:")


def test_state_dict_round_trip_and_numpy_input():
    nx.manual_seed(1)
    a, b = Net(), Net()
    sd = a.state_dict()
    assert list(sd) == [
        "extra",
        "scale",
        "conv.weight",
        "conv.bias",
        "bn.weight",
        "bn.bias",
        "bn.running_mean",
        "bn.running_var",
        "bn.num_batches_tracked",
        "head.1.weight",
        "head.1.bias",
    ]
    assert "tmp" not in sd
    res = b.load_state_dict({k: v.numpy() for k, v in sd.items()})
    assert res.missing_keys == [] and res.unexpected_keys == []
    for k, v in b.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), sd[k].numpy())
    a.eval(), b.eval()
    x = nx.randn(2, 1, 6, 6)
    np.testing.assert_array_equal(a(x).detach().numpy(), b(x).detach().numpy())
    # parameters keep their identity (optimizers stay valid)
    w = b.conv.weight
    b.load_state_dict(sd)
    assert b.conv.weight is w


def test_load_state_dict_errors():
    net = Net()
    sd = dict(net.state_dict())
    del sd["conv.bias"]
    sd["bogus.weight"] = np.zeros(3, np.float32)
    sd["head.1.weight"] = np.zeros((5, 5), np.float32)
    with pytest.raises(RuntimeError) as e:
        net.load_state_dict(sd)
    msg = str(e.value)
    assert msg.startswith("Error(s) in loading state_dict for Net:")
    assert 'Missing key(s) in state_dict: "conv.bias".' in msg
    assert 'Unexpected key(s) in state_dict: "bogus.weight".' in msg
    assert (
        "size mismatch for head.1.weight: copying a param with shape (5, 5) from checkpoint, the shape in "
        "current model is (3, 32)."
    ) in msg
    # not strict: missing/unexpected are returned, size mismatch still raises
    with pytest.raises(RuntimeError, match="size mismatch"):
        net.load_state_dict(sd, strict=False)
    sd["head.1.weight"] = np.zeros((3, 32), np.float32)
    missing, unexpected = net.load_state_dict(sd, strict=False)
    assert missing == ["conv.bias"] and unexpected == ["bogus.weight"]
    assert float(np.abs(net.head[1].weight.detach().numpy()).sum()) == 0.0


def test_register_errors():
    m = nn.Module()
    with pytest.raises(KeyError, match="contain"):
        m.register_buffer("a.b", nx.zeros(1))
    with pytest.raises(TypeError, match="Tensor or None required"):
        m.register_buffer("x", 3)
    with pytest.raises(TypeError, match="nn.Parameter or None required"):
        m.register_parameter("w", nx.zeros(1))
    with pytest.raises(TypeError, match="is not a Module subclass"):
        m.add_module("x", 3)
    m.register_parameter("w", None)
    assert m.w is None and list(m.parameters()) == []
    with pytest.raises(NotImplementedError, match="forward"):
        m(1)


def test_to_cpu_keeps_working():
    net = nn.Linear(3, 2)
    out = net.to("cpu").cpu()
    assert out is net and net.weight.device.type == "cpu"
    with pytest.raises(TypeError, match="floating point"):
        net.to(nx.int64)


# ---- containers ------------------------------------------------------------------------------


def test_sequential_ops():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    assert len(seq) == 2 and isinstance(seq[0], nn.Linear) and isinstance(seq[-1], nn.ReLU)
    seq.append(nn.Linear(3, 1))
    assert len(seq) == 3 and list(seq._modules) == ["0", "1", "2"]
    sub = seq[1:]
    assert isinstance(sub, nn.Sequential) and len(sub) == 2
    assert seq(nx.randn(4, 2)).shape == (4, 1)
    named = nn.Sequential(OrderedDict(fc=nn.Linear(2, 2), act=nn.Tanh()))
    assert list(named.state_dict()) == ["fc.weight", "fc.bias"]
    with pytest.raises(IndexError):
        seq[3]
    del seq[0]
    assert list(seq._modules) == ["0", "1"] and isinstance(seq[0], nn.ReLU)


def test_module_list_and_dict():
    ml = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    ml.append(nn.ReLU())
    assert len(ml) == 4 and len(list(ml.parameters())) == 6 and isinstance(ml[-1], nn.ReLU)
    assert list(ml.state_dict())[0] == "0.weight"
    md = nn.ModuleDict({"a": nn.Linear(1, 1), "b": nn.ReLU()})
    assert list(md.keys()) == ["a", "b"] and "a" in md and len(md) == 2
    assert list(md.state_dict()) == ["a.weight", "a.bias"]


# ---- layers --------------------------------------------------------------------------------------


def test_linear_init_bounds_and_seed():
    nx.manual_seed(3)
    a = nn.Linear(50, 40)
    nx.manual_seed(3)
    b = nn.Linear(50, 40)
    np.testing.assert_array_equal(a.weight.detach().numpy(), b.weight.detach().numpy())
    w, bias = a.weight.detach().numpy(), a.bias.detach().numpy()
    bound = 1 / math.sqrt(50)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert np.abs(bias).max() <= bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.1 * bound
    assert nn.Linear(3, 2, bias=False).bias is None


def test_conv_padding_modes():
    x = nx.randn(2, 3, 9, 8)
    assert nn.Conv2d(3, 4, 3, padding="same")(x).shape == (2, 4, 9, 8)
    assert nn.Conv2d(3, 4, (4, 2), padding="same", dilation=(1, 2))(x).shape == (2, 4, 9, 8)  # even: asymmetric
    assert nn.Conv2d(3, 4, 3, padding="valid")(x).shape == (2, 4, 7, 6)
    assert nn.Conv2d(3, 4, 3, stride=2, padding=1)(x).shape == (2, 4, 5, 4)
    assert nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1)(x).shape == (2, 2, 18, 16)
    assert nn.ConvTranspose2d(3, 2, 3, stride=2)(x, output_size=(20, 18)).shape == (2, 2, 20, 18)
    with pytest.raises(ValueError, match="strided"):
        nn.Conv2d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="padding_mode"):
        nn.Conv2d(3, 4, 3, padding_mode="mirror")  # reflect/replicate/circular work: test_api_conformance
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)


def test_batchnorm_statistics():
    bn = nn.BatchNorm1d(3, momentum=0.2)
    x = np.random.default_rng(0).standard_normal((16, 3)).astype(np.float32) * 2 + 1
    y = bn(T(x)).detach().numpy()
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.2 * x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(bn.running_var.numpy(), 0.8 + 0.2 * x.var(0, ddof=1), rtol=1e-5)
    assert int(bn.num_batches_tracked.item()) == 1
    bn.eval()
    y = bn(T(x)).detach().numpy()
    want = (x - bn.running_mean.numpy()) / np.sqrt(bn.running_var.numpy() + 1e-5)
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="expected 2D or 3D input"):
        bn(nx.zeros(2, 3, 4, 4))


def test_batchnorm_cumulative_average():
    bn = nn.BatchNorm2d(2, momentum=None)
    xs = [np.random.default_rng(i).standard_normal((4, 2, 3, 3)).astype(np.float32) + i for i in range(3)]
    for x in xs:
        bn(T(x))
    means = np.mean([x.mean((0, 2, 3)) for x in xs], axis=0)
    np.testing.assert_allclose(bn.running_mean.numpy(), means, rtol=1e-5)
    assert int(bn.num_batches_tracked.item()) == 3


def test_dropout_modes():
    d = nn.Dropout(0.5)
    x = nx.ones(1000)
    y = d(x).numpy()
    assert set(np.unique(y).tolist()) <= {0.0, 2.0} and 350 < (y == 0).sum() < 650
    d.eval()
    np.testing.assert_array_equal(d(x).numpy(), x.numpy())
    with pytest.raises(ValueError):
        nn.Dropout(1.5)


def test_flatten_unflatten_identity():
    x = nx.randn(2, 3, 4, 5)
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 2)(x).shape == (24, 5)
    assert nn.Unflatten(1, (3, -1))(nx.randn(2, 12)).shape == (2, 3, 4)
    assert nn.Identity(3, foo=1)(x) is x


def test_embedding_padding_idx():
    emb = nn.Embedding(10, 4, padding_idx=2)
    np.testing.assert_array_equal(emb.weight.detach().numpy()[2], 0)
    idx = nx.tensor(np.array([[1, 2], [2, 9]]))
    out = emb(idx)
    assert out.shape == (2, 2, 4)
    out.sum().backward()
    np.testing.assert_array_equal(emb.weight.grad.numpy()[2], 0)


def test_pool_modules():
    x = nx.randn(1, 2, 8, 8)
    mp = nn.MaxPool2d(2, return_indices=True)
    y, idx = mp(x)
    assert y.shape == (1, 2, 4, 4) and idx.dtype == nx.int64
    up = nn.MaxUnpool2d(2)(y, idx)
    assert up.shape == (1, 2, 8, 8)
    assert nn.AvgPool2d(3, stride=2, padding=1)(x).shape == (1, 2, 4, 4)
    assert nn.AdaptiveAvgPool2d((3, None))(x).shape == (1, 2, 3, 8)
    assert nn.AdaptiveAvgPool2d(1)(x).shape == (1, 2, 1, 1)


def test_rnn_shapes():
    x = nx.randn(5, 3, 4)
    out, h = nn.RNN(4, 6, num_layers=2, bidirectional=True)(x)
    assert out.shape == (5, 3, 12) and h.shape == (4, 3, 6)
    out, (h, c) = nn.LSTM(4, 6, batch_first=True)(nx.randn(3, 5, 4))
    assert out.shape == (3, 5, 6) and h.shape == (1, 3, 6) and c.shape == (1, 3, 6)
    out, h = nn.GRU(4, 6)(nx.randn(5, 4))  # unbatched
    assert out.shape == (5, 6) and h.shape == (1, 6)
    names = [n for n, _ in nn.LSTM(4, 6, num_layers=2, bidirectional=True).named_parameters()]
    assert names[:4] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    assert "weight_ih_l1_reverse" in names and len(names) == 16
    h, c = nn.LSTMCell(4, 6)(nx.randn(3, 4))
    assert h.shape == (3, 6)
    assert nn.GRUCell(4, 6)(nx.randn(4)).shape == (6,)
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(4, 6, nonlinearity="gelu")
    with pytest.raises(RuntimeError, match="input_size"):
        nn.LSTM(4, 6)(nx.randn(5, 3, 2))


# ---- losses vs NumPy -------------------------------------------------------------------------------


def test_losses_vs_numpy(rng):
    logits = rng.standard_normal((6, 5)).astype(np.float32)
    target = rng.integers(0, 5, 6)
    lse = np.log(np.exp(logits).sum(1))
    ce = (lse - logits[np.arange(6), target]).mean()
    assert nn.CrossEntropyLoss()(T(logits), nx.tensor(target)).item() == pytest.approx(ce, rel=1e-5)
    tgt = target.copy()
    tgt[0] = -100
    ce_ign = (lse - logits[np.arange(6), target])[1:].mean()
    assert nn.CrossEntropyLoss()(T(logits), nx.tensor(tgt)).item() == pytest.approx(ce_ign, rel=1e-5)
    logp = logits - lse[:, None]
    assert nn.NLLLoss(reduction="sum")(T(logp), nx.tensor(target)).item() == pytest.approx(
        -logp[np.arange(6), target].sum(), rel=1e-5
    )
    a, b = rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal((3, 4)).astype(np.float32)
    assert nn.MSELoss()(T(a), T(b)).item() == pytest.approx(((a - b) ** 2).mean(), rel=1e-5)
    assert nn.L1Loss(reduction="sum")(T(a), T(b)).item() == pytest.approx(np.abs(a - b).sum(), rel=1e-5)
    assert nn.MSELoss(reduction="none")(T(a), T(b)).shape == (3, 4)
    p = 1 / (1 + np.exp(-a))
    y = (b > 0).astype(np.float32)
    bce = -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean()
    assert nn.BCELoss()(T(p), T(y)).item() == pytest.approx(bce, rel=1e-4)
    assert nn.BCEWithLogitsLoss()(T(a), T(y)).item() == pytest.approx(bce, rel=1e-4)
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        nn.MSELoss(reduction="avg")


def test_loss_weight_is_a_buffer():
    w = T([1.0, 2.0, 3.0])
    loss = nn.CrossEntropyLoss(weight=w)
    assert list(loss.state_dict()) == ["weight"]


# ---- init and utils -------------------------------------------------------------------------------


def test_calculate_gain():
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert init.calculate_gain("conv2d") == 1
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        init.calculate_gain("swishy")


@pytest.mark.parametrize(
    "fn,kw,std",
    [
        (init.kaiming_uniform_, dict(nonlinearity="relu"), math.sqrt(2 / 200)),
        (init.kaiming_normal_, dict(mode="fan_out", nonlinearity="relu"), math.sqrt(2 / 500)),
        (init.xavier_uniform_, dict(), math.sqrt(2 / 700)),
        (init.xavier_normal_, dict(gain=2.0), 2 * math.sqrt(2 / 700)),
    ],
)
def test_init_statistics(fn, kw, std):

    t = nx.empty(20, 8, 5, 5)  # fan_in 200, fan_out 500
    fn(t, **kw)
    assert abs(float(t.numpy().std()) - std) < 0.06 * std
    assert abs(float(t.numpy().mean())) < 0.1 * std


def test_simple_inits():
    t = nx.empty(3, 4)
    init.constant_(t, 0.5)
    assert np.all(t.numpy() == 0.5)
    init.zeros_(t)
    assert np.all(t.numpy() == 0)
    init.ones_(t)
    assert np.all(t.numpy() == 1)
    init.uniform_(t, -2, -1)
    assert t.numpy().max() < -1 and t.numpy().min() >= -2
    init.normal_(t, 5.0, 0.01)
    assert abs(t.numpy().mean() - 5) < 0.05
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.kaiming_uniform_(nx.empty(3))


def test_clip_grad():
    a = nx.tensor(np.zeros(3, np.float32), requires_grad=True)
    b = nx.tensor(np.zeros(4, np.float32), requires_grad=True)
    a.grad = T([3.0, 0.0, 0.0])
    b.grad = T([0.0, 4.0, 0.0, 0.0])
    total = nn.utils.clip_grad_norm_([a, b], 1.0)
    assert float(total.item()) == pytest.approx(5.0)
    np.testing.assert_allclose(a.grad.numpy(), [0.6, 0, 0], rtol=1e-5)
    np.testing.assert_allclose(b.grad.numpy(), [0, 0.8, 0, 0], rtol=1e-5)
    total = nn.utils.clip_grad_norm_([a, b], 10.0)
    assert float(total.item()) == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(a.grad.numpy(), [0.6, 0, 0], rtol=1e-5)
    a.grad = T([3.0, -5.0, 0.5])
    nn.utils.clip_grad_value_([a], 1.0)
    np.testing.assert_allclose(a.grad.numpy(), [1.0, -1.0, 0.5])
    assert float(nn.utils.clip_grad_norm_([a], 1.0, norm_type=math.inf).item()) == pytest.approx(1.0)


def test_functional_reexport():
    import neuraxon.functional as core_f

    assert F.relu is core_f.relu and F.cross_entropy is core_f.cross_entropy and F.lstm_layer is core_f.lstm_layer


def test_to_keeps_parameter_identity_for_optimizers():
    from neuraxon import optim

    net = nn.Linear(3, 2)
    w = net.weight
    opt = optim.SGD(net.parameters(), lr=0.1)
    net.to("cpu")
    assert net.weight is w and opt.param_groups[0]["params"][0] is w
