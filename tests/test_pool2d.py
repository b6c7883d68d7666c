"""pool2d: max (values, indices, NaN, ties, padding), average (ceil_mode, count_include_pad,
divisor_override), adaptive average and max unpooling, forward and backward, against the
NumPy reference and against hand-worked PyTorch examples; the references' backwards against
finite differences; bad sizes and indices."""

import numpy as np
import pytest
from neuraxon.testing import reference as ref
from neuraxon.testing.gradcheck import check_vjp
from neuraxon.testing.tolerances import assert_close

# N, C, H, W, R, S, stride, padding, dilation, ceil_mode
MAX_SHAPES = [
    (1, 1, 1, 1, 1, 1, (1, 1), (0, 0), (1, 1), False),
    (2, 3, 8, 8, 2, 2, (2, 2), (0, 0), (1, 1), False),       # the classic 2x2/2
    (2, 3, 7, 9, 3, 3, (2, 2), (1, 1), (1, 1), False),
    (2, 3, 7, 9, 3, 3, (2, 2), (1, 1), (1, 1), True),        # ceil_mode adds a partial window
    (2, 3, 5, 5, 2, 2, (2, 2), (1, 1), (1, 1), True),        # ceil_mode window dropped (starts in padding)
    (1, 2, 10, 11, 3, 2, (2, 3), (1, 1), (2, 3), True),      # dilation + ceil_mode
    (3, 4, 13, 5, 5, 3, (3, 1), (2, 1), (1, 2), False),      # rectangular everything
    (2, 2, 5, 5, 5, 5, (1, 1), (2, 2), (1, 1), False),       # padding = half the kernel
    (1, 1, 6, 6, 4, 4, (4, 4), (2, 2), (1, 1), True),
    (2, 5, 3, 17, 1, 3, (1, 2), (0, 1), (1, 1), False),      # 1-tall kernel
    (1, 3, 112, 112, 3, 3, (2, 2), (1, 1), (1, 1), False),   # ResNet stem pool
    (0, 3, 4, 4, 2, 2, (2, 2), (0, 0), (1, 1), False),       # N = 0
    (2, 0, 4, 4, 2, 2, (2, 2), (0, 0), (1, 1), False),       # C = 0
]


def _ids(shapes):
    return ["-".join(str(v).replace(" ", "") for v in s) for s in shapes]


def _pool_args(s):
    N, C, H, W, R, S, (sh, sw), (ph, pw), (dh, dw), ceil = s
    return N, C, H, W, R, S, sh, sw, ph, pw, dh, dw, ceil


def _input(rng, shape, ties):
    x = rng.standard_normal(shape)
    if ties:  # small integers: many equal values in a window, so the first-maximum rule shows
        x = rng.integers(-2, 3, shape).astype(np.float64)
    return x.astype(np.float32)


def _maxpool(dev, x, s):
    N, C, H, W, R, S, st, pd, dl, ceil = s
    P = ref.pool_out_size(H, R, st[0], pd[0], dl[0], ceil)
    Q = ref.pool_out_size(W, S, st[1], pd[1], dl[1], ceil)
    out, ind = dev.out((N, C, P, Q)), dev.out((N, C, P, Q), np.int64)
    dev.k.maxpool2d_forward(out, ind, dev.put(x), *_pool_args(s))
    return dev.get(out, (N, C, P, Q)), dev.get(ind, (N, C, P, Q))


@pytest.mark.parametrize("s", MAX_SHAPES, ids=_ids(MAX_SHAPES))
@pytest.mark.parametrize("ties", [False, True])
def test_maxpool2d_forward_backward(dev, rng, s, ties):
    N, C, H, W, R, S, st, pd, dl, ceil = s
    x = _input(rng, (N, C, H, W), ties)
    out, ind = _maxpool(dev, x, s)
    rout, rind = ref.maxpool2d_forward(x, (R, S), st, pd, dl, ceil)
    np.testing.assert_array_equal(out, rout.astype(np.float32))
    np.testing.assert_array_equal(ind, rind)
    d = rng.standard_normal(out.shape).astype(np.float32)
    dx = dev.out((N, C, H, W))
    dev.k.maxpool2d_backward(dx, dev.put(d), dev.put(ind), N, C, H, W, *out.shape[2:])
    assert_close(dev.get(dx, (N, C, H, W)), ref.maxpool2d_backward(d, ind, (H, W)), "reduction")


