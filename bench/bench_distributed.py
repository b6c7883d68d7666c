"""Data-parallel cost on this machine: epoch time with 1 rank x 2 threads vs 2 ranks x 1 thread,
and what the gradient all-reduce costs per step (not a timed test; results in bench/DISTRIBUTED.md).

    python bench/bench_distributed.py [--data mnist] [--repeats 2] [--skip-epochs]

1. `neuraxon train --model lenet --data mnist --epochs 1 --batch-size 64` with OMP_NUM_THREADS=2
   and with `--nproc 2` (1 thread per rank), alternating A B A B; the epoch's training time is
   the one `neuraxon train` prints (test evaluation excluded).
2. Under `neuraxon run -n 2`: for the MLP (784-512-256-10) and LeNet-5 gradients, the time of
   one all-reduce (AVG) of a float32 buffer that size (median of 50, ms; algorithm bandwidth
   = bytes / time; bus bandwidth = 2 (n - 1) / n of it, as nccl-tests report), and one training
   step at 32 examples per rank (global batch 64) without DDP and with it: the difference is
   the communication the step does not hide.
Writes bench/results/distributed.json.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def _median_ms(fn, n: int, warmup: int = 5) -> float:
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(ts)


def worker(out_path: str) -> None:
    """The 2-rank part (run under neuraxon run -n 2)."""
    import neuraxon as nx
    import neuraxon.distributed as dist
    import neuraxon.nn.functional as F
    import numpy as np
    from neuraxon import models
    from neuraxon.nn.parallel import DistributedDataParallel as DDP

    dist.init_process_group("mpi")
    r, n = dist.get_rank(), dist.get_world_size()
    res = {"world_size": n, "omp_threads": nx.get_num_threads(), "models": {}}
    for name in ("mlp", "lenet"):
        nx.manual_seed(0)
        net = models.build(name, (1, 28, 28), 10)
        numel = sum(p.numel() for p in net.parameters())
        buf = nx.ones(numel)
        ar_ms = _median_ms(lambda b=buf: dist.all_reduce(b, op=dist.ReduceOp.AVG), 50)
        nbytes = 4 * numel
        rng = np.random.default_rng(r)
        x = nx.tensor(rng.standard_normal((32, 1, 28, 28)).astype(np.float32))
        y = nx.tensor(rng.integers(0, 10, 32))

        def step(model, opt, x=x, y=y):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()

        plain = copy.deepcopy(net)
        plain_opt = nx.optim.SGD(plain.parameters(), lr=0.01, momentum=0.9)
        ddp = DDP(net)
        ddp_opt = nx.optim.SGD(ddp.parameters(), lr=0.01, momentum=0.9)
        local, synced = [], []
        for i in range(45):  # alternating, so that load changes hit both alike; 5 warm-up rounds
            t0 = time.perf_counter()
            step(plain, plain_opt)
            t1 = time.perf_counter()
            step(ddp, ddp_opt)
            t2 = time.perf_counter()
            if i >= 5:
                local.append(t1 - t0)
                synced.append(t2 - t1)
        local_ms, ddp_ms = 1e3 * statistics.median(local), 1e3 * statistics.median(synced)
        res["models"][name] = {
            "grad_floats": numel,
            "grad_mb": nbytes / 1e6,
            "allreduce_ms": ar_ms,
            "algbw_gbs": nbytes / (ar_ms * 1e-3) / 1e9,
            "busbw_gbs": 2 * (n - 1) / n * nbytes / (ar_ms * 1e-3) / 1e9,
            "step_ms_no_ddp": local_ms,
            "step_ms_ddp": ddp_ms,
            "buckets": ddp.last_sync_stats["buckets"],
        }
    # rank 0 writes its numbers (the ranks wait for each other in every all-reduce)
    if r == 0:
        with open(out_path, "w") as f:
            json.dump(res, f, indent=1)
    dist.destroy_process_group()


def _epoch_seconds(args_extra: list[str], env: dict, data: str, out: str) -> float:
    cmd = [sys.executable, "-m", "neuraxon", "train", "--model", "lenet", "--data", data, "--epochs", "1",
           "--batch-size", "64", "--quiet", "--out", out, *args_extra]  # fmt: skip
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{r.stdout}\n{r.stderr[-3000:]}")
    m = re.search(r"epoch 1/1: .*?, ([0-9.]+)s\n", r.stdout)
    if not m:
        raise RuntimeError(f"no epoch time in:\n{r.stdout}")
    return float(m.group(1))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--data", default="mnist", help="data set of the epoch timing (mnist, synthetic, ...)")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--skip-epochs", action="store_true")
    a = p.parse_args()
    if a.worker:
        worker(a.worker)
        return 0
    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)
    result = {"cpu": _cpu_name(), "cores": os.cpu_count(), "date": time.strftime("%Y-%m-%d")}
    with tempfile.TemporaryDirectory() as tmp:
        if not a.skip_epochs:
            one, two = [], []
            for _ in range(a.repeats):  # alternating, so the machine's slow phases hit both
                one.append(_epoch_seconds([], {**env, "OMP_NUM_THREADS": "2"}, a.data, os.path.join(tmp, "a")))
                two.append(_epoch_seconds(["--nproc", "2"], env, a.data, os.path.join(tmp, "b")))
            result["epoch_lenet_" + a.data] = {
                "1_rank_x_2_threads_s": one,
                "2_ranks_x_1_thread_s": two,
                "batch_size_global": 64,
            }
        path = os.path.join(tmp, "w.json")
        r = subprocess.run(
            [sys.executable, "-m", "neuraxon", "run", "-n", "2", os.path.abspath(__file__), "--worker", path],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if r.returncode != 0:
            print(r.stdout, r.stderr, file=sys.stderr)
            return 1
        with open(path) as f:
            result["allreduce"] = json.load(f)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "distributed.json"), "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result, indent=1))
    return 0


def _cpu_name() -> str:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import harness  # bench/harness.py (imported late: it sets thread-pool env vars on import)

    return harness.device_name()


if __name__ == "__main__":
    sys.exit(main())
