"""elementwise: fill, cast, copy_strided, broadcasting binary ops (every op code, float32 and
int64), unary ops forward/backward (every op code), where — against the NumPy reference,
the reference's unary backward vs finite differences, degenerate shapes and bad input."""

import numpy as np
import pytest

from neuraxon.testing.gradcheck import check_vjp
from neuraxon.testing.reference import elementwise as E
from neuraxon.testing.tolerances import assert_close

SIZES = [0, 1, 7, 1000, 100003]


def _strides(shape):
    s, out = 1, []
    for d in reversed(shape):
        out.append(s)
        s *= d
    return out[::-1]


# ---- fill / cast ---------------------------------------------------------------------------

@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype,value", [(np.float32, 2.5), (np.float32, -np.inf), (np.int64, -7.0),
                                         (np.int64, 2.0**40), (np.bool_, 0.0), (np.bool_, 3.0), (np.bool_, np.nan)])
def test_fill(dev, n, dtype, value):
    out = dev.out((n,), dtype)
    dev.k.fill(out, n, value)
    np.testing.assert_array_equal(dev.get(out), E.fill(n, value, dtype))


def test_fill_bad_input(dev):
    with pytest.raises(ValueError, match="int64"):
        dev.k.fill(dev.out((3,), np.int64), 3, float("nan"))
    with pytest.raises(ValueError, match="elements"):
        dev.k.fill(dev.out((3,)), 4, 1.0)
    with pytest.raises(ValueError, match=">= 0"):
        dev.k.fill(dev.out((3,)), -1, 1.0)


def _values(rng, dtype, n):
    if dtype == np.float32:
        x = (rng.standard_normal(n) * 10).astype(np.float32)
        x[: min(n, 8)] = np.array([0.0, -0.0, 0.7, -2.9, np.nan, np.inf, -np.inf, 3e19], np.float32)[: min(n, 8)]
        return x
    if dtype == np.int64:
        return rng.integers(-3, 4, n).astype(np.int64) * rng.integers(1, 2**40, n)
    return rng.random(n) < 0.5


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("src", [np.float32, np.int64, np.bool_])
@pytest.mark.parametrize("dst", [np.float32, np.int64, np.bool_])
def test_cast(dev, rng, n, src, dst):
    x = _values(rng, src, n)
    out = dev.out((n,), dst)
    dev.k.cast(out, dev.put(x), n)
    np.testing.assert_array_equal(dev.get(out), E.cast(x, dst))


def test_cast_float_to_int_truncates_toward_zero(dev):
    x = np.array([2.9, -2.9, 0.5, -0.5, 1e10, np.nan, np.inf, -1e30], np.float32)
    out = dev.out((8,), np.int64)
    dev.k.cast(out, dev.put(x), 8)
    lo = np.iinfo(np.int64).min
    np.testing.assert_array_equal(dev.get(out), [2, -2, 0, 0, 10000000000, lo, lo, lo])


def test_cast_bad_input(dev):
    with pytest.raises(ValueError, match="elements"):
        dev.k.cast(dev.out((3,), np.int64), dev.put(np.zeros(4, np.float32)), 3)


# ---- copy_strided --------------------------------------------------------------------------

def _copy_case(dev, x, out_shape_total, shape, out_strides, out_offset, in_strides, in_offset, dtype=np.float32):
    out = dev.out((out_shape_total,), dtype)
    before = dev.get(out).copy()
    dev.k.copy_strided(out, dev.put(x), list(shape), list(out_strides), out_offset, list(in_strides), in_offset)
    want = E.copy_strided(before, x, shape, out_strides, out_offset, in_strides, in_offset)
    np.testing.assert_array_equal(dev.get(out), want)


COPY_CASES = {  # name: (input shape, copy shape, out strides, out offset, in strides, in offset, out total)
    "contiguous": ((5, 7), (5, 7), (7, 1), 0, (7, 1), 0, 35),
    "transpose": ((5, 7), (7, 5), (5, 1), 0, (1, 7), 0, 35),
    "permute3d": ((3, 4, 5), (5, 3, 4), (12, 4, 1), 0, (1, 20, 5), 0, 60),
    "slice": ((6, 9), (3, 4), (4, 1), 0, (18, 2), 10, 12),
    "expand": ((1, 5), (4, 5), (5, 1), 0, (0, 1), 0, 20),
    "scalar_expand": ((1,), (3, 2, 5), (10, 5, 1), 0, (0, 0, 0), 0, 30),
    "pad": ((3, 4), (3, 4), (6, 1), 7, (4, 1), 0, 30),
    "zero_d": ((4,), (), (), 2, (), 3, 5),
    "size_one_dims": ((1, 3, 1), (1, 3, 1), (3, 1, 1), 0, (99, 1, 7), 0, 3),
    "empty": ((0, 4), (0, 4), (4, 1), 0, (4, 1), 0, 0),
    "big_transpose": ((301, 203), (203, 301), (301, 1), 0, (1, 203), 0, 301 * 203),
    "big_rows": ((2, 100003), (100003,), (1,), 0, (1,), 100003, 100003),
}


