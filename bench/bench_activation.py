"""Activation benchmark: forward and backward of relu, sigmoid, tanh, gelu vs NumPy and torch.

Memory-bound: forward moves 8 B per element (read x, write out), backward 12 B (read dout and
x, write dinp). Ours writes into preallocated arrays; NumPy and torch get `out=` where they
have it (torch.clamp_min/sigmoid/tanh; gelu allocates). Two sizes: 16M elements (64 MB,
DRAM) and 256K (1 MB, cache). Validation: the whole output against the reference.

    python bench/bench_activation.py [--threads 1,2] [--quick]
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
from neuraxon.testing.reference import act as A  # noqa: E402
from neuraxon.testing.tolerances import assert_close  # noqa: E402

ACTS = [("relu", A.RELU), ("sigmoid", A.SIGMOID), ("tanh", A.TANH), ("gelu", A.GELU)]
SIZES = [1 << 24, 1 << 18]
QUICK_SIZES = [1 << 20]


def _np_fwd(name, x, o):
    if name == "relu":
        return lambda: np.maximum(x, 0, out=o)
    if name == "tanh":
        return lambda: np.tanh(x, out=o)
    if name == "sigmoid":
        def f():
            np.negative(x, out=o)
            np.exp(o, out=o)
            np.add(o, 1, out=o)
            np.reciprocal(o, out=o)
        return f
    return None


def cases_for(name, act, n, torch) -> list[harness.Case]:
    rng = np.random.default_rng(0)
    x = harness.rand(rng, (n,), -4, 4)
    dout = harness.rand(rng, (n,))
    out, dinp = np.empty_like(x), np.empty_like(x)
    cpu = _ext.cpu
    kind = "elementwise" if act == A.RELU else "transcendental"
    nc = min(n, 1 << 20)  # validate a 1M-element prefix: the reference is float64 NumPy

    def check_fwd(_v):
        o = np.full(nc, np.nan, np.float32)
        cpu.activation_forward(o, x[:nc].copy(), nc, act, 0.0)
        assert_close(o, ref.activation_forward(x[:nc], act, 0.0), kind, f"{name} fwd")

    # sigmoid and tanh differentiate from the forward's result (as neuraxon's autograd and
    # torch's sigmoid_backward/tanh_backward do); the others from the input.
    from_out = act in (A.SIGMOID, A.TANH)
    y = np.empty_like(x)
    cpu.activation_forward(y, x, n, act, 0.0)
    bx, by = (None, y) if from_out else (x, None)

    def check_bwd(_v):
        d = np.full(nc, np.nan, np.float32)
        yc = y[:nc].copy() if from_out else None
        cpu.activation_backward(d, dout[:nc].copy(), x[:nc].copy(), yc, nc, act, 0.0)
        assert_close(d, ref.activation_backward(dout[:nc], x[:nc], act, 0.0, out=yc), kind, f"{name} bwd")

    bf, bb = {}, {}
    o2 = np.empty_like(x)
    nf = _np_fwd(name, x, o2)
    if nf is not None:
        bf["numpy"] = nf
    if torch is not None:
        tx, td, to = torch.from_numpy(x), torch.from_numpy(dout), torch.from_numpy(o2)
        if name == "relu":
            bf["torch"] = lambda: torch.clamp_min(tx, 0, out=to)
            bb["torch"] = lambda: torch.ops.aten.threshold_backward(td, tx, 0)
        elif name == "sigmoid":
            ts = torch.sigmoid(tx)
            bf["torch"] = lambda: torch.sigmoid(tx, out=to)
            bb["torch"] = lambda: torch.ops.aten.sigmoid_backward(td, ts)
        elif name == "tanh":
            tt = torch.tanh(tx)
            bf["torch"] = lambda: torch.tanh(tx, out=to)
            bb["torch"] = lambda: torch.ops.aten.tanh_backward(td, tt)
        else:
            bf["torch"] = lambda: torch.nn.functional.gelu(tx)
            bb["torch"] = lambda: torch.ops.aten.gelu_backward(td, tx)
    shape = f"{name} n={n}"
    kw = dict(op="activation", label=f"{n * 4 / 2**20:g} MiB", bound="bytes")
    return [
        harness.Case(shape=shape + " fwd", nbytes=8.0 * n, check=check_fwd, baselines=bf,
                     ours={"activation": lambda: cpu.activation_forward(out, x, n, act, 0.0)}, **kw),
        harness.Case(shape=shape + " bwd", nbytes=12.0 * n, check=check_bwd, baselines=bb,
                     ours={"activation": lambda: cpu.activation_backward(dinp, dout, bx, by, n, act, 0.0)}, **kw),
    ]


def make_cases(args) -> list[harness.Case]:
    torch = harness.try_torch()
    out = []
    for n in QUICK_SIZES if args.quick else SIZES:
        for name, act in ACTS:
            out += cases_for(name, act, n, torch)
    return out


def main(argv=None):
    return harness.main("activation", make_cases, argv)


if __name__ == "__main__":
    main()
