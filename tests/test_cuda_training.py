"""Whole training steps on device "cuda" against the same steps on the CPU: LeNet-5 (conv,
pooling, ReLU, linear, cross-entropy, SGD with momentum) and an LSTM classifier (Adam), the
same initial weights and batches on both. Also that a training step (LeNet-5, MLP, BN-CNN,
LSTM) never makes the host wait for the device, and how a bad target is reported.

These run wherever device "cuda" works: on a GPU, and in CI on the emulated CUDA module
(NEURAXON_USE_CUDA_EMU=1), where they exercise the CUDA kernels' composition end to end."""

from __future__ import annotations

import neuraxon as nx
import numpy as np
import pytest
from neuraxon import nn
from neuraxon.models import LeNet5
from neuraxon.ops import host as host_ops

from conftest import _cuda_skip_reason


@pytest.fixture(autouse=True)
def _need_cuda():
    reason = _cuda_skip_reason()
    if reason:
        pytest.skip(reason)


def _twin(make, seed=0):
    """The same freshly initialised model on cpu and on cuda."""
    nx.manual_seed(seed)
    cpu = make()
    gpu = make()
    gpu.load_state_dict(cpu.state_dict())
    return cpu, gpu.to("cuda")


def _run(model, opt, batches, device, loss_fn):
    losses = []
    for x, y in batches:
        x, y = nx.tensor(x, device=device), nx.tensor(y, device=device)
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        losses.append(float(loss.item()))
    return losses


def _assert_same_training(cpu, gpu, lc, lg, rtol):
    # The two backends sum in different orders (a conv weight gradient here adds thousands
    # of products), and momentum carries those float32 roundings from step to step: weights
    # agree to ~1e-4 of their scale, not to an ulp. A kernel bug moves them by O(scale).
    np.testing.assert_allclose(lg, lc, rtol=rtol, atol=1e-5)
    for (name, pc), (_, pg) in zip(cpu.state_dict().items(), gpu.state_dict().items()):
        want = pc.numpy()
        scale = float(np.abs(want).max()) if want.size else 0.0
        np.testing.assert_allclose(pg.cpu().numpy(), want, rtol=rtol, atol=1e-3 * scale + 1e-6, err_msg=name)


def test_lenet5_sgd_momentum_steps_match_the_cpu():
    rng = np.random.default_rng(0)
    batches = [
        (rng.standard_normal((8, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, 8)) for _ in range(4)
    ]
    cpu, gpu = _twin(LeNet5)
    oc = nx.optim.SGD(cpu.parameters(), lr=0.05, momentum=0.9)
    og = nx.optim.SGD(gpu.parameters(), lr=0.05, momentum=0.9)
    lc = _run(cpu, oc, batches, "cpu", nn.functional.cross_entropy)
    lg = _run(gpu, og, batches, "cuda", nn.functional.cross_entropy)
    assert lc[-1] < lc[0]  # it trains at all
    _assert_same_training(cpu, gpu, lc, lg, rtol=2e-4)


class _LstmClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(5, 12, num_layers=2, batch_first=True)
        self.head = nn.Linear(12, 3)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


def test_lstm_adam_steps_match_the_cpu():
    rng = np.random.default_rng(1)
    batches = [(rng.standard_normal((6, 7, 5)).astype(np.float32), rng.integers(0, 3, 6)) for _ in range(4)]
    cpu, gpu = _twin(_LstmClassifier)
    oc = nx.optim.Adam(cpu.parameters(), lr=0.01)
    og = nx.optim.Adam(gpu.parameters(), lr=0.01)
    lc = _run(cpu, oc, batches, "cpu", nn.functional.cross_entropy)
    lg = _run(gpu, og, batches, "cuda", nn.functional.cross_entropy)
    assert lc[-1] < lc[0]
    _assert_same_training(cpu, gpu, lc, lg, rtol=2e-4)


def _bn_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(16, 10),
    )


