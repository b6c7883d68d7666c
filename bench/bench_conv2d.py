"""conv2d benchmark: forward, backward_data, backward_weight vs torch (oneDNN) on the CPU.

GFLOPS = 2*N*K*(C/groups)*R*S*P*Q / t for each of the three kernels. NumPy has no
convolution, so torch is the only baseline (torch allocates its outputs, as users see it).
Validation runs our kernel on the first 2 images (forward/backward_data are per image;
backward_weight is re-run on the 2-image problem) against the float64 reference.
The direct-loop variant conv2d_k0_loop is timed only up to ~0.5 GFLOP per call.

    python bench/bench_conv2d.py [--threads 1,2] [--quick]
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

# label, N, C, H, W, K, R, S, stride, pad
SHAPES = [
    ("(a) LeNet conv1", 64, 1, 28, 28, 20, 5, 5, 1, 0),
    ("(b) LeNet conv2", 64, 20, 12, 12, 50, 5, 5, 1, 0),
    ("(c) ResNet 64ch 56x56", 32, 64, 56, 56, 64, 3, 3, 1, 1),
    ("(d) ResNet 128ch 28x28", 32, 128, 28, 28, 128, 3, 3, 1, 1),
    ("(e) CIFAR stem", 64, 3, 32, 32, 64, 3, 3, 1, 1),  # C*R*S = 27: backward_weight's dot path
    ("(f) LeNet-5 conv2", 128, 6, 14, 14, 16, 5, 5, 1, 0),  # bench_train's LeNet-5: direct forward
    ("(g) ResNet 3x3/2 64->128", 16, 64, 56, 56, 128, 3, 3, 2, 1),  # downsampling: no Winograd
]
QUICK = [("(b) LeNet conv2", 16, 20, 12, 12, 50, 5, 5, 1, 0)]
VARIANTS = {"conv2d_k1_im2col": 1, "conv2d_k0_loop": 0}
K0_MAX_FLOPS = 5e8
NCHECK = 2


def _out_hw(H, W, R, S, st, pad):
    return (H + 2 * pad - R) // st + 1, (W + 2 * pad - S) // st + 1


def cases_for(label, N, C, H, W, K, R, S, st, pad, torch) -> list[harness.Case]:
    rng = np.random.default_rng(0)
    P, Q = _out_hw(H, W, R, S, st, pad)
    x = harness.rand(rng, (N, C, H, W))
    w = harness.rand(rng, (K, C, R, S), -0.2, 0.2)
    bias = harness.rand(rng, (K,))
    dout = harness.rand(rng, (N, K, P, Q))
    out, dinp = np.empty((N, K, P, Q), np.float32), np.empty((N, C, H, W), np.float32)
    dw, db = np.empty((K, C, R, S), np.float32), np.empty((K,), np.float32)
    cpu = _ext.cpu
    geo = (K, R, S, st, st, pad, pad, 1, 1, 1)  # K, R, S, stride, pad, dilation, groups
    flops = 2.0 * N * K * C * R * S * P * Q
    shape = f"N{N} C{C} {H}x{W} K{K} {R}x{S} s{st} p{pad}"
    nc = min(N, NCHECK)
    xs, ds = x[:nc].copy(), dout[:nc].copy()

    def fwd(v, o=out, xx=x, n=N):
        return lambda: cpu.conv2d_forward(o, xx, w, bias, n, C, H, W, *geo, v)

    def bwd_data(v, o=dinp, dd=dout, n=N):
        return lambda: cpu.conv2d_backward_data(o, dd, w, n, C, H, W, *geo, v)

    def bwd_weight(v, o=dw, ob=db, dd=dout, xx=x, n=N):
        return lambda: cpu.conv2d_backward_weight(o, ob, dd, xx, n, C, H, W, *geo, v)

    def variants(make):
        return {name: make(v) for name, v in VARIANTS.items() if v != 0 or flops <= K0_MAX_FLOPS}

    tol = for_sum(C * R * S)

    def check_fwd(name):
        o = np.full((nc, K, P, Q), np.nan, np.float32)
        fwd(VARIANTS[name], o, xs, nc)()
        assert_close(o, ref.conv2d_forward(xs, w, bias, st, pad), tol, f"conv fwd {name}")

    def check_data(name):
        o = np.full((nc, C, H, W), np.nan, np.float32)
        bwd_data(VARIANTS[name], o, ds, nc)()
        want = ref.conv2d_backward_data(ds, w, (H, W), st, pad)
        assert_close(o, want, for_sum(K * R * S), f"conv bwd data {name}")

    def check_weight(name):
        o, ob = np.full((K, C, R, S), np.nan, np.float32), np.full((K,), np.nan, np.float32)
        bwd_weight(VARIANTS[name], o, ob, ds, xs, nc)()
        rw, rb = ref.conv2d_backward_weight(ds, xs, (R, S), st, pad)
        assert_close(o, rw, for_sum(nc * P * Q), f"conv bwd weight {name}")
        assert_close(ob, rb, for_sum(nc * P * Q), f"conv bwd bias {name}")

    base_f, base_d, base_w = {}, {}, {}
    if torch is not None:
        tx, tw, tb, td = (torch.from_numpy(a) for a in (x, w, bias, dout))
        F = torch.nn.functional
        cb = torch.ops.aten.convolution_backward
        args = ([K], [st, st], [pad, pad], [1, 1], False, [0, 0], 1)
        base_f["torch"] = lambda: F.conv2d(tx, tw, tb, st, pad)
        base_d["torch"] = lambda: cb(td, tx, tw, *args, [True, False, False])
        base_w["torch"] = lambda: cb(td, tx, tw, *args, [False, True, True])
    common = dict(op="conv2d", label=label, flops=flops, bound="flops")
    return [
        harness.Case(shape=shape + " fwd", ours=variants(fwd), baselines=base_f, check=check_fwd,
                     nbytes=4.0 * (x.size + w.size + out.size), **common),
        harness.Case(shape=shape + " bwd_data", ours=variants(bwd_data), baselines=base_d,
                     check=check_data, nbytes=4.0 * (dout.size + w.size + x.size), **common),
        harness.Case(shape=shape + " bwd_weight", ours=variants(bwd_weight), baselines=base_w,
                     check=check_weight, nbytes=4.0 * (dout.size + x.size + w.size), **common),
    ]


def make_cases(args) -> list[harness.Case]:
    torch = harness.try_torch()
    out = []
    for row in QUICK if args.quick else SHAPES:
        out += cases_for(*row, torch)
    return out


def main(argv=None):
    return harness.main("conv2d", make_cases, argv)


if __name__ == "__main__":
    main()
