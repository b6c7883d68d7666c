"""pool2d benchmark: max pooling (with indices) forward/backward and average pooling vs torch.

Memory-bound, so the rate is GB/s of the tensors each kernel must touch (float32 4 B, int64
indices 8 B per output): max fwd reads x and writes out + indices; max bwd reads dout +
indices and writes dinp; avg fwd reads x, writes out. torch runs the same work
(max_pool2d with return_indices=True; max_pool2d_with_indices_backward). Validation: the
first 2 images against the reference (every (n, c) plane is independent).

    python bench/bench_pool2d.py [--threads 1,2] [--quick]
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
from neuraxon.testing.tolerances import assert_close  # noqa: E402

# label, N, C, H, W, kernel, stride
SHAPES = [
    ("ResNet-ish 2x2/2", 64, 64, 56, 56, 2, 2),
    ("LeNet 2x2/2", 128, 20, 24, 24, 2, 2),
    ("3x3/2", 32, 64, 56, 56, 3, 2),
]
QUICK = [("LeNet 2x2/2", 32, 20, 24, 24, 2, 2)]
NCHECK = 2


def cases_for(label, N, C, H, W, k, st, torch) -> list[harness.Case]:
    rng = np.random.default_rng(0)
    P, Q = (H - k) // st + 1, (W - k) // st + 1
    x = harness.rand(rng, (N, C, H, W))
    dout = harness.rand(rng, (N, C, P, Q))
    out, idx = np.empty((N, C, P, Q), np.float32), np.empty((N, C, P, Q), np.int64)
    dinp = np.empty_like(x)
    aout = np.empty((N, C, P, Q), np.float32)
    cpu = _ext.cpu
    win = (k, k, st, st, 0, 0)
    cpu.maxpool2d_forward(out, idx, x, N, C, H, W, *win, 1, 1, False)  # indices for the backward
    shape = f"N{N} C{C} {H}x{W} {k}x{k}/{st}"
    nc = min(N, NCHECK)
    xs = x[:nc]

    def check_max(_v):
        o, i = np.full((nc, C, P, Q), np.nan, np.float32), np.full((nc, C, P, Q), -1, np.int64)
        cpu.maxpool2d_forward(o, i, np.ascontiguousarray(xs), nc, C, H, W, *win, 1, 1, False)
        ro, ri = ref.maxpool2d_forward(xs, k, st)
        assert_close(o, ro, "exact", "maxpool fwd")
        assert np.array_equal(i, ri), "maxpool indices differ"

    def check_max_bwd(_v):
        d = np.full((nc, C, H, W), np.nan, np.float32)
        cpu.maxpool2d_backward(d, np.ascontiguousarray(dout[:nc]), np.ascontiguousarray(idx[:nc]), nc, C, H, W, P, Q)
        assert_close(d, ref.maxpool2d_backward(dout[:nc], idx[:nc], (H, W)), "elementwise", "maxpool bwd")

    def check_avg(_v):
        o = np.full((nc, C, P, Q), np.nan, np.float32)
        cpu.avgpool2d_forward(o, np.ascontiguousarray(xs), nc, C, H, W, *win, False, True, 0)
        assert_close(o, ref.avgpool2d_forward(xs, k, st), "reduction", "avgpool fwd")

    bf, bb, ba = {}, {}, {}
    if torch is not None:
        tx, td = torch.from_numpy(x), torch.from_numpy(dout)
        F = torch.nn.functional
        _, tidx = F.max_pool2d(tx, k, st, return_indices=True)
        bf["torch"] = lambda: F.max_pool2d(tx, k, st, return_indices=True)
        bb["torch"] = lambda: torch.ops.aten.max_pool2d_with_indices_backward(
            td, tx, [k, k], [st, st], [0, 0], [1, 1], False, tidx)
        ba["torch"] = lambda: F.avg_pool2d(tx, k, st)
    xb, ob = 4.0 * x.size, 4.0 * out.size
    kw = dict(op="pool2d", label=label, bound="bytes")
    return [
        harness.Case(shape=shape + " max fwd", nbytes=xb + ob + 2 * ob, check=check_max, baselines=bf,
                     ours={"maxpool2d": lambda: cpu.maxpool2d_forward(out, idx, x, N, C, H, W, *win, 1, 1, False)}, **kw),
        harness.Case(shape=shape + " max bwd", nbytes=xb + ob + 2 * ob, check=check_max_bwd, baselines=bb,
                     ours={"maxpool2d": lambda: cpu.maxpool2d_backward(dinp, dout, idx, N, C, H, W, P, Q)}, **kw),
        harness.Case(shape=shape + " avg fwd", nbytes=xb + ob, check=check_avg, baselines=ba,
                     ours={"avgpool2d": lambda: cpu.avgpool2d_forward(aout, x, N, C, H, W, *win, False, True, 0)}, **kw),
    ]


def make_cases(args) -> list[harness.Case]:
    torch = harness.try_torch()
    out = []
    for row in QUICK if args.quick else SHAPES:
        out += cases_for(*row, torch)
    return out


def main(argv=None):
    return harness.main("pool2d", make_cases, argv)


if __name__ == "__main__":
    main()