@pytest.mark.parametrize("case", list(COPY_CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_])
def test_copy_strided(dev, rng, case, dtype):
    in_shape, shape, os_, oo, is_, io, total = COPY_CASES[case]
    x = _values(rng, dtype, int(np.prod(in_shape)))
    _copy_case(dev, x, total, shape, os_, oo, is_, io, dtype)


def test_copy_strided_bad_input(dev):
    k, x = dev.k, dev.put(np.arange(12, dtype=np.float32))
    with pytest.raises(ValueError, match="negative"):
        k.copy_strided(dev.out((12,)), x, [3, 4], [4, 1], 0, [-4, 1], 11)
    with pytest.raises(ValueError, match="reaches element 12"):
        k.copy_strided(dev.out((12,)), x, [3, 4], [4, 1], 0, [4, 1], 1)
    with pytest.raises(ValueError, match="out"):
        k.copy_strided(dev.out((11,)), x, [3, 4], [4, 1], 0, [4, 1], 0)
    with pytest.raises(ValueError, match="strides have 1 entries"):
        k.copy_strided(dev.out((12,)), x, [3, 4], [4], 0, [4, 1], 0)
    with pytest.raises(ValueError, match="several times"):
        k.copy_strided(dev.out((12,)), x, [3, 4], [0, 1], 0, [4, 1], 0)
    with pytest.raises(ValueError, match="offset"):
        k.copy_strided(dev.out((12,)), x, [3, 4], [4, 1], -1, [4, 1], 0)
    with pytest.raises(ValueError, match="negative extent"):
        k.copy_strided(dev.out((12,)), x, [-3, 4], [4, 1], 0, [4, 1], 0)
    with pytest.raises(TypeError, match="cast"):
        k.copy_strided(dev.out((12,), np.int64), x, [3, 4], [4, 1], 0, [4, 1], 0)


# ---- binary --------------------------------------------------------------------------------

BCAST_CASES = {  # name: (shape, a shape (broadcastable), b shape)
    "same": ((4, 5), (4, 5), (4, 5)),
    "scalar_b": ((3, 7), (3, 7), ()),
    "scalar_a": ((3, 7), (), (3, 7)),
    "both_scalar": ((1,), (), ()),
    "row": ((6, 5), (6, 5), (5,)),
    "col": ((6, 5), (6, 1), (6, 5)),
    "outer": ((4, 1, 3, 5), (4, 1, 1, 5), (1, 7, 3, 1)),
    "zero_d": ((), (), ()),
    "empty": ((0, 3), (0, 3), (3,)),
    "big": ((1003, 257), (1003, 257), (257,)),
    "big_flat": ((100003,), (100003,), (100003,)),
}


def _bstrides(sub, shape):
    """Element strides reading an array of shape `sub` broadcast to `shape` (0 on broadcast axes)."""
    sub = (1,) * (len(shape) - len(sub)) + tuple(sub)
    st = _strides(sub)
    return [0 if s == 1 and d != 1 else t for s, d, t in zip(sub, shape, st)] if shape else []


def _operand(rng, dtype, shape, op, which):
    n = int(np.prod(shape))
    if dtype == np.int64:
        if op == E.DIV and which == "b":
            return rng.choice(np.array([-7, -3, -1, 1, 2, 5, 9]), n).reshape(shape).astype(np.int64)
        if op == E.POW:
            return (rng.integers(0, 6, n) if which == "b" else rng.integers(-5, 6, n)).reshape(shape).astype(np.int64)
        return rng.integers(-50, 50, n).reshape(shape).astype(np.int64)
    if op == E.POW and which == "a":
        return rng.uniform(0.1, 3.0, shape).astype(np.float32)
    x = rng.standard_normal(shape).astype(np.float32)
    if op >= E.EQ and n > 2:
        x.reshape(-1)[::3] = 0.5  # ties, so == / <= / >= are exercised
    return x


