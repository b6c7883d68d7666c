"""dropout: forward/backward vs the NumPy reference (mask from the Philox stream), mask
regenerated identically by backward, p = 0 / p = 1, NaN handling, in-place, bad input."""

import numpy as np
import pytest
from neuraxon.testing import reference as ref
from neuraxon.testing.tolerances import assert_close

SIZES = [0, 1, 5, 1000, 40001]  # 40001: the threaded path and a partial last block


def _fwd(dev, x, p, seed, offset):
    n = x.size
    out = dev.out(n)
    dev.k.dropout_forward(out, dev.put(x.reshape(-1)), n, p, seed, offset)
    return dev.get(out)


def _bwd(dev, dy, p, seed, offset):
    n = dy.size
    dx = dev.out(n)
    dev.k.dropout_backward(dx, dev.put(dy.reshape(-1)), n, p, seed, offset)
    return dev.get(dx)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 0.9])
def test_dropout_forward_backward(dev, rng, n, p):
    x = (rng.standard_normal(n) + 3).astype(np.float32)  # non-zero, so zeros mark dropped elements
    out = _fwd(dev, x, p, 77, 5)
    want = ref.dropout_forward(x, p, 77, 5)
    np.testing.assert_array_equal(out == 0, want == 0)  # the mask exactly
    assert_close(out, want, "elementwise")
    dy = rng.standard_normal(n).astype(np.float32)
    dx = _bwd(dev, dy, p, 77, 5)
    assert_close(dx, ref.dropout_backward(dy, p, 77, 5), "elementwise")
    np.testing.assert_array_equal(dx == 0, (out == 0) | (dy == 0))  # backward regenerates the same mask


def test_dropout_mask_is_the_uniform_stream(dev):
    n, p = 4099, 0.3
    dev_u = dev.out(n)
    dev.k.random_uniform(dev_u, n, 0.0, 1.0, 11, 2)
    u = dev.get(dev_u)
    out = _fwd(dev, np.ones(n, np.float32), p, 11, 2)
    np.testing.assert_array_equal(out != 0, u >= np.float32(p))
    assert abs(np.mean(out != 0) - (1 - p)) < 0.03
    assert_close(out[out != 0], np.float32(1 / (1 - np.float32(p))), "elementwise")


def test_dropout_offsets_give_different_reproducible_masks(dev):
    x = np.ones(1000, np.float32)
    a, b = _fwd(dev, x, 0.5, 3, 0), _fwd(dev, x, 0.5, 3, 250)
    np.testing.assert_array_equal(a, _fwd(dev, x, 0.5, 3, 0))
    assert np.mean((a == 0) == (b == 0)) < 0.6  # independent masks agree on ~half


def test_dropout_p_zero_and_one(dev, rng):
    x = rng.standard_normal(37).astype(np.float32)
    np.testing.assert_array_equal(_fwd(dev, x, 0.0, 1, 0), x)
    np.testing.assert_array_equal(_fwd(dev, x, 1.0, 1, 0), 0.0)
    np.testing.assert_array_equal(_bwd(dev, x, 1.0, 1, 0), 0.0)


def test_dropout_nan_propagates_as_pytorch(dev):
    x = np.full(64, np.nan, np.float32)  # dropped positions are x * 0 = NaN, as PyTorch
    assert np.isnan(_fwd(dev, x, 0.5, 9, 0)).all()


def test_dropout_in_place(dev, rng):
    x = rng.standard_normal(100).astype(np.float32)
    buf = dev.put(x)
    dev.k.dropout_forward(buf, buf, 100, 0.25, 4, 4)
    assert_close(dev.get(buf), ref.dropout_forward(x, 0.25, 4, 4), "elementwise")


def test_dropout_reference_backward_is_the_vjp(rng):
    x, dy = rng.standard_normal(50), rng.standard_normal(50)
    # linear in x: d sum(dropout(x) * dy) / dx = mask * dy, exactly
    m = ref.dropout_mask(50, 0.4, 8, 1)
    np.testing.assert_allclose(ref.dropout_forward(x, 0.4, 8, 1), x * m)
    np.testing.assert_allclose(ref.dropout_backward(dy, 0.4, 8, 1), dy * m)


def test_dropout_bad_input(dev):
    k = dev.k
    x = dev.put(np.ones(4, np.float32))
    for p in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="must be in"):
            k.dropout_forward(dev.out(4), x, 4, p, 0, 0)
        with pytest.raises(ValueError, match="must be in"):
            k.dropout_backward(dev.out(4), x, 4, p, 0, 0)
    with pytest.raises(ValueError, match="'out' has 3 elements, expected 4"):
        k.dropout_forward(dev.out(3), x, 4, 0.5, 0, 0)
    with pytest.raises(ValueError, match="must be >= 0"):
        k.dropout_backward(dev.out(4), x, -4, 0.5, 0, 0)
    with pytest.raises(TypeError, match="int64"):
        k.dropout_forward(dev.out(4), dev.put(np.ones(4, np.int64)), 4, 0.5, 0, 0)
