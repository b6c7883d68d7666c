"""The rank side of tests/test_distributed_nccl.py's GPU tests: backend "nccl" on real CUDA
devices (never run on a GPU yet). Each rank checks its results against NumPy itself (it can
make every rank's inputs) and writes OUT_DIR/rank<r>.json. Usage:

    python tests/nccl_jobs.py OUT_DIR                  # a world of one (no mpiexec needed)
    mpiexec -n 2 python tests/nccl_jobs.py OUT_DIR     # one GPU per rank: set
                                                       # NEURAXON_TEST_GPU_PER_RANK=1

With NEURAXON_TEST_GPU_PER_RANK=1 each rank sees only the GPU of its local rank (set before
neuraxon loads CUDA). If init_process_group fails, the rank writes {"init_error": ...} and
exits with status 3 (the test decides whether that was expected: NCCL refuses two ranks on
one GPU).
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback

if os.environ.get("NEURAXON_TEST_GPU_PER_RANK") == "1":
    local = os.environ.get("OMPI_COMM_WORLD_LOCAL_RANK") or os.environ.get("MPI_LOCALRANKID") or "0"
    os.environ["CUDA_VISIBLE_DEVICES"] = local

import neuraxon as nx
import neuraxon.distributed as dist
import numpy as np

SIZES = (0, 1, 3, 4097)
OPS = ("SUM", "AVG", "MAX", "MIN", "PRODUCT")
DTYPES = ("float32", "int64", "bool")


def data(rank: int, n: int, dtype: str) -> np.ndarray:
    """Rank `rank`'s input of n elements (products of int64 stay small)."""
    rng = np.random.default_rng(1000 * rank + n + 7 * DTYPES.index(dtype))
    if dtype == "float32":
        return rng.standard_normal(n).astype(np.float32)
    if dtype == "int64":
        return rng.integers(-9, 10, n).astype(np.int64)
    return rng.random(n) < 0.5


def expected(op: str, dtype: str, n: int, world: int) -> np.ndarray | None:
    xs = np.stack([data(r, n, dtype) for r in range(world)])
    if dtype == "bool":
        if op == "AVG":
            return None  # refused
        return xs.any(0) if op in ("SUM", "MAX") else xs.all(0)
    if op == "SUM":
        return xs.sum(0, dtype=xs.dtype)
    if op == "PRODUCT":
        return xs.prod(0, dtype=xs.dtype)
    if op == "MAX":
        return xs.max(0)
    if op == "MIN":
        return xs.min(0)
    s = xs.sum(0, dtype=xs.dtype)
    if dtype == "float32":
        return s / np.float32(world)
    q = np.abs(s) // world  # integer AVG truncates toward zero (NCCL)
    return np.where(s < 0, -q, q)


def _same(got: np.ndarray, want: np.ndarray, dtype: str) -> tuple[bool, float]:
    if want.size == 0:
        return got.size == 0, 0.0
    if dtype == "float32":
        d = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64))))
        return bool(np.allclose(got, want, rtol=1e-5, atol=1e-6)), d
    return bool(np.array_equal(got, want)), float(np.max(np.abs(got.astype(np.int64) - want.astype(np.int64))))


def _tensor(a: np.ndarray, dtype: str):
    return nx.tensor(a, dtype=getattr(nx, dtype), device="cuda")


def _host(t) -> np.ndarray:
    return t.to("cpu").numpy().reshape(-1)


def collectives() -> dict:
    r, w = dist.get_rank(), dist.get_world_size()
    res, bad = {}, []
    for dtype in DTYPES:
        for n in SIZES:
            for op in OPS:
                key = f"all_reduce_{dtype}_{n}_{op}"
                t = _tensor(data(r, n, dtype), dtype)
                want = expected(op, dtype, n, w)
                if want is None:
                    try:
                        dist.all_reduce(t, op=getattr(dist.ReduceOp, op))
                        bad.append(f"{key}: no error")
                    except ValueError:
                        pass
                    continue
                dist.all_reduce(t, op=getattr(dist.ReduceOp, op))
                ok, d = _same(_host(t), want, dtype)
                res[key] = d
                if not ok:
                    bad.append(f"{key}: max diff {d}")
            for src in range(w):
                t = _tensor(data(r, n, dtype), dtype)
                dist.broadcast(t, src)
                if not np.array_equal(_host(t), data(src, n, dtype)):
                    bad.append(f"broadcast_{dtype}_{n}_src{src}")
            t = _tensor(data(r, n, dtype), dtype)
            outs = [_tensor(np.zeros(n, data(0, 0, dtype).dtype), dtype) for _ in range(w)]
            outs[r] = t  # the input itself as this rank's output slot: allowed, as in torch
            dist.all_gather(outs, t)
            for k, o in enumerate(outs):
                if not np.array_equal(_host(o), data(k, n, dtype)):
                    bad.append(f"all_gather_{dtype}_{n}_from{k}")
    # async: several in flight, then waited
    ts = [_tensor(data(r, 4097, "float32"), "float32") for _ in range(4)]
    works = [dist.all_reduce(t, op=dist.ReduceOp.SUM, async_op=True) for t in ts]
    polled = [w_.is_completed() for w_ in works]  # any value: must not raise
    for w_ in works:
        w_.wait()
    want = expected("SUM", "float32", 4097, w)
    if not all(_same(_host(t), want, "float32")[0] for t in ts) or not all(w_.is_completed() for w_ in works):
        bad.append("async all_reduce")
    res["async_polled_before_wait"] = polled
    # a transposed (permuted) tensor: neuraxon's tensors are contiguous copies, so this is handled
    m = nx.tensor(np.arange(12, dtype=np.float32).reshape(3, 4), device="cuda").t()
    dist.all_reduce(m, op=dist.ReduceOp.SUM)
    if not np.array_equal(m.to("cpu").numpy(), np.arange(12, dtype=np.float32).reshape(3, 4).T * w):
        bad.append("transposed all_reduce")
    dist.barrier()
    b = dist.barrier(async_op=True)
    b.wait()
    try:
        dist.all_reduce(nx.ones(2))
        bad.append("a CPU tensor was accepted")
    except ValueError as e:
        res["cpu_tensor_error"] = str(e)
    res["bad"] = bad
    return res


