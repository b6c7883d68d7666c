"""The CUDA backend's own matters: the caching allocator (bins, statistics, cache reuse,
empty_cache), OutOfMemoryError, device mixing, the stream (results readable after a kernel),
bit-identical random streams and determinism against the CPU, and the tiled GEMM's tails,
strides and broadcasts. Kernel-vs-reference tests live in each stem's file and run on cuda
through the `dev` fixture; these need the CUDA module and mostly a device."""

from __future__ import annotations

import neuraxon
import numpy as np
import pytest
from neuraxon import _ext

F32, I64, BOOL = 0, 1, 2


def _skip_reason(need_device: bool = True) -> str | None:
    # The same wording as tests/conftest.py's cuda skip reason.
    if _ext.cuda is None:
        return "cuda: not built"
    if need_device and _ext.cuda.device_count() == 0:
        return f"cuda: built, no device ({_ext.cuda.unavailable_reason()})"
    return None


@pytest.fixture
def cu():
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    return _ext.cuda


@pytest.fixture
def built():
    reason = _skip_reason(need_device=False)
    if reason:
        pytest.skip(reason)
    return _ext.cuda


def put(cu, x):
    x = np.ascontiguousarray(x)
    code = {
        np.dtype(np.float32): F32,
        np.dtype(np.int64): I64,
        np.dtype(np.bool_): BOOL,
    }[x.dtype]
    a = cu.DeviceArray(x.size, code)
    a.copy_from_host(x.reshape(-1))
    return a


# ---- without a device: the build itself --------------------------------------------------


def test_out_of_memory_error_is_the_modules_runtime_error_subclass(built):
    assert neuraxon.cuda.OutOfMemoryError is built.OutOfMemoryError
    assert issubclass(neuraxon.cuda.OutOfMemoryError, RuntimeError)


def test_allocator_size_bins(built):
    r = built.round_size
    assert r(1) == 512 and r(512) == 512 and r(513) == 1024
    assert r(1 << 20) == 1 << 20
    assert r((1 << 20) + 1) == (1 << 20) + (
        1 << 17
    )  # 8 bins per power of two above 1 MiB
    for b in [1, 1000, 4097, 123457, 3 << 20, (7 << 27) + 5]:
        assert b <= r(b) < b * 1.126 + 512
        assert r(r(b)) == r(b)


def test_zero_size_array_needs_no_device(built):
    a = built.DeviceArray(0, F32)
    assert a.numel == 0 and a.to_host().shape == (0,)


def test_no_device_is_reported_not_crashed(built):
    if built.device_count() > 0:
        pytest.skip("a device is present")
    assert built.unavailable_reason() != ""
    with pytest.raises(RuntimeError):
        built.DeviceArray(10, F32)
    assert neuraxon.cuda.is_available() is False


# ---- with a device ----------------------------------------------------------------------


def test_allocator_statistics_and_cache_reuse(cu):
    cu.synchronize()
    cu.empty_cache()
    base = cu.memory_allocated()
    n = 1000  # 4000 bytes -> a 4096-byte bin
    a = cu.DeviceArray(n, F32)
    assert cu.memory_allocated() == base + cu.round_size(4 * n)
    assert cu.max_memory_allocated() >= cu.memory_allocated()
    reserved = cu.memory_reserved()
    ptr = a._nx_view[0]
    del a
    assert cu.memory_allocated() == base
    assert (
        cu.memory_reserved() == reserved
    )  # the block went to the cache, not the driver
    b = cu.DeviceArray(n, F32)  # same bin: served from the cache
    assert b._nx_view[0] == ptr and cu.memory_reserved() == reserved
    del b
    cu.empty_cache()
    assert cu.memory_reserved() == cu.memory_allocated() == base
    cu.reset_peak_memory_stats()
    assert cu.max_memory_allocated() == base


def test_out_of_memory_raises_the_python_class(cu):
    with pytest.raises(neuraxon.cuda.OutOfMemoryError) as e:
        cu.DeviceArray(1 << 46, F32)  # 256 TiB
    msg = str(e.value)
    assert "out of memory" in msg and "in use" in msg and "cached" in msg
    assert isinstance(e.value, RuntimeError)
    ok = cu.DeviceArray(16, F32)  # the allocator still works afterwards
    assert ok.numel == 16


