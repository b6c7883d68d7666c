"""LSTM layer benchmark: lstm_layer_forward, and forward + backward (BPTT), vs torch.nn.LSTM.

GFLOPS counts the products: forward 2*T*B*4H*(I+H); forward + backward 3x that (backward
does dgates@W for dx and dh, and dgates^T@[x, h] for the weights). torch: nn.LSTM (one
layer, biases) under no_grad for the forward; forward + output.backward(dout) for the pair.
Validation: the whole outputs against the reference.

    python bench/bench_lstm.py [--threads 1,2] [--quick]
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

harness.ensure_importable()
import numpy as np  # noqa: E402

from neuraxon import _ext  # noqa: E402
from neuraxon.testing import reference as ref  # noqa: E402
from neuraxon.testing.tolerances import assert_close, for_sum  # noqa: E402

# label, T, B, I, H
SHAPES = [("seq50 b64 in128 h256", 50, 64, 128, 256), ("seq100 b32 in512 h512", 100, 32, 512, 512)]
QUICK = [("seq10 b16 in32 h64", 10, 16, 32, 64)]


def cases_for(label, T, B, I, H, torch) -> list[harness.Case]:
    rng = np.random.default_rng(0)
    s = 1.0 / np.sqrt(H)
    x = harness.rand(rng, (T, B, I))
    h0, c0 = harness.rand(rng, (B, H)), harness.rand(rng, (B, H))
    w_ih, w_hh = harness.rand(rng, (4 * H, I), -s, s), harness.rand(rng, (4 * H, H), -s, s)
    b_ih, b_hh = harness.rand(rng, (4 * H,), -s, s), harness.rand(rng, (4 * H,), -s, s)
    dout = harness.rand(rng, (T, B, H))
    out, h_n, c_n = np.empty((T, B, H), np.float32), np.empty((B, H), np.float32), np.empty((B, H), np.float32)
    gates, cells = np.empty((T, B, 4 * H), np.float32), np.empty((T, B, H), np.float32)
    dx, dh0, dc0 = np.empty_like(x), np.empty_like(h0), np.empty_like(c0)
    dw_ih, dw_hh = np.empty_like(w_ih), np.empty_like(w_hh)
    db_ih, db_hh = np.empty_like(b_ih), np.empty_like(b_hh)
    cpu = _ext.cpu

    def fwd():
        cpu.lstm_layer_forward(out, h_n, c_n, gates, cells, x, h0, c0, w_ih, w_hh, b_ih, b_hh, T, B, I, H)

    def fwd_bwd():
        fwd()
        cpu.lstm_layer_backward(dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dout, None, None, gates, cells,
                                out, x, h0, c0, w_ih, w_hh, T, B, I, H)

    def check_fwd(_v):
        out.fill(np.nan)
        fwd()
        ro, rh, rc, rg, rcells = ref.lstm_layer_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh)
        assert_close(out, ro, for_sum(T * (I + H)), "lstm fwd out")
        assert_close(c_n, rc, for_sum(T * (I + H)), "lstm fwd c_n")

    def check_bwd(_v):
        dx.fill(np.nan)
        dw_ih.fill(np.nan)
        fwd_bwd()
        r = ref.lstm_layer_backward(dout, None, None, gates, cells, out, x, h0, c0, w_ih, w_hh)
        assert_close(dx, r[0], for_sum(T * H), "lstm bwd dx")
        assert_close(dw_ih, r[3], for_sum(T * B), "lstm bwd dw_ih")

    bf, bb = {}, {}
    if torch is not None:
        lstm = torch.nn.LSTM(I, H)
        with torch.no_grad():
            for name, arr in [("weight_ih_l0", w_ih), ("weight_hh_l0", w_hh), ("bias_ih_l0", b_ih), ("bias_hh_l0", b_hh)]:
                getattr(lstm, name).copy_(torch.from_numpy(arr))
        tx, th, tc, td = (torch.from_numpy(a) for a in (x, h0, c0, dout))

        def t_fwd():
            with torch.no_grad():
                lstm(tx, (th[None], tc[None]))

        def t_fwd_bwd():
            lstm.zero_grad(set_to_none=True)
            xg = tx.detach().requires_grad_(True)
            o, _ = lstm(xg, (th[None], tc[None]))
            o.backward(td)

        bf["torch"], bb["torch"] = t_fwd, t_fwd_bwd
    flops = 2.0 * T * B * 4 * H * (I + H)
    shape = f"T{T} B{B} I{I} H{H}"
    kw = dict(op="lstm", label=label, bound="flops")
    return [
        harness.Case(shape=shape + " fwd", flops=flops, check=check_fwd, baselines=bf, ours={"lstm_layer": fwd}, **kw),
        harness.Case(shape=shape + " fwd+bwd", flops=3 * flops, check=check_bwd, baselines=bb,
                     ours={"lstm_layer": fwd_bwd}, **kw),
    ]


def make_cases(args) -> list[harness.Case]:
    torch = harness.try_torch()
    out = []
    for row in QUICK if args.quick else SHAPES:
        out += cases_for(*row, torch)
    return out


def main(argv=None):
    return harness.main("lstm", make_cases, argv)


if __name__ == "__main__":
    main()