def test_maxpool2d_nan_propagates(dev, rng):
    s = (1, 2, 6, 6, 3, 3, (2, 2), (1, 1), (1, 1), True)
    x = rng.standard_normal((1, 2, 6, 6)).astype(np.float32)
    x[0, 0, 2, 2] = np.nan
    x[0, 1, 0, 0] = x[0, 1, 1, 1] = np.nan  # two NaN in one window: the later one is the index
    out, ind = _maxpool(dev, x, s)
    rout, rind = ref.maxpool2d_forward(x, 3, 2, 1, 1, True)
    np.testing.assert_array_equal(out, rout.astype(np.float32))  # NaN == NaN here
    np.testing.assert_array_equal(ind, rind)
    assert np.isnan(out[0, 0, 1, 1]) and ind[0, 0, 1, 1] == 2 * 6 + 2
    assert np.isnan(out[0, 1, 0, 0]) and ind[0, 1, 0, 0] == 1 * 6 + 1
    assert np.isfinite(out[0, 0, 2, 2])


def test_maxpool2d_hand_worked(dev):
    # padding is -inf: an all-negative image still pools to its own values; ties: first wins
    x = np.array([[[[-5.0, -1.0, -1.0], [-3.0, -2.0, -9.0], [-7.0, -1.0, -4.0]]]], np.float32)
    out, ind = _maxpool(dev, x, (1, 1, 3, 3, 2, 2, (2, 2), (1, 1), (1, 1), False))
    np.testing.assert_array_equal(out[0, 0], [[-5.0, -1.0], [-3.0, -1.0]])
    np.testing.assert_array_equal(ind[0, 0], [[0, 1], [3, 7]])
    # dilation 2 on a 5-wide row: taps 0, 2, 4
    x = np.array([[[[1.0, 9.0, 3.0, 9.0, 2.0]]]], np.float32)
    out, ind = _maxpool(dev, x, (1, 1, 1, 5, 1, 3, (1, 1), (0, 0), (1, 2), False))
    np.testing.assert_array_equal(out.ravel(), [3.0])
    np.testing.assert_array_equal(ind.ravel(), [2])


@pytest.mark.parametrize("size,k,s,p,d,ceil,want", [
    (112, 3, 2, 0, 1, True, 56), (112, 3, 2, 0, 1, False, 55), (112, 3, 2, 1, 1, False, 56),
    (5, 2, 2, 1, 1, True, 3), (7, 3, 2, 1, 1, True, 4), (14, 3, 2, 0, 1, True, 7),
    (10, 3, 2, 1, 2, True, 5), (4, 3, 2, 1, 1, True, 3),
])
def test_pool_output_size_matches_pytorch(size, k, s, p, d, ceil, want):
    assert ref.pool_out_size(size, k, s, p, d, ceil) == want


# ---- every ISA path (AVX-512 / AVX2 vector row kernels, portable scalar) ----------------

# Widths put several 16- and 8-lane blocks plus a masked/scalar tail on the interior columns;
# strides 1 and 2 vectorise, stride 3 stays scalar; dilation and padding on both axes.
ISA_MAX = [  # N, C, H, W, R, S, stride, padding, dilation, ceil_mode
    (2, 3, 9, 71, 2, 2, (2, 2), (0, 0), (1, 1), False),
    (1, 2, 11, 40, 3, 3, (2, 2), (1, 1), (1, 1), True),
    (1, 2, 7, 37, 3, 3, (1, 1), (1, 1), (1, 1), False),
    (1, 2, 9, 50, 3, 4, (2, 1), (1, 2), (2, 3), True),
    (1, 1, 6, 35, 2, 5, (1, 2), (1, 2), (1, 2), True),
    (1, 2, 5, 33, 3, 3, (2, 3), (1, 1), (1, 1), False),
    (1, 1, 3, 17, 1, 1, (1, 1), (0, 0), (1, 1), False),
    (1, 2, 4, 16, 2, 2, (2, 2), (0, 0), (1, 1), False),  # exactly one 8/16-lane block
    (2, 4, 56, 56, 2, 2, (2, 2), (0, 0), (1, 1), False),
    (1, 3, 23, 113, 3, 3, (2, 2), (1, 1), (1, 1), False),
]


