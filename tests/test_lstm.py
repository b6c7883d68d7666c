"""lstm: cell and whole-layer forward/backward against the NumPy reference, layer == a loop
of cells, the reference's backward vs finite differences, degenerate sizes, bad input."""

import numpy as np
import pytest

from neuraxon.testing import reference as ref
from neuraxon.testing.gradcheck import check_vjp
from neuraxon.testing.tolerances import assert_close, for_sum


def _f32(rng, *shape, scale=1.0):
    return (scale * rng.standard_normal(shape)).astype(np.float32)


def _weights(rng, I, H, bias):
    w_ih, w_hh = _f32(rng, 4 * H, I, scale=0.5), _f32(rng, 4 * H, H, scale=0.5)
    b_ih = _f32(rng, 4 * H) if bias in ("both", "ih") else None
    b_hh = _f32(rng, 4 * H) if bias in ("both", "hh") else None
    return w_ih, w_hh, b_ih, b_hh


def _put(dev, x):
    return None if x is None else dev.put(x)


def _tol(k, steps=1):
    r, a = for_sum(k)
    return 4 * steps * r, 4 * steps * a


CELL_SHAPES = [(1, 1, 1), (2, 3, 4), (5, 7, 3), (3, 16, 32), (13, 31, 17), (0, 3, 4), (4, 0, 5), (3, 4, 0)]


@pytest.mark.parametrize("B,I,H", CELL_SHAPES)
@pytest.mark.parametrize("bias", ["both", "none", "ih", "hh"])
def test_lstm_cell_forward(dev, rng, B, I, H, bias):
    x, h, c = _f32(rng, B, I), _f32(rng, B, H), _f32(rng, B, H)
    w_ih, w_hh, b_ih, b_hh = _weights(rng, I, H, bias)
    h_out, c_out, gates = dev.out((B, H)), dev.out((B, H)), dev.out((B, 4 * H))
    dev.k.lstm_cell_forward(h_out, c_out, gates, dev.put(x), dev.put(h), dev.put(c), dev.put(w_ih), dev.put(w_hh),
                            _put(dev, b_ih), _put(dev, b_hh), B, I, H)
    rh, rc, rg = ref.lstm_cell_forward(x, h, c, w_ih, w_hh, b_ih, b_hh)
    tol = _tol(I + H)
    assert_close(dev.get(gates, (B, 4 * H)), rg, tol, "gates")
    assert_close(dev.get(c_out, (B, H)), rc, tol, "c_out")
    assert_close(dev.get(h_out, (B, H)), rh, tol, "h_out")


@pytest.mark.parametrize("B,I,H", CELL_SHAPES)
@pytest.mark.parametrize("grads", ["both", "dh", "dc"])
def test_lstm_cell_backward(dev, rng, B, I, H, grads):
    x, h, c = _f32(rng, B, I), _f32(rng, B, H), _f32(rng, B, H)
    w_ih, w_hh, b_ih, b_hh = _weights(rng, I, H, "both")
    _, rc, rg = ref.lstm_cell_forward(x, h, c, w_ih, w_hh, b_ih, b_hh)
    c_out, gates = rc.astype(np.float32), rg.astype(np.float32)
    dh_out = _f32(rng, B, H) if grads in ("both", "dh") else None
    dc_out = _f32(rng, B, H) if grads in ("both", "dc") else None
    outs = [dev.out(s) for s in [(B, I), (B, H), (B, H), (4 * H, I), (4 * H, H), (4 * H,), (4 * H,)]]
    dev.k.lstm_cell_backward(*outs, _put(dev, dh_out), _put(dev, dc_out), dev.put(gates), dev.put(x), dev.put(h),
                             dev.put(c), dev.put(c_out), dev.put(w_ih), dev.put(w_hh), B, I, H)
    want = ref.lstm_cell_backward(dh_out, dc_out, gates, x, h, c, c_out, w_ih, w_hh)
    names = ["dx", "dh", "dc", "dw_ih", "dw_hh", "db_ih", "db_hh"]
    for name, o, w in zip(names, outs, want):
        assert_close(dev.get(o, w.shape), w, _tol(max(4 * H, B)), name)


