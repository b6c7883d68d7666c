"""batchnorm: training and eval forward (statistics, running-stat updates, affine or not) and
backward vs the NumPy reference, reference gradients vs finite differences, degenerate
shapes (N = 1, HW = 1, empty batch) and bad input."""

import numpy as np
import pytest
from neuraxon.testing import reference as ref
from neuraxon.testing.gradcheck import check_vjp
from neuraxon.testing.tolerances import assert_close

SHAPES = [  # N, C, HW
    (2, 3, 5),
    (1, 4, 7),
    (8, 16, 1),
    (2, 1, 2),
    (4, 64, 49),
    (3, 70, 2),
    (32, 130, 1),
    (5, 0, 3),
    (16, 8, 64),
    (300, 41, 1),
    (600, 7, 64),  # >= 2^18 elements: threaded (smaller tensors run on one thread), (N, C, HW)
    (6500, 41, 1),  # and (N, C)
]


def _data(rng, N, C, HW, affine=True):
    x = (rng.standard_normal((N, C, HW)) * 2 + 0.5).astype(np.float32)
    g = (rng.standard_normal(C) + 1).astype(np.float32) if affine else None
    b = rng.standard_normal(C).astype(np.float32) if affine else None
    rm = rng.standard_normal(C).astype(np.float32)
    rv = (rng.random(C) + 0.5).astype(np.float32)
    return x, g, b, rm, rv


def _forward(dev, x, g, b, rm, rv, training, momentum=0.1, eps=1e-5):
    N, C, HW = x.shape
    out, sm, si = dev.out((N, C, HW)), dev.out(C), dev.out(C)
    rm_d = None if rm is None else dev.put(rm)
    rv_d = None if rv is None else dev.put(rv)
    dev.k.batchnorm_forward(
        out,
        sm,
        si,
        rm_d,
        rv_d,
        dev.put(x),
        None if g is None else dev.put(g),
        None if b is None else dev.put(b),
        N,
        C,
        HW,
        training,
        momentum,
        eps,
    )
    get = lambda a: None if a is None else dev.get(a)
    return dev.get(out, (N, C, HW)), dev.get(sm), dev.get(si), get(rm_d), get(rv_d)


@pytest.mark.parametrize("N,C,HW", SHAPES)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_batchnorm_forward(dev, rng, N, C, HW, training, affine):
    x, g, b, rm, rv = _data(rng, N, C, HW, affine)
    got = _forward(dev, x, g, b, rm, rv, training, momentum=0.3, eps=1e-3)
    want = ref.batchnorm_forward(rm, rv, x, g, b, training, momentum=0.3, eps=1e-3)
    for name, a, w in zip(["out", "save_mean", "save_invstd", "running_mean", "running_var"], got, want):
        assert_close(a, w, "reduction", name)


def test_batchnorm_running_stats_optional_and_unbiased(dev, rng):
    x, g, b, _, _ = _data(rng, 3, 4, 5)
    out = _forward(dev, x, g, b, None, None, True)[0]
    assert_close(out, ref.batchnorm_forward(None, None, x, g, b)[0], "reduction")
    _, _, _, new_rm, new_rv = _forward(
        dev, x, None, None, np.zeros(4, np.float32), np.ones(4, np.float32), True, momentum=1.0
    )
    assert_close(new_rm, x.astype(np.float64).mean(axis=(0, 2)), "reduction")
    assert_close(new_rv, x.astype(np.float64).transpose(1, 0, 2).reshape(4, -1).var(axis=1, ddof=1), "reduction")


def test_batchnorm_large_mean_keeps_variance(dev, rng):
    x = (1000 + 0.01 * rng.standard_normal((64, 3, 32))).astype(np.float32)  # var / mean^2 ~ 1e-10
    out, sm, si, _, _ = _forward(dev, x, None, None, None, None, True, eps=0.0)
    _, rmean, rinv, _, _ = ref.batchnorm_forward(None, None, x, eps=0.0)
    assert_close(sm, rmean, "reduction")
    assert_close(si, rinv, "reduction")
    assert abs(out.std() - 1) < 1e-3


@pytest.mark.parametrize("N,C,HW", SHAPES)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_batchnorm_backward(dev, rng, N, C, HW, training, affine):
    x, g, b, rm, rv = _data(rng, N, C, HW, affine)
    _, sm, si, _, _ = ref.batchnorm_forward(rm, rv, x, g, b, training)
    sm, si = sm.astype(np.float32), si.astype(np.float32)
    dy = rng.standard_normal((N, C, HW)).astype(np.float32)
    dx, dg, db = dev.out((N, C, HW)), dev.out(C), dev.out(C)
    dev.k.batchnorm_backward(
        dx,
        dg,
        db,
        dev.put(dy),
        dev.put(x),
        None if g is None else dev.put(g),
        dev.put(sm),
        dev.put(si),
        N,
        C,
        HW,
        training,
    )
    rdx, rdg, rdb = ref.batchnorm_backward(dy, x, g, sm, si, training)
    assert_close(dev.get(dx, (N, C, HW)), rdx, "reduction", "dinp")
    assert_close(dev.get(dg), rdg, "reduction", "dgamma")
    assert_close(dev.get(db), rdb, "reduction", "dbeta")


