"""index: gather and scatter_add along the middle axis of (outer, size, inner) against the
NumPy reference; negative and repeated indices, determinism, degenerate sizes, bad input."""

import numpy as np
import pytest

from neuraxon.testing import reference as ref
from neuraxon.testing.tolerances import assert_close

SHAPES = [  # outer, size, m, inner
    (1, 1, 1, 1), (1, 10, 4, 1), (3, 7, 11, 5), (1, 1000, 5000, 1), (2, 50, 300, 33), (1, 30, 64, 256),
    (4, 5, 0, 3), (0, 5, 3, 2), (3, 5, 4, 0), (7, 3, 2, 1),
]


def _index(rng, size, m):
    if size == 0:
        return np.zeros(m, np.int64)
    return rng.integers(-size, size, m).astype(np.int64)


@pytest.mark.parametrize("outer,size,m,inner", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_])
def test_gather(dev, rng, outer, size, m, inner, dtype):
    x = rng.standard_normal((outer, size, inner))
    x = (x > 0) if dtype == np.bool_ else (x * 100).astype(dtype)
    idx = _index(rng, size, m)
    out = dev.out((outer, m, inner), dtype)
    dev.k.gather(out, dev.put(x), dev.put(idx), outer, size, m, inner)
    np.testing.assert_array_equal(dev.get(out, (outer, m, inner)), ref.gather(x, idx, outer, size, m, inner))


@pytest.mark.parametrize("outer,size,m,inner", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_scatter_add(dev, rng, outer, size, m, inner, dtype):
    base = rng.standard_normal((outer, size, inner))
    src = rng.standard_normal((outer, m, inner))
    if dtype == np.int64:
        base, src = (base * 100).astype(np.int64), (src * 100).astype(np.int64)
    else:
        base, src = base.astype(np.float32), src.astype(np.float32)
    idx = _index(rng, size, m)
    out = dev.put(base)  # accumulates into out
    dev.k.scatter_add(out, dev.put(src), dev.put(idx), outer, size, m, inner)
    want = ref.scatter_add(base, src, idx, outer, size, m, inner)
    if dtype == np.int64:
        np.testing.assert_array_equal(dev.get(out, want.shape), want)
    else:
        assert_close(dev.get(out, want.shape), want, "reduction")


def test_scatter_add_repeated_index_accumulates_deterministically(dev, rng):
    outer, size, m, inner = 2, 3, 4000, 17
    idx = np.zeros(m, np.int64)
    idx[::2] = -1  # every source row lands on row 0 or row 2 (given as -1)
    src = rng.standard_normal((outer, m, inner)).astype(np.float32)
    results = []
    for _ in range(3):
        out = dev.put(np.zeros((outer, size, inner), np.float32))
        dev.k.scatter_add(out, dev.put(src), dev.put(idx), outer, size, m, inner)
        results.append(dev.get(out, (outer, size, inner)))
    want = ref.scatter_add(np.zeros((outer, size, inner)), src, idx, outer, size, m, inner)
    assert_close(results[0], want, (1e-4, 1e-4))
    assert (results[0][:, 1] == 0).all()
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[0], results[2])


def test_gather_nan_is_copied_and_poison_overwritten(dev):
    x = np.array([[[np.nan], [1.0], [2.0]]], np.float32)
    out = dev.out((1, 4, 1))
    dev.k.gather(out, dev.put(x), dev.put(np.array([2, 0, -2, 1], np.int64)), 1, 3, 4, 1)
    np.testing.assert_array_equal(dev.get(out).reshape(-1), [2.0, np.nan, 1.0, 1.0])