def test_lstm_cell_backward_optional_outputs(dev, rng):
    B, I, H = 3, 5, 4
    x, h, c = _f32(rng, B, I), _f32(rng, B, H), _f32(rng, B, H)
    w_ih, w_hh, _, _ = _weights(rng, I, H, "none")
    _, rc, rg = ref.lstm_cell_forward(x, h, c, w_ih, w_hh)
    dh_out = _f32(rng, B, H)
    dw_ih = dev.out((4 * H, I))
    dev.k.lstm_cell_backward(None, None, None, dw_ih, None, None, None, dev.put(dh_out), None,
                             dev.put(rg.astype(np.float32)), dev.put(x), dev.put(h), dev.put(c),
                             dev.put(rc.astype(np.float32)), dev.put(w_ih), dev.put(w_hh), B, I, H)
    want = ref.lstm_cell_backward(dh_out, None, rg, x, h, c, rc, w_ih, w_hh)[3]
    assert_close(dev.get(dw_ih, want.shape), want, _tol(B))


LAYER_SHAPES = [  # T, B, I, H
    (1, 1, 1, 1), (3, 2, 5, 4), (7, 3, 4, 5), (5, 4, 33, 17), (4, 8, 16, 32), (2, 1, 1, 3),
    (0, 2, 3, 4), (3, 0, 3, 4), (3, 2, 0, 4), (3, 2, 4, 0),
]


def _layer_inputs(rng, T, B, I, H, init, bias="both"):
    x = _f32(rng, T, B, I)
    h0 = _f32(rng, B, H) if init else None
    c0 = _f32(rng, B, H) if init else None
    return (x, h0, c0, *_weights(rng, I, H, bias))


def _run_layer_forward(dev, T, B, I, H, x, h0, c0, w_ih, w_hh, b_ih, b_hh):
    out, h_n, c_n = dev.out((T, B, H)), dev.out((B, H)), dev.out((B, H))
    gates, cells = dev.out((T, B, 4 * H)), dev.out((T, B, H))
    dev.k.lstm_layer_forward(out, h_n, c_n, gates, cells, dev.put(x), _put(dev, h0), _put(dev, c0), dev.put(w_ih),
                             dev.put(w_hh), _put(dev, b_ih), _put(dev, b_hh), T, B, I, H)
    return [dev.get(a, s) for a, s in [(out, (T, B, H)), (h_n, (B, H)), (c_n, (B, H)), (gates, (T, B, 4 * H)),
                                       (cells, (T, B, H))]]


@pytest.mark.parametrize("T,B,I,H", LAYER_SHAPES)
@pytest.mark.parametrize("init", [True, False])
def test_lstm_layer_forward(dev, rng, T, B, I, H, init):
    args = _layer_inputs(rng, T, B, I, H, init, "both" if init else "ih")
    got = _run_layer_forward(dev, T, B, I, H, *args)
    want = ref.lstm_layer_forward(*args)
    for name, g, w in zip(["out", "h_n", "c_n", "gates", "cells"], got, want):
        assert_close(g, w, _tol(I + H, max(T, 1)), name)


def test_lstm_layer_equals_sequence_of_cells(dev, rng):
    T, B, I, H = 6, 3, 7, 5
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = _layer_inputs(rng, T, B, I, H, True)
    out, h_n, c_n, gates, cells = _run_layer_forward(dev, T, B, I, H, x, h0, c0, w_ih, w_hh, b_ih, b_hh)
    h, c = h0, c0
    for t in range(T):
        ho, co, g = dev.out((B, H)), dev.out((B, H)), dev.out((B, 4 * H))
        dev.k.lstm_cell_forward(ho, co, g, dev.put(x[t]), dev.put(h), dev.put(c), dev.put(w_ih), dev.put(w_hh),
                                dev.put(b_ih), dev.put(b_hh), B, I, H)
        h, c = dev.get(ho, (B, H)), dev.get(co, (B, H))
        assert_close(out[t], h, (1e-5, 1e-6), f"h step {t}")
        assert_close(cells[t], c, (1e-5, 1e-6), f"c step {t}")
        assert_close(gates[t], dev.get(g, (B, 4 * H)), (1e-5, 1e-6), f"gates step {t}")
    assert_close(h_n, h, (1e-5, 1e-6))
    assert_close(c_n, c, (1e-5, 1e-6))


