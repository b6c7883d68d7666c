"""gemm: forward (transposes, alpha/beta, bias+activation epilogue, batch) and backward
against the NumPy reference, on every variant and every ISA path."""

import numpy as np
import pytest

from neuraxon.testing import reference as ref
from neuraxon.testing.gradcheck import check_vjp
from neuraxon.testing.reference import act as A
from neuraxon.testing.tolerances import assert_close, for_sum

SHAPES = [  # m, n, k
    (1, 1, 1), (1, 7, 3), (5, 1, 9), (3, 4, 1), (13, 17, 19), (12, 32, 256), (31, 65, 257),
    (64, 10, 256), (128, 512, 784), (97, 131, 600), (0, 5, 3), (4, 0, 3), (4, 5, 0),
    # m > 256: the packed-B path (fewer rows copy row-major B run by run, see below)
    (300, 70, 300), (40, 2100, 520),
]
VARIANTS = [-1, 0, 1, 2]


def _operands(rng, m, n, k, ta, tb):
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
    return a, b


@pytest.mark.parametrize("m,n,k", SHAPES)
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("variant", VARIANTS)
def test_gemm_forward_shapes(dev, rng, m, n, k, ta, tb, variant):
    a, b = _operands(rng, m, n, k, ta, tb)
    c = dev.out((m, n))
    dev.k.gemm_forward(c, dev.put(a), dev.put(b), None, 1, m, n, k, ta, tb, 0, 0, 0, 1.0, 0.0, 0, 0.0, variant)
    assert_close(dev.get(c, (m, n)), ref.gemm_forward(None, a, b, trans_a=ta, trans_b=tb), for_sum(k))


@pytest.mark.parametrize("variant", VARIANTS)
def test_gemm_every_isa_path(dev, isa, rng, variant):
    if dev.name != "cpu":
        pytest.skip("ISA paths are a CPU matter")
    # (270, 45, 130): m > 256, packed row-major B; the others read B in place when not tb;
    # (9, 2101, 530): B of 1.1M floats, read in place by the one 12-row tile of AVX-512;
    # (37, 1024, 70), (13, 2048, 700): B's row stride a multiple of 4 KiB (two k blocks in
    # the second); B read in place is copied in runs of 4-8 panels before the row tiles go
    # over it: (50, 300, 270) ends on a short run with a ragged panel, (200, 1030, 40) has
    # two row blocks each copying its own runs
    for m, n, k in [(13, 17, 19), (37, 70, 300), (100, 33, 7), (25, 49, 513), (270, 45, 130), (9, 2101, 530),
                    (37, 1024, 70), (13, 2048, 700), (50, 300, 270), (200, 1030, 40)]:
        for ta, tb in [(False, False), (True, True), (False, True)]:
            a, b = _operands(rng, m, n, k, ta, tb)
            c0 = rng.standard_normal((m, n)).astype(np.float32)
            c = dev.put(c0)
            dev.k.gemm_forward(c, dev.put(a), dev.put(b), None, 1, m, n, k, ta, tb, 0, 0, 0, 0.5, 2.0, 0, 0.0, variant)
            want = ref.gemm_forward(c0, a, b, trans_a=ta, trans_b=tb, alpha=0.5, beta=2.0)
            assert_close(dev.get(c, (m, n)), want, for_sum(k), f"{isa} {m}x{n}x{k}")


def test_gemm_every_partial_row_tile(dev, isa, rng):
    """m = 1..25 hits every row count of the last (partial) micro-tile on every ISA path."""
    if dev.name != "cpu":
        pytest.skip("ISA paths are a CPU matter")
    for m in range(1, 26):
        for tb in (False, True):
            a, b = _operands(rng, m, 40, 20, False, tb)
            c0 = rng.standard_normal((m, 40)).astype(np.float32)
            c = dev.put(c0)
            dev.k.gemm_forward(c, dev.put(a), dev.put(b), None, 1, m, 40, 20, False, tb, 0, 0, 0, 1.0, 0.5, 0, 0.0, 1)
            want = ref.gemm_forward(c0, a, b, trans_b=tb, beta=0.5)
            assert_close(dev.get(c, (m, 40)), want, for_sum(20), f"{isa} m={m} tb={tb}")


@pytest.mark.parametrize("act,p", [(A.RELU, 0.0), (A.LEAKY_RELU, 0.1), (A.SIGMOID, 0.0), (A.TANH, 0.0),
                                   (A.SOFTPLUS, 1.0), (A.ELU, 1.0), (A.GELU, 0.0), (A.GELU, 1.0)])