def test_index_bad_input(dev):
    k = dev.k
    x = dev.put(np.ones((2, 5, 3), np.float32))
    with dev.raises(ValueError, match="gather: index 5 at position 1 is out of range for an axis of size 5"):
        k.gather(dev.out((2, 2, 3)), x, dev.put(np.array([0, 5], np.int64)), 2, 5, 2, 3)
    with dev.raises(ValueError, match="index -6"):
        k.gather(dev.out((2, 2, 3)), x, dev.put(np.array([-6, 0], np.int64)), 2, 5, 2, 3)
    out = dev.put(np.zeros((2, 5, 3), np.float32))
    with dev.raises(ValueError, match="scatter_add: index 7 at position 1 is out of range"):
        k.scatter_add(out, dev.put(np.ones((2, 2, 3), np.float32)), dev.put(np.array([1, 7], np.int64)), 2, 5, 2, 3)
    want = np.zeros((2, 5, 3), np.float32)
    if dev.name == "cuda":  # found on the device: the good index was scattered, the bad skipped
        want[:, 1] = 1
    np.testing.assert_array_equal(dev.get(out, (2, 5, 3)), want)  # CPU: nothing written before the check
    with dev.raises(ValueError, match="index 0 at position 0 is out of range for an axis of size 0"):
        k.gather(dev.out((2, 1, 3)), dev.put(np.ones((2, 0, 3), np.float32)), dev.put(np.array([0], np.int64)), 2, 0, 1, 3)
    with pytest.raises(TypeError, match="int64"):
        k.gather(dev.out((2, 2, 3)), x, dev.put(np.array([0, 1], np.float32)), 2, 5, 2, 3)
    with pytest.raises(ValueError, match="'index' has 2 elements, expected 3"):
        k.gather(dev.out((2, 3, 3)), x, dev.put(np.array([0, 1], np.int64)), 2, 5, 3, 3)
    with pytest.raises(ValueError, match="'inp'"):
        k.gather(dev.out((2, 2, 3)), x, dev.put(np.array([0, 1], np.int64)), 2, 6, 2, 3)
    with pytest.raises(TypeError, match="float32"):
        k.gather(dev.out((2, 2, 3)), dev.put(np.ones((2, 5, 3), np.int64)), dev.put(np.array([0, 1], np.int64)), 2, 5, 2, 3)
    with pytest.raises(TypeError, match="bool"):
        k.scatter_add(dev.out((2, 5, 3), np.bool_), dev.put(np.ones((2, 2, 3), np.bool_)),
                      dev.put(np.array([0, 1], np.int64)), 2, 5, 2, 3)
    with pytest.raises(ValueError, match=">= 0"):
        k.scatter_add(out, dev.put(np.ones((2, 2, 3), np.float32)), dev.put(np.array([0, 1], np.int64)), 2, -5, 2, 3)


@pytest.mark.parametrize("lo,hi", [(0, 5), (-5, 5), (0, 1), (3, 3)])
def test_check_index(dev, lo, hi):
    rng = np.random.default_rng(lo + 7 * hi)
    k = dev.k
    ok = rng.integers(lo, hi, 37) if hi > lo else np.zeros(0, np.int64)
    k.check_index(dev.put(ok.astype(np.int64)), ok.size, lo, hi, 1, False)  # all in range: silent
    for bad in (hi, lo - 1, 2**62, -(2**62)):
        idx = np.concatenate([ok, [bad], ok]).astype(np.int64)
        want = f"index {bad} is out of bounds for dimension 1 with size {hi}"
        with dev.raises(IndexError, match=want):
            k.check_index(dev.put(idx), idx.size, lo, hi, 1, False)
        with dev.raises(RuntimeError, match=want):
            k.check_index(dev.put(idx), idx.size, lo, hi, 1, True)
    k.check_index(dev.put(np.zeros(0, np.int64)), 0, 0, 0, 0, False)  # n = 0: nothing to check
    with pytest.raises(ValueError, match="lo = 2 > hi = 1"):
        k.check_index(dev.put(np.zeros(1, np.int64)), 1, 2, 1, 0, False)
    with pytest.raises(TypeError, match="int64"):
        k.check_index(dev.put(np.zeros(1, np.float32)), 1, 0, 1, 0, False)
