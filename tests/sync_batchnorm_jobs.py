"""The rank side of tests/test_sync_batchnorm.py: run under mpiexec (2 ranks), it compares
nn.SyncBatchNorm on each rank's share of a batch with plain batch norm on the whole batch
(computed by every rank itself, same seed) and writes the differences to OUT_DIR/rank<r>.json;
the test checks them. Usage:

    mpiexec -n 2 python tests/sync_batchnorm_jobs.py OUT_DIR
"""

from __future__ import annotations

import json
import os
import sys

import neuraxon as nx
import neuraxon.distributed as dist
import neuraxon.nn.functional as F
import numpy as np
from mpi4py import MPI
from neuraxon import nn
from neuraxon.nn.normalization import _BatchNorm
from neuraxon.nn.parallel import DistributedDataParallel as DDP


class AnyBatchNorm(_BatchNorm):
    """Plain BatchNorm (module logic and kernel) for any input rank: the reference."""

    _dims = (2, 3, 4, 5, 6)


# name: (global shape, rows of rank 0 and rank 1, affine, track_running_stats, momentum)
CASES = {
    "2d_even": ((8, 3), (4, 4), True, True, 0.1),
    "2d_uneven": ((8, 3), (5, 3), True, True, 0.1),
    "4d_even": ((6, 3, 4, 5), (3, 3), True, True, 0.1),
    "4d_uneven": ((8, 3, 4, 5), (5, 3), True, True, 0.3),
    "3d_uneven_momentum_none": ((7, 2, 6), (2, 5), True, True, None),
    "5d_uneven": ((4, 2, 3, 2, 3), (3, 1), True, True, 0.1),
    "4d_no_affine": ((6, 3, 2, 3), (4, 2), False, True, 0.1),
    "4d_no_running_stats": ((6, 3, 2, 3), (2, 4), True, False, 0.1),
    "2d_one_row_on_a_rank": ((5, 3), (1, 4), True, True, 0.1),  # plain BN on rank 0 alone would raise
    "4d_empty_rank": ((6, 2, 3, 3), (0, 6), True, True, 0.1),
}
STEPS = 2  # training steps per case (the running statistics are compared after each)


def _max_diff(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max()) if a.size else 0.0


def _np(t) -> np.ndarray:
    return t.detach().to("cpu").numpy().copy()


def _sum_over_ranks(a: np.ndarray) -> np.ndarray:
    t = nx.tensor(a.astype(np.float32))
    dist.all_reduce(t)
    return t.numpy()