def test_device_mixing_is_a_type_error(cu):
    a = np.ones(4, np.float32)
    with pytest.raises(TypeError, match="different devices"):
        cu.activation_forward(put(cu, a), a, 4, 1, 0.0)
    with pytest.raises(TypeError, match="different devices"):
        _ext.cpu.activation_forward(a, put(cu, a), 4, 1, 0.0)


def test_copies_round_trip_every_dtype(cu, rng):
    for x in [
        rng.standard_normal(1001).astype(np.float32),
        rng.integers(-(2**40), 2**40, 77),
        rng.random(33) > 0.5,
    ]:
        np.testing.assert_array_equal(put(cu, x).to_host(), x)
    with pytest.raises(TypeError):
        cu.DeviceArray(3, F32).copy_from_host(np.zeros(3, np.int64))
    with pytest.raises(ValueError):
        cu.DeviceArray(3, F32).copy_from_host(np.zeros(4, np.float32))


def test_random_and_dropout_bits_match_the_cpu(cu):
    n, seed, off = 10_003, 0xDEADBEEF12345, 77
    a = np.empty(n, np.float32)
    _ext.cpu.random_uniform(a, n, -2.0, 3.0, seed, off)
    d = cu.DeviceArray(n, F32)
    cu.random_uniform(d, n, -2.0, 3.0, seed, off)
    np.testing.assert_array_equal(d.to_host(), a)
    x = np.random.default_rng(0).standard_normal(n).astype(np.float32)
    o = np.empty(n, np.float32)
    _ext.cpu.dropout_forward(o, x, n, 0.3, seed, off)
    od = cu.DeviceArray(n, F32)
    cu.dropout_forward(od, put(cu, x), n, 0.3, seed, off)
    np.testing.assert_array_equal(od.to_host(), o)
    z = np.empty(n, np.float32)
    _ext.cpu.random_normal(z, n, 0.5, 2.0, seed, off)
    zd = cu.DeviceArray(n, F32)
    cu.random_normal(zd, n, 0.5, 2.0, seed, off)
    np.testing.assert_allclose(zd.to_host(), z, rtol=1e-5, atol=1e-5)


def test_scatter_add_and_maxpool_backward_are_deterministic_and_match_cpu(cu, rng):
    outer, size, m, inner = 3, 5, 200, 7
    src = rng.standard_normal((outer, m, inner)).astype(np.float32)
    idx = rng.integers(-size, size, m)
    base = rng.standard_normal((outer, size, inner)).astype(np.float32)
    want = base.copy()
    _ext.cpu.scatter_add(want, src, idx, outer, size, m, inner)
    outs = []
    for _ in range(2):
        o = put(cu, base)
        cu.scatter_add(o, put(cu, src), put(cu, idx), outer, size, m, inner)
        outs.append(o.to_host().reshape(want.shape))
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[0], want)
    # Overlapping 3x3 stride-1 windows: many outputs share an argmax.
    N, C, H, W = 2, 3, 9, 11
    x = rng.integers(0, 3, (N, C, H, W)).astype(np.float32)
    P, Q = H - 2, W - 2
    out, ind = np.empty((N, C, P, Q), np.float32), np.empty((N, C, P, Q), np.int64)
    _ext.cpu.maxpool2d_forward(out, ind, x, N, C, H, W, 3, 3, 1, 1, 0, 0, 1, 1, False)
    g = rng.standard_normal((N, C, P, Q)).astype(np.float32)
    dx = np.empty_like(x)
    _ext.cpu.maxpool2d_backward(dx, g, ind, N, C, H, W, P, Q)
    outd, indd = cu.DeviceArray(out.size, F32), cu.DeviceArray(ind.size, I64)
    cu.maxpool2d_forward(
        outd, indd, put(cu, x), N, C, H, W, 3, 3, 1, 1, 0, 0, 1, 1, False
    )
    np.testing.assert_array_equal(indd.to_host(), ind.reshape(-1))
    dxd = cu.DeviceArray(x.size, F32)
    cu.maxpool2d_backward(dxd, put(cu, g), indd, N, C, H, W, P, Q)
    np.testing.assert_array_equal(dxd.to_host(), dx.reshape(-1))