@pytest.mark.parametrize("case", list(BCAST_CASES))
@pytest.mark.parametrize("op", range(E.BIN_COUNT))
@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_binary_forward(dev, rng, case, op, dtype):
    shape, sa, sb = BCAST_CASES[case]
    a, b = _operand(rng, dtype, sa, op, "a"), _operand(rng, dtype, sb, op, "b")
    odt = np.bool_ if op in E.COMPARE else dtype
    out = dev.out(shape, odt)
    a_st, b_st = _bstrides(sa, shape), _bstrides(sb, shape)
    dev.k.binary_forward(out, dev.put(a), dev.put(b), list(shape), a_st, b_st, op)
    want = E.binary_forward(a, b, shape, a_st, b_st, op)
    if odt == np.float32:
        assert_close(dev.get(out, shape), want, (3e-6, 1e-6) if op == E.POW else "elementwise")
    else:
        np.testing.assert_array_equal(dev.get(out, shape), want)


def test_binary_nan_semantics(dev):
    a = np.array([np.nan, 1.0, np.nan, 2.0], np.float32)
    b = np.array([1.0, np.nan, np.nan, 2.0], np.float32)
    for op in [E.MAX, E.MIN, E.ADD] + list(E.COMPARE):
        odt = np.bool_ if op in E.COMPARE else np.float32
        out = dev.out((4,), odt)
        dev.k.binary_forward(out, dev.put(a), dev.put(b), [4], [1], [1], op)
        np.testing.assert_array_equal(dev.get(out), E.binary_forward(a, b, (4,), [1], [1], op).astype(odt))


def test_binary_int_floor_division_and_wraparound(dev):
    a = np.array([7, -7, 7, -7, np.iinfo(np.int64).min, np.iinfo(np.int64).max], np.int64)
    b = np.array([2, 2, -2, -2, -1, 1], np.int64)
    out = dev.out((6,), np.int64)
    dev.k.binary_forward(out, dev.put(a), dev.put(b), [6], [1], [1], E.DIV)
    np.testing.assert_array_equal(dev.get(out)[:4], [3, -4, -4, 3])
    assert dev.get(out)[4] == np.iinfo(np.int64).min
    dev.k.binary_forward(out, dev.put(a), dev.put(b), [6], [1], [1], E.ADD)
    assert dev.get(out)[5] == np.iinfo(np.int64).min  # max + 1 wraps


def test_binary_bad_input(dev):
    k = dev.k
    f, i = dev.put(np.ones(6, np.float32)), dev.put(np.ones(6, np.int64))
    with dev.raises(ValueError, match="division by zero"):
        k.binary_forward(dev.out((6,), np.int64), i, dev.put(np.array([1, 2, 0, 1, 1, 1])), [6], [1], [1], E.DIV)
    with dev.raises(ValueError, match="negative integer powers"):
        k.binary_forward(dev.out((6,), np.int64), i, dev.put(-np.ones(6, np.int64)), [6], [1], [1], E.POW)
    with pytest.raises(TypeError, match="int64"):
        k.binary_forward(dev.out((6,)), f, i, [6], [1], [1], E.ADD)
    with pytest.raises(TypeError, match="bool"):
        k.binary_forward(dev.out((6,)), f, f, [6], [1], [1], E.LT)
    with pytest.raises(ValueError, match="'out' has 6 elements, expected 12"):
        k.binary_forward(dev.out((6,)), f, f, [2, 6], [0, 1], [0, 1], E.ADD)
    with pytest.raises(ValueError, match="reaches element 6"):
        k.binary_forward(dev.out((7,)), f, f, [7], [1], [0], E.ADD)
    with pytest.raises(ValueError, match="negative"):
        k.binary_forward(dev.out((6,)), f, f, [6], [-1], [1], E.ADD)
    with pytest.raises(ValueError, match="op code"):
        k.binary_forward(dev.out((6,)), f, f, [6], [1], [1], 13)


# ---- unary ---------------------------------------------------------------------------------

UNARY = {  # op: (p0, p1, input domain low, high)
    E.NEG: (0, 0, -3, 3), E.EXP: (0, 0, -3, 3), E.LOG: (0, 0, 0.1, 4), E.SQRT: (0, 0, 0.1, 4),
    E.ABS: (0, 0, -3, 3), E.SIN: (0, 0, -4, 4), E.COS: (0, 0, -4, 4), E.RSQRT: (0, 0, 0.2, 4),
    E.RECIPROCAL: (0, 0, 0.3, 3), E.SQUARE: (0, 0, -3, 3), E.SIGN: (0, 0, -3, 3),
    E.POW_SCALAR: (2.5, 0, 0.1, 3), E.CLAMP: (-0.5, 0.7, -2, 2), E.AFFINE: (1.5, -0.25, -3, 3),
    E.RPOW_SCALAR: (2.0, 0, -3, 3), E.LOG1P: (0, 0, -0.5, 3), E.EXPM1: (0, 0, -2, 2),
}
assert sorted(UNARY) == list(range(E.UN_COUNT))


