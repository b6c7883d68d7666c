"""Benchmark harness: validate, then time ours and the baselines side by side, alternating.

Every bench_<stem>.py builds a list of `Case`s and hands it to `main()`. For each case and
each thread count the harness

1. sets the thread count of every library (ours: neuraxon._ext.cpu.set_num_threads; torch:
   torch.set_num_threads; OpenBLAS: threadpoolctl when installed, else the OpenBLAS
   library's own set_num_threads through ctypes, else a subprocess per thread count with
   OPENBLAS_NUM_THREADS/OMP_NUM_THREADS set),
2. validates our kernel against the NumPy reference (neuraxon.testing.reference) BEFORE
   timing it (a failing case is reported and not timed),
3. times ours and every baseline in one loop, A B C A B C ..., so that the machine's slow
   and fast phases (a shared 2-core box flips between them every few seconds) hit every
   contender alike; each sample runs `inner` calls so it lasts >= ~0.2 ms,
4. writes one JSON object per (variant, baseline):
   {op, variant, device, device_name, shape, dtype, threads, ms_median, ms_min, ms_p90,
    gflops, gbps, pct_peak, baseline, baseline_ms, baseline_ms_min, ratio, git_sha, ...}
   with ratio = baseline_ms / ms_median (> 1: we are faster).

% of peak uses measured ceilings (CEILINGS below, by CPU model): FP32 FMA peak per core and
DRAM bandwidth at 1 and 2 threads. A case says whether it is bound by flops or by bytes;
memory-bound cases small enough to run from cache get no % (CACHE_BYTES). Override with
NEURAXON_PEAK_GFLOPS_PER_CORE and NEURAXON_BW_GBS="11,21".

The FMA peak is also measured around each run (fma_peak_now: bench/ceilings.c built with the
system's C compiler, on the run's ISA path and thread count, before the first case and after
the last): a VM's clock moves with its neighbours (this Xeon guest's AVX2 peak read 129.5
GFLOPS a core in one hour and 113.9 in another), so a fixed ceiling makes a slow hour look
like a slow kernel. When that measurement works, flops-bound records divide by the mean of the
two readings (`peak_gflops_now`, both kept in `peak_now_readings`) and keep the table's figure
as `pct_peak_nominal`; `peak_source` says which one `pct_peak` used.
"""

from __future__ import annotations

import argparse
import ctypes
import functools
import glob
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

# Thread pools of three libraries share 2 cores here. Each pool's workers spin after a call
# (libgomp: GOMP_SPINCOUNT=300000 pause loops, ~10+ ms on this CPU; OpenBLAS: 2^28 cycles,
# ~0.1 s) and steal a core from the next contender: measured 2T times went 100x slower
# when ours, NumPy and torch alternated. So the harness bounds the spinning (same bound for
# our libgomp and torch's) and sleeps briefly when it switches contender. These must be set
# before numpy, torch or neuraxon._cpu load their thread runtimes (bench.py sets them first).
SPIN_ENV = {"GOMP_SPINCOUNT": "20000", "OPENBLAS_THREAD_TIMEOUT": "21"}
for _k, _v in SPIN_ENV.items():
    os.environ.setdefault(_k, _v)

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")

# ---- machine ceilings ------------------------------------------------------------------


# Measured ceilings: (model-name prefix, /proc/cpuinfo "model" or None for any) ->
# ({ISA path: FP32 FMA GFLOPS per core}, (DRAM GB/s at 1 thread, at 2 threads)); the first
# entry that matches wins. Measure a new machine with bench/ceilings.c (FMA chains per ISA and
# a 256 MiB triad) and add it here.
# - Intel Xeon model 167 (the 2-vCPU KVM guest of 2026-12-06): bench/ceilings.c on a quiet
#   machine (load 0.7-0.9), two runs: AVX-512 239.5-239.9 GFLOPS on 1 core (64 flops a cycle at
#   ~3.75 GHz), 476.9-478.3 on 2; AVX2 129.2-129.6 (32 a cycle at ~4.05 GHz), 255.1-259.0 on 2;
#   triad 12.2-12.6 GB/s on 1 thread, 23.3-23.4 on 2.
# - Other "Intel(R) Xeon": anchors/cpu-measured.md (Cascade Lake, AVX-512 at 2.37 GHz, AVX2
#   at 2.67 GHz).
# - "AMD EPYC": the 2-vCPU Zen 4 box this project was first benchmarked on: 12 independent zmm
#   FMA chains per thread gave 116 GFLOPS on 1 core in a quiet moment (Zen 4 double-pumps
#   512-bit FMAs, so AVX2 reaches the same 116); a 256 MiB triad 21.9 GB/s on 1 thread (on 2
#   threads only 15-16 with other tenants on the second core, so the 1-thread figure stands in).
CEILINGS = [
    ("Intel(R) Xeon", 167, {"avx512": 240.0, "avx2": 129.5}, (12.4, 23.4)),
    ("Intel(R) Xeon", None, {"avx512": 152.0, "avx2": 85.6}, (11.0, 21.0)),
    ("AMD EPYC", None, {"avx512": 116.0, "avx2": 116.0}, (22.0, 22.0)),
]