def test_bad_indices_are_deferred_errors_on_cuda(cu):
    """Kernels that check data (indices, targets) never make the host wait: the first bad
    element is recorded on the device and raised at the next synchronization, once."""
    x = put(cu, np.ones((2, 3), np.float32))
    out = cu.DeviceArray(4, F32)  # (outer=2, m=2, inner=1)
    loss, lse = cu.DeviceArray(1, F32), cu.DeviceArray(2, F32)
    cu.synchronize()
    before = cu.host_sync_count()
    cu.gather(out, x, put(cu, np.array([0, 2])), 2, 3, 2, 1)
    cu.cross_entropy_forward(loss, lse, x, put(cu, np.array([0, 2])), 2, 3, -100)
    cu.cross_entropy_backward(cu.DeviceArray(6, F32), loss, x, lse, put(cu, np.array([0, 2])), 2, 3, -100)
    assert cu.host_sync_count() == before  # no waits in the calls themselves
    np.testing.assert_allclose(loss.to_host(), [np.log(3)], rtol=1e-6)

    with pytest.raises(ValueError, match=r"gather: index 5 at position 1 is out of range .* earlier gather call"):
        cu.gather(out, x, put(cu, np.array([0, 5])), 2, 3, 2, 1)
        cu.synchronize()
    cu.synchronize()  # reported once: the record is clear again
    with pytest.raises(ValueError, match=r"cross_entropy_forward: target\[1\] = 3 is out of range \[0, 3\)"):
        cu.cross_entropy_forward(loss, lse, x, put(cu, np.array([0, 3])), 2, 3, -100)
        cu.gather(out, x, put(cu, np.array([7, 0])), 2, 3, 2, 1)  # a later bad call: the first one is reported
        loss.to_host()  # any read of device memory is a sync
    cu.synchronize()
    assert np.isfinite(out.to_host()).all()  # a bad index reads nothing outside the input


@pytest.mark.parametrize(
    "m,n,k", [(1, 1, 1), (129, 131, 9), (130, 70, 50), (300, 260, 70), (128, 128, 128), (5, 517, 1031)]
)
@pytest.mark.parametrize(
    "ta,tb", [(False, False), (True, True), (False, True), (True, False)]
)
def test_tiled_gemm_tails_and_transposes(cu, rng, m, n, k, ta, tb):
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
    c0 = rng.standard_normal((m, n)).astype(np.float32)
    want = 0.5 * (a.T if ta else a).astype(np.float64) @ (b.T if tb else b) - 1.5 * c0
    for variant in (0, 1, 2):  # naive, 128-tile, 64-tile
        c = put(cu, c0)
        cu.gemm_forward(
            c,
            put(cu, a),
            put(cu, b),
            None,
            1,
            m,
            n,
            k,
            ta,
            tb,
            0,
            0,
            0,
            0.5,
            -1.5,
            0,
            0.0,
            variant,
        )
        np.testing.assert_allclose(
            c.to_host().reshape(m, n), want, rtol=1e-4, atol=1e-4 * np.sqrt(k)
        )