@pytest.mark.parametrize("T,B,I,H", LAYER_SHAPES)
@pytest.mark.parametrize("init,final", [(True, True), (False, False), (True, False)])
def test_lstm_layer_backward(dev, rng, T, B, I, H, init, final):
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = _layer_inputs(rng, T, B, I, H, init)
    out, _, _, gates, cells = (a.astype(np.float32) for a in ref.lstm_layer_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh))
    dout = _f32(rng, T, B, H)
    dh_n = _f32(rng, B, H) if final else None
    dc_n = _f32(rng, B, H) if final else None
    shapes = [(T, B, I), (B, H), (B, H), (4 * H, I), (4 * H, H), (4 * H,), (4 * H,)]
    outs = [dev.out(s) for s in shapes]
    dev.k.lstm_layer_backward(*outs, dev.put(dout), _put(dev, dh_n), _put(dev, dc_n), dev.put(gates), dev.put(cells),
                              dev.put(out), dev.put(x), _put(dev, h0), _put(dev, c0), dev.put(w_ih), dev.put(w_hh),
                              T, B, I, H)
    want = ref.lstm_layer_backward(dout, dh_n, dc_n, gates, cells, out, x, h0, c0, w_ih, w_hh)
    for name, o, w, s in zip(["dx", "dh0", "dc0", "dw_ih", "dw_hh", "db_ih", "db_hh"], outs, want, shapes):
        assert_close(dev.get(o, s), w, _tol(4 * H + T * B, max(T, 1)), name)


def test_lstm_layer_backward_skips_absent_outputs(dev, rng):
    T, B, I, H = 4, 2, 3, 5
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = _layer_inputs(rng, T, B, I, H, True)
    out, _, _, gates, cells = (a.astype(np.float32) for a in ref.lstm_layer_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh))
    dout = _f32(rng, T, B, H)
    dw_hh = dev.out((4 * H, H))
    dev.k.lstm_layer_backward(None, None, None, None, dw_hh, None, None, dev.put(dout), None, None, dev.put(gates),
                              dev.put(cells), dev.put(out), dev.put(x), dev.put(h0), dev.put(c0), dev.put(w_ih),
                              dev.put(w_hh), T, B, I, H)
    want = ref.lstm_layer_backward(dout, None, None, gates, cells, out, x, h0, c0, w_ih, w_hh)[4]
    assert_close(dev.get(dw_hh, want.shape), want, _tol(T * B, T))


def test_lstm_cell_reference_backward_matches_finite_differences(rng):
    B, I, H = 2, 3, 2
    x, h, c = rng.standard_normal((B, I)), rng.standard_normal((B, H)), rng.standard_normal((B, H))
    w_ih, w_hh = rng.standard_normal((4 * H, I)), rng.standard_normal((4 * H, H))
    b_ih, b_hh = rng.standard_normal(4 * H), rng.standard_normal(4 * H)
    dh_out, dc_out = rng.standard_normal((B, H)), rng.standard_normal((B, H))

    def fwd(x, h, c, w_ih, w_hh, b_ih, b_hh):
        ho, co, _ = ref.lstm_cell_forward(x, h, c, w_ih, w_hh, b_ih, b_hh)
        return np.concatenate([ho, co])

    _, c_out, gates = ref.lstm_cell_forward(x, h, c, w_ih, w_hh, b_ih, b_hh)
    dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh = ref.lstm_cell_backward(dh_out, dc_out, gates, x, h, c, c_out, w_ih, w_hh)
    check_vjp(fwd, {"x": dx, "h": dh, "c": dc, "w_ih": dw_ih, "w_hh": dw_hh, "b_ih": db_ih, "b_hh": db_hh},
              {"x": x, "h": h, "c": c, "w_ih": w_ih, "w_hh": w_hh, "b_ih": b_ih, "b_hh": b_hh},
              np.concatenate([dh_out, dc_out]))