@pytest.mark.parametrize("variant", VARIANTS)
def test_gemm_bias_activation_epilogue(dev, rng, act, p, variant):
    m, n, k = 37, 45, 70
    a, b = _operands(rng, m, n, k, False, True)
    bias = rng.standard_normal(n).astype(np.float32)
    c = dev.out((m, n))
    dev.k.gemm_forward(c, dev.put(a), dev.put(b), dev.put(bias), 1, m, n, k, False, True, 0, 0, 0, 1.0, 0.0, act, p, variant)
    assert_close(dev.get(c, (m, n)), ref.gemm_forward(None, a, b, bias, trans_b=True, act=act, act_param=p), for_sum(k))


@pytest.mark.parametrize("m,n,k", [(64, 10, 256), (200, 3, 50), (97, 16, 33), (64, 1, 300)])
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_gemm_small_n_path_beta_bias_act(dev, rng, m, n, k, ta, tb):
    """n <= 16, m >= 4n: the packed variant computes C^T and transposes it into C."""
    a, b = _operands(rng, m, n, k, ta, tb)
    c0 = rng.standard_normal((m, n)).astype(np.float32)
    bias = rng.standard_normal(n).astype(np.float32)
    for beta, act in [(0.0, A.NONE), (0.5, A.TANH)]:
        c = dev.put(c0)
        dev.k.gemm_forward(c, dev.put(a), dev.put(b), dev.put(bias), 1, m, n, k, ta, tb, 0, 0, 0, 1.5, beta, act, 0.0, 1)
        want = ref.gemm_forward(c0, a, b, bias, trans_a=ta, trans_b=tb, alpha=1.5, beta=beta, act=act)
        assert_close(dev.get(c, (m, n)), want, for_sum(k), f"beta={beta} act={act}")


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_gemm_thread_splits(dev, rng, threads):
    """Row-block and column-panel splits of the packed kernel for several team sizes."""
    if dev.name != "cpu":
        pytest.skip("OpenMP team sizes are a CPU matter")
    from neuraxon import _ext

    before = _ext.cpu.num_threads()
    _ext.cpu.set_num_threads(threads)
    try:
        # 30 rows = 3 AVX-512 row tiles (odd: column split, no barrier), 1100 = 34.4 panels
        # (ragged last panel copied by its owner); 30x700 @ B^T: column split of packed B;
        # 100x203: row split with B read in place (each thread copies the last panel);
        # 517 rows: uneven row blocks of packed B (barriers); 64x784 @ B^T; small n via C^T.
        # 36x3300x1100: column split over two jc blocks and 5 k blocks, the last short: a
        # thread running ahead once overwrote B panels the other still read (about one call
        # in two went wrong at 2 threads; hence the repeats below).
        # (each m*n*k > 4e6, the smallest product the kernel threads)
        for m, n, k, tb in [(30, 1100, 520, False), (30, 700, 820, True), (100, 203, 840, False),
                            (36, 3300, 1100, True), (36, 3300, 1100, False), (96, 1024, 600, True),
                            (130, 900, 600, False),  # m*k*n > 64M, B copied in runs by each thread
                            (517, 203, 300, False), (64, 784, 350, True), (300, 7, 8200, False),
                            (40, 2048, 700, False),  # B in place, 8 KiB rows: panels copied per thread
                            (13, 40, 8000, False)]:  # row blocks of 1 and 2 tiles: one copies B, one not
            a, b = _operands(rng, m, n, k, False, tb)
            want = ref.gemm_forward(None, a, b, trans_b=tb)
            for rep in range(3 if m * n * k > 10**8 else 1):
                c = dev.out((m, n))
                dev.k.gemm_forward(c, dev.put(a), dev.put(b), None, 1, m, n, k, False, tb, 0, 0, 0, 1.0, 0.0, 0, 0.0, 1)
                assert_close(dev.get(c, (m, n)), want, for_sum(k), f"{m}x{n}x{k} tb={tb} rep {rep}")
        # k2 (direct) in row blocks of 12, one per thread (m*n*k >= 2^18): m not a multiple of
        # 12 or of the team, A transposed (strided rows), beta, bias and an activation
        for m, n, k, ta in [(100, 100, 100, False), (37, 61, 300, True), (130, 40, 64, False)]:
            a, b = _operands(rng, m, n, k, ta, False)
            bias = rng.standard_normal(n).astype(np.float32)
            c0 = rng.standard_normal((m, n)).astype(np.float32)
            want = ref.gemm_forward(c0, a, b, bias, trans_a=ta, beta=0.5, act=A.RELU)
            c = dev.put(c0.copy())
            dev.k.gemm_forward(c, dev.put(a), dev.put(b), dev.put(bias), 1, m, n, k, ta, False, 0, 0, 0, 1.0, 0.5,
                               A.RELU, 0.0, 2)
            assert_close(dev.get(c, (m, n)), want, for_sum(k), f"k2 {m}x{n}x{k} ta={ta}")
    finally:
        _ext.cpu.set_num_threads(before)


