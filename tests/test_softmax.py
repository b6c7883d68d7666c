"""softmax / log_softmax and cross-entropy: forward and backward vs the NumPy reference,
reference gradients vs finite differences, stability, NaN/-inf rows, ignore_index, bad input."""

import numpy as np
import pytest
from neuraxon.testing import reference as ref
from neuraxon.testing.gradcheck import check_vjp
from neuraxon.testing.tolerances import assert_close

SHAPES = [(0, 5), (5, 0), (1, 1), (1, 7), (7, 1), (3, 1000), (64, 10), (17, 31), (128, 1000)]


def _run_softmax(dev, x, log):
    rows, cols = x.shape
    out = dev.out((rows, cols))
    dev.k.softmax_forward(out, dev.put(x), rows, cols, log)
    return dev.get(out, (rows, cols))


@pytest.mark.parametrize("rows,cols", SHAPES)
@pytest.mark.parametrize("log", [False, True])
def test_softmax_forward(dev, rng, rows, cols, log):
    x = (3 * rng.standard_normal((rows, cols))).astype(np.float32)
    assert_close(_run_softmax(dev, x, log), ref.softmax_forward(x, log), "reduction")


def test_softmax_every_isa_path(dev, isa, rng):
    if dev.name != "cpu":
        pytest.skip("ISA paths are a CPU matter")
    for rows, cols in [(3, 1), (5, 17), (9, 100), (4, 1003)]:  # lane tails of 8 and 16
        x = (3 * rng.standard_normal((rows, cols))).astype(np.float32)
        dy = rng.standard_normal((rows, cols)).astype(np.float32)
        for log in (False, True):
            y = _run_softmax(dev, x, log)
            assert_close(y, ref.softmax_forward(x, log), "reduction", f"{isa} {rows}x{cols}")
            dx = dev.out((rows, cols))
            dev.k.softmax_backward(dx, dev.put(dy), dev.put(y), rows, cols, log)
            assert_close(dev.get(dx, (rows, cols)), ref.softmax_backward(dy, y, log), "reduction", isa)
        t = rng.integers(0, cols, rows).astype(np.int64)
        loss, lse = _run_ce(dev, x, t, -100)
        rloss, rlse = ref.cross_entropy_forward(x, t)
        assert_close(loss, rloss, "reduction", isa)
        assert_close(lse, rlse, "reduction", isa)
        dx = dev.out((rows, cols))
        dev.k.cross_entropy_backward(
            dx, dev.put(np.ones(1, np.float32)), dev.put(x), dev.put(lse), dev.put(t), rows, cols, -100
        )
        assert_close(dev.get(dx, (rows, cols)), ref.cross_entropy_backward(np.ones(1), x, rlse, t), "reduction", isa)


@pytest.mark.parametrize("log", [False, True])
def test_softmax_is_shift_stable(dev, rng, log):
    x = (rng.standard_normal((4, 50)) + 1000).astype(np.float32)  # exp(1000) would overflow
    got = _run_softmax(dev, x, log)
    assert np.isfinite(got).all()
    assert_close(got, ref.softmax_forward(x, log), "reduction")


def test_softmax_inf_and_nan_rows(dev):
    ninf = -np.inf
    x = np.array([[0.0, ninf, 1.0], [ninf, ninf, ninf], [np.nan, 0.0, 1.0]], np.float32)
    p = _run_softmax(dev, x, False)
    lp = _run_softmax(dev, x, True)
    assert_close(p[0], ref.softmax_forward(x[:1])[0], "reduction")
    assert p[0, 1] == 0.0 and lp[0, 1] == -np.inf
    assert np.isnan(p[1:]).all() and np.isnan(lp[1:]).all()  # all -inf (0/0) and NaN rows: NaN


@pytest.mark.parametrize("rows,cols", SHAPES)
@pytest.mark.parametrize("log", [False, True])
def test_softmax_backward(dev, rng, rows, cols, log):
    x = (2 * rng.standard_normal((rows, cols))).astype(np.float32)
    y = ref.softmax_forward(x, log).astype(np.float32)
    dy = rng.standard_normal((rows, cols)).astype(np.float32)
    dx = dev.out((rows, cols))
    dev.k.softmax_backward(dx, dev.put(dy), dev.put(y), rows, cols, log)
    assert_close(dev.get(dx, (rows, cols)), ref.softmax_backward(dy, y, log), "reduction")


@pytest.mark.parametrize("log", [False, True])
def test_softmax_reference_backward_matches_finite_differences(rng, log):
    x, dy = rng.standard_normal((3, 5)), rng.standard_normal((3, 5))
    dx = ref.softmax_backward(dy, ref.softmax_forward(x, log), log)
    check_vjp(lambda x: ref.softmax_forward(x, log), {"x": dx}, {"x": x}, dy)


def _run_ce(dev, x, t, ignore_index):
    rows, cols = x.shape
    loss, lse = dev.out(1), dev.out(rows)
    dev.k.cross_entropy_forward(loss, lse, dev.put(x), dev.put(t), rows, cols, ignore_index)
    return dev.get(loss), dev.get(lse)


CE_SHAPES = [(1, 1), (1, 5), (6, 1), (9, 10), (33, 7), (256, 1000), (0, 4)]


