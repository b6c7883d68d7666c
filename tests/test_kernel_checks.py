"""Kernel argument checks against crafted sizes whose products overflow int64: before the
checks multiplied sizes unchecked, so rows * cols could wrap around to 0 and "match" an empty
array, and the kernel then ran over 2^62 rows (heap overflow under ASan, SIGSEGV in release).
Each call must raise ValueError naming the kernel, on every backend (the checks are shared)."""

from __future__ import annotations

import numpy as np
import pytest

BIG = 2**62  # BIG * 4 == 2**64 wraps to 0 in int64


def _raises(fn, kernel):
    with pytest.raises(ValueError, match=f"{kernel}.*overflow"):
        fn()


def test_softmax_and_cross_entropy_sizes_that_overflow(dev):
    k, e = dev.k, lambda dt=np.float32: dev.put(np.empty(0, dt))
    _raises(lambda: k.softmax_forward(e(), e(), BIG, 4, False), "softmax_forward")
    _raises(lambda: k.softmax_backward(e(), e(), e(), BIG, 4, False), "softmax_backward")
    # rows 4, cols BIG: rows * cols wraps to 0 and the empty logits would have matched
    _raises(
        lambda: k.cross_entropy_forward(dev.out((1,)), dev.out((4,)), e(), dev.put(np.zeros(4, np.int64)), 4, BIG, -100),
        "cross_entropy_forward",
    )
    _raises(
        lambda: k.cross_entropy_backward(e(), dev.put(np.ones(1, np.float32)), e(), dev.out((4,)),
                                         dev.put(np.zeros(4, np.int64)), 4, BIG, -100),
        "cross_entropy_backward",
    )


def test_batchnorm_sizes_that_overflow(dev):
    k, e = dev.k, lambda: dev.put(np.empty(0, np.float32))
    c = lambda: dev.out((4,))  # noqa: E731
    _raises(lambda: k.batchnorm_forward(e(), c(), c(), c(), c(), e(), c(), c(), BIG, 4, 4, True, 0.1, 1e-5),
            "batchnorm_forward")
    _raises(lambda: k.batchnorm_backward(e(), c(), c(), e(), e(), c(), c(), c(), BIG, 4, 4, True),
            "batchnorm_backward")


def test_gemm_sizes_that_overflow(dev):
    k, e = dev.k, lambda: dev.put(np.empty(0, np.float32))
    # m * n wraps to 0
    _raises(lambda: k.gemm_forward(e(), e(), e(), None, 1, BIG, 4, 0, False, False, 0, 0, 0, 1.0, 0.0, 0, 0.0, -1),
            "gemm_forward")
    # (batch - 1) * stride wraps
    one = lambda: dev.out((1,))  # noqa: E731
    _raises(lambda: k.gemm_forward(one(), one(), one(), None, BIG, 1, 1, 1, False, False, 4, 4, 4, 1.0, 0.0, 0,
                                   0.0, -1), "gemm_forward")
    _raises(lambda: k.gemm_backward(None, None, None, e(), e(), e(), BIG, 4, 0, False, False, -1), "gemm_backward")


def test_sizes_that_fit_still_work(dev, rng):
    # the checked products are the same numbers on valid input
    x = rng.standard_normal((3, 5)).astype(np.float32)
    out = dev.out((3, 5))
    dev.k.softmax_forward(out, dev.put(x), 3, 5, False)
    e = np.exp(x - x.max(1, keepdims=True))
    np.testing.assert_allclose(dev.get(out, (3, 5)), e / e.sum(1, keepdims=True), rtol=1e-5)


# ---- read-only memory is never written -----------------------------------------------------


def test_read_only_numpy_memory_is_copied_not_written(tmp_path):
    import neuraxon as nx

    raw = bytes(np.arange(6, dtype=np.float32).tobytes())
    a = np.frombuffer(raw, dtype=np.float32)  # read-only view of an immutable bytes object
    for t in (nx.from_numpy(a), nx.as_tensor(a)):
        t.fill_(7.0)
        t.add_(1.0)
        assert t.tolist() == [8.0] * 6
    assert np.frombuffer(raw, dtype=np.float32).tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    p = tmp_path / "x.npy"
    np.save(p, np.ones((3, 4), np.float32))
    m = np.load(p, mmap_mode="r")  # a read-only memory map: writing would SIGSEGV
    t = nx.from_numpy(m)
    t.mul_(3.0)
    assert float(t.sum().item()) == 36.0 and float(np.load(p).sum()) == 12.0
    w = np.ones(4, np.float32)  # writeable arrays are still shared, as torch.from_numpy
    nx.from_numpy(w).fill_(2.0)
    assert w.tolist() == [2.0] * 4


def test_cpu_kernels_refuse_read_only_arrays():
    from neuraxon import _ext

    ro = np.zeros(4, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        _ext.cpu.fill(ro, 4, 1.0)
    assert ro.tolist() == [0.0] * 4


def test_bernoulli_probabilities_outside_0_1_raise():
    import neuraxon as nx

    x = nx.zeros(3)
    for p in (1.5, -0.1, float("nan")):
        with pytest.raises(ValueError, match="probabilities"):
            nx.bernoulli(x, p=p)
        with pytest.raises(ValueError, match="probabilities"):
            x.clone().bernoulli_(p)
    with pytest.raises(ValueError, match="probabilities"):
        nx.bernoulli(nx.tensor([0.2, 1.2]))
    assert nx.bernoulli(x, p=1.0).tolist() == [1.0, 1.0, 1.0]
    assert nx.bernoulli(nx.tensor([0.0, 1.0])).tolist() == [0.0, 1.0]