def test_gemm_beta_zero_ignores_nan_in_c(dev, rng):
    a, b = _operands(rng, 20, 30, 40, False, False)
    c = dev.out((20, 30))  # NaN
    dev.k.gemm_forward(c, dev.put(a), dev.put(b), None, 1, 20, 30, 40, False, False, 0, 0, 0, 1.0, 0.0, 0, 0.0, -1)
    assert np.isfinite(dev.get(c)).all()


@pytest.mark.parametrize("variant", VARIANTS)
def test_gemm_batched_with_broadcast_operand(dev, rng, variant):
    batch, m, n, k = 5, 7, 9, 11
    a = rng.standard_normal((batch, m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)  # stride 0: shared by every batch
    c = dev.out((batch, m, n))
    dev.k.gemm_forward(c, dev.put(a), dev.put(b), None, batch, m, n, k, False, False, m * k, 0, m * n, 1.0, 0.0, 0, 0.0, variant)
    assert_close(dev.get(c, (batch, m, n)), ref.gemm_forward(None, a, b), for_sum(k))


@pytest.mark.parametrize("m,n,k", [(1, 1, 1), (5, 7, 3), (33, 17, 65), (128, 10, 256), (0, 3, 4), (3, 4, 0)])
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("variant", VARIANTS)
def test_gemm_backward(dev, rng, m, n, k, ta, tb, variant):
    a, b = _operands(rng, m, n, k, ta, tb)
    dc = rng.standard_normal((m, n)).astype(np.float32)
    da, db, dbias = dev.out(a.shape), dev.out(b.shape), dev.out((n,))
    dev.k.gemm_backward(da, db, dbias, dev.put(dc), dev.put(a), dev.put(b), m, n, k, ta, tb, variant)
    rda, rdb, rdbias = ref.gemm_backward(dc, a, b, ta, tb)
    assert_close(dev.get(da, a.shape), rda, for_sum(n))
    assert_close(dev.get(db, b.shape), rdb, for_sum(m))
    assert_close(dev.get(dbias), rdbias, for_sum(m))


@pytest.mark.parametrize("ta,tb", [(False, False), (True, True)])
def test_gemm_reference_backward_matches_finite_differences(rng, ta, tb):
    m, n, k = 3, 4, 5
    a = rng.standard_normal((k, m) if ta else (m, k))
    b = rng.standard_normal((n, k) if tb else (k, n))
    bias = rng.standard_normal(n)
    dc = rng.standard_normal((m, n))
    da, db, dbias = ref.gemm_backward(dc, a, b, ta, tb)
    check_vjp(lambda a, b, bias: ref.gemm_forward(None, a, b, bias, trans_a=ta, trans_b=tb),
              {"a": da, "b": db, "bias": dbias}, {"a": a, "b": b, "bias": bias}, dc)


def test_gemm_bad_sizes_raise_value_error(dev):
    k = dev.k
    a, b, c = dev.put(np.zeros((2, 3), np.float32)), dev.put(np.zeros((3, 4), np.float32)), dev.out((2, 4))
    with pytest.raises(ValueError, match="'b' has 12 elements, expected 15"):
        k.gemm_forward(c, a, b, None, 1, 2, 5, 3, False, False, 0, 0, 0, 1.0, 0.0, 0, 0.0, -1)
    with pytest.raises(ValueError, match="must be >= 0"):
        k.gemm_forward(c, a, b, None, 1, -2, 4, 3, False, False, 0, 0, 0, 1.0, 0.0, 0, 0.0, -1)
    with pytest.raises(ValueError, match="variant"):
        k.gemm_forward(c, a, b, None, 1, 2, 4, 3, False, False, 0, 0, 0, 1.0, 0.0, 0, 0.0, 7)
    with pytest.raises(ValueError, match="bias"):
        k.gemm_forward(c, a, b, dev.put(np.zeros(3, np.float32)), 1, 2, 4, 3, False, False, 0, 0, 0, 1.0, 0.0, 0, 0.0, -1)
    with pytest.raises(TypeError, match="int64"):
        k.gemm_forward(c, dev.put(np.zeros((2, 3), np.int64)), b, None, 1, 2, 4, 3, False, False, 0, 0, 0, 1.0, 0.0, 0, 0.0, -1)