def test_lstm_layer_reference_backward_matches_finite_differences(rng):
    T, B, I, H = 3, 2, 2, 2
    inputs = {"x": rng.standard_normal((T, B, I)), "h0": rng.standard_normal((B, H)),
              "c0": rng.standard_normal((B, H)), "w_ih": rng.standard_normal((4 * H, I)),
              "w_hh": rng.standard_normal((4 * H, H)), "b_ih": rng.standard_normal(4 * H)}
    dout, dh_n, dc_n = rng.standard_normal((T, B, H)), rng.standard_normal((B, H)), rng.standard_normal((B, H))

    def fwd(x, h0, c0, w_ih, w_hh, b_ih):
        out, h_n, c_n, _, _ = ref.lstm_layer_forward(x, h0, c0, w_ih, w_hh, b_ih, None)
        return np.concatenate([out.reshape(-1), h_n.reshape(-1), c_n.reshape(-1)])

    out, _, _, gates, cells = ref.lstm_layer_forward(*(inputs[k] for k in ["x", "h0", "c0", "w_ih", "w_hh", "b_ih"]))
    dx, dh0, dc0, dw_ih, dw_hh, db_ih, _ = ref.lstm_layer_backward(
        dout, dh_n, dc_n, gates, cells, out, inputs["x"], inputs["h0"], inputs["c0"], inputs["w_ih"], inputs["w_hh"])
    check_vjp(fwd, {"x": dx, "h0": dh0, "c0": dc0, "w_ih": dw_ih, "w_hh": dw_hh, "b_ih": db_ih}, inputs,
              np.concatenate([dout.reshape(-1), dh_n.reshape(-1), dc_n.reshape(-1)]))


def test_lstm_saturated_gates_stay_finite(dev, rng):
    B, I, H = 2, 3, 4
    x = _f32(rng, B, I, scale=100.0)
    h, c = _f32(rng, B, H), _f32(rng, B, H)
    w_ih, w_hh, b_ih, b_hh = _weights(rng, I, H, "both")
    h_out, c_out, gates = dev.out((B, H)), dev.out((B, H)), dev.out((B, 4 * H))
    dev.k.lstm_cell_forward(h_out, c_out, gates, dev.put(x), dev.put(h), dev.put(c), dev.put(w_ih), dev.put(w_hh),
                            dev.put(b_ih), dev.put(b_hh), B, I, H)
    rh, rc, rg = ref.lstm_cell_forward(x, h, c, w_ih, w_hh, b_ih, b_hh)
    assert np.isfinite(dev.get(h_out)).all() and np.isfinite(dev.get(gates)).all()
    assert_close(dev.get(h_out, (B, H)), rh, (1e-4, 1e-4))


def test_lstm_bad_input(dev, rng):
    B, I, H = 2, 3, 4
    x, h, c = dev.put(_f32(rng, B, I)), dev.put(_f32(rng, B, H)), dev.put(_f32(rng, B, H))
    w_ih, w_hh = dev.put(_f32(rng, 4 * H, I)), dev.put(_f32(rng, 4 * H, H))
    k = dev.k

    def outs():
        return dev.out((B, H)), dev.out((B, H)), dev.out((B, 4 * H))

    with pytest.raises(ValueError, match="'w_hh' has 48 elements, expected 64"):
        k.lstm_cell_forward(*outs(), x, h, c, w_ih, dev.put(_f32(rng, 4 * H, H - 1)), None, None, B, I, H)
    with pytest.raises(ValueError, match="b_ih"):
        k.lstm_cell_forward(*outs(), x, h, c, w_ih, w_hh, dev.put(_f32(rng, H)), None, B, I, H)
    with pytest.raises(ValueError, match="must be >= 0"):
        k.lstm_cell_forward(*outs(), x, h, c, w_ih, w_hh, None, None, -1, I, H)
    with pytest.raises(ValueError, match="'x'"):
        k.lstm_cell_forward(*outs(), x, h, c, w_ih, w_hh, None, None, B, I + 1, H)
    with pytest.raises(TypeError, match="int64"):
        k.lstm_cell_forward(*outs(), dev.put(np.zeros((B, I), np.int64)), h, c, w_ih, w_hh, None, None, B, I, H)
    T = 3
    with pytest.raises(ValueError, match="'gates'"):
        k.lstm_layer_forward(dev.out((T, B, H)), dev.out((B, H)), dev.out((B, H)), dev.out((T, B, H)),
                             dev.out((T, B, H)), dev.put(_f32(rng, T, B, I)), None, None, w_ih, w_hh, None, None,
                             T, B, I, H)
    with pytest.raises(ValueError, match="'dout'"):
        k.lstm_layer_backward(None, None, None, None, None, None, None, dev.put(_f32(rng, T, B)), None, None,
                              dev.out((T, B, 4 * H)), dev.out((T, B, H)), dev.out((T, B, H)),
                              dev.put(_f32(rng, T, B, I)), None, None, w_ih, w_hh, T, B, I, H)


