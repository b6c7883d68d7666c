"""Memory over long training runs: resident memory must not grow step after step.

Every step allocates activations, gradients and graph nodes; all of it must be released (or
reused through the CPU buffer cache in neuraxon/device.py) once the step ends. A leak of one
small graph node per step shows up here as steady growth over 2,000 steps.

RSS is read from /proc/self/statm (Linux); elsewhere the tests skip.
"""

from __future__ import annotations

import gc
import importlib
import os
import sys

import neuraxon as nx
import numpy as np
import pytest

nx_device = importlib.import_module("neuraxon.device")  # nx.device is the factory function


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        pytest.skip("RSS needs /proc/self/statm (Linux)")


def _trainer(model, opt, x, y):
    loss_fn = nx.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def _growth(step, warmup: int, steps: int) -> tuple[int, float, float]:
    """RSS growth (bytes) over `steps` steps after `warmup`, and the first/last loss."""
    for _ in range(warmup):
        first = float(step().item())
    gc.collect()
    r0 = _rss_bytes()
    for _ in range(steps):
        loss = step()
    last = float(loss.item())
    gc.collect()
    return _rss_bytes() - r0, first, last


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RSS from /proc")
def test_rss_bounded_over_2000_mlp_steps():
    nx.manual_seed(0)
    model = nx.nn.Sequential(nx.nn.Linear(64, 128), nx.nn.ReLU(), nx.nn.Linear(128, 10))
    opt = nx.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    rng = np.random.default_rng(0)
    x = nx.tensor(rng.standard_normal((32, 64)).astype(np.float32))
    y = nx.tensor(rng.integers(0, 10, 32).astype(np.int64))
    grew, first, last = _growth(_trainer(model, opt, x, y), warmup=50, steps=2000)
    assert grew < 50 * 2**20, f"RSS grew {grew / 2**20:.1f} MB over 2,000 steps"
    assert last < first  # it trained (the steps did real work)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RSS from /proc")
def test_rss_bounded_over_2000_cnn_bn_adam_steps():
    # conv-bn-relu-pool + linear with Adam: buffers large enough (>= 64 KiB) to go through
    # the CPU buffer cache, plus BatchNorm running statistics updated in place
    nx_device.empty_cache()  # free buffers other tests left cached: measure this workload only
    nx.manual_seed(0)
    nn = nx.nn
    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(8 * 8 * 8, 10),
    )
    opt = nx.optim.Adam(model.parameters(), lr=1e-2)
    rng = np.random.default_rng(1)
    x = nx.tensor(rng.standard_normal((16, 1, 16, 16)).astype(np.float32))
    y = nx.tensor(rng.integers(0, 10, 16).astype(np.int64))
    grew, first, last = _growth(_trainer(model, opt, x, y), warmup=50, steps=2000)
    assert grew < 50 * 2**20, f"RSS grew {grew / 2**20:.1f} MB over 2,000 steps"
    assert last < first
    stats = nx_device._cpu_cache.stats()
    assert stats["tracked_bytes"] < 64 * 2**20, stats  # the cache reuses; it does not hoard


def test_cpu_cache_reuses_only_unreferenced_buffers():
    cpu = nx_device.cpu
    n = nx_device._CpuCache.MIN_BYTES // 4 + 3  # large enough for the cache
    a = cpu.empty(n, nx.float32)
    view = a.reshape(-1)[1:]  # a NumPy view keeps `a` referenced
    addr = a.ctypes.data
    del a
    b = cpu.empty(n, nx.float32)
    assert b.ctypes.data != addr  # still referenced through `view`: not handed out again
    del view, b
    c = cpu.empty(n, nx.float32)
    assert c.shape == (n,) and c.dtype == np.float32
    # one of the two freed buffers came back
    assert any(c is buf for buf in nx_device._cpu_cache.lists[(n, np.dtype(np.float32))])
    t = nx.zeros(n)
    arr = t.numpy()  # a user's NumPy view of a tensor keeps its buffer alive
    del t
    t2 = nx.ones(n)
    assert arr.ctypes.data != t2.numpy().ctypes.data
    assert float(arr.sum()) == 0.0
    del c, t2
    assert nx_device.empty_cache() >= 0


def test_one_element_fast_path_matches_kernel():
    # the per-call overhead fast path (ops.elementwise._binary_fast: one-element add/sub/mul on Python
    # floats) must give the kernel's float32 result bit for bit, specials included, and
    # must not warn where the kernel does not (overflow, inf - inf)
    import warnings

    from neuraxon import _ext

    rng = np.random.default_rng(2)
    specials = [0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 3.4028235e38, -3.4028235e38, 1e-45, 1.1754944e-38]
    vals = np.concatenate(
        [
            np.array(specials, np.float32),
            (rng.standard_normal(40) * 10.0 ** rng.integers(-40, 39, 40)).astype(np.float32),
        ]
    )
    ops = {0: lambda a, b: a + b, 1: lambda a, b: a - b, 2: lambda a, b: a * b}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for code, f in ops.items():
            for u in vals:
                for w in vals:
                    got = f(nx.tensor([u]), nx.tensor([w])).numpy()
                    ref = np.empty(1, np.float32)
                    _ext.cpu.binary_forward(
                        ref, np.array([u], np.float32), np.array([w], np.float32), [1], [1], [1], code
                    )
                    same = np.array_equal(got.view(np.uint32), ref.view(np.uint32))
                    assert same or (np.isnan(got[0]) and np.isnan(ref[0])), (code, u, w, got, ref)
    # reflected scalar-free forms and shapes keep their meaning
    a = nx.tensor([[2.0]])
    assert (a - nx.tensor([[5.0]])).shape == (1, 1) and float((a - nx.tensor([[5.0]])).item()) == -3.0


def test_empty_cache_frees_the_kernels_scratch_arenas():
    from neuraxon import _ext

    # Kernels keep per-thread scratch (packed GEMM panels, im2col columns) grown to the
    # largest call; empty_cache() hands it back (it used to keep it for the process's life).
    a = nx.randn(512, 700)
    b = nx.randn(700, 600)
    (a @ b).sum().item()  # packs both operands into scratch
    freed = _ext.cpu.release_scratch()
    assert freed >= 4 * 700 * 16  # at least a packed panel of the shared dimension
    assert _ext.cpu.release_scratch() == 0  # nothing left to free
    (a @ b).sum().item()  # and kernels grow it again on demand
    assert nx_device.empty_cache() >= freed // 2