# Shapes for the per-ISA loops: 16-lane row blocks with tails (HW 17, 33, 100), 16-channel
# tiles with tails in the (N, C) layout (C 16, 41, 300), one-element rows.
ISA_SHAPES = [(3, 5, 17), (2, 3, 33), (4, 7, 100), (37, 16, 1), (19, 41, 1), (5, 300, 1), (6, 2, 16)]


def test_batchnorm_every_isa_path(dev, isa, rng):
    for N, C, HW in ISA_SHAPES:
        for training in (True, False):
            x, g, b, rm, rv = _data(rng, N, C, HW)
            got = _forward(dev, x, g, b, rm, rv, training, momentum=0.2)
            want = ref.batchnorm_forward(rm, rv, x, g, b, training, momentum=0.2)
            for name, a, w in zip(["out", "save_mean", "save_invstd", "running_mean", "running_var"], got, want):
                assert_close(a, w, "reduction", f"{isa} {N}x{C}x{HW} training={training} {name}")
            sm, si = want[1].astype(np.float32), want[2].astype(np.float32)
            dy = rng.standard_normal((N, C, HW)).astype(np.float32)
            dx, dg, db = dev.out((N, C, HW)), dev.out(C), dev.out(C)
            dev.k.batchnorm_backward(dx, dg, db, dev.put(dy), dev.put(x), dev.put(g), dev.put(sm), dev.put(si),
                                     N, C, HW, training)
            rdx, rdg, rdb = ref.batchnorm_backward(dy, x, g, sm, si, training)
            assert_close(dev.get(dx, (N, C, HW)), rdx, "reduction", f"{isa} {N}x{C}x{HW} dinp")
            assert_close(dev.get(dg), rdg, "reduction", f"{isa} dgamma")
            assert_close(dev.get(db), rdb, "reduction", f"{isa} dbeta")


def test_batchnorm_large_mean_every_isa_path(dev, isa, rng):
    # single-pass shifted sums: a 1000 +- 0.01 channel keeps its variance on every path,
    # in both layouts
    for shape in [(64, 3, 32), (300, 20, 1)]:
        x = (1000 + 0.01 * rng.standard_normal(shape)).astype(np.float32)
        out, sm, si, _, _ = _forward(dev, x, None, None, None, None, True, eps=0.0)
        _, rmean, rinv, _, _ = ref.batchnorm_forward(None, None, x, eps=0.0)
        assert_close(sm, rmean, "reduction", isa)
        assert_close(si, rinv, "reduction", isa)
        assert abs(out.std() - 1) < 1e-3


@pytest.mark.parametrize("which", ["dinp", "dgamma", "dbeta"])
def test_batchnorm_backward_each_output_alone(dev, rng, which):
    N, C, HW = 4, 5, 6
    x, g, _, _, _ = _data(rng, N, C, HW)
    _, sm, si, _, _ = ref.batchnorm_forward(None, None, x, g)
    sm, si = sm.astype(np.float32), si.astype(np.float32)
    dy = rng.standard_normal((N, C, HW)).astype(np.float32)
    outs = {"dinp": None, "dgamma": None, "dbeta": None}
    outs[which] = dev.out((N, C, HW) if which == "dinp" else C)
    dev.k.batchnorm_backward(
        outs["dinp"],
        outs["dgamma"],
        outs["dbeta"],
        dev.put(dy),
        dev.put(x),
        dev.put(g),
        dev.put(sm),
        dev.put(si),
        N,
        C,
        HW,
        True,
    )
    want = dict(zip(["dinp", "dgamma", "dbeta"], ref.batchnorm_backward(dy, x, g, sm, si, True)))[which]
    assert_close(dev.get(outs[which]).reshape(want.shape), want, "reduction")


@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_reference_backward_matches_finite_differences(rng, training):
    N, C, HW = 3, 2, 4
    x, g, b = rng.standard_normal((N, C, HW)), rng.standard_normal(C) + 1, rng.standard_normal(C)
    rm, rv = rng.standard_normal(C), rng.random(C) + 0.5
    dy = rng.standard_normal((N, C, HW))
    _, sm, si, _, _ = ref.batchnorm_forward(rm, rv, x, g, b, training)
    dx, dg, db = ref.batchnorm_backward(dy, x, g, sm, si, training)
    check_vjp(
        lambda inp, gamma, beta: ref.batchnorm_forward(rm, rv, inp, gamma, beta, training)[0],
        {"inp": dx, "gamma": dg, "beta": db},
        {"inp": x, "gamma": g, "beta": b},
        dy,
    )


