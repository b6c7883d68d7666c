"""activation: forward and backward of every activation code vs the NumPy reference, the
reference gradients vs finite differences, NaN conventions, in-place use and bad input."""

import numpy as np
import pytest
from neuraxon.testing import reference as ref
from neuraxon.testing.gradcheck import check_vjp
from neuraxon.testing.reference import act as A
from neuraxon.testing.tolerances import assert_close

ACTS = [  # (code, param)
    (A.NONE, 0.0),
    (A.RELU, 0.0),
    (A.LEAKY_RELU, 0.01),
    (A.LEAKY_RELU, -0.3),
    (A.SIGMOID, 0.0),
    (A.TANH, 0.0),
    (A.SOFTPLUS, 1.0),
    (A.SOFTPLUS, 2.5),
    (A.ELU, 1.0),
    (A.ELU, 0.5),
    (A.GELU, 0.0),
    (A.GELU, 1.0),
    (A.STEP, 0.0),
]
DIFFERENTIABLE = [a for a in ACTS if a[0] != A.STEP]
SIZES = [0, 1, 7, 129, 65537]  # 129 and up hold every SPECIAL value; 65537 runs the threaded path
SPECIAL = np.array(
    [
        0.0,
        -0.0,
        1e-8,
        -1e-8,
        0.6249,
        0.6251,
        -0.6251,
        7.99,
        8.01,
        19.9,
        20.1,
        -30.0,
        30.0,
        -87.5,
        88.8,
        -100.0,
        100.0,
        -np.inf,
        np.inf,
    ],
    np.float32,
)


def _inputs(rng, n):
    x = (3 * rng.standard_normal(n)).astype(np.float32)
    k = min(n, SPECIAL.size)
    x[:k] = SPECIAL[:k]
    return x


@pytest.mark.parametrize("act,p", ACTS)
@pytest.mark.parametrize("n", SIZES)
def test_activation_forward(dev, rng, act, p, n):
    x = _inputs(rng, n)
    out = dev.out(n)
    dev.k.activation_forward(out, dev.put(x), n, act, p)
    assert_close(dev.get(out), ref.activation_forward(x, act, p), "transcendental", f"act={act} p={p}")


@pytest.mark.parametrize("act,p", DIFFERENTIABLE)
@pytest.mark.parametrize("n", SIZES)
def test_activation_backward(dev, rng, act, p, n):
    x = _inputs(rng, n)
    dy = rng.standard_normal(n).astype(np.float32)
    dx = dev.out(n)
    dev.k.activation_backward(dx, dev.put(dy), dev.put(x), None, n, act, p)
    assert_close(dev.get(dx), ref.activation_backward(dy, x, act, p), "transcendental", f"act={act} p={p}")


FROM_OUT = [(A.SIGMOID, 0.0), (A.TANH, 0.0)]


@pytest.mark.parametrize("act,p", FROM_OUT)
@pytest.mark.parametrize("n", SIZES)
def test_activation_backward_from_output(dev, rng, act, p, n):
    """sigmoid/tanh differentiate from the forward's result when `out` is given (inp None)."""
    x = _inputs(rng, n)
    y = ref.activation_forward(x, act, p).astype(np.float32)
    dy = rng.standard_normal(n).astype(np.float32)
    dx = dev.out(n)
    dev.k.activation_backward(dx, dev.put(dy), None, dev.put(y), n, act, p)
    want = ref.activation_backward(dy, x, act, p, out=y)
    assert_close(dev.get(dx), want, "elementwise", f"act={act}")
    # and it is the input-based gradient, up to y's rounding
    assert_close(dev.get(dx), ref.activation_backward(dy, x, act, p), "transcendental", f"act={act}")


def test_activation_backward_out_ignored_elsewhere(dev, rng):
    """Every other activation reads inp even when out is given (a wrong out changes nothing)."""
    x = _inputs(rng, 50)
    dy = rng.standard_normal(50).astype(np.float32)
    junk = dev.put(np.full(50, np.nan, np.float32))
    for act, p in DIFFERENTIABLE:
        if (act, p) in FROM_OUT:
            continue
        dx = dev.out(50)
        dev.k.activation_backward(dx, dev.put(dy), dev.put(x), junk, 50, act, p)
        assert_close(dev.get(dx), ref.activation_backward(dy, x, act, p), "transcendental", f"act={act}")


@pytest.mark.parametrize("act,p", ACTS)
def test_activation_dense_sweep(dev, act, p):
    """Every float32 branch point of the vectorised exp/tanh/expm1/log1p/CDF: a fine grid."""
    x = np.linspace(-40, 40, 40_001, dtype=np.float32)
    dy = np.ones_like(x)
    out = dev.out(x.size)
    dev.k.activation_forward(out, dev.put(x), x.size, act, p)
    assert_close(dev.get(out), ref.activation_forward(x, act, p), "transcendental", f"act={act} p={p}")
    if act != A.STEP:
        dx = dev.out(x.size)
        dev.k.activation_backward(dx, dev.put(dy), dev.put(x), None, x.size, act, p)
        assert_close(dev.get(dx), ref.activation_backward(dy, x, act, p), "transcendental", f"act={act} p={p}")