def equivalence(name: str, dev: str) -> dict:
    """STEPS training forwards and backwards of SyncBatchNorm on this rank's rows, then an eval
    forward, against AnyBatchNorm on the whole batch: max abs differences of the output, the
    input gradient, the weight/bias gradients (summed over ranks: each rank holds its share),
    the running statistics, and the eval output."""
    shape, split, affine, track, momentum = CASES[name]
    r = dist.get_rank()
    lo, hi = sum(split[:r]), sum(split[: r + 1])
    C = shape[1]
    rng = np.random.default_rng(sum(map(ord, name)))  # the same data on every rank
    kw = {"momentum": momentum, "affine": affine, "track_running_stats": track}
    sync, ref = nn.SyncBatchNorm(C, **kw).to(dev), AnyBatchNorm(C, **kw).to(dev)
    if affine:
        w, b = rng.uniform(0.5, 1.5, C).astype(np.float32), rng.standard_normal(C).astype(np.float32)
        for m in (sync, ref):
            m.weight.data = nx.tensor(w, device=dev)
            m.bias.data = nx.tensor(b, device=dev)
    d = {k: 0.0 for k in ("out", "dx", "dweight", "dbias", "running_mean", "running_var", "eval_out")}
    scale = {k: 0.0 for k in d}

    def note(k, got, want):
        d[k] = max(d[k], _max_diff(got, want))
        scale[k] = max(scale[k], float(np.abs(np.asarray(want)).max()) if np.asarray(want).size else 0.0)

    for _ in range(STEPS):
        x = (rng.standard_normal(shape) * 2 + 3).astype(np.float32)  # mean 3, std 2: a shift to remove
        g = rng.standard_normal(shape).astype(np.float32)
        xs = nx.tensor(x[lo:hi], device=dev, requires_grad=True)
        xr = nx.tensor(x, device=dev, requires_grad=True)
        out_s, out_r = sync(xs), ref(xr)
        (out_s * nx.tensor(g[lo:hi], device=dev)).sum().backward()
        (out_r * nx.tensor(g, device=dev)).sum().backward()
        note("out", _np(out_s), _np(out_r)[lo:hi])
        note("dx", _np(xs.grad), _np(xr.grad)[lo:hi])
        if affine:
            note("dweight", _sum_over_ranks(_np(sync.weight.grad)), _np(ref.weight.grad))
            note("dbias", _sum_over_ranks(_np(sync.bias.grad)), _np(ref.bias.grad))
            for m in (sync, ref):
                m.zero_grad()
        if track:
            note("running_mean", _np(sync.running_mean), _np(ref.running_mean))
            note("running_var", _np(sync.running_var), _np(ref.running_var))
    # eval: no synchronisation; each row depends on its own values only (running statistics),
    # or on the rank's own batch (no running statistics): the reference on this rank's rows
    sync.eval(), ref.eval()
    x = (rng.standard_normal(shape) * 2 + 3).astype(np.float32)[lo:hi]
    if x.shape[0] * int(np.prod(shape[2:])) > 1 or track:
        note("eval_out", _np(sync(nx.tensor(x, device=dev))), _np(ref(nx.tensor(x, device=dev))))
    res = {"max_abs_diff": d, "max_abs_value": scale}
    if track:
        res["num_batches_tracked"] = [int(sync.num_batches_tracked.item()), int(ref.num_batches_tracked.item())]
        res["running_var_moved"] = float(np.abs(_np(ref.running_var) - 1).max())
    return res


def numeric_gradients() -> dict:
    """Central differences (float64 objective, float32 op) of the global objective
    L = sum over ranks of sum(out_r * g_r) against the analytic gradients: input on each rank
    (uneven rows, 4-D), weight and bias (summed over ranks). Every rank runs every forward
    (each is a collective): element j of the global input is perturbed on the rank that holds
    it only."""
    r = dist.get_rank()
    shape, split = (5, 2, 2, 1), (3, 2)
    lo, hi = sum(split[:r]), sum(split[: r + 1])
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    w, b = np.array([0.7, 1.3], np.float32), np.array([0.2, -0.4], np.float32)
    bn = nn.SyncBatchNorm(2, track_running_stats=False)
    gl = nx.tensor(g[lo:hi])

    def objective(xl, wv, bv) -> float:
        bn.weight.data, bn.bias.data = nx.tensor(wv), nx.tensor(bv)
        with nx.no_grad():
            local = float(np.sum(bn(nx.tensor(xl)).numpy().astype(np.float64) * g[lo:hi]))
        return MPI.COMM_WORLD.allreduce(local, op=MPI.SUM)

    bn.weight.data, bn.bias.data = nx.tensor(w), nx.tensor(b)
    xt = nx.tensor(x[lo:hi], requires_grad=True)
    (bn(xt) * gl).sum().backward()
    analytic = {
        "x": _np(xt.grad),
        "weight": _sum_over_ranks(_np(bn.weight.grad)),
        "bias": _sum_over_ranks(_np(bn.bias.grad)),
    }
    eps = 1e-2
    num_x = np.zeros(x.shape, np.float64)
    for j in range(x.size):  # the same loop on every rank: the same forwards in the same order
        idx = np.unravel_index(j, x.shape)
        vals = []
        for s in (eps, -eps):
            xp = x.copy()
            xp[idx] += s
            vals.append(objective(xp[lo:hi], w, b))
        num_x[idx] = (vals[0] - vals[1]) / (2 * eps)
    num = {"x": num_x[lo:hi]}
    for which, v in (("weight", w), ("bias", b)):
        gv = np.zeros(v.shape)
        for j in range(v.size):
            vals = []
            for s in (eps, -eps):
                vp = v.copy()
                vp[j] += s
                vals.append(objective(x[lo:hi], vp, b) if which == "weight" else objective(x[lo:hi], w, vp))
            gv[j] = (vals[0] - vals[1]) / (2 * eps)
        num[which] = gv
    return {k: {"max_abs_diff": _max_diff(analytic[k], num[k]), "max_abs": float(np.abs(num[k]).max())} for k in num}