def _cpu_model() -> int | None:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model") and line.split(":")[0].strip() == "model":
                    return int(line.split(":", 1)[1])
    except (OSError, ValueError):
        pass
    return None


@functools.lru_cache(maxsize=None)
def _ceilings() -> tuple[dict, tuple]:  # /proc/cpuinfo read once, not per record
    name, model = device_name(), _cpu_model()
    for prefix, m, peaks, bw in CEILINGS:
        if name.startswith(prefix) and m in (None, model):
            return peaks, bw
    return CEILINGS[1][2], CEILINGS[1][3]


def _isa() -> str:
    try:
        from neuraxon import _ext

        return _ext.cpu.isa()
    except Exception:  # noqa: BLE001 (no build: the widest path)
        return "avx512"


def peak_gflops(threads: int) -> float:
    """FP32 FMA peak on `threads` cores for the ISA path neuraxon runs now
    (NEURAXON_PEAK_GFLOPS_PER_CORE overrides)."""
    env = os.environ.get("NEURAXON_PEAK_GFLOPS_PER_CORE")
    peaks = _ceilings()[0]
    per_core = float(env) if env else peaks.get(_isa(), min(peaks.values()))
    return per_core * threads


@functools.lru_cache(maxsize=None)
def _ceilings_binary() -> str | None:
    """bench/ceilings.c compiled once per machine (cached by its source's mtime), or None
    when no C compiler is at hand."""
    src = os.path.join(HERE, "ceilings.c")
    cc = os.environ.get("CC", "cc")
    exe = os.path.join(os.environ.get("TMPDIR", "/tmp"),
                       f"neuraxon_ceilings_{os.getuid()}_{int(os.path.getmtime(src))}")
    if not os.path.exists(exe):
        try:
            subprocess.run([cc, "-O2", "-fopenmp", src, "-o", exe + ".tmp"], check=True,
                           capture_output=True, timeout=120)
            os.replace(exe + ".tmp", exe)
        except (OSError, subprocess.SubprocessError):
            return None
    return exe


def fma_peak_now(isa: str, threads: int) -> float | None:
    """The FP32 FMA peak of `threads` cores on ISA path `isa` measured now (best of three
    ~0.1 s trials of independent FMA chains), or None (no compiler, no such ISA, portable path)."""
    if isa not in ("avx2", "avx512"):
        return None
    exe = _ceilings_binary()
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "fma", isa, str(threads)], check=True, capture_output=True,
                             text=True, timeout=60).stdout
        return float(out.strip())
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


def _rebase_peak(recs: list[dict], readings: list[float | None]) -> None:
    """Divide the flops-bound records of one run by the FMA peak measured around it."""
    got = [r for r in readings if r]
    if len(got) != len(readings):
        return
    now = sum(got) / len(got)
    for r in recs:
        if r.get("valid", True) and r.get("bound") == "flops" and r.get("gflops") is not None:
            r["pct_peak_nominal"] = r["pct_peak"]
            r["pct_peak"] = 100.0 * r["gflops"] / now
            r["peak_gflops_now"] = now / r["threads"]  # per core, like peak_gflops_per_core
            r["peak_now_readings"] = [g / r["threads"] for g in got]
            r["peak_source"] = "measured around the run"