@pytest.mark.parametrize("s", ISA_MAX, ids=_ids(ISA_MAX))
@pytest.mark.parametrize("data", ["normal", "ties", "nan_inf"])
def test_maxpool2d_every_isa_path(dev, isa, rng, s, data):
    N, C, H, W, R, S, st, pd, dl, ceil = s
    x = _input(rng, (N, C, H, W), data == "ties")
    if data == "nan_inf":  # NaN (some windows with two), +-inf, all -inf windows
        flat = x.reshape(-1)
        flat[rng.choice(flat.size, max(2, flat.size // 25), replace=False)] = np.nan
        flat[rng.choice(flat.size, max(2, flat.size // 25), replace=False)] = -np.inf
        flat[rng.choice(flat.size, max(1, flat.size // 50), replace=False)] = np.inf
        x[0, 0, : min(H, 4), : min(W, 9)] = -np.inf
    out, ind = _maxpool(dev, x, s)
    rout, rind = ref.maxpool2d_forward(x, (R, S), st, pd, dl, ceil)
    np.testing.assert_array_equal(out, rout.astype(np.float32), err_msg=isa)
    np.testing.assert_array_equal(ind, rind, err_msg=isa)


ISA_AVG = [  # N, C, H, W, R, S, stride, padding
    (2, 3, 9, 71, 2, 2, (2, 2), (0, 0)),
    (1, 2, 11, 40, 3, 3, (2, 2), (1, 1)),
    (1, 2, 7, 37, 3, 3, (1, 1), (1, 1)),
    (1, 2, 9, 50, 5, 4, (1, 2), (2, 2)),
    (1, 2, 5, 33, 3, 3, (2, 3), (1, 1)),
    (2, 4, 56, 56, 2, 2, (2, 2), (0, 0)),
]


@pytest.mark.parametrize("s", ISA_AVG, ids=_ids(ISA_AVG))
def test_avgpool2d_every_isa_path(dev, isa, rng, s):
    N, C, H, W, R, S, st, pd = s
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    for ceil, cip, div in AVG_FLAGS:
        P = ref.pool_out_size(H, R, st[0], pd[0], 1, ceil)
        Q = ref.pool_out_size(W, S, st[1], pd[1], 1, ceil)
        out = dev.out((N, C, P, Q))
        dev.k.avgpool2d_forward(out, dev.put(x), N, C, H, W, R, S, *st, *pd, ceil, cip, div)
        want = ref.avgpool2d_forward(x, (R, S), st, pd, ceil, cip, div)
        assert_close(dev.get(out, (N, C, P, Q)), want, "reduction", f"{isa} {ceil} {cip} {div}")


# ---- average pooling ---------------------------------------------------------------------

# N, C, H, W, R, S, stride, padding
AVG_SHAPES = [
    (1, 1, 1, 1, 1, 1, (1, 1), (0, 0)),
    (2, 3, 8, 8, 2, 2, (2, 2), (0, 0)),
    (2, 3, 7, 9, 3, 3, (2, 2), (1, 1)),
    (1, 2, 4, 5, 3, 3, (2, 2), (1, 1)),   # ceil_mode: last window clipped by the padded extent
    (3, 2, 11, 6, 5, 2, (3, 1), (2, 1)),
    (2, 4, 5, 5, 5, 5, (2, 2), (2, 2)),
    (1, 3, 13, 13, 3, 3, (1, 1), (1, 1)),
    (0, 2, 4, 4, 2, 2, (2, 2), (0, 0)),
]
AVG_FLAGS = [  # ceil_mode, count_include_pad, divisor_override
    (False, True, 0), (True, True, 0), (False, False, 0), (True, False, 0), (True, True, 3), (False, False, 7),
]


@pytest.mark.parametrize("s", AVG_SHAPES, ids=_ids(AVG_SHAPES))
@pytest.mark.parametrize("flags", AVG_FLAGS, ids=_ids(AVG_FLAGS))
def test_avgpool2d_forward_backward(dev, rng, s, flags):
    N, C, H, W, R, S, st, pd = s
    ceil, cip, div = flags
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    P = ref.pool_out_size(H, R, st[0], pd[0], 1, ceil)
    Q = ref.pool_out_size(W, S, st[1], pd[1], 1, ceil)
    args = (N, C, H, W, R, S, *st, *pd, ceil, cip, div)
    out = dev.out((N, C, P, Q))
    dev.k.avgpool2d_forward(out, dev.put(x), *args)
    assert_close(dev.get(out, (N, C, P, Q)), ref.avgpool2d_forward(x, (R, S), st, pd, ceil, cip, div), "reduction")
    d = rng.standard_normal((N, C, P, Q)).astype(np.float32)
    dx = dev.out((N, C, H, W))
    dev.k.avgpool2d_backward(dx, dev.put(d), *args)
    assert_close(dev.get(dx, (N, C, H, W)), ref.avgpool2d_backward(d, (H, W), (R, S), st, pd, ceil, cip, div), "reduction")


def test_avgpool2d_hand_worked_divisors(dev):
    # One row [1, 2, 3, 4], kernel 3, stride 2, padding 1, ceil_mode: windows [-1, 2), [1, 4),
    # [3, 5) (clipped to the padded extent W + pad = 5, so pool_size is 2, not 3).
    x = np.array([[[[1.0, 2.0, 3.0, 4.0]]]], np.float32)
    for cip, div, want in [(True, 0, [1.0, 3.0, 2.0]), (False, 0, [1.5, 3.0, 4.0]), (True, 2, [1.5, 4.5, 2.0])]:
        out = dev.out((1, 1, 1, 3))
        dev.k.avgpool2d_forward(out, dev.put(x), 1, 1, 1, 4, 1, 3, 1, 2, 0, 1, True, cip, div)
        np.testing.assert_allclose(dev.get(out).ravel(), want, rtol=1e-6)
        np.testing.assert_allclose(ref.avgpool2d_forward(x, (1, 3), (1, 2), (0, 1), True, cip, div).ravel(), want)


# ---- adaptive average pooling ------------------------------------------------------------

ADAPTIVE = [  # N, C, H, W, P, Q
    (2, 3, 7, 7, 1, 1), (2, 3, 10, 9, 3, 4), (1, 2, 5, 5, 7, 7), (2, 2, 6, 6, 6, 6),
    (1, 4, 13, 1, 5, 1), (3, 2, 14, 15, 7, 7), (0, 2, 4, 4, 2, 2), (1, 1, 1, 1, 3, 2),
]


@pytest.mark.parametrize("s", ADAPTIVE, ids=_ids(ADAPTIVE))
def test_adaptive_avgpool2d_forward_backward(dev, rng, s):
    N, C, H, W, P, Q = s
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    out = dev.out((N, C, P, Q))
    dev.k.adaptive_avgpool2d_forward(out, dev.put(x), N, C, H, W, P, Q)
    assert_close(dev.get(out, (N, C, P, Q)), ref.adaptive_avgpool2d_forward(x, (P, Q)), "reduction")
    d = rng.standard_normal((N, C, P, Q)).astype(np.float32)
    dx = dev.out((N, C, H, W))
    dev.k.adaptive_avgpool2d_backward(dx, dev.put(d), N, C, H, W, P, Q)
    assert_close(dev.get(dx, (N, C, H, W)), ref.adaptive_avgpool2d_backward(d, (H, W)), "reduction")


def test_adaptive_avgpool2d_bins(dev):
    # 5 -> 3 bins: [0, 2), [1, 4), [3, 5) (floor start, ceil end)
    x = np.arange(5, dtype=np.float32).reshape(1, 1, 1, 5)
    out = dev.out((1, 1, 1, 3))
    dev.k.adaptive_avgpool2d_forward(out, dev.put(x), 1, 1, 1, 5, 1, 3)
    np.testing.assert_allclose(dev.get(out).ravel(), [0.5, 2.0, 3.5], rtol=1e-6)


# ---- max unpooling -----------------------------------------------------------------------


@pytest.mark.parametrize("s", MAX_SHAPES[1:8], ids=_ids(MAX_SHAPES[1:8]))
def test_maxunpool2d_inverts_maxpool(dev, rng, s):
    N, C, H, W = s[:4]
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    pooled, ind = _maxpool(dev, x, s)
    P, Q = pooled.shape[2:]
    out = dev.out((N, C, H, W))
    dev.k.maxunpool2d_forward(out, dev.put(pooled), dev.put(ind), N, C, P, Q, H, W)
    got = dev.get(out, (N, C, H, W))
    np.testing.assert_array_equal(got, ref.maxunpool2d_forward(pooled, ind, (H, W)).astype(np.float32))
    d = rng.standard_normal((N, C, H, W)).astype(np.float32)
    dp = dev.out((N, C, P, Q))
    dev.k.maxunpool2d_backward(dp, dev.put(d), dev.put(ind), N, C, P, Q, H, W)
    np.testing.assert_array_equal(dev.get(dp, (N, C, P, Q)), ref.maxunpool2d_backward(d, ind).astype(np.float32))


def test_maxunpool2d_repeated_index_last_wins(dev):
    x = np.array([[[[1.0, 2.0], [3.0, 4.0]]]], np.float32)
    ind = np.array([[[[5, 0], [5, 8]]]], np.int64)
    out = dev.out((1, 1, 3, 3))
    dev.k.maxunpool2d_forward(out, dev.put(x), dev.put(ind), 1, 1, 2, 2, 3, 3)
    want = np.zeros(9, np.float32)
    want[[0, 5, 8]] = [2.0, 3.0, 4.0]
    np.testing.assert_array_equal(dev.get(out).ravel(), want)
    np.testing.assert_array_equal(ref.maxunpool2d_forward(x, ind, (3, 3)).ravel(), want)


# ---- against PyTorch itself, when it is installed ---------------------------------------


def test_pool2d_kernels_match_pytorch(dev, rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    for s in [(2, 3, 7, 9, 3, 3, (2, 2), (1, 1), (1, 1), True), (1, 2, 10, 11, 3, 2, (2, 3), (1, 1), (2, 3), True),
              (2, 2, 9, 9, 3, 3, (2, 2), (1, 1), (3, 2), True), (1, 2, 4, 4, 3, 3, (3, 3), (1, 1), (2, 2), True)]:
        N, C, H, W, R, S, st, pd, dl, ceil = s
        x = _input(rng, (N, C, H, W), ties=True)
        x[0, 0, 1, 1] = np.nan
        out, ind = _maxpool(dev, x, s)
        t_out, t_ind = F.max_pool2d(torch.tensor(x), (R, S), st, pd, dl, ceil, return_indices=True)
        np.testing.assert_array_equal(out, t_out.numpy())
        np.testing.assert_array_equal(ind, t_ind.numpy())
    for s in AVG_SHAPES[1:6]:
        N, C, H, W, R, S, st, pd = s
        for ceil, cip, div in AVG_FLAGS:
            x = rng.standard_normal((N, C, H, W)).astype(np.float32)
            xt = torch.tensor(x, requires_grad=True)
            t_out = F.avg_pool2d(xt, (R, S), st, pd, ceil, cip, div or None)
            out = dev.out(tuple(t_out.shape))
            dev.k.avgpool2d_forward(out, dev.put(x), N, C, H, W, R, S, *st, *pd, ceil, cip, div)
            assert_close(dev.get(out, tuple(t_out.shape)), t_out.detach().numpy(), "reduction")
            d = rng.standard_normal(tuple(t_out.shape)).astype(np.float32)
            t_out.backward(torch.tensor(d))
            dx = dev.out((N, C, H, W))
            dev.k.avgpool2d_backward(dx, dev.put(d), N, C, H, W, R, S, *st, *pd, ceil, cip, div)
            assert_close(dev.get(dx, (N, C, H, W)), xt.grad.numpy(), "reduction")
    x = rng.standard_normal((2, 3, 10, 9)).astype(np.float32)
    out = dev.out((2, 3, 3, 4))
    dev.k.adaptive_avgpool2d_forward(out, dev.put(x), 2, 3, 10, 9, 3, 4)
    assert_close(dev.get(out, (2, 3, 3, 4)), F.adaptive_avg_pool2d(torch.tensor(x), (3, 4)).numpy(), "reduction")


# ---- the references' backwards vs finite differences -------------------------------------


@pytest.mark.parametrize("s", [(1, 2, 5, 6, 3, 3, (2, 2), (1, 1), (1, 1), True), (2, 1, 6, 5, 2, 3, (1, 2), (1, 1), (2, 1), False)])
def test_maxpool2d_reference_backward_matches_finite_differences(rng, s):
    N, C, H, W, R, S, st, pd, dl, ceil = s
    x = rng.permutation(N * C * H * W).reshape(N, C, H, W) * 0.1  # distinct: no ties at +-eps
    out, ind = ref.maxpool2d_forward(x, (R, S), st, pd, dl, ceil)
    d = rng.standard_normal(out.shape)
    check_vjp(lambda inp: ref.maxpool2d_forward(inp, (R, S), st, pd, dl, ceil)[0],
              {"inp": ref.maxpool2d_backward(d, ind, (H, W))}, {"inp": x}, d)


@pytest.mark.parametrize("flags", AVG_FLAGS, ids=_ids(AVG_FLAGS))
def test_avgpool2d_reference_backward_matches_finite_differences(rng, flags):
    ceil, cip, div = flags
    N, C, H, W, R, S, st, pd = 1, 2, 5, 6, 3, 2, (2, 2), (1, 1)
    x = rng.standard_normal((N, C, H, W))
    out = ref.avgpool2d_forward(x, (R, S), st, pd, ceil, cip, div)
    d = rng.standard_normal(out.shape)
    check_vjp(lambda inp: ref.avgpool2d_forward(inp, (R, S), st, pd, ceil, cip, div),
              {"inp": ref.avgpool2d_backward(d, (H, W), (R, S), st, pd, ceil, cip, div)}, {"inp": x}, d)


@pytest.mark.parametrize("hwpq", [(5, 7, 3, 4), (4, 4, 6, 3)])
def test_adaptive_avgpool2d_reference_backward_matches_finite_differences(rng, hwpq):
    H, W, P, Q = hwpq
    x = rng.standard_normal((2, 1, H, W))
    d = rng.standard_normal((2, 1, P, Q))
    check_vjp(lambda inp: ref.adaptive_avgpool2d_forward(inp, (P, Q)),
              {"inp": ref.adaptive_avgpool2d_backward(d, (H, W))}, {"inp": x}, d)


def test_maxunpool2d_reference_backward_matches_finite_differences(rng):
    x = rng.standard_normal((2, 2, 2, 3))
    ind = np.stack([rng.permutation(20)[:6] for _ in range(4)]).reshape(2, 2, 2, 3)  # unique per plane
    d = rng.standard_normal((2, 2, 4, 5))
    check_vjp(lambda inp: ref.maxunpool2d_forward(inp, ind, (4, 5)), {"inp": ref.maxunpool2d_backward(d, ind)}, {"inp": x}, d)


def _raises(dev, exc, msg):
    """pytest.raises(exc); the message is checked on the CPU (other backends word theirs)."""
    return pytest.raises(exc, match=msg if dev.name == "cpu" else None)


# ---- bad input ---------------------------------------------------------------------------


def test_pool2d_bad_sizes_raise_value_error(dev):
    k = dev.k
    x = dev.put(np.zeros((2, 3, 6, 6), np.float32))
    out, ind = dev.out((2, 3, 3, 3)), dev.out((2, 3, 3, 3), np.int64)
    good = [2, 3, 6, 6, 2, 2, 2, 2, 0, 0, 1, 1, False]
    k.maxpool2d_forward(out, ind, x, *good)  # sanity

    def bad(i, v):
        s = list(good)
        s[i] = v
        return s

    for i, v, msg in [(0, -1, "must be >= 0"), (2, 0, "H=0 must be > 0"), (4, 0, "R=0 must be > 0"),
                      (6, 0, "stride_h=0 must be > 0"), (9, -1, "pad_w=-1 must be >= 0"),
                      (10, 0, "dil_h=0 must be > 0"), (8, 2, "at most half the kernel"),
                      (11, 9, "empty output"), (3, 2**50, "too large")]:
        with _raises(dev, ValueError, msg):
            k.maxpool2d_forward(out, ind, x, *bad(i, v))
    with _raises(dev, ValueError, r"'out' has 54 elements, expected 72 for shape \(2, 3, 3, 4\)"):
        k.maxpool2d_forward(out, ind, dev.put(np.zeros((2, 3, 6, 8), np.float32)), *bad(3, 8))
    with _raises(dev, TypeError, "int64"):
        k.maxpool2d_forward(out, dev.out((2, 3, 3, 3)), x, *good)
    with _raises(dev, ValueError, "'inp' is None"):
        k.maxpool2d_forward(out, ind, None, *good)
    avg = [2, 3, 6, 6, 2, 2, 2, 2, 0, 0, False, True, 0]
    with _raises(dev, ValueError, "at most half the kernel"):
        k.avgpool2d_forward(out, x, *avg[:8], 2, 0, *avg[10:])
    with _raises(dev, ValueError, "divisor_override=-2"):
        k.avgpool2d_forward(out, x, *avg[:12], -2)
    with _raises(dev, ValueError, "'dinp'"):
        k.avgpool2d_backward(dev.out((2, 3, 6, 5)), dev.put(np.zeros((2, 3, 3, 3), np.float32)), *avg)
    with _raises(dev, ValueError, "W=0 must be > 0"):
        k.adaptive_avgpool2d_forward(dev.out((2, 3, 1, 1)), x, 2, 3, 6, 0, 1, 1)
    with _raises(dev, ValueError, "P=-1"):
        k.adaptive_avgpool2d_backward(dev.out((2, 3, 6, 6)), dev.out((2, 3, 1, 1)), 2, 3, 6, 6, -1, 1)
    with _raises(dev, ValueError, "'out'"):
        k.adaptive_avgpool2d_forward(dev.out((2, 3, 2, 2)), x, 2, 3, 6, 6, 3, 3)


def test_pool2d_bad_indices_raise_value_error(dev):
    k = dev.k
    ind = np.zeros((1, 2, 2, 2), np.int64)
    ind[0, 1, 1, 0] = 9  # outside a 3x3 plane
    with dev.raises(ValueError, match=r"indices\[n=0, c=1, 2\] = 9 is outside \[0, 9\)"):
        k.maxunpool2d_forward(dev.out((1, 2, 3, 3)), dev.put(np.ones((1, 2, 2, 2), np.float32)), dev.put(ind), 1, 2, 2, 2, 3, 3)
    with dev.raises(ValueError, match="is outside"):
        k.maxunpool2d_backward(dev.out((1, 2, 2, 2)), dev.put(np.ones((1, 2, 3, 3), np.float32)), dev.put(ind), 1, 2, 2, 2, 3, 3)
    ind[0, 1, 1, 0] = -1
    with dev.raises(ValueError, match="= -1 is outside"):
        k.maxunpool2d_forward(dev.out((1, 2, 3, 3)), dev.put(np.ones((1, 2, 2, 2), np.float32)), dev.put(ind), 1, 2, 2, 2, 3, 3)
    with dev.raises(ValueError, match="= -1 is outside"):
        k.maxpool2d_backward(dev.out((1, 2, 3, 3)), dev.put(np.ones((1, 2, 2, 2), np.float32)), dev.put(ind), 1, 2, 3, 3, 2, 2)
    with _raises(dev, TypeError, "int64"):
        k.maxpool2d_backward(dev.out((1, 2, 3, 3)), dev.put(np.ones((1, 2, 2, 2), np.float32)), dev.put(ind.astype(np.float32)), 1, 2, 3, 3, 2, 2)