# ---- DDP: a small BN-CNN, SyncBatchNorm vs BatchNorm, against one process on the whole batch ---------


def _cnn(seed: int) -> nn.Module:
    nx.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3),
        nn.BatchNorm2d(6),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(24, 8),
        nn.BatchNorm1d(8),
        nn.ReLU(),
        nn.Linear(8, 3),
    )


def _train(model, x, y, steps: int) -> None:
    opt = nx.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for s in range(steps):
        opt.zero_grad()
        F.cross_entropy(model(nx.tensor(x[s])), nx.tensor(y[s])).backward()
        opt.step()


def ddp_cnn() -> dict:
    r, n = dist.get_rank(), dist.get_world_size()
    steps, batch = 10, 8
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((steps, batch, 1, 8, 8)) + 0.5).astype(np.float32)
    y = rng.integers(0, 3, (steps, batch)).astype(np.int64)
    h = batch // n
    ref = _cnn(0)
    init = [_np(p) for p in ref.parameters()]
    _train(ref, x, y, steps)
    want = [_np(p) for p in ref.parameters()]
    want_buf = [_np(b) for b in ref.buffers()]
    res = {"moved": max(_max_diff(a, b) for a, b in zip(want, init))}
    for kind in ("sync", "plain"):
        net = _cnn(0)
        if kind == "sync":
            net = nn.SyncBatchNorm.convert_sync_batchnorm(net)
            res["converted"] = sum(isinstance(m, nn.SyncBatchNorm) for m in net.modules())
        _train(DDP(net), x[:, r * h : (r + 1) * h], y[:, r * h : (r + 1) * h], steps)
        res[kind] = {
            "params": max(_max_diff(_np(p), w) for p, w in zip(net.parameters(), want)),
            "buffers": max(_max_diff(_np(b), w) for b, w in zip(net.buffers(), want_buf)),
        }
    return res


def errors() -> dict:
    """Bad input: the error every rank raises (none may hang in a collective)."""
    out = {}
    bn = nn.SyncBatchNorm(3)
    # one value per channel over the whole group: rank 0 has one row, rank 1 none
    try:
        bn(nx.randn(1 - dist.get_rank(), 3))
        out["one_value"] = "no error"
    except ValueError as e:
        out["one_value"] = str(e)
    try:
        bn(nx.randn(4, 5))
        out["channels"] = "no error"
    except ValueError as e:
        out["channels"] = str(e)
    # and the group still works afterwards
    t = nx.ones(2)
    dist.all_reduce(t)
    out["after"] = t.tolist()
    return out


def main(out_dir: str) -> None:
    dist.init_process_group("mpi", timeout=120)
    r = dist.get_rank()
    res = {"rank": r, "world_size": dist.get_world_size()}
    res["cpu"] = {name: equivalence(name, "cpu") for name in CASES}
    res["cuda_available"] = nx.cuda.is_available()
    if res["cuda_available"]:
        res["cuda"] = {name: equivalence(name, "cuda") for name in CASES}
    res["gradcheck"] = numeric_gradients()
    res["ddp"] = ddp_cnn()
    res["errors"] = errors()
    dist.destroy_process_group()
    with open(os.path.join(out_dir, f"rank{r}.json"), "w") as f:
        json.dump(res, f)


if __name__ == "__main__":
    main(sys.argv[1])