@pytest.mark.parametrize("variant", [1, 2, -1])
def test_tiled_gemm_batch_strides_and_broadcast(cu, rng, variant):
    batch, m, n, k = 3, 70, 135, 33
    a = rng.standard_normal((batch, m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(
        np.float32
    )  # stride 0: shared by every batch
    bias = rng.standard_normal(n).astype(np.float32)
    c = cu.DeviceArray(batch * m * n, F32)
    cu.fill(c, batch * m * n, float("nan"))  # beta == 0 must not read C
    cu.gemm_forward(
        c,
        put(cu, a),
        put(cu, b),
        put(cu, bias),
        batch,
        m,
        n,
        k,
        False,
        False,
        m * k,
        0,
        m * n,
        1.0,
        0.0,
        1,
        0.0,
        variant,
    )
    want = np.maximum(a.astype(np.float64) @ b + bias, 0)
    np.testing.assert_allclose(
        c.to_host().reshape(batch, m, n), want, rtol=1e-4, atol=1e-4
    )


@pytest.mark.parametrize("m,n,k", [(5, 7, 5000), (64, 70, 4099), (1, 1, 300), (1, 1, 600), (130, 70, 2000), (3, 4, 20)])
@pytest.mark.parametrize("ta,tb", [(False, False), (True, True), (False, True), (True, False)])
def test_split_k_gemm(cu, rng, m, n, k, ta, tb):
    """Variant 3 splits k into ranges summed by separate blocks, then adds the partial
    products in a fixed order: right for any k (a last range shorter than the others, k too
    short to split), with the full epilogue, and the same bits run to run."""
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
    c0 = rng.standard_normal((m, n)).astype(np.float32)
    bias = rng.standard_normal(n).astype(np.float32)
    want = np.maximum(0.5 * (a.T if ta else a).astype(np.float64) @ (b.T if tb else b) - 1.5 * c0 + bias, 0)
    cu.set_launch_log(True)
    cu.gemm_forward(put(cu, c0), put(cu, a), put(cu, b), None, 1, m, n, k, ta, tb, 0, 0, 0, 1.0, 0.0, 0, 0.0, 3)
    cu.set_launch_log(False)
    launches = cu.take_launch_log()
    assert "gemm_tiled" in launches[0][0], launches
    if k >= 512 and m <= 64 and n <= 64:  # one tile: split so every multiprocessor has work
        assert launches[0][1][2] >= 4 and "splitk_sum_kernel" in launches[1][0], launches
    if k < 512:  # too short for 4 ranges of 128: the 64-tile kernel alone
        assert len(launches) == 1 and launches[0][1][2] == 1, launches
    runs = []
    for variant in (3, 3, -1):
        c = put(cu, c0)
        cu.gemm_forward(c, put(cu, a), put(cu, b), put(cu, bias), 1, m, n, k, ta, tb, 0, 0, 0, 0.5, -1.5, 1, 0.0, variant)
        runs.append(c.to_host().reshape(m, n))
        np.testing.assert_allclose(runs[-1], want, rtol=1e-4, atol=1e-4 * np.sqrt(k))
    np.testing.assert_array_equal(runs[0], runs[1])  # deterministic


def test_split_k_gemm_batched_and_backward(cu, rng):
    batch, m, n, k = 3, 20, 9, 1500
    a = rng.standard_normal((batch, m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)  # stride 0: shared by every batch
    c = cu.DeviceArray(batch * m * n, F32)
    cu.fill(c, batch * m * n, float("nan"))  # beta == 0 must not read C
    cu.gemm_forward(c, put(cu, a), put(cu, b), None, batch, m, n, k, False, False, m * k, 0, m * n, 1.0, 0.0, 0, 0.0, 3)
    np.testing.assert_allclose(c.to_host().reshape(batch, m, n), a.astype(np.float64) @ b, rtol=1e-4, atol=1e-3)
    # the weight gradient of a Linear layer over a long batch: db (k2, n2) = a^T @ dc sums 4000 rows
    m2, k2, n2 = 4000, 24, 10
    x = rng.standard_normal((m2, k2)).astype(np.float32)
    w = rng.standard_normal((k2, n2)).astype(np.float32)
    dc = rng.standard_normal((m2, n2)).astype(np.float32)
    da, dw, dbias = cu.DeviceArray(m2 * k2, F32), cu.DeviceArray(k2 * n2, F32), cu.DeviceArray(n2, F32)
    cu.gemm_backward(da, dw, dbias, put(cu, dc), put(cu, x), put(cu, w), m2, n2, k2, False, False, 3)
    np.testing.assert_allclose(dw.to_host().reshape(k2, n2), x.T.astype(np.float64) @ dc, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(da.to_host().reshape(m2, k2), dc.astype(np.float64) @ w.T, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dbias.to_host(), dc.sum(0), rtol=1e-4, atol=1e-3)


def test_conv2d_backward_weight_is_bitwise_reproducible(cu, rng):
    N, C, H, W, K, R, S = 4, 6, 13, 11, 8, 3, 3
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    P, Q = H - 2, W - 2
    dy = rng.standard_normal((N, K, P, Q)).astype(np.float32)
    res = []
    for _ in range(2):
        dw, db = cu.DeviceArray(K * C * R * S, F32), cu.DeviceArray(K, F32)
        cu.conv2d_backward_weight(
            dw,
            db,
            put(cu, dy),
            put(cu, x),
            N,
            C,
            H,
            W,
            K,
            R,
            S,
            1,
            1,
            0,
            0,
            1,
            1,
            1,
            -1,
        )
        res.append((dw.to_host(), db.to_host()))
    np.testing.assert_array_equal(res[0][0], res[1][0])
    np.testing.assert_array_equal(res[0][1], res[1][1])
    np.testing.assert_allclose(
        res[0][1], dy.astype(np.float64).sum(axis=(0, 2, 3)), rtol=1e-5, atol=1e-4
    )


@pytest.mark.parametrize("what", ["batch", "rows"])
def test_tiled_gemm_splits_grids_past_65535_in_y_and_z(cu, rng, what):
    # grid z (batch) and grid y (row tiles) are limited to 65535 blocks: the launcher splits
    # them into several launches. 65537 of a 1x3x2 product, or 65537 row tiles of the 64-row
    # kernel, cross that line with tiny tensors.
    if what == "batch":
        batch, m, n, k = 65537, 1, 3, 2
    else:
        batch, m, n, k = 1, 64 * 65536 + 1, 1, 1
    a = rng.standard_normal((batch, m, k)).astype(np.float32)
    b = rng.standard_normal((batch, k, n)).astype(np.float32)
    want = np.einsum("bmk,bkn->bmn", a.astype(np.float64), b)
    c = put(cu, np.full((batch, m, n), np.nan, np.float32))
    cu.gemm_forward(c, put(cu, a), put(cu, b), None, batch, m, n, k, False, False,
                    m * k, k * n, m * n, 1.0, 0.0, 0, 0.0, 2)
    np.testing.assert_allclose(c.to_host().reshape(batch, m, n), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("outer,red,inner", [(1, 100_003, 1), (3, 40_000, 1), (2, 9_000, 3), (1, 2_047, 1)])
def test_long_reductions_use_many_blocks(cu, rng, outer, red, inner):
    """Few outputs over a long axis are cut into parts reduced by separate blocks, then the
    parts are combined in order: right for every op, NaN still wins, same bits run to run."""
    x = rng.standard_normal((outer, red, inner)).astype(np.float32)
    x64 = x.astype(np.float64)
    want = {0: x64.sum(1), 1: x64.mean(1), 2: x.max(1), 3: x.min(1)}  # RED_SUM, MEAN, MAX, MIN
    xd = put(cu, x)
    cu.set_launch_log(True)
    cu.reduce_forward(cu.DeviceArray(outer * inner, F32), xd, outer, red, inner, 0)
    cu.set_launch_log(False)
    launches = cu.take_launch_log()
    if red >= 4096:  # parts: more blocks than outputs, then the in-order combine
        assert "reduce_rows_parts" in launches[0][0] and launches[0][1][0] > outer * inner, launches
        assert "reduce_parts_combine" in launches[1][0]
    else:  # too short to split: one block per output
        assert len(launches) == 1 and launches[0][1][0] == outer * inner, launches
    for op, w in want.items():
        outs = []
        for _ in range(2):
            o = cu.DeviceArray(outer * inner, F32)
            cu.reduce_forward(o, xd, outer, red, inner, op)
            outs.append(o.to_host().reshape(outer, inner))
        np.testing.assert_allclose(outs[0], w, rtol=1e-5, atol=1e-5 * np.sqrt(red))
        np.testing.assert_array_equal(outs[0], outs[1])
    x[0, red // 2, 0] = np.nan
    o = cu.DeviceArray(outer * inner, F32)
    cu.reduce_forward(o, put(cu, x), outer, red, inner, 2)
    assert np.isnan(o.to_host()[0])
    xi = rng.integers(-1000, 1000, (outer, red, inner))
    oi = cu.DeviceArray(outer * inner, I64)
    cu.reduce_forward(oi, put(cu, xi), outer, red, inner, 0)
    np.testing.assert_array_equal(oi.to_host().reshape(outer, inner), xi.sum(1))


def test_batchnorm_statistics_use_many_blocks_per_channel(cu, rng):
    """Each channel's statistics are summed in parts by separate blocks (a few wide channels
    must still fill the GPU), then combined in order: same values as the NumPy formulas,
    same bits run to run, forward and backward."""
    N, C, HW = 4, 3, 64 * 64
    x = (rng.standard_normal((N, C, HW)) * 3 + 5).astype(np.float32)
    dy = rng.standard_normal((N, C, HW)).astype(np.float32)
    gamma, beta = rng.standard_normal(C).astype(np.float32), rng.standard_normal(C).astype(np.float32)
    x64, dy64 = x.astype(np.float64), dy.astype(np.float64)
    mu, var = x64.mean((0, 2)), x64.var((0, 2))
    invstd = 1 / np.sqrt(var + 1e-5)
    xhat = (x64 - mu[:, None]) * invstd[:, None]
    want_out = xhat * gamma[:, None] + beta[:, None]
    M = N * HW
    want_db, want_dg = dy64.sum((0, 2)), (dy64 * xhat).sum((0, 2))
    want_dx = gamma[:, None] * invstd[:, None] / M * (M * dy64 - want_db[:, None] - xhat * want_dg[:, None])
    runs = []
    for i in range(2):
        out, sm, si = cu.DeviceArray(x.size, F32), cu.DeviceArray(C, F32), cu.DeviceArray(C, F32)
        rm, rv = put(cu, np.zeros(C, np.float32)), put(cu, np.ones(C, np.float32))
        cu.set_launch_log(True)
        cu.batchnorm_forward(out, sm, si, rm, rv, put(cu, x), put(cu, gamma), put(cu, beta), N, C, HW, True, 0.1, 1e-5)
        cu.set_launch_log(False)
        launches = cu.take_launch_log()
        assert "bn_partials" in launches[0][0] and launches[0][1][0] > C, launches  # several blocks per channel
        dx, dg, db = cu.DeviceArray(x.size, F32), cu.DeviceArray(C, F32), cu.DeviceArray(C, F32)
        cu.batchnorm_backward(dx, dg, db, put(cu, dy), put(cu, x), put(cu, gamma), sm, si, N, C, HW, True)
        runs.append([a.to_host() for a in (out, sm, si, rm, rv, dx, dg, db)])
    out, sm, si, rm, rv, dx, dg, db = runs[0]
    np.testing.assert_allclose(out.reshape(N, C, HW), want_out, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(sm, mu, rtol=1e-5)
    np.testing.assert_allclose(si, invstd, rtol=1e-4)
    np.testing.assert_allclose(rv, 0.9 + 0.1 * var * M / (M - 1), rtol=1e-5)
    np.testing.assert_allclose(db, want_db, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(dg, want_dg, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(dx.reshape(N, C, HW), want_dx, rtol=1e-3, atol=1e-5)
    for a, b in zip(runs[0], runs[1]):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("n", [1, 3, 4, 7, 1029])
def test_contiguous_elementwise_runs_four_a_thread(cu, rng, n):
    """Contiguous float32 binary and unary ops take the float4 kernels (and their n % 4
    tails), also with one operand a broadcast scalar on either side."""
    from neuraxon import _codes as C

    x = rng.standard_normal(n).astype(np.float32)
    y = rng.standard_normal(n).astype(np.float32) + 3
    s = np.array([2.5], np.float32)
    cases = [  # (a, a_stride, b, b_stride, want)
        (x, 1, y, 1, x - y),
        (x, 1, s, 0, x - s),
        (s, 0, y, 1, s - y),
    ]
    for a, sa, b, sb, want in cases:
        out = cu.DeviceArray(n, F32)
        cu.set_launch_log(True)
        cu.binary_forward(out, put(cu, a), put(cu, b), [n], [sa], [sb], C.BIN_SUB)
        cu.set_launch_log(False)
        assert "map_vec_kernel" in cu.take_launch_log()[0][0]
        np.testing.assert_array_equal(out.to_host(), want)
    out, d = cu.DeviceArray(n, F32), cu.DeviceArray(n, F32)
    cu.unary_forward(out, put(cu, y), n, C.UN_SQRT, 0.0, 0.0)
    np.testing.assert_allclose(out.to_host(), np.sqrt(y), rtol=1e-6)
    g = rng.standard_normal(n).astype(np.float32)
    cu.set_launch_log(True)
    cu.unary_backward(d, put(cu, g), put(cu, y), out, n, C.UN_SQRT, 0.0, 0.0)
    cu.set_launch_log(False)
    assert "unary_bwd_vec_kernel" in cu.take_launch_log()[0][0]
    np.testing.assert_allclose(d.to_host(), g / (2 * np.sqrt(y)), rtol=1e-5)


def test_gemm_picks_64_tiles_for_a_64_row_product(cu, rng):
    # a 64-channel conv's C has 64 rows: the 128-tile kernel would compute twice the outputs
    m, n, k = 64, 3136, 576
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((k, n)).astype(np.float32)
    c = cu.DeviceArray(m * n, F32)
    cu.set_launch_log(True)
    cu.gemm_forward(c, put(cu, a), put(cu, b), None, 1, m, n, k, False, False, 0, 0, 0, 1.0, 0.0, 0, 0.0, -1)
    cu.set_launch_log(False)
    (kernel, grid, _), = cu.take_launch_log()
    assert "gemm_tiled" in kernel and grid[0] == (n + 63) // 64 and grid[1] == 1, (kernel, grid)
    np.testing.assert_allclose(c.to_host().reshape(m, n), a.astype(np.float64) @ b, rtol=1e-4, atol=1e-3)
