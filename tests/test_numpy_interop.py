"""NumPy arrays as operands (issue 15): ``t + ndarray`` and ``ndarray + t`` (every binary
operator and comparison) give a neuraxon tensor on t's device, the array converted as
``neuraxon.tensor(array)`` would; ``np.asarray(t)`` reads a CPU tensor without a copy."""

from __future__ import annotations

import operator

import numpy as np
import pytest

import neuraxon as nx

ARITH = [operator.add, operator.sub, operator.mul, operator.truediv, operator.pow]
COMPARE = [operator.eq, operator.ne, operator.lt, operator.le, operator.gt, operator.ge]


@pytest.mark.parametrize("op", ARITH + COMPARE + [operator.floordiv, operator.mod], ids=lambda f: f.__name__)
@pytest.mark.parametrize("adtype", [np.float64, np.float32, np.int32, np.int64])
def test_binary_operators_with_an_array_on_either_side(device, op, adtype):
    rng = np.random.default_rng(0)
    x = nx.tensor(rng.uniform(0.5, 2.0, (3, 4)).astype(np.float32), device=device)
    a = rng.integers(1, 4, (4,)).astype(adtype)  # broadcast against x
    for left, right in ((x, a), (a, x)):
        got = op(left, right)
        assert isinstance(got, nx.Tensor) and got.device == x.device
        lt = nx.tensor(left, device=device) if isinstance(left, np.ndarray) else left
        rt = nx.tensor(right, device=device) if isinstance(right, np.ndarray) else right
        want = op(lt, rt)
        assert got.dtype is want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got.cpu().numpy(), want.cpu().numpy())


def test_array_operands_keep_the_dtype_rules_and_autograd(device):
    ti = nx.tensor([1, 2], device=device)
    r = ti + np.array([0.5, 0.25])  # int64 tensor + float64 array -> float32, as tensor() converts it
    assert r.dtype is nx.float32 and r.tolist() == [1.5, 2.25]
    r = np.array([3, 4], np.int32) + ti
    assert r.dtype is nx.int64 and r.tolist() == [4, 6]
    assert (np.array(2.0) * ti).tolist() == [2.0, 4.0]  # a 0-d array is a 0-d tensor
    b = nx.tensor([True, False], device=device)
    assert (b & np.array([True, True])).tolist() == [True, False]
    assert (np.array([1, 2]) | ti).tolist() == [1, 2] and (ti ^ np.array([3, 3])).tolist() == [2, 1]
    w = nx.tensor([[1.0, 2.0], [3.0, 4.0]], device=device, requires_grad=True)
    y = (np.array([1.0, 1.0]) @ w + w @ np.array([1.0, 0.0])).sum()
    assert (np.array([1.0, 1.0]) @ w).tolist() == [4.0, 6.0]
    y.backward()
    assert w.grad.tolist() == [[2.0, 1.0], [2.0, 1.0]]
    t = nx.zeros(2, device=device)
    t += np.array([1.5, 2.5])
    t *= np.array([2, 2], np.int32)
    assert t.tolist() == [3.0, 5.0] and t.dtype is nx.float32
    with pytest.raises(TypeError, match="object array"):
        t + np.array([None, 1])
    with pytest.raises(TypeError, match="unsupported dtype complex128"):
        t + np.array([1j, 2])


def test_numpy_defers_to_the_tensor():
    x = nx.tensor([1.0, 2.0])
    assert x.__array_ufunc__ is None  # NumPy's operators return NotImplemented, ours run
    # ufuncs are not applied to tensors behind their back (no __array_wrap__ round trip)
    with pytest.raises(TypeError):
        np.exp(x)


def test_asarray_is_a_view_on_the_cpu(device):
    x = nx.tensor([1.0, 2.0, 3.0], device=device)
    a = np.asarray(x)
    assert a.dtype == np.float32 and a.tolist() == [1.0, 2.0, 3.0]
    assert x.__array__().tolist() == [1.0, 2.0, 3.0]
    assert np.asarray(x, dtype=np.float64).dtype == np.float64
    if device == "cpu":
        a[0] = 7.0  # shared memory, as torch's numpy()
        assert x[0].item() == 7.0
        assert np.asarray(x, copy=False) is not None
        c = np.array(x, copy=True)
        c[1] = -1.0
        assert x[1].item() == 2.0
    else:
        with pytest.raises(ValueError, match="without a copy"):
            np.asarray(x, copy=False)
    with pytest.raises(ValueError, match="without a copy"):
        np.asarray(x, dtype=np.float64, copy=False)