def peak_gbps(threads: int) -> float:
    """DRAM bandwidth with `threads` cores busy (NEURAXON_BW_GBS="1T,2T" overrides)."""
    env = os.environ.get("NEURAXON_BW_GBS")
    bw = [float(x) for x in env.split(",")] if env else list(_ceilings()[1])
    return bw[min(threads, len(bw)) - 1]


# A memory-bound case that moves fewer bytes than this runs from cache: no DRAM % for it.
CACHE_BYTES = 48e6


def device_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_sha() -> str:
    try:
        out = subprocess.run(["git", "-C", REPO, "rev-parse", "--short=12", "HEAD"],
                             capture_output=True, text=True, timeout=10)
        sha = out.stdout.strip()
        # Code only: the results a run of the suite rewrites (bench/results) do not make the
        # next benchmark's code "dirty".
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no", "--",
                                "csrc", "bench", "python", ":(exclude)bench/results"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return sha + ("+dirty" if dirty and sha else "") if sha else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


# ---- thread control --------------------------------------------------------------------

_blas_setter: Callable[[int], None] | None = None
_blas_probe_done = False


def _find_blas_setter() -> Callable[[int], None] | None:
    """A function that sets NumPy's BLAS thread count in this process, or None."""
    try:
        from threadpoolctl import threadpool_limits

        return lambda n: threadpool_limits(limits=n, user_api="blas")
    except ImportError:
        pass
    # NumPy wheels bundle OpenBLAS as numpy.libs/lib*openblas*.so; the loaded copy is the
    # one numpy uses (dlopen returns the already-mapped library).
    libdir = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
    for path in sorted(glob.glob(os.path.join(libdir, "*openblas*.so*"))):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_",
                     "openblas_set_num_threads", "scipy_openblas_set_num_threads"):
            fn = getattr(lib, name, None)
            if fn is not None:
                fn.argtypes, fn.restype = [ctypes.c_int], None
                return lambda n, fn=fn: fn(int(n))
    return None


def blas_threads_settable() -> bool:
    global _blas_setter, _blas_probe_done
    if not _blas_probe_done:
        _blas_setter, _blas_probe_done = _find_blas_setter(), True
    return _blas_setter is not None


def set_threads(n: int) -> None:
    """Set ours, torch's and (when possible in-process) OpenBLAS's thread count to n."""
    from neuraxon import _ext

    _ext.cpu.set_num_threads(n)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n)
    if blas_threads_settable():
        _blas_setter(n)  # type: ignore[misc]


def try_torch():
    """torch when installed (the `bench` extra), else None."""
    try:
        import torch

        return torch
    except ImportError:
        return None


# ---- timing ------------------------------------------------------------------------------


def time_alternating(fns: dict[str, Callable[[], object]], *, min_time: float = 0.3,
                     min_reps: int = 10, max_reps: int = 2000, warmup: int = 2,
                     sample_s: float = 2e-4, settle_s: float = 0.0) -> dict[str, np.ndarray]:
    """Seconds per call for each function, sampled round-robin (A B C A B C ...).

    Each function gets `warmup` untimed calls, then an inner repeat count so one sample lasts
    >= sample_s. Rounds continue until every function has >= min_reps samples and >= min_time
    seconds of samples (or max_reps). The starting function rotates each round so none
    always runs right after the same neighbour. settle_s > 0 sleeps before each sample so
    the previous contender's spinning worker threads go to sleep (multi-threaded runs).
    """
    names = list(fns)
    inner = {}
    for name in names:
        f = fns[name]
        for _ in range(warmup):
            f()
        t0 = time.perf_counter()
        f()
        dt = max(time.perf_counter() - t0, 1e-7)
        inner[name] = max(1, min(10000, int(math.ceil(sample_s / dt))))
    samples: dict[str, list[float]] = {n: [] for n in names}
    spent = {n: 0.0 for n in names}
    perf = time.perf_counter
    r = 0
    while r < max_reps:
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            f, k = fns[name], inner[name]
            if settle_s:
                time.sleep(settle_s)
            t0 = perf()
            for _ in range(k):
                f()
            dt = perf() - t0
            samples[name].append(dt / k)
            spent[name] += dt
        r += 1
        if r >= min_reps and all(s >= min_time for s in spent.values()):
            break
    return {n: np.asarray(v) for n, v in samples.items()}


# ---- cases -------------------------------------------------------------------------------