def test_activation_every_isa_path(dev, isa, rng):
    if dev.name != "cpu":
        pytest.skip("ISA paths are a CPU matter")
    n = 1000
    x = _inputs(rng, n)
    dy = rng.standard_normal(n).astype(np.float32)
    for act, p in ACTS:
        out = dev.out(n)
        dev.k.activation_forward(out, dev.put(x), n, act, p)
        assert_close(dev.get(out), ref.activation_forward(x, act, p), "transcendental", f"{isa} act={act} p={p}")
        if act != A.STEP:
            dx = dev.out(n)
            dev.k.activation_backward(dx, dev.put(dy), dev.put(x), None, n, act, p)
            assert_close(dev.get(dx), ref.activation_backward(dy, x, act, p), "transcendental", f"{isa} act={act}")
            if (act, p) in FROM_OUT:
                y = ref.activation_forward(x, act, p).astype(np.float32)
                dev.k.activation_backward(dx, dev.put(dy), None, dev.put(y), n, act, p)
                want = ref.activation_backward(dy, x, act, p, out=y)
                assert_close(dev.get(dx), want, "elementwise", f"{isa} act={act} from out")


@pytest.mark.parametrize("act,p", DIFFERENTIABLE)
def test_activation_reference_backward_matches_finite_differences(rng, act, p):
    x = rng.standard_normal(12) * 2
    x[np.abs(x) < 0.05] = 0.5  # keep away from the kinks of relu / leaky_relu / elu
    dy = rng.standard_normal(12)
    check_vjp(lambda x: ref.activation_forward(x, act, p), {"x": ref.activation_backward(dy, x, act, p)}, {"x": x}, dy)


def test_activation_softplus_threshold_is_linear(dev):
    x = np.array([8.5, 10.0, 50.0], np.float32)  # beta * x > 20 with beta = 2.5: out = x exactly
    out = dev.out(3)
    dev.k.activation_forward(out, dev.put(x), 3, A.SOFTPLUS, 2.5)
    np.testing.assert_array_equal(dev.get(out), x)


def test_activation_nan_propagation(dev):
    x = np.array([np.nan, -1.0, 2.0], np.float32)
    dy = np.ones(3, np.float32)
    for act, p in ACTS:
        out = dev.out(3)
        dev.k.activation_forward(out, dev.put(x), 3, act, p)
        got = dev.get(out)
        assert (got[0] == 0.0) if act == A.STEP else np.isnan(got[0]), f"act={act}"
        assert np.isfinite(got[1:]).all()
    # gradients at NaN as PyTorch: relu and elu pass dout, leaky_relu gives dout * slope
    for act, p, want in [(A.RELU, 0.0, 1.0), (A.ELU, 1.0, 1.0), (A.LEAKY_RELU, 0.1, 0.1)]:
        dx = dev.out(3)
        dev.k.activation_backward(dx, dev.put(dy), dev.put(x), None, 3, act, p)
        np.testing.assert_allclose(dev.get(dx)[0], want, rtol=1e-6)


def test_activation_in_place(dev, rng):
    x = rng.standard_normal(100).astype(np.float32)
    buf = dev.put(x)
    dev.k.activation_forward(buf, buf, 100, A.TANH, 0.0)
    assert_close(dev.get(buf), np.tanh(x.astype(np.float64)), "transcendental")
    g = dev.put(np.ones(100, np.float32))
    dev.k.activation_backward(g, g, dev.put(x), None, 100, A.SIGMOID, 0.0)
    assert_close(dev.get(g), ref.activation_backward(np.ones(100), x, A.SIGMOID), "transcendental")


def test_activation_matches_gemm_epilogue(dev, rng):
    """Fused (gemm epilogue) and unfused activation give the same numbers."""
    a = rng.standard_normal((9, 5)).astype(np.float32)
    b = np.eye(5, dtype=np.float32)
    for act, p in DIFFERENTIABLE:
        c, out = dev.out((9, 5)), dev.out(45)
        dev.k.gemm_forward(c, dev.put(a), dev.put(b), None, 1, 9, 5, 5, False, False, 0, 0, 0, 1.0, 0.0, act, p, 0)
        dev.k.activation_forward(out, dev.put(a), 45, act, p)
        assert_close(dev.get(out), dev.get(c).reshape(-1), "transcendental", f"act={act}")


def test_activation_bad_input(dev):
    k = dev.k
    x, o = dev.put(np.zeros(4, np.float32)), dev.out(4)
    with pytest.raises(ValueError, match="step has no gradient"):
        k.activation_backward(o, x, x, None, 4, A.STEP, 0.0)
    for bad in (-1, 9, 100):
        with pytest.raises(ValueError, match="unknown activation"):
            k.activation_forward(o, x, 4, bad, 0.0)
        with pytest.raises(ValueError, match="unknown activation"):
            k.activation_backward(o, x, x, None, 4, bad, 0.0)
    with pytest.raises(ValueError, match="'inp' has 4 elements, expected 5"):
        k.activation_forward(dev.out(5), x, 5, A.RELU, 0.0)
    with pytest.raises(ValueError, match="must be >= 0"):
        k.activation_forward(o, x, -1, A.RELU, 0.0)
    with pytest.raises(ValueError, match="None"):
        k.activation_backward(o, x, None, None, 4, A.RELU, 0.0)
    with pytest.raises(ValueError, match="None"):  # sigmoid with neither inp nor out
        k.activation_backward(o, x, None, None, 4, A.SIGMOID, 0.0)
    with pytest.raises(ValueError, match="'out' has 5 elements, expected 4"):
        k.activation_backward(o, x, None, dev.put(np.zeros(5, np.float32)), 4, A.TANH, 0.0)
    with pytest.raises(ValueError, match="'inp' has 5 elements, expected 4"):  # relu ignores out
        k.activation_backward(o, x, dev.put(np.zeros(5, np.float32)), x, 4, A.RELU, 0.0)
    with pytest.raises(TypeError, match="int64"):
        k.activation_forward(o, dev.put(np.zeros(4, np.int64)), 4, A.RELU, 0.0)