def test_lstm_layer_every_isa_path(dev, isa, rng):
    """The layer's products go through the packed GEMM, which has one micro-kernel per ISA."""
    if dev.name != "cpu":
        pytest.skip("ISA paths are a CPU matter")
    T, B, I, H = 5, 9, 40, 24  # products big enough for the packed variant
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = _layer_inputs(rng, T, B, I, H, True)
    got = _run_layer_forward(dev, T, B, I, H, x, h0, c0, w_ih, w_hh, b_ih, b_hh)
    want = ref.lstm_layer_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh)
    for name, g, w in zip(["out", "h_n", "c_n", "gates", "cells"], got, want):
        assert_close(g, w, _tol(I + H, T), f"{isa} {name}")
    out, gates, cells = got[0], got[3], got[4]
    dout = _f32(rng, T, B, H)
    shapes = [(T, B, I), (B, H), (B, H), (4 * H, I), (4 * H, H), (4 * H,), (4 * H,)]
    outs = [dev.out(s) for s in shapes]
    dev.k.lstm_layer_backward(*outs, dev.put(dout), None, None, dev.put(gates), dev.put(cells), dev.put(out),
                              dev.put(x), dev.put(h0), dev.put(c0), dev.put(w_ih), dev.put(w_hh), T, B, I, H)
    want = ref.lstm_layer_backward(dout, None, None, gates, cells, out, x, h0, c0, w_ih, w_hh)
    for name, o, w, s in zip(["dx", "dh0", "dc0", "dw_ih", "dw_hh", "db_ih", "db_hh"], outs, want, shapes):
        assert_close(dev.get(o, s), w, _tol(4 * H + T * B, T), f"{isa} {name}")


def test_lstm_gate_nonlinearities_accuracy_and_special_values(dev):
    """The fused pass has its own vectorisable exp/sigmoid/tanh: sweep them through the cell
    (pre-activations = w_ih[:, 0], x = 1, h = c = 0) over a wide range and special values."""
    H = 2048
    v = np.linspace(-100, 100, 4 * H).astype(np.float32)
    v[:14] = [0, 1e-6, -1e-6, 1e-30, -0.3, 0.6249, 0.6251, -88, -87.5, 88.5, np.nan, np.inf, -np.inf, 20]
    v[2 * H : 2 * H + 14] = v[:14]  # the same values through the tanh gate
    w_ih = np.ascontiguousarray(v.reshape(4 * H, 1))
    x, z, w_hh = np.ones((1, 1), np.float32), np.zeros((1, H), np.float32), np.zeros((4 * H, H), np.float32)
    h_out, c_out, gates = dev.out((1, H)), dev.out((1, H)), dev.out((1, 4 * H))
    dev.k.lstm_cell_forward(h_out, c_out, gates, dev.put(x), dev.put(z), dev.put(z), dev.put(w_ih), dev.put(w_hh),
                            None, None, 1, 1, H)
    with np.errstate(all="ignore"):
        _, _, want = ref.lstm_cell_forward(x, z, z, w_ih, w_hh)
    assert_close(dev.get(gates, (1, 4 * H)), want, "transcendental")