@dataclass
class Case:
    """One benchmark configuration.

    ours: variant name -> zero-argument callable running our kernel on preallocated arrays.
    baselines: baseline name ("numpy", "torch") -> callable doing the same work.
    check: raises AssertionError when our result differs from neuraxon.testing.reference;
           called for every variant before timing (it takes the variant name).
    flops / nbytes: work per call (for GFLOPS, GB/s); bound: "flops" or "bytes" decides which
    ceiling % of peak compares against.
    """

    op: str
    shape: str
    ours: dict[str, Callable[[], object]]
    baselines: dict[str, Callable[[], object]] = field(default_factory=dict)
    check: Callable[[str], None] | None = None
    flops: float = 0.0
    nbytes: float = 0.0
    bound: str = "flops"
    dtype: str = "float32"
    label: str = ""          # human name of the shape (e.g. "mlp fc1 fwd")
    min_time: float = 0.3


def measure(case: Case, threads: int, sha: str, dev_name: str, log=print) -> list[dict]:
    """Validate every variant of `case`, then time all of them and its baselines together."""
    set_threads(threads)
    valid = {}
    for v in case.ours:
        try:
            if case.check is not None:
                case.check(v)
            valid[v] = ""
        except AssertionError as e:  # report, never time a wrong kernel
            valid[v] = str(e).strip().splitlines()[0][:200] if str(e).strip() else "mismatch"
            log(f"  INVALID {case.op} {v} {case.shape}: {valid[v]}")
    fns = {("ours", v): f for v, f in case.ours.items() if not valid[v]}
    fns.update({("base", b): f for b, f in case.baselines.items()})
    if not fns:
        return []
    keyed = {f"{k[0]}:{k[1]}": f for k, f in fns.items()}
    # Multi-threaded: samples of >= 30 ms after a 20 ms pause. With 2 ms samples and 3 ms
    # pauses the previous library's pool still held the cores: 128x784x512 B^T at 2T took
    # 0.70 ms alone but 1.22 alternating with NumPy and 2.4 with torch (NumPy 0.73 -> 1.22);
    # with 30/20 ms all three ran at their solo speed (0.60, 0.68, 0.72 ms).
    multi = threads > 1
    t = time_alternating(keyed, min_time=case.min_time, sample_s=3e-2 if multi else 2e-4,
                         settle_s=2e-2 if multi else 0.0)
    recs = []
    for v in case.ours:
        if valid[v]:
            recs.append(_record(case, v, threads, sha, dev_name, None, None, None, valid[v]))
            continue
        ours = t[f"ours:{v}"]
        bases = [(b, t[f"base:{b}"]) for b in case.baselines] or [(None, None)]
        for b, bt in bases:
            recs.append(_record(case, v, threads, sha, dev_name, ours, b, bt, ""))
    return recs


def _record(case: Case, variant: str, threads: int, sha: str, dev_name: str, ours, base, bt,
            invalid: str) -> dict:
    rec = {"op": case.op, "variant": variant, "device": "cpu", "device_name": dev_name,
           "shape": case.shape, "label": case.label, "dtype": case.dtype, "threads": threads,
           "bound": case.bound}
    if invalid:
        rec.update({"valid": False, "error": invalid})
        return rec
    med, mn = float(np.median(ours)), float(np.min(ours))
    gflops = case.flops / med / 1e9 if case.flops else None
    gbps = case.nbytes / med / 1e9 if case.nbytes else None
    if case.bound == "flops" and gflops is not None:
        pct = 100.0 * gflops / peak_gflops(threads)
    elif gbps is not None and case.nbytes >= CACHE_BYTES:
        pct = 100.0 * gbps / peak_gbps(threads)
    else:
        pct = None
    rec.update({
        "ms_median": med * 1e3, "ms_min": mn * 1e3,
        "ms_p90": float(np.percentile(ours, 90)) * 1e3, "reps": int(len(ours)),
        "gflops": gflops, "gbps": gbps, "pct_peak": pct,
        "baseline": base,
        "baseline_ms": float(np.median(bt)) * 1e3 if bt is not None else None,
        "baseline_ms_min": float(np.min(bt)) * 1e3 if bt is not None else None,
        "ratio": float(np.median(bt)) / med if bt is not None else None,
        # best rep vs best rep: on a contended box the quiet-phase comparison
        "ratio_min": float(np.min(bt)) / mn if bt is not None else None,
        "git_sha": sha, "valid": True,
        "peak_gflops_per_core": peak_gflops(1), "peak_source": "CEILINGS table", "peak_gbps": f"{peak_gbps(1):g}/{peak_gbps(2):g} GB/s",
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "loadavg_1min": round(os.getloadavg()[0], 2),  # other tenants: > threads = contended
    })
    return rec


