"""The rank side of tests/test_distributed.py: run under mpiexec (2 ranks), it exercises
neuraxon.distributed, DistributedDataParallel and DistributedSampler and writes what it saw to
OUT_DIR/rank<r>.json; the test checks the values. Usage:

    mpiexec -n 2 python tests/distributed_jobs.py OUT_DIR

Every rank also trains the single-process reference itself (same seed, the whole batch), so
the equivalence numbers need no second job.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import sys

import neuraxon as nx
import neuraxon.distributed as dist
import neuraxon.nn.functional as F
import numpy as np
from neuraxon import models, nn
from neuraxon.data import DataLoader, DistributedSampler, TensorDataset
from neuraxon.nn.parallel import DistributedDataParallel as DDP

STEPS = 20
BATCH = 16  # the global batch: each of 2 ranks takes 8


def collectives(dev: str) -> dict:
    r, n = dist.get_rank(), dist.get_world_size()
    out = {}
    for op in ("SUM", "AVG", "MAX", "MIN", "PRODUCT"):
        f = nx.tensor([[r + 1.0, -2.5 * r], [3.0, 0.25 + r]], device=dev)
        v0 = f._version
        dist.all_reduce(f, op=getattr(dist.ReduceOp, op))
        out[f"f32_{op}"] = f.tolist()
        out[f"f32_{op}_version_bumped"] = f._version > v0
        i = nx.tensor([r * 7 - 3, 5, -r, 2**40 + r], device=dev)
        dist.all_reduce(i, op=getattr(dist.ReduceOp, op))
        out[f"i64_{op}"] = i.tolist()
        out[f"i64_{op}_dtype"] = i.dtype.name
    b = nx.tensor([r == 0, True, False], device=dev)
    dist.all_reduce(b)
    out["bool_SUM"] = b.tolist()
    for src in range(n):
        t = nx.full((2, 3), float(r + 10), device=dev)
        dist.broadcast(t, src)
        out[f"bcast_f32_src{src}"] = t.tolist()
        ti = nx.tensor([r, r * 100], device=dev)
        dist.broadcast(ti, src=src)
        out[f"bcast_i64_src{src}"] = ti.tolist()
    outs = [nx.zeros(3, device=dev) for _ in range(n)]
    dist.all_gather(outs, nx.tensor([r, r + 0.5, -r], device=dev))
    out["gather_f32"] = [o.tolist() for o in outs]
    outs = [nx.zeros((1, 2), dtype=nx.int64, device=dev) for _ in range(n)]
    dist.all_gather(outs, nx.tensor([[r, 2**50 * (r + 1)]], device=dev))
    out["gather_i64"] = [o.tolist() for o in outs]
    # async: the tensor holds the result after wait()
    big = nx.full((100_000,), float(r + 1), device=dev)
    w = dist.all_reduce(big, op=dist.ReduceOp.SUM, async_op=True)
    w.wait()
    out["async_sum"] = [float(big.min().item()), float(big.max().item())]
    out["async_done"] = w.is_completed()
    dist.barrier()
    try:
        dist.broadcast(nx.zeros(1, device=dev), src=n)
        out["bad_src"] = "no error"
    except ValueError as e:
        out["bad_src"] = str(e)
    return out


# ---- equivalence: DDP on 2 ranks x half batch == 1 process x whole batch ----------------------------------


def _data(name: str):
    rng = np.random.default_rng(123)
    x = rng.standard_normal((STEPS, BATCH, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, (STEPS, BATCH)).astype(np.int64)
    return x, y


def _build(name: str, seed: int):
    nx.manual_seed(seed)
    return models.build(name, (1, 28, 28), 10)


def _train(model, x, y, accum: int = 1, ddp=None) -> None:
    """SGD with momentum; with accum > 1 the batch is cut in `accum` micro-batches whose
    gradients accumulate (under ddp.no_sync() for all but the last)."""
    opt = nx.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for s in range(len(x)):
        opt.zero_grad()
        m = len(x[s]) // accum
        for k in range(accum):
            sync = ddp is None or k == accum - 1
            with contextlib.nullcontext() if sync else ddp.no_sync():
                xb, yb = nx.tensor(x[s, k * m : (k + 1) * m]), nx.tensor(y[s, k * m : (k + 1) * m])
                (F.cross_entropy(model(xb), yb) / accum).backward()
        opt.step()


def _params(model) -> list[np.ndarray]:
    return [p.detach().numpy().copy() for p in model.parameters()]


def equivalence(name: str, accum: int, bucket_cap_mb: float) -> dict:
    r, n = dist.get_rank(), dist.get_world_size()
    x, y = _data(name)
    h = BATCH // n
    ref = _build(name, 0)
    init = _params(ref)
    _train(ref, x, y)
    # rank 1 starts from other weights: DDP must replace them with rank 0's
    net = _build(name, 0 if r == 0 else 99)
    before = max(float(np.abs(a - b).max()) for a, b in zip(_params(net), init))
    ddp = DDP(net, bucket_cap_mb=bucket_cap_mb)
    after_bcast = max(float(np.abs(a - b).max()) for a, b in zip(_params(net), init))
    _train(ddp, x[:, r * h : (r + 1) * h], y[:, r * h : (r + 1) * h], accum=accum, ddp=ddp)
    got, want = _params(net), _params(ref)
    # every rank's parameters, to check that the ranks agree exactly
    flat = nx.tensor(np.concatenate([g.ravel() for g in got]))
    every = [nx.zeros(flat.shape) for _ in range(n)]
    dist.all_gather(every, flat)
    diffs = [np.abs(g - w) for g, w in zip(got, want)]
    return {
        "max_abs_diff": max(float(d.max()) for d in diffs),
        "allclose": all(np.allclose(g, w, rtol=1e-5, atol=1e-6) for g, w in zip(got, want)),
        "moved": max(float(np.abs(w - i).max()) for w, i in zip(want, init)),
        "before_broadcast_diff": before,
        "after_broadcast_diff": after_bcast,
        "ranks_identical": all(np.array_equal(e.numpy(), every[0].numpy()) for e in every),
        "stats": ddp.last_sync_stats,
        "numel": int(sum(g.size for g in got)),
    }


def unused_parameters() -> dict:
    """Rank 0 uses branch a only, rank 1 branches a and b; branch c is never used: b's
    gradient is the average with rank 0's zeros, c's stays None."""
    r = dist.get_rank()

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.c = nn.Linear(4, 3), nn.Linear(4, 3), nn.Linear(4, 3)

        def forward(self, x, use_b):
            return self.a(x) + (self.b(x) if use_b else 0)

    nx.manual_seed(0)
    net = Net()
    local = copy.deepcopy(net)
    ddp = DDP(net)
    x = nx.tensor(np.random.default_rng(r).standard_normal((5, 4)).astype(np.float32))
    ddp(x, use_b=r == 1).square().sum().backward()
    local(x, use_b=r == 1).square().sum().backward()
    mine = {
        k: (p.grad.numpy() if p.grad is not None else np.zeros(p.shape, np.float32))
        for k, p in local.named_parameters()
    }
    res = {}
    for k, p in net.named_parameters():
        t = nx.tensor(mine[k])
        dist.all_reduce(t, op=dist.ReduceOp.AVG)
        res[k] = None if p.grad is None else float(np.abs(p.grad.numpy() - t.numpy()).max())
    # a backward through ddp.module (not through the wrapper's forward) stays local
    net.zero_grad()
    local.zero_grad()
    net(x, use_b=True).square().sum().backward()
    local(x, use_b=True).square().sum().backward()
    res["direct_module_local"] = all(
        np.array_equal(p.grad.numpy(), q.grad.numpy())
        for p, q in zip(net.parameters(), local.parameters())
        if q.grad is not None
    )
    return res


def buffers_broadcast() -> dict:
    """BatchNorm statistics: rank 0's buffers reach every rank at each training forward
    (momentum 0 keeps them unchanged by the forward itself)."""
    r = dist.get_rank()
    nx.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4, momentum=0.0))
    ddp = DDP(net)
    bn = net[1]
    with nx.no_grad():
        bn.running_mean.fill_(float(r + 1))
    x = nx.randn(6, 3)
    ddp(x).sum().backward()
    seen = bn.running_mean.tolist()
    state = list(ddp.state_dict().keys())
    return {"running_mean": seen, "state_keys": state, "module_is_net": ddp.module is net}


def sampler() -> dict:
    r = dist.get_rank()
    ds = TensorDataset(np.arange(11))
    s = DistributedSampler(ds, shuffle=True, seed=7)
    out = {"len": len(s), "num_replicas": s.num_replicas, "rank": s.rank}
    for epoch in (0, 1):
        s.set_epoch(epoch)
        got = [int(v) for (b,) in DataLoader(ds, batch_size=4, sampler=s) for v in b.tolist()]
        t = nx.tensor(got)
        every = [nx.zeros(len(got), dtype=nx.int64) for _ in range(dist.get_world_size())]
        dist.all_gather(every, t)
        out[f"epoch{epoch}"] = [e.tolist() for e in every]
    out["mine_epoch1"] = got
    out["rank_seen"] = r
    return out


def cuda_ddp() -> dict:
    """DDP on device cuda (MPI stages the buckets through host memory) equals DDP on cpu."""
    r = dist.get_rank()
    res = {}
    for dev in ("cpu", "cuda"):
        nx.manual_seed(3)
        net = nn.Sequential(nn.Linear(5, 6), nn.ReLU(), nn.Linear(6, 2)).to(dev)
        ddp = DDP(net)
        opt = nx.optim.SGD(net.parameters(), lr=0.1)
        rng = np.random.default_rng(10 + r)
        for _ in range(3):
            opt.zero_grad()
            x = nx.tensor(rng.standard_normal((4, 5)).astype(np.float32), device=dev)
            ddp(x).square().mean().backward()
            opt.step()
        res[dev] = [p.detach().to("cpu").numpy() for p in net.parameters()]
    return {"max_abs_diff": max(float(np.abs(a - b).max()) for a, b in zip(res["cpu"], res["cuda"]))}


def main(out_dir: str) -> None:
    dist.init_process_group("mpi", timeout=120)
    r = dist.get_rank()
    res = {"rank": r, "world_size": dist.get_world_size(), "backend": dist.get_backend()}
    res["cpu"] = collectives("cpu")
    res["cuda_available"] = nx.cuda.is_available()
    if res["cuda_available"]:
        res["cuda"] = collectives("cuda")
        res["cuda_ddp"] = cuda_ddp()
    for name in ("mlp", "lenet"):
        res[f"eq_{name}"] = equivalence(name, 1, 25.0)
        res[f"eq_{name}_no_sync"] = equivalence(name, 2, 25.0)
    res["eq_mlp_small_buckets"] = equivalence("mlp", 1, 0.25)
    res["unused"] = unused_parameters()
    res["buffers"] = buffers_broadcast()
    res["sampler"] = sampler()
    dist.destroy_process_group()
    res["initialized_after_destroy"] = dist.is_initialized()
    with open(os.path.join(out_dir, f"rank{r}.json"), "w") as f:
        json.dump(res, f)


if __name__ == "__main__":
    main(sys.argv[1])
