"""GPU micro-benchmarks: neuraxon's CUDA kernels against PyTorch (cuBLAS/cuDNN) on the same
device, with achieved GFLOP/s or GB/s and the fraction of the device's ceilings.

Run by bench/gpu_check.sh on the GPU machine:
    python bench/bench_gpu.py --out results/bench_gpu.json [--quick]

Method: every result is validated against PyTorch before it is timed; each measurement is
the median (and min) over `reps` timed batches after warm-up, a batch being `inner` back-to-
back launches between two host synchronisations (our kernels run on neuraxon's own stream,
PyTorch's on its current stream, so each side is synchronised with its own call). A 256 MiB
buffer is rewritten between batches to flush L2. TF32 is off on the PyTorch side (FP32 vs
FP32). Ceilings: FP32 FMA peak from the device's SM count and clock (128 FP32 lanes per SM
on Hopper/Ampere-class parts), HBM bandwidth measured as the best of large device-to-device
copies (torch), so `pct_peak` says how far each kernel is from the limit that binds it.
One JSON object per measurement (DESIGN.md's schema).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

try:
    import torch
except ImportError:  # pragma: no cover - the GPU machine has it
    torch = None

from neuraxon import _ext

F32, I64 = 0, 1


def git_sha() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip()
    except OSError:
        return ""


class Bench:
    def __init__(self, quick: bool):
        self.cu = _ext.cuda
        self.quick = quick
        self.results: list[dict] = []
        self.dev = torch.device("cuda")
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
        self.flush_buf = torch.empty(64 << 20, dtype=torch.float32, device=self.dev)
        props = torch.cuda.get_device_properties(0)
        self.name = props.name
        # the SM clock from the driver (CUDA 13 removed cudaDeviceProp::clockRate, so torch's
        # props have no clock_rate; a guessed 1.83 GHz overstated percent-of-peak by ~8%)
        self.clock_khz = self.cu.clock_khz(0)
        self.fp32_peak_gflops = props.multi_processor_count * 128 * 2 * self.clock_khz / 1e6
        self.hbm_gbps = self.measure_bandwidth()
        self.sha = git_sha()

    # ---- helpers ------------------------------------------------------------------------
    def put(self, x: np.ndarray):
        x = np.ascontiguousarray(x)
        a = self.cu.DeviceArray(x.size, F32 if x.dtype == np.float32 else I64)
        a.copy_from_host(x.reshape(-1))
        return a

    def flush(self):
        self.flush_buf.fill_(1.0)
        torch.cuda.synchronize()

    def time(self, fn, sync, inner: int, reps: int) -> tuple[float, float]:
        """Median and min milliseconds per call."""
        for _ in range(2):
            fn()
        sync()
        times = []
        for _ in range(reps):
            self.flush()
            t0 = time.perf_counter()
            for _ in range(inner):
                fn()
            sync()
            times.append((time.perf_counter() - t0) * 1e3 / inner)
        return statistics.median(times), min(times)

    def ours(self, fn, inner=10, reps=7):
        return self.time(fn, self.cu.synchronize, inner, reps if not self.quick else 3)

    def theirs(self, fn, inner=10, reps=7):
        return self.time(
            fn, torch.cuda.synchronize, inner, reps if not self.quick else 3
        )

    def measure_bandwidth(self) -> float:
        n = 256 << 20  # 1 GiB each way
        a = torch.empty(n, dtype=torch.float32, device=self.dev)
        b = torch.empty_like(a)
        a.fill_(1.0)
        best = float("inf")
        for _ in range(5):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            b.copy_(a)
            torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t0)
        del a, b
        torch.cuda.empty_cache()
        return 2 * n * 4 / best / 1e9

    def record(
        self,
        op,
        variant,
        shape,
        ms,
        ms_min,
        base_ms,
        flops=None,
        bytes_=None,
        baseline="torch",
    ):
        r = {
            "op": op,
            "variant": variant,
            "device": "cuda",
            "device_name": self.name,
            "shape": shape,
            "dtype": "float32",
            "threads": None,
            "ms_median": round(ms, 5),
            "ms_min": round(ms_min, 5),
            "gflops": round(flops / ms / 1e6, 1) if flops else None,
            "gbps": round(bytes_ / ms / 1e6, 1) if bytes_ else None,
            "pct_peak": None,
            "baseline": baseline,
            "baseline_ms": round(base_ms, 5) if base_ms else None,
            "ratio": round(base_ms / ms, 3) if base_ms else None,
            "git_sha": self.sha,
        }
        if flops:
            r["pct_peak"] = round(100 * r["gflops"] / self.fp32_peak_gflops, 1)
        elif bytes_:
            r["pct_peak"] = round(100 * r["gbps"] / self.hbm_gbps, 1)
        self.results.append(r)
        print(json.dumps(r), flush=True)

    @staticmethod
    def check(ours: np.ndarray, ref: np.ndarray, rtol: float, atol: float, what: str):
        np.testing.assert_allclose(
            ours.reshape(ref.shape), ref, rtol=rtol, atol=atol, err_msg=what
        )

    # ---- benchmarks ---------------------------------------------------------------------
    def gemm(self, m, n, k, variant=-1, act=0):
        cu = self.cu
        rng = np.random.default_rng(0)
        a = rng.standard_normal((m, k)).astype(np.float32)
        b = rng.standard_normal((k, n)).astype(np.float32)
        da, db, dc = self.put(a), self.put(b), cu.DeviceArray(m * n, F32)
        ta, tb = torch.from_numpy(a).to(self.dev), torch.from_numpy(b).to(self.dev)

        def run():
            cu.gemm_forward(
                dc,
                da,
                db,
                None,
                1,
                m,
                n,
                k,
                False,
                False,
                0,
                0,
                0,
                1.0,
                0.0,
                act,
                0.0,
                variant,
            )

        run()
        ref = ta @ tb
        if act == 1:
            ref = torch.relu(ref)
        self.check(
            dc.to_host(),
            ref.cpu().numpy(),
            1e-3,
            1e-3 * np.sqrt(k),
            f"gemm {m}x{n}x{k}",
        )
        inner = 3 if m * n * k >= 4096**3 else 10
        ms, mn = self.ours(run, inner=inner)
        tms, _ = self.theirs(lambda: torch.matmul(ta, tb), inner=inner)
        self.record(
            "gemm_forward",
            f"k{variant}" if variant >= 0 else "best",
            [m, n, k],
            ms,
            mn,
            tms,
            flops=2.0 * m * n * k,
            baseline="torch.matmul (cuBLAS, TF32 off)",
        )

    def conv(self, N, C, H, W, K, R, pad):
        cu = self.cu
        rng = np.random.default_rng(1)
        x = rng.standard_normal((N, C, H, W)).astype(np.float32)
        w = (rng.standard_normal((K, C, R, R)) * 0.1).astype(np.float32)
        P, Q = H + 2 * pad - R + 1, W + 2 * pad - R + 1
        dy = rng.standard_normal((N, K, P, Q)).astype(np.float32)
        dx_, dw_, dy_ = self.put(x), self.put(w), self.put(dy)
        out = cu.DeviceArray(N * K * P * Q, F32)
        dxo, dwo = cu.DeviceArray(x.size, F32), cu.DeviceArray(w.size, F32)
        tx = torch.from_numpy(x).to(self.dev).requires_grad_(True)
        tw = torch.from_numpy(w).to(self.dev).requires_grad_(True)
        tdy = torch.from_numpy(dy).to(self.dev)
        geo = (N, C, H, W, K, R, R, 1, 1, pad, pad, 1, 1, 1, -1)
        fwd = lambda: cu.conv2d_forward(out, dx_, dw_, None, *geo)
        bwd_d = lambda: cu.conv2d_backward_data(dxo, dy_, dw_, *geo)
        bwd_w = lambda: cu.conv2d_backward_weight(dwo, None, dy_, dx_, *geo)
        fwd(), bwd_d(), bwd_w()
        ty = torch.nn.functional.conv2d(tx, tw, padding=pad)
        gx, gw = torch.autograd.grad(ty, (tx, tw), tdy)
        tol = 1e-3 * np.sqrt(C * R * R)
        self.check(out.to_host(), ty.detach().cpu().numpy(), 1e-3, tol, "conv fwd")
        self.check(dxo.to_host(), gx.cpu().numpy(), 1e-3, tol, "conv bwd data")
        self.check(
            dwo.to_host(),
            gw.cpu().numpy(),
            1e-3,
            1e-3 * np.sqrt(N * P * Q),
            "conv bwd weight",
        )
        flops = 2.0 * N * K * P * Q * C * R * R
        shape = [N, C, H, W, K, R, R]
        import torch.nn.grad as tg

        for name, ours_fn, theirs_fn in [
            (
                "conv2d_forward",
                fwd,
                lambda: torch.nn.functional.conv2d(
                    tx.detach(), tw.detach(), padding=pad
                ),
            ),
            (
                "conv2d_backward_data",
                bwd_d,
                lambda: tg.conv2d_input(tx.shape, tw.detach(), tdy, padding=pad),
            ),
            (
                "conv2d_backward_weight",
                bwd_w,
                lambda: tg.conv2d_weight(tx.detach(), tw.shape, tdy, padding=pad),
            ),
        ]:
            ms, mn = self.ours(ours_fn, inner=5)
            tms, _ = self.theirs(theirs_fn, inner=5)
            self.record(
                name,
                "best",
                shape,
                ms,
                mn,
                tms,
                flops=flops,
                baseline="torch (cuDNN, TF32 off)",
            )

    def memory_bound(self):
        cu = self.cu
        rng = np.random.default_rng(2)
        n = (16 << 20) if self.quick else (64 << 20)
        x = rng.standard_normal(n).astype(np.float32)
        dx, dout = self.put(x), cu.DeviceArray(n, F32)
        tx = torch.from_numpy(x).to(self.dev)

        def case(op, ours_fn, theirs_fn, ref, bytes_, shape, tol=(1e-5, 1e-6)):
            ours_fn()
            self.check(dout.to_host()[: ref.size], ref.reshape(-1), *tol, op)
            ms, mn = self.ours(ours_fn)
            tms, _ = self.theirs(theirs_fn)
            self.record(op, "best", shape, ms, mn, tms, bytes_=bytes_)

        case(
            "activation_forward relu",
            lambda: cu.activation_forward(dout, dx, n, 1, 0.0),
            lambda: torch.relu(tx),
            torch.relu(tx).cpu().numpy(),
            8 * n,
            [n],
        )
        case(
            "activation_forward gelu",
            lambda: cu.activation_forward(dout, dx, n, 7, 0.0),
            lambda: torch.nn.functional.gelu(tx),
            torch.nn.functional.gelu(tx).cpu().numpy(),
            8 * n,
            [n],
            (2e-5, 2e-6),
        )
        rows, cols = 8192, 4096
        case(
            "softmax_forward",
            lambda: cu.softmax_forward(dout, dx, rows, cols, False),
            lambda: torch.softmax(tx[: rows * cols].view(rows, cols), -1),
            torch.softmax(tx[: rows * cols].view(rows, cols), -1).cpu().numpy(),
            8 * rows * cols,
            [rows, cols],
            (1e-4, 1e-7),
        )
        N, C, H, W = 32, 64, 56, 56
        xb = tx[: N * C * H * W].view(N, C, H, W)
        sm, si = cu.DeviceArray(C, F32), cu.DeviceArray(C, F32)
        case(
            "batchnorm_forward train",
            lambda: cu.batchnorm_forward(
                dout, sm, si, None, None, dx, None, None, N, C, H * W, True, 0.1, 1e-5
            ),
            lambda: torch.nn.functional.batch_norm(xb, None, None, training=True),
            torch.nn.functional.batch_norm(xb, None, None, training=True).cpu().numpy(),
            3 * 4 * N * C * H * W,
            [N, C, H, W],
            (1e-4, 1e-4),
        )
        ind = cu.DeviceArray(N * C * (H // 2) * (W // 2), I64)
        case(
            "maxpool2d_forward 2x2",
            lambda: cu.maxpool2d_forward(
                dout, ind, dx, N, C, H, W, 2, 2, 2, 2, 0, 0, 1, 1, False
            ),
            lambda: torch.nn.functional.max_pool2d(xb, 2),
            torch.nn.functional.max_pool2d(xb, 2).cpu().numpy(),
            4 * N * C * H * W * 1.25 + 8 * N * C * H * W / 4,
            [N, C, H, W],
            (0, 0),
        )
        # Adam: reads p, g, m, v, writes p, m, v.
        p, g = self.put(x), self.put(x[::-1].copy())
        m_, v_ = cu.DeviceArray(n, F32), cu.DeviceArray(n, F32)
        cu.fill(m_, n, 0.0), cu.fill(v_, n, 0.0)
        tp = tx.clone()
        tp.grad = tx.flip(0).clone()
        opt = torch.optim.Adam([tp], lr=1e-3, foreach=False, fused=True)
        ms, mn = self.ours(
            lambda: cu.adam_step(
                p,
                m_,
                v_,
                None,
                g,
                n,
                1e-3,
                0.9,
                0.999,
                1e-8,
                0.0,
                1,
                False,
                False,
                False,
            )
        )
        tms, _ = self.theirs(opt.step)
        self.record(
            "adam_step",
            "best",
            [n],
            ms,
            mn,
            tms,
            bytes_=7 * 4 * n,
            baseline="torch.optim.Adam(fused)",
        )

    def run(self):
        print(
            json.dumps(
                {
                    "device": self.name,
                    "sm_clock_mhz": round(self.clock_khz / 1000),
                    "fp32_peak_gflops": round(self.fp32_peak_gflops),
                    "hbm_gbps_measured": round(self.hbm_gbps),
                }
            ),
            flush=True,
        )
        steps = [
            lambda: self.gemm(4096, 4096, 4096, 1),
            lambda: self.gemm(4096, 4096, 4096, -1, act=1),
            lambda: self.gemm(1024, 1024, 1024, 1),
            lambda: self.gemm(1024, 1024, 1024, 2),
            lambda: self.gemm(64, 512, 784, 1),
            lambda: self.gemm(64, 512, 784, 2),
            lambda: self.gemm(64, 512, 784, -1),
            lambda: self.gemm(2048, 512, 4096, 1),
            lambda: self.gemm(127, 1001, 513, 1),
            lambda: self.gemm(512, 512, 512, 0),
            lambda: self.conv(32, 64, 56, 56, 64, 3, 1),
            lambda: self.conv(64, 3, 224, 224, 64, 7, 3),
            lambda: self.conv(32, 256, 14, 14, 256, 1, 0),
            self.memory_bound,
        ]
        if self.quick:
            steps = [
                steps[0],
                steps[10],
                steps[-1],
            ]  # gemm 4096^3, one conv, memory-bound
        for s in steps:
            try:
                s()
            except Exception as e:  # noqa: BLE001 - keep going: one failing case must not hide the others
                print(
                    f"bench step failed: {type(e).__name__}: {e}",
                    file=sys.stderr,
                    flush=True,
                )
                self.results.append({"error": f"{type(e).__name__}: {e}"})
        return self.results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="bench/results/bench_gpu.json")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    if torch is None or not torch.cuda.is_available():
        print("bench_gpu: needs PyTorch with CUDA", file=sys.stderr)
        return 2
    if _ext.cuda is None or _ext.cuda.device_count() == 0:
        print("bench_gpu: neuraxon's CUDA backend is not usable here", file=sys.stderr)
        return 2
    results = Bench(args.quick).run()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {len(results)} results to {out}")
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