def fmt_line(r: dict) -> str:
    if not r.get("valid", True):
        return f"{r['op']:<10} {r['variant']:<24} {r['shape']:<30} {r['threads']}T  INVALID: {r.get('error')}"
    rate = f"{r['gflops']:7.1f} GFLOPS" if r.get("gflops") else f"{r['gbps']:7.2f} GB/s  "
    pct = f"{r['pct_peak']:5.1f}%" if r.get("pct_peak") is not None else "   - "
    base = (f"  {r['baseline']:>5} {r['baseline_ms']:9.3f} ms  ratio {r['ratio']:5.2f}"
            if r.get("baseline") else "")
    return (f"{r['op']:<10} {r['variant']:<24} {r['shape']:<30} {r['threads']}T "
            f"{r['ms_median']:9.3f} ms (min {r['ms_min']:.3f}) {rate} {pct}{base}")


# ---- main ------------------------------------------------------------------------------


def parse_args(op: str, argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=f"bench_{op}", description=f"benchmark the {op} kernels")
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    p.add_argument("--quick", action="store_true", help="a few small cases, short timing")
    p.add_argument("--filter", default="", help="only cases whose shape/label contains this text")
    p.add_argument("--out", default=None,
                   help=f"results JSON (default bench/results/{op}.json; '-' = do not write)")
    p.add_argument("--min-time", type=float, default=None, help="seconds of samples per contender")
    p.add_argument("--no-baseline", action="store_true", help="time ours only")
    p.add_argument("--isa", default=None, choices=("portable", "avx2", "avx512"),
                   help="force neuraxon's CPU path (default: the best this CPU runs); pair it with "
                        "OPENBLAS_CORETYPE (e.g. Haswell for AVX2) so both sides run the same ISA")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def blas_kernels() -> str:
    """Which OpenBLAS kernels NumPy runs (threadpoolctl's 'architecture'), else the forced
    OPENBLAS_CORETYPE, else 'unknown'."""
    try:
        from threadpoolctl import threadpool_info

        for info in threadpool_info():
            if info.get("internal_api") == "openblas" and info.get("architecture"):
                return str(info["architecture"])
    except ImportError:
        pass
    return os.environ.get("OPENBLAS_CORETYPE", "unknown")


def torch_isa() -> str:
    """The instruction sets torch's three CPU engines may use, from the variables that limit
    them (read when torch loads or first calls them): ATen's own kernels
    (ATEN_CPU_CAPABILITY), MKL's GEMMs (MKL_ENABLE_INSTRUCTIONS) and oneDNN's convolutions
    and RNNs (ONEDNN_MAX_CPU_ISA). 'auto' = the best the CPU has. Without the last one,
    torch's convolutions and LSTM ran AVX-512 in "AVX2" comparisons (conv 64->64 3x3: 145
    GFLOPS, above the AVX2 peak; 84 with it)."""
    e = os.environ
    onednn = e.get("ONEDNN_MAX_CPU_ISA") or e.get("DNNL_MAX_CPU_ISA") or "auto"
    return (f"aten {e.get('ATEN_CPU_CAPABILITY', 'auto')}, mkl {e.get('MKL_ENABLE_INSTRUCTIONS', 'auto')}, "
            f"onednn {onednn}")