@pytest.mark.parametrize("rows,cols", CE_SHAPES)
@pytest.mark.parametrize("ignore_index", [-100, 0])
def test_cross_entropy_forward_backward(dev, rng, rows, cols, ignore_index):
    x = (3 * rng.standard_normal((rows, cols))).astype(np.float32)
    t = rng.integers(0, cols, rows).astype(np.int64)
    if rows > 2 and ignore_index == -100:
        t[1] = -100  # an ignored row (with ignore_index 0, the rows of class 0 are ignored)
    loss, lse = _run_ce(dev, x, t, ignore_index)
    rloss, rlse = ref.cross_entropy_forward(x, t, ignore_index)
    if rows == 0 or (t == ignore_index).all():
        assert np.isnan(loss[0]) and np.isnan(rloss[0])
    else:
        assert_close(loss, rloss, "reduction")
    assert_close(lse, rlse, "reduction")
    dloss = np.array([1.7], np.float32)
    dx = dev.out((rows, cols))
    dev.k.cross_entropy_backward(dx, dev.put(dloss), dev.put(x), dev.put(lse), dev.put(t), rows, cols, ignore_index)
    assert_close(dev.get(dx, (rows, cols)), ref.cross_entropy_backward(dloss, x, rlse, t, ignore_index), "reduction")


def test_cross_entropy_all_ignored_gives_nan_loss_and_zero_grad(dev, rng):
    x = rng.standard_normal((4, 3)).astype(np.float32)
    t = np.full(4, 7, np.int64)
    loss, lse = _run_ce(dev, x, t, 7)
    assert np.isnan(loss[0])
    dx = dev.out((4, 3))
    dev.k.cross_entropy_backward(dx, dev.put(np.ones(1, np.float32)), dev.put(x), dev.put(lse), dev.put(t), 4, 3, 7)
    np.testing.assert_array_equal(dev.get(dx), 0.0)


def test_cross_entropy_large_logits_are_stable(dev, rng):
    x = (rng.standard_normal((5, 20)) * 5 + 500).astype(np.float32)
    t = rng.integers(0, 20, 5).astype(np.int64)
    loss, lse = _run_ce(dev, x, t, -100)
    assert np.isfinite(loss).all() and np.isfinite(lse).all()
    assert_close(loss, ref.cross_entropy_forward(x, t)[0], "reduction")


def test_cross_entropy_reference_backward_matches_finite_differences(rng):
    x = rng.standard_normal((5, 4))
    t = np.array([0, 3, -100, 1, 1])
    dloss = np.array([0.7])
    _, lse = ref.cross_entropy_forward(x, t)
    check_vjp(
        lambda x: ref.cross_entropy_forward(x, t)[0],
        {"x": ref.cross_entropy_backward(dloss, x, lse, t)},
        {"x": x},
        dloss,
    )


def test_cross_entropy_bad_target_raises_before_writing(dev):
    x = dev.put(np.zeros((3, 4), np.float32))
    for bad in (4, -1, 100):
        t = dev.put(np.array([0, bad, 1], np.int64))
        loss, lse = dev.out(1), dev.out(3)
        with dev.raises(ValueError, match=rf"cross_entropy_forward: target\[1\] = {bad} is out of range \[0, 4\)"):
            dev.k.cross_entropy_forward(loss, lse, x, t, 3, 4, -100)
        if dev.name == "cpu":  # raised before writing; CUDA found it on the device: NaN loss
            assert np.isnan(dev.get(lse)).all()
        assert np.isnan(dev.get(loss)).all()
        with dev.raises(ValueError, match="cross_entropy_backward: target.*out of range"):
            dev.k.cross_entropy_backward(dev.out((3, 4)), dev.put(np.ones(1, np.float32)), x, dev.out(3), t, 3, 4, -100)
    with dev.raises(ValueError, match="out of range"):  # cols == 0: only ignored rows are valid
        dev.k.cross_entropy_forward(
            dev.out(1), dev.out(1), dev.put(np.zeros((1, 0), np.float32)), dev.put(np.zeros(1, np.int64)), 1, 0, -100
        )


def test_softmax_bad_input(dev):
    k = dev.k
    x = dev.put(np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match="'out' has 12 elements, expected 15"):
        k.softmax_forward(dev.out((3, 4)), x, 3, 5, False)
    with pytest.raises(ValueError, match="must be >= 0"):
        k.softmax_forward(dev.out((3, 4)), x, -3, 4, False)
    with pytest.raises(ValueError, match="'out' has"):
        k.softmax_backward(dev.out((3, 4)), x, dev.out(5), 3, 4, True)
    with pytest.raises(TypeError, match="expected int64"):
        k.cross_entropy_forward(dev.out(1), dev.out(3), x, dev.put(np.zeros(3, np.float32)), 3, 4, -100)
    with pytest.raises(ValueError, match="'lse' has 2 elements"):
        k.cross_entropy_forward(dev.out(1), dev.out(2), x, dev.put(np.zeros(3, np.int64)), 3, 4, -100)
    with pytest.raises(ValueError, match="'dloss' has 2 elements"):
        k.cross_entropy_backward(dev.out((3, 4)), dev.out(2), x, dev.out(3), dev.put(np.zeros(3, np.int64)), 3, 4, -100)


def test_softmax_and_cross_entropy_same_bits_for_any_thread_count(dev):
    if dev.name != "cpu":
        pytest.skip("OpenMP threads are a CPU matter")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((200, 300)).astype(np.float32)
    t = rng.integers(0, 300, 200).astype(np.int64)
    before = dev.k.num_threads()
    runs = []
    try:
        for threads in (1, 3):
            dev.k.set_num_threads(threads)
            loss, lse = _run_ce(dev, x, t, -100)
            runs.append([_run_softmax(dev, x, False), _run_softmax(dev, x, True), loss, lse])
    finally:
        dev.k.set_num_threads(before)
    for u, v in zip(*runs):
        np.testing.assert_array_equal(u, v)