# A training step (forward, cross-entropy, backward, optimizer step; no .item()) must never
# make the host wait for the device: kernels that check data (cross-entropy targets, pooling
# and gather indices, integer division) report on the device and the host raises at the next
# sync the user asks for (csrc/cuda/check.cuh). Until that, a LeNet-5 step waited 6 times.
@pytest.mark.parametrize(
    "name,make,opt,x_shape,classes",
    [
        ("lenet5", LeNet5, lambda p: nx.optim.SGD(p, lr=0.01, momentum=0.9), (4, 1, 28, 28), 10),
        ("mlp", lambda: nx.models.mlp(784, 10, hidden=(64, 32)), lambda p: nx.optim.Adam(p), (4, 784), 10),
        ("bn_cnn", _bn_cnn, lambda p: nx.optim.SGD(p, lr=0.01, momentum=0.9, nesterov=True), (4, 1, 12, 12), 10),
        ("lstm", _LstmClassifier, lambda p: nx.optim.Adam(p, lr=0.01), (4, 7, 5), 3),
    ],
)
def test_a_training_step_never_waits_for_the_device(name, make, opt, x_shape, classes):
    rng = np.random.default_rng(2)
    model = make().to("cuda")
    optim = opt(model.parameters())
    x = nx.tensor(rng.standard_normal(x_shape).astype(np.float32), device="cuda")
    y = nx.tensor(rng.integers(0, classes, x_shape[0]), device="cuda")

    def step():
        optim.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optim.step()
        return loss

    step()  # first step: lazy state (momentum buffers) out of the way
    nx.cuda.synchronize()
    before = nx.cuda.host_sync_count()
    trips = host_ops.host_round_trips
    loss = step()
    syncs = nx.cuda.host_sync_count() - before
    assert host_ops.host_round_trips == trips, f"a {name} step ran an op on the host"
    assert syncs == 0, f"a {name} step waited for the device {syncs} times"
    assert np.isfinite(loss.item())
    assert nx.cuda.host_sync_count() - before == 1  # .item() is one read


def test_a_bad_target_is_raised_at_the_next_sync_naming_the_op():
    model = LeNet5().to("cuda")
    x = nx.tensor(np.zeros((2, 1, 28, 28), np.float32), device="cuda")
    loss = nn.functional.cross_entropy(model(x), nx.tensor([3, 10], device="cuda"))  # 10 classes
    loss.backward()  # no wait so far: the error is still on the device
    with pytest.raises(ValueError, match=r"cross_entropy_forward: target\[1\] = 10 is out of range \[0, 10\)"):
        loss.item()
    # reported once; the device works on
    good = nn.functional.cross_entropy(model(x), nx.tensor([3, 9], device="cuda"))
    assert np.isfinite(good.item())


def test_host_only_ops_on_cuda_tensors_are_counted():
    # the ops of neuraxon.ops.host.HOST_OPS run with NumPy: a CUDA tensor makes a counted
    # round trip to the host and back, with the right result on the right device
    x = nx.tensor([[3.0, 1.0, 2.0], [0.5, -1.0, 4.0]], device="cuda")
    before = host_ops.host_round_trips
    v, i = x.sort(dim=1)
    assert host_ops.host_round_trips > before
    assert v.device == nx.device("cuda") and i.device == nx.device("cuda")
    np.testing.assert_array_equal(v.cpu().numpy(), [[1.0, 2.0, 3.0], [-1.0, 0.5, 4.0]])
    np.testing.assert_array_equal(i.cpu().numpy(), [[1, 2, 0], [1, 0, 2]])
    before = host_ops.host_round_trips
    (x * 2 + 1).relu().sum(1)  # device kernels only
    assert host_ops.host_round_trips == before


def test_indexing_ops_check_their_indices_without_waiting():
    # advanced indexing, gather and embedding validate index ranges with a kernel (a deferred
    # device error on CUDA) instead of copying the index or its min/max to the host
    rng = np.random.default_rng(3)
    xh = rng.standard_normal((6, 5)).astype(np.float32)
    x = nx.tensor(xh, device="cuda")
    emb = nn.Embedding(10, 3).to("cuda")
    i0, i1 = nx.tensor([0, 5, -1], device="cuda"), nx.tensor([1, 2, -5], device="cuda")
    gi = nx.tensor([[0], [4], [1], [2], [3], [0]], device="cuda")
    tok = nx.tensor([[1, 9], [0, 3]], device="cuda")
    nx.cuda.synchronize()
    before = nx.cuda.host_sync_count()
    y, z, g, e = x[i0], x[i0, i1], x.gather(1, gi), emb(tok)
    assert nx.cuda.host_sync_count() == before
    np.testing.assert_array_equal(y.numpy(), xh[[0, 5, -1]])
    np.testing.assert_array_equal(z.numpy(), xh[[0, 5, -1], [1, 2, -5]])
    np.testing.assert_array_equal(g.numpy(), np.take_along_axis(xh, np.array([[0], [4], [1], [2], [3], [0]]), 1))
    np.testing.assert_array_equal(e.detach().numpy(), emb.weight.detach().numpy()[[[1, 9], [0, 3]]])
    with pytest.raises(IndexError, match="index 6 is out of bounds for dimension 0 with size 6"):
        x[nx.tensor([6], device="cuda")].sum().item()
    with pytest.raises(IndexError, match="index 10 is out of bounds for dimension 0 with size 10"):
        emb(nx.tensor([10], device="cuda")).sum().item()
    with pytest.raises(RuntimeError, match="index 5 is out of bounds for dimension 1 with size 5"):
        x.gather(1, nx.tensor([[5]] * 6, device="cuda")).numpy()
