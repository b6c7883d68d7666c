"""reduce: sum/mean/max/min/prod and argmax/argmin over the middle axis of (outer, red, inner)
against the NumPy reference; NaN propagation, ties, red == 0, int64, bad input."""

import numpy as np
import pytest

from neuraxon.testing.reference import reduce as R
from neuraxon.testing.tolerances import assert_close

SHAPES = [  # outer, red, inner
    (1, 1, 1), (3, 7, 1), (1, 100003, 1), (4, 5, 6), (2, 13, 130), (5, 1, 7), (1000, 3, 1),
    (3, 257, 65), (0, 3, 4), (3, 4, 0), (2, 2, 1),
]
F32_OPS = [R.SUM, R.MEAN, R.MAX, R.MIN, R.PROD]
I64_OPS = [R.SUM, R.MAX, R.MIN, R.PROD]


def _input(rng, shape, op, dtype=np.float32):
    if dtype == np.int64:
        hi = 3 if op == R.PROD else 1000
        return rng.integers(-hi, hi + 1, shape).astype(np.int64)
    if op == R.PROD:  # factors near 1 so long products stay finite
        return (np.exp(rng.standard_normal(shape) * 0.01) * rng.choice([-1, 1], shape)).astype(np.float32)
    return rng.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("outer,red,inner", SHAPES)
@pytest.mark.parametrize("op", F32_OPS)
def test_reduce_f32(dev, rng, outer, red, inner, op):
    x = _input(rng, (outer, red, inner), op)
    out = dev.out((outer, inner))
    dev.k.reduce_forward(out, dev.put(x), outer, red, inner, op)
    assert_close(dev.get(out, (outer, inner)), R.reduce_forward(x, outer, red, inner, op), "reduction")


@pytest.mark.parametrize("outer,red,inner", SHAPES)
@pytest.mark.parametrize("op", I64_OPS)
def test_reduce_i64(dev, rng, outer, red, inner, op):
    x = _input(rng, (outer, red, inner), op, np.int64)
    out = dev.out((outer, inner), np.int64)
    dev.k.reduce_forward(out, dev.put(x), outer, red, inner, op)
    np.testing.assert_array_equal(dev.get(out, (outer, inner)), R.reduce_forward(x, outer, red, inner, op))


def test_reduce_sum_is_accurate_for_long_rows(dev):
    n = 1 << 22  # float32 accumulation would lose the small terms against 2^24
    x = np.full(n, 1.0, np.float32)
    x[0] = 2.0**24
    out = dev.out((1, 1))
    dev.k.reduce_forward(out, dev.put(x), 1, n, 1, R.SUM)
    assert dev.get(out, (1, 1))[0, 0] == np.float32(2.0**24 + n - 1)


@pytest.mark.parametrize("op", [R.MAX, R.MIN, R.SUM])
@pytest.mark.parametrize("inner", [1, 5])
def test_reduce_nan_propagates(dev, rng, op, inner):
    x = rng.standard_normal((3, 6, inner)).astype(np.float32)
    x[0, 0, :] = np.nan  # first
    x[1, 5, :] = np.nan  # last
    out = dev.out((3, inner))
    dev.k.reduce_forward(out, dev.put(x), 3, 6, inner, op)
    got = dev.get(out, (3, inner))
    assert np.isnan(got[:2]).all() and np.isfinite(got[2]).all()


@pytest.mark.parametrize("op,want", [(R.SUM, 0.0), (R.MEAN, np.nan), (R.PROD, 1.0)])
def test_reduce_empty_axis(dev, op, want):
    out = dev.out((2, 3))
    dev.k.reduce_forward(out, dev.put(np.zeros(0, np.float32)), 2, 0, 3, op)
    np.testing.assert_array_equal(dev.get(out, (2, 3)), np.full((2, 3), want, np.float32))


@pytest.mark.parametrize("outer,red,inner", [s for s in SHAPES if s[1] > 0])
@pytest.mark.parametrize("op", [R.ARGMAX, R.ARGMIN])
@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_argreduce(dev, rng, outer, red, inner, op, dtype):
    x = rng.integers(-4, 5, (outer, red, inner)).astype(dtype)  # many ties: first occurrence wins
    out = dev.out((outer, inner), np.int64)
    dev.k.argreduce_forward(out, dev.put(x), outer, red, inner, op)
    np.testing.assert_array_equal(dev.get(out, (outer, inner)), R.argreduce_forward(x, outer, red, inner, op))


@pytest.mark.parametrize("op", [R.ARGMAX, R.ARGMIN])
@pytest.mark.parametrize("inner", [1, 3, 70])
def test_argreduce_nan_wins(dev, rng, op, inner):
    x = rng.standard_normal((2, 9, inner)).astype(np.float32)
    x[0, 4, :] = np.nan
    x[0, 7, :] = np.nan
    x[1, 0, :] = np.nan
    out = dev.out((2, inner), np.int64)
    dev.k.argreduce_forward(out, dev.put(x), 2, 9, inner, op)
    got = dev.get(out, (2, inner))
    np.testing.assert_array_equal(got, R.argreduce_forward(x, 2, 9, inner, op))
    assert (got[0] == 4).all() and (got[1] == 0).all()


def test_reduce_bad_input(dev):
    k = dev.k
    x = dev.put(np.ones(12, np.float32))
    with pytest.raises(ValueError, match="empty axis"):
        k.reduce_forward(dev.out((2, 3)), dev.put(np.zeros(0, np.float32)), 2, 0, 3, R.MAX)
    with pytest.raises(ValueError, match="empty axis"):
        k.argreduce_forward(dev.out((2, 3), np.int64), dev.put(np.zeros(0, np.float32)), 2, 0, 3, R.ARGMIN)
    with pytest.raises(TypeError, match="mean"):
        k.reduce_forward(dev.out((3, 1), np.int64), dev.put(np.ones(12, np.int64)), 3, 4, 1, R.MEAN)
    with pytest.raises(TypeError, match="bool"):
        k.reduce_forward(dev.out((3, 1), np.bool_), dev.put(np.ones(12, np.bool_)), 3, 4, 1, R.SUM)
    with pytest.raises(TypeError, match="int64"):
        k.reduce_forward(dev.out((3, 1), np.int64), x, 3, 4, 1, R.SUM)
    with pytest.raises(ValueError, match="'inp' has 12 elements, expected 15"):
        k.reduce_forward(dev.out((3, 1)), x, 3, 5, 1, R.SUM)
    with pytest.raises(ValueError, match="'out'"):
        k.reduce_forward(dev.out((3, 2)), x, 3, 4, 1, R.SUM)
    with pytest.raises(ValueError, match="op code"):
        k.reduce_forward(dev.out((3, 1)), x, 3, 4, 1, 5)
    with pytest.raises(ValueError, match="op code"):
        k.argreduce_forward(dev.out((3, 1), np.int64), x, 3, 4, 1, 2)
    with pytest.raises(ValueError, match=">= 0"):
        k.reduce_forward(dev.out((3, 1)), x, -3, 4, 1, R.SUM)
    with pytest.raises(TypeError, match="float32"):
        k.argreduce_forward(dev.out((3, 1)), x, 3, 4, 1, R.ARGMAX)