def main(op: str, make_cases: Callable[[argparse.Namespace], list[Case]],
         argv: list[str] | None = None) -> list[dict]:
    """Run every case at every thread count; print one line per record; write the JSON."""
    args = parse_args(op, argv)
    threads = [int(x) for x in str(args.threads).split(",") if x]
    sha, dev_name = git_sha(), device_name()
    from neuraxon import _ext

    if args.isa:
        _ext.cpu.set_isa(args.isa)
    isa, blas, tisa = _ext.cpu.isa(), blas_kernels(), torch_isa()
    if not args.child:
        print(f"neuraxon ISA path: {isa}; OpenBLAS kernels: {blas}; torch: {tisa}", flush=True)
        if args.isa == "avx2" and "auto" in tisa:
            print("WARNING: torch may run AVX-512 kernels beside neuraxon's AVX2 path: set "
                  "ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2", flush=True)
    recs: list[dict] = []
    for n in threads:
        if not args.child and len(threads) > 1:
            # One process per thread count: OpenBLAS may read its count only at load time, and
            # thread pools sized by an earlier count disturbed the next (AVX2 MLP step at 2
            # threads after 1: ours 11.5 ms, torch 17.4 ms; in a fresh process 2.5 / 2.8 ms)
            recs += _run_child(op, n, argv)
            continue
        cases = make_cases(args)
        readings = [fma_peak_now(isa, n)]
        first = len(recs)
        for case in cases:
            if args.filter and args.filter not in case.shape and args.filter not in case.label:
                continue
            if args.no_baseline:
                case.baselines = {}
            if args.min_time is not None:
                case.min_time = args.min_time
            elif args.quick:
                case.min_time = min(case.min_time, 0.05)
            for r in measure(case, n, sha, dev_name, log=lambda s: print(s, flush=True)):
                r.update({"isa": isa, "blas_kernels": blas, "torch_isa": tisa})
                print(fmt_line(r), flush=True)
                recs.append(r)
        readings.append(fma_peak_now(isa, n))
        _rebase_peak(recs[first:], readings)
        if readings[0]:
            print(f"FMA peak measured around the run ({isa}, {n} threads): "
                  + " / ".join(f"{g:.1f}" if g else "-" for g in readings) + " GFLOPS", flush=True)
    if not args.child and args.out != "-":
        out = args.out or os.path.join(RESULTS, f"{op}.json")
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with open(out, "w") as f:
            f.write("[\n" + ",\n".join(json.dumps(r, sort_keys=True) for r in recs) + "\n]\n")
        print(f"wrote {len(recs)} results to {os.path.relpath(out)}")
    elif args.child:
        print("@@JSON@@" + json.dumps(recs))
    return recs


def _run_child(op: str, n: int, argv: list[str] | None) -> list[dict]:
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(n), OMP_NUM_THREADS=str(n),
               MKL_NUM_THREADS=str(n))
    rest = [a for a in (argv if argv is not None else sys.argv[1:])]
    cmd = [sys.executable, os.path.join(HERE, f"bench_{op}.py"), *rest, "--threads", str(n), "--child"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    recs: list[dict] = []
    for line in out.stdout.splitlines():
        if line.startswith("@@JSON@@"):
            recs = json.loads(line[8:])
        else:
            print(line, flush=True)
    if out.returncode != 0:
        print(out.stderr, file=sys.stderr)
    return recs


# ---- helpers the bench files share ---------------------------------------------------


def ensure_importable() -> None:
    """Make `import neuraxon` work from a source checkout (python/ on the path).

    The benchmarks need only the kernels (neuraxon._ext) and neuraxon.testing. If the
    package's __init__ fails to import (the Python layer is mid-change), a bare package
    object stands in for it so that those two still load.
    """
    py = os.path.join(REPO, "python")
    if os.path.isdir(os.path.join(py, "neuraxon")) and py not in sys.path:
        sys.path.insert(0, py)
    try:
        import neuraxon  # noqa: F401
    except Exception as e:  # noqa: BLE001 - anything the Python layer raises
        import importlib.util
        import types

        for name in [m for m in sys.modules if m == "neuraxon" or m.startswith("neuraxon.")]:
            del sys.modules[name]
        spec = importlib.util.find_spec("neuraxon")
        if spec is None or not spec.submodule_search_locations:
            raise
        pkg = types.ModuleType("neuraxon")
        pkg.__path__ = list(spec.submodule_search_locations)  # type: ignore[attr-defined]
        sys.modules["neuraxon"] = pkg
        print(f"note: neuraxon/__init__ failed ({type(e).__name__}: {e}); loading the kernels only",
              file=sys.stderr)


def median_ms(samples) -> float:
    return statistics.median(samples) * 1e3


def rand(rng: np.random.Generator, shape, lo: float = -1.0, hi: float = 1.0) -> np.ndarray:
    return rng.uniform(lo, hi, size=shape).astype(np.float32)
