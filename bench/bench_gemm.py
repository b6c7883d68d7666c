"""GEMM benchmark: square sizes and deep-learning shapes vs NumPy/OpenBLAS and torch.mm.

Shapes are op(A) (m x k) @ op(B) (k x n); "A^T"/"B^T" mean the operand is stored
transposed, as in the backward products of a linear layer. GFLOPS = 2*m*n*k / t.
Each shape times the variant the default dispatch runs there (gemm_k2_direct up to
m*n*k = 2^21, gemm_k1_packed above), so the README table shows what a user gets; the
plain-loop variant (gemm_k0_loop) is timed too on small products (it is the reference path,
minutes on the big ones).

    python bench/bench_gemm.py [--threads 1,2] [--quick] [--filter sq1024]
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

# (label, m, n, k, trans_a, trans_b)
# sq1: the per-call cost alone (binding: argument conversion, GIL release; checks; dispatch)
SQUARES = [(f"sq{s}", s, s, s, False, False) for s in (1, 16, 32, 64, 100, 128, 256, 512, 1024, 2048)]
DL = [
    ("mlp fc1 fwd", 64, 512, 784, False, False),
    ("mlp fc1 fwd", 128, 512, 784, False, False),
    ("mlp fc1 fwd x@W^T", 128, 512, 784, False, True),
    ("mlp fc2 fwd", 128, 256, 512, False, False),
    ("mlp fc3 fwd", 128, 10, 256, False, False),
    ("mlp fc1 dW (A^T)", 784, 512, 128, True, False),
    ("mlp fc1 dW dY^T@X (A^T)", 512, 784, 128, True, False),
    ("mlp fc1 dX (B^T)", 128, 784, 512, False, True),
    ("fc 4096", 128, 4096, 4096, False, False),
    ("lstm gates (B^T)", 64, 1024, 128, False, True),
    ("lstm gates", 64, 1024, 256, False, False),
    ("lstm gates", 32, 2048, 512, False, False),
    ("im2col resnet", 64, 3136, 576, False, False),
    ("im2col resnet", 128, 784, 1152, False, False),
    ("im2col lenet", 50, 4096, 500, False, False),
]
QUICK = [("sq256", 256, 256, 256, False, False), ("mlp fc1 fwd", 128, 512, 784, False, False),
         ("lstm gates (B^T)", 64, 1024, 128, False, True)]
VARIANTS = {"gemm_k1_packed": 1, "gemm_k2_direct": 2, "gemm_k0_loop": 0}
K0_MAX_FLOPS = 2.0 * 128 * 512 * 784  # time the plain loop only up to the MLP's size
SMALL_MNK = 2**21  # gemm.cc's kSmallMnk: variant -1 runs k2 up to this m*n*k, k1 above


def default_variant(m, n, k) -> str:
    """The variant the default dispatch (-1) runs: the one the README table must show, so only
    it (and the plain loop, as the reference point) is timed."""
    return "gemm_k2_direct" if 64 <= m * n * k <= SMALL_MNK else "gemm_k1_packed"


def shape_str(m, n, k, ta, tb) -> str:
    a = f"{m}x{k}" + ("(A^T)" if ta else "")
    b = f"{k}x{n}" + ("(B^T)" if tb else "")
    return f"{a}@{b}"


def make_case(label, m, n, k, ta, tb, torch, seed=0) -> harness.Case:
    rng = np.random.default_rng(seed)
    a = harness.rand(rng, (k, m) if ta else (m, k))
    b = harness.rand(rng, (n, k) if tb else (k, n))
    c = np.empty((m, n), np.float32)
    kern = _ext.cpu.gemm_forward
    flops = 2.0 * m * n * k

    def ours_fn(v):
        return lambda: kern(c, a, b, None, 1, m, n, k, ta, tb, 0, 0, 0, 1.0, 0.0, 0, 0.0, v)

    ours = {name: ours_fn(v) for name, v in VARIANTS.items()
            if name == default_variant(m, n, k) or (v == 0 and flops <= K0_MAX_FLOPS)}

    def check(variant):
        c.fill(np.nan)
        ours[variant]()
        want = ref.gemm_forward(None, a, b, trans_a=ta, trans_b=tb)
        assert_close(c, want, for_sum(k), f"gemm {variant} {shape_str(m, n, k, ta, tb)}")

    opa, opb = (a.T if ta else a), (b.T if tb else b)
    c_np = np.empty((m, n), np.float32)
    baselines = {"numpy": lambda: np.matmul(opa, opb, out=c_np)}
    if torch is not None:
        ta_, tb_ = torch.from_numpy(a), torch.from_numpy(b)
        ta_, tb_ = (ta_.t() if ta else ta_), (tb_.t() if tb else tb_)
        c_t = torch.empty((m, n), dtype=torch.float32)
        baselines["torch"] = lambda: torch.mm(ta_, tb_, out=c_t)
    return harness.Case(op="gemm", shape=shape_str(m, n, k, ta, tb), label=label, ours=ours,
                        baselines=baselines, check=check, flops=flops,
                        nbytes=4.0 * (m * k + k * n + m * n), bound="flops")


def make_cases(args) -> list[harness.Case]:
    torch = harness.try_torch()
    table = QUICK if args.quick else SQUARES + DL
    return [make_case(*row, torch) for row in table]


def main(argv=None):
    return harness.main("gemm", make_cases, argv)


if __name__ == "__main__":
    main()
