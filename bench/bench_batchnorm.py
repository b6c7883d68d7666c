"""Batch normalization benchmark: training forward and backward, eval forward, vs torch.

Memory-bound: the rate counts the minimum traffic, forward 2 x |x| (read x, write out),
backward 3 x |x| (read x and dout, write dinp), as the anchors do; a two-pass kernel moves
more, which shows as a lower GB/s. torch runs native_batch_norm / native_batch_norm_backward
(training, running stats updated; eval: running stats). Validation: the whole output
against the reference.

    python bench/bench_batchnorm.py [--threads 1,2] [--quick]
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

# label, N, C, HW
SHAPES = [("N64 C64 56x56", 64, 64, 56 * 56), ("N128 C32 28x28", 128, 32, 28 * 28), ("MLP N256 C512", 256, 512, 1)]
QUICK = [("N16 C32 28x28", 16, 32, 28 * 28)]


def cases_for(label, N, C, HW, torch) -> list[harness.Case]:
    rng = np.random.default_rng(0)
    x = harness.rand(rng, (N, C, HW), -2, 3)
    dout = harness.rand(rng, (N, C, HW))
    gamma, beta = harness.rand(rng, (C,), 0.5, 1.5), harness.rand(rng, (C,))
    rm, rv = np.zeros(C, np.float32), np.ones(C, np.float32)
    out, dinp = np.empty_like(x), np.empty_like(x)
    smean, sinv = np.empty(C, np.float32), np.empty(C, np.float32)
    dg, db = np.empty(C, np.float32), np.empty(C, np.float32)
    cpu = _ext.cpu
    cpu.batchnorm_forward(out, smean, sinv, rm, rv, x, gamma, beta, N, C, HW, True, 0.1, 1e-5)

    def fwd():
        cpu.batchnorm_forward(out, smean, sinv, rm, rv, x, gamma, beta, N, C, HW, True, 0.1, 1e-5)

    def bwd():
        cpu.batchnorm_backward(dinp, dg, db, dout, x, gamma, smean, sinv, N, C, HW, True)

    erm, erv = harness.rand(rng, (C,)), harness.rand(rng, (C,), 0.5, 1.5)
    eout, esm, esi = np.empty_like(x), np.empty(C, np.float32), np.empty(C, np.float32)

    def evl():
        cpu.batchnorm_forward(eout, esm, esi, erm, erv, x, gamma, beta, N, C, HW, False, 0.1, 1e-5)

    def check_eval(_v):
        o = np.full_like(x, np.nan)
        cpu.batchnorm_forward(o, None, None, erm, erv, x, gamma, beta, N, C, HW, False, 0.1, 1e-5)
        ro = ref.batchnorm_forward(erm, erv, x, gamma, beta, False, 0.1, 1e-5)[0]
        assert_close(o, ro, "reduction", "bn eval out")

    def check_fwd(_v):
        o = np.full_like(x, np.nan)
        m, s = np.full(C, np.nan, np.float32), np.full(C, np.nan, np.float32)
        cpu.batchnorm_forward(o, m, s, None, None, x, gamma, beta, N, C, HW, True, 0.1, 1e-5)
        ro, rmean, rinv, _, _ = ref.batchnorm_forward(None, None, x, gamma, beta, True, 0.1, 1e-5)
        assert_close(o, ro, "reduction", "bn fwd out")
        assert_close(m, rmean, "reduction", "bn fwd mean")

    def check_bwd(_v):
        d = np.full_like(x, np.nan)
        g2, b2 = np.full(C, np.nan, np.float32), np.full(C, np.nan, np.float32)
        cpu.batchnorm_backward(d, g2, b2, dout, x, gamma, smean, sinv, N, C, HW, True)
        rd, rg, rb = ref.batchnorm_backward(dout, x, gamma, smean, sinv, True)
        assert_close(d, rd, "reduction", "bn bwd dinp")
        assert_close(g2, rg, (1e-4, 1e-3), "bn bwd dgamma")

    bf, bb, be = {}, {}, {}
    if torch is not None:
        tx, td = torch.from_numpy(x), torch.from_numpy(dout)
        tg, tb = torch.from_numpy(gamma), torch.from_numpy(beta)
        trm, trv = torch.zeros(C), torch.ones(C)
        _, tsm, tsi = torch.ops.aten.native_batch_norm(tx, tg, tb, trm, trv, True, 0.1, 1e-5)
        bf["torch"] = lambda: torch.ops.aten.native_batch_norm(tx, tg, tb, trm, trv, True, 0.1, 1e-5)
        bb["torch"] = lambda: torch.ops.aten.native_batch_norm_backward(
            td, tx, tg, trm, trv, tsm, tsi, True, 1e-5, [True, True, True])
        term, terv = torch.from_numpy(erm), torch.from_numpy(erv)
        be["torch"] = lambda: torch.ops.aten.native_batch_norm(tx, tg, tb, term, terv, False, 0.1, 1e-5)
    shape = f"N{N} C{C} HW{HW}"
    kw = dict(op="batchnorm", label=label, bound="bytes")
    return [
        harness.Case(shape=shape + " train fwd", nbytes=8.0 * x.size, check=check_fwd, baselines=bf,
                     ours={"batchnorm": fwd}, **kw),
        harness.Case(shape=shape + " train bwd", nbytes=12.0 * x.size, check=check_bwd, baselines=bb,
                     ours={"batchnorm": bwd}, **kw),
        harness.Case(shape=shape + " eval fwd", nbytes=8.0 * x.size, check=check_eval, baselines=be,
                     ours={"batchnorm": evl}, **kw),
    ]


def make_cases(args) -> list[harness.Case]:
    torch = harness.try_torch()
    out = []
    for row in QUICK if args.quick else SHAPES:
        out += cases_for(*row, torch)
    return out


def main(argv=None):
    return harness.main("batchnorm", make_cases, argv)


if __name__ == "__main__":
    main()