def test_batchnorm_single_value_per_channel(dev, rng):
    x, g, b, rm, rv = _data(rng, 1, 3, 1)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        _forward(dev, x, g, b, rm, rv, True)
    out = _forward(dev, x, g, b, rm, rv, False)[0]  # eval with N = 1, HW = 1 is fine
    assert_close(out, ref.batchnorm_forward(rm, rv, x, g, b, False)[0], "reduction")


def test_batchnorm_empty_batch(dev, rng):
    x, g, b, rm, rv = _data(rng, 0, 3, 4)
    out, sm, si, new_rm, new_rv = _forward(dev, x, g, b, rm, rv, True)
    assert out.size == 0
    np.testing.assert_array_equal(sm, 0.0)
    np.testing.assert_array_equal(si, 0.0)
    np.testing.assert_array_equal(new_rm, rm)  # untouched
    np.testing.assert_array_equal(new_rv, rv)
    dx, dg, db = dev.out((0, 3, 4)), dev.out(3), dev.out(3)
    dev.k.batchnorm_backward(dx, dg, db, dev.put(x), dev.put(x), dev.put(g), dev.put(sm), dev.put(si), 0, 3, 4, True)
    np.testing.assert_array_equal(dev.get(dg), 0.0)
    np.testing.assert_array_equal(dev.get(db), 0.0)


def test_batchnorm_bad_input(dev):
    k = dev.k
    N, C, HW = 2, 3, 4
    x, c3 = dev.put(np.zeros((N, C, HW), np.float32)), dev.put(np.ones(C, np.float32))
    with pytest.raises(ValueError, match="running_mean"):  # eval needs running statistics
        k.batchnorm_forward(
            dev.out((N, C, HW)), dev.out(C), dev.out(C), None, None, x, None, None, N, C, HW, False, 0.1, 1e-5
        )
    with pytest.raises(ValueError, match="'gamma' has 4 elements, expected 3"):
        k.batchnorm_forward(dev.out((N, C, HW)), None, None, None, None, x, dev.out(4), None, N, C, HW, True, 0.1, 1e-5)
    with pytest.raises(ValueError, match="'inp' has 24 elements, expected 30"):
        k.batchnorm_forward(dev.out((N, C, 5)), None, None, None, None, x, None, None, N, C, 5, True, 0.1, 1e-5)
    with pytest.raises(ValueError, match="must be >= 0"):
        k.batchnorm_forward(dev.out((N, C, HW)), None, None, None, None, x, None, None, -N, C, HW, True, 0.1, 1e-5)
    with pytest.raises(ValueError, match="eps"):
        k.batchnorm_forward(dev.out((N, C, HW)), None, None, None, None, x, None, None, N, C, HW, True, 0.1, -1.0)
    with pytest.raises(ValueError, match="save_mean"):
        k.batchnorm_backward(dev.out((N, C, HW)), None, None, x, x, None, None, c3, N, C, HW, True)
    with pytest.raises(ValueError, match="'dgamma' has 2 elements"):
        k.batchnorm_backward(None, dev.out(2), None, x, x, None, c3, c3, N, C, HW, True)
    with pytest.raises(TypeError, match="int64"):
        k.batchnorm_backward(None, None, None, x, dev.put(np.zeros((N, C, HW), np.int64)), None, c3, c3, N, C, HW, True)


def test_batchnorm_same_bits_for_any_thread_count(dev, rng):
    if dev.name != "cpu":
        pytest.skip("OpenMP threads are a CPU matter")
    before = dev.k.num_threads()
    results = []
    shapes = [(300, 41, 1), (16, 9, 64), (6500, 41, 1), (520, 9, 64)]  # last two: >= 2^18, threaded
    try:
        for threads in (1, 3):
            dev.k.set_num_threads(threads)
            for N, C, HW in shapes:
                x, g, b, rm, rv = _data(np.random.default_rng(5), N, C, HW)
                fwd = _forward(dev, x, g, b, rm, rv, True)
                dx, dg, db = dev.out((N, C, HW)), dev.out(C), dev.out(C)
                dev.k.batchnorm_backward(
                    dx, dg, db, dev.put(x), dev.put(x), dev.put(g), dev.put(fwd[1]), dev.put(fwd[2]), N, C, HW, True
                )
                results.append([*fwd, dev.get(dx), dev.get(dg), dev.get(db)])
    finally:
        dev.k.set_num_threads(before)
    n = len(shapes)
    for a, b in zip(results[:n], results[n:]):
        for u, v in zip(a, b):
            np.testing.assert_array_equal(u, v)