# The layer's recurrence packs W_hh (and W_ih, when 4H*(I+H) <= 1M floats: the input
# projection is then fused into each step) once per call, and splits the hidden units
# between threads (cut points rounded to whole GEMM panels, slices padded) once a step's
# product has B*4H*K >= 2^20 multiply-adds. These shapes reach each of those paths:
RECURRENCE_SHAPES = [  # T, B, I, H: what it exercises
    (3, 5, 7, 300),    # fused input, 2 threads: 160 + 140 units (the second slice padded)
    (2, 3, 600, 300),  # input projection as one GEMM (4H*(I+H) > 1M), 2 threads
    (3, 200, 9, 40),   # fused, 2 threads: 32 + 8 units
    (4, 11, 13, 29),   # fused, 1 thread, H not a panel multiple
]


@pytest.fixture(params=[1, 2], ids=lambda n: f"{n}T")
def threads(request):
    """Run a CPU test at 1 and at 2 OpenMP threads; restores the count after."""
    from neuraxon import _ext

    before = _ext.cpu.num_threads()
    _ext.cpu.set_num_threads(request.param)
    yield request.param
    _ext.cpu.set_num_threads(before)


@pytest.mark.parametrize("T,B,I,H", RECURRENCE_SHAPES)
def test_lstm_layer_recurrence_paths(dev, isa, threads, rng, T, B, I, H):
    if dev.name != "cpu":
        pytest.skip("ISA paths and thread splits are a CPU matter")
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = _layer_inputs(rng, T, B, I, H, True)
    w_ih *= 0.2  # keep the gates out of saturation so the gradients carry information
    w_hh *= 0.2
    got = _run_layer_forward(dev, T, B, I, H, x, h0, c0, w_ih, w_hh, b_ih, b_hh)
    want = ref.lstm_layer_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh)
    for name, g, w in zip(["out", "h_n", "c_n", "gates", "cells"], got, want):
        assert_close(g, w, _tol(I + H, T), f"{isa} {threads}T {name}")
    out, gates, cells = got[0], got[3], got[4]
    dout, dh_n, dc_n = _f32(rng, T, B, H), _f32(rng, B, H), _f32(rng, B, H)
    shapes = [(T, B, I), (B, H), (B, H), (4 * H, I), (4 * H, H), (4 * H,), (4 * H,)]
    outs = [dev.out(s) for s in shapes]
    dev.k.lstm_layer_backward(*outs, dev.put(dout), dev.put(dh_n), dev.put(dc_n), dev.put(gates), dev.put(cells),
                              dev.put(out), dev.put(x), dev.put(h0), dev.put(c0), dev.put(w_ih), dev.put(w_hh),
                              T, B, I, H)
    want = ref.lstm_layer_backward(dout, dh_n, dc_n, gates, cells, out, x, h0, c0, w_ih, w_hh)
    for name, o, w, s in zip(["dx", "dh0", "dc0", "dw_ih", "dw_hh", "db_ih", "db_hh"], outs, want, shapes):
        assert_close(dev.get(o, s), w, _tol(4 * H + T * B, T), f"{isa} {threads}T {name}")


def test_lstm_layer_recurrence_without_initial_state(dev, threads, rng):
    """h0 = c0 = None with the fused input projection and a thread split: step 0 has no
    recurrent product at all."""
    T, B, I, H = 3, 5, 7, 300
    x, _, _, w_ih, w_hh, b_ih, b_hh = _layer_inputs(rng, T, B, I, H, True, "none")
    w_ih *= 0.2
    w_hh *= 0.2
    got = _run_layer_forward(dev, T, B, I, H, x, None, None, w_ih, w_hh, None, None)
    want = ref.lstm_layer_forward(x, None, None, w_ih, w_hh, None, None)
    for name, g, w in zip(["out", "h_n", "c_n", "gates", "cells"], got, want):
        assert_close(g, w, _tol(I + H, T), name)