def _unary_input(rng, op, n):
    p0, p1, lo, hi = UNARY[op]
    x = rng.uniform(lo, hi, n)
    if op in (E.ABS, E.SIGN):  # keep away from the kink at 0 for the finite differences
        x = np.where(np.abs(x) < 0.1, 0.5, x)
    if op == E.CLAMP:
        x = np.where((np.abs(x - p0) < 0.05) | (np.abs(x - p1) < 0.05), 0.0, x)
    return x.astype(np.float32)


@pytest.mark.parametrize("op", range(E.UN_COUNT))
@pytest.mark.parametrize("n", [0, 1, 13, 100003])
def test_unary_forward_backward(dev, rng, op, n):
    p0, p1 = UNARY[op][:2]
    x = _unary_input(rng, op, n)
    out = dev.out((n,))
    dev.k.unary_forward(out, dev.put(x), n, op, p0, p1)
    y = dev.get(out)
    assert_close(y, E.unary_forward(x, op, p0, p1), "transcendental", f"forward op {op}")
    g = rng.standard_normal(n).astype(np.float32)
    dinp = dev.out((n,))
    dev.k.unary_backward(dinp, dev.put(g), dev.put(x), dev.put(y), n, op, p0, p1)
    assert_close(dev.get(dinp), E.unary_backward(g, x, y, op, p0, p1), "transcendental", f"backward op {op}")


@pytest.mark.parametrize("op", range(E.UN_COUNT))
def test_unary_reference_backward_matches_finite_differences(rng, op):
    p0, p1 = UNARY[op][:2]
    x = _unary_input(rng, op, 9).astype(np.float64)
    g = rng.standard_normal(9)
    check_vjp(lambda x: E.unary_forward(x, op, p0, p1), {"x": E.unary_backward(g, x, None, op, p0, p1)}, {"x": x}, g)


def test_unary_special_values(dev):
    x = np.array([np.nan, -0.0, 0.0, np.inf, -np.inf, -1.0], np.float32)
    for op, p0, p1 in [(E.SIGN, 0, 0), (E.CLAMP, -0.5, 0.5), (E.CLAMP, -np.inf, 0.5), (E.ABS, 0, 0), (E.SQRT, 0, 0)]:
        out = dev.out((6,))
        dev.k.unary_forward(out, dev.put(x), 6, op, p0, p1)
        np.testing.assert_array_equal(dev.get(out), E.unary_forward(x, op, p0, p1).astype(np.float32))
    # d/dx x**0 is 0 everywhere (torch), even where x**-1 is inf
    dinp = dev.out((6,))
    dev.k.unary_backward(dinp, dev.put(np.ones(6, np.float32)), dev.put(x), None, 6, E.POW_SCALAR, 0.0, 0.0)
    np.testing.assert_array_equal(dev.get(dinp), np.zeros(6, np.float32))


def test_unary_bad_input(dev):
    x = dev.put(np.ones(5, np.float32))
    with pytest.raises(ValueError, match="op code"):
        dev.k.unary_forward(dev.out((5,)), x, 5, E.UN_COUNT, 0.0, 0.0)
    with pytest.raises(ValueError, match="'out'"):
        dev.k.unary_backward(dev.out((5,)), x, x, None, 5, E.EXP, 0.0, 0.0)  # exp' needs the forward's out
    with pytest.raises(TypeError, match="int64"):
        dev.k.unary_forward(dev.out((5,)), dev.put(np.ones(5, np.int64)), 5, E.NEG, 0.0, 0.0)
    with pytest.raises(ValueError, match="'inp' has 5 elements, expected 6"):
        dev.k.unary_forward(dev.out((6,)), x, 6, E.NEG, 0.0, 0.0)


# ---- where ---------------------------------------------------------------------------------

@pytest.mark.parametrize("n", SIZES)
def test_where_forward(dev, rng, n):
    cond = rng.random(n) < 0.3
    a, b = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    b[: min(n, 2)] = np.nan  # NaN in the unselected branch must not leak
    out = dev.out((n,))
    dev.k.where_forward(out, dev.put(cond), dev.put(a), dev.put(b), n)
    np.testing.assert_array_equal(dev.get(out), E.where_forward(cond, a, b).astype(np.float32))


def test_where_bad_input(dev):
    x = dev.put(np.ones(4, np.float32))
    with pytest.raises(TypeError, match="bool"):
        dev.k.where_forward(dev.out((4,)), x, x, x, 4)
    with pytest.raises(ValueError, match="'b'"):
        dev.k.where_forward(dev.out((4,)), dev.put(np.ones(4, bool)), x, dev.put(np.ones(3, np.float32)), 4)