def ddp() -> dict:
    """DDP with backend nccl on a share of the batch equals one process on the whole batch."""
    from neuraxon import nn
    from neuraxon.nn.parallel import DistributedDataParallel as DDP

    r, w = dist.get_rank(), dist.get_world_size()
    rng = np.random.default_rng(5)
    xs = rng.standard_normal((6, 8, 5)).astype(np.float32)

    def build():
        nx.manual_seed(3)
        return nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 2)).to("cuda")

    def train(model, part):
        opt = nx.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        for x in xs:
            opt.zero_grad()
            model(nx.tensor(x[part], device="cuda")).square().mean().backward()
            opt.step()

    ref = build()
    train(ref, slice(None))
    net = build()
    model = DDP(net, bucket_cap_mb=0.0001)  # several buckets
    h = 8 // w
    train(model, slice(r * h, (r + 1) * h))
    got = [p.detach().to("cpu").numpy() for p in net.parameters()]
    want = [p.detach().to("cpu").numpy() for p in ref.parameters()]
    return {
        "max_abs_diff": max(float(np.abs(a - b).max()) for a, b in zip(got, want)),
        "buckets": model.last_sync_stats["buckets"],
    }


def sync_batchnorm() -> dict:
    from neuraxon import nn

    r, w = dist.get_rank(), dist.get_world_size()
    x = np.random.default_rng(9).standard_normal((8, 3, 4)).astype(np.float32)
    nx.manual_seed(1)
    bn = nn.BatchNorm1d(3).to("cuda")
    sbn = nn.SyncBatchNorm.convert_sync_batchnorm(nn.Sequential(nn.BatchNorm1d(3))).to("cuda")
    h = 8 // w
    want = bn(nx.tensor(x, device="cuda")).detach().to("cpu").numpy()[r * h : (r + 1) * h]
    got = sbn(nx.tensor(x[r * h : (r + 1) * h], device="cuda")).detach().to("cpu").numpy()
    return {"max_abs_diff": float(np.abs(got - want).max())}


def timeout() -> dict:
    """Rank 1 never joins an all_reduce: rank 0's wait(timeout) must end with an error naming
    the rank and the collective (the communicator is aborted)."""
    r = dist.get_rank()
    if r != 0:
        time.sleep(8)
        return {"skipped_by_design": True}
    t0 = time.monotonic()
    try:
        dist.all_reduce(nx.ones(3, device="cuda"), async_op=True).wait(timeout=4)
        return {"error": None}
    except RuntimeError as e:
        return {"error": str(e), "seconds": time.monotonic() - t0}


def main(out_dir: str) -> int:
    res = {}
    try:
        dist.init_process_group("nccl", timeout=120)
    except RuntimeError as e:
        res["init_error"] = str(e)
        rank = int(os.environ.get("OMPI_COMM_WORLD_RANK", os.environ.get("PMI_RANK", "0")))
        with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
            json.dump(res, f)
        return 3
    r = dist.get_rank()
    try:
        res.update(rank=r, world_size=dist.get_world_size(), backend=dist.get_backend())
        res["version"] = list(dist._state.backend.lib.version())  # the library in use
        res["collectives"] = collectives()
        res["ddp"] = ddp()
        res["sync_batchnorm"] = sync_batchnorm()
        if dist.get_world_size() > 1 and os.environ.get("NEURAXON_TEST_NCCL_TIMEOUT") == "1":
            res["timeout"] = timeout()
        else:
            dist.destroy_process_group()
        res["initialized_after_destroy"] = dist.is_initialized()
    except Exception:  # noqa: BLE001 (any failure is a result to report)
        res["exception"] = traceback.format_exc()
    with open(os.path.join(out_dir, f"rank{r}.json"), "w") as f:
        json.dump(res, f)
    if "timeout" in res:
        os._exit(0)  # the communicator is aborted (rank 0) or its peer is gone (rank 1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
