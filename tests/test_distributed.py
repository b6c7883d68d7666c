"""neuraxon.distributed, DistributedDataParallel, DistributedSampler and the launcher, on real
2-rank MPI jobs (mpiexec in a subprocess; the `distributed` extra must be installed: without
mpi4py these tests FAIL, on purpose, rather than skip).

One job (tests/distributed_jobs.py) runs the collectives and the training checks on both ranks
and writes what it saw; the tests here check it. The equivalence checks train an MLP and
LeNet-5 for 20 SGD-momentum steps with DDP on 2 ranks (8 examples each) and compare with one
process on the whole batch of 16 (rtol 1e-5, atol 1e-6: the only difference is the order of
float32 sums, ~4e-8 measured). Other jobs: the launcher, a failing rank, a timeout, and
`neuraxon train --nproc 2`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import neuraxon as nx
import neuraxon.distributed as dist
import numpy as np
import pytest
from neuraxon.data import DataLoader, DistributedSampler, TensorDataset
from neuraxon.distributed import launch

HERE = Path(__file__).resolve().parent
JOB_TIMEOUT = 180  # seconds: a hung job fails the test instead of hanging the suite

try:
    import mpi4py  # noqa: F401

    MPI_ERROR = None
except ImportError as e:  # fail loudly: CI installs the extra
    MPI_ERROR = f'mpi4py is not installed ({e}); install the extra: pip install ".[test,distributed]"'


@pytest.fixture(scope="module")
def mpiexec() -> str:
    if MPI_ERROR:
        pytest.fail(MPI_ERROR)
    try:
        return launch.find_mpiexec()
    except FileNotFoundError as e:
        pytest.fail(str(e))


def _env() -> dict:
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = "1"  # 2 ranks on 2 cores
    env["OMPI_ALLOW_RUN_AS_ROOT"] = env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"  # containers run as root
    env.pop("NEURAXON_DIST_TIMEOUT", None)
    return env


def _mpirun(mpiexec: str, n: int, args: list[str], timeout: float = JOB_TIMEOUT, cwd=None):
    """mpiexec -n n python args..., straight (no neuraxon launcher)."""
    cmd = [mpiexec, "-n", str(n)]
    if launch.mpi_flavour(mpiexec) == "openmpi":
        cmd.append("--oversubscribe")
    return subprocess.run(
        cmd + [sys.executable, *args], check=False, env=_env(), capture_output=True, text=True, timeout=timeout, cwd=cwd
    )


def _neuraxon(args: list[str], timeout: float = JOB_TIMEOUT, cwd=None, env=None):
    return subprocess.run(
        [sys.executable, "-m", "neuraxon", *args],
        check=False,
        env=env or _env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )


@pytest.fixture(scope="module")
def job(mpiexec, tmp_path_factory) -> list[dict]:
    """Both ranks' results of tests/distributed_jobs.py (run once for the module)."""
    out = tmp_path_factory.mktemp("distjob")
    t0 = time.perf_counter()
    r = _mpirun(mpiexec, 2, [str(HERE / "distributed_jobs.py"), str(out)])
    assert r.returncode == 0, f"the 2-rank job failed (rc {r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}"
    res = [json.loads((out / f"rank{i}.json").read_text()) for i in range(2)]
    res[0]["_seconds"] = time.perf_counter() - t0
    return res


# ---- collectives ------------------------------------------------------------------------------------


def _expected_collectives() -> dict:
    f = [np.array([[r + 1.0, -2.5 * r], [3.0, 0.25 + r]], np.float32) for r in range(2)]
    i = [np.array([r * 7 - 3, 5, -r, 2**40 + r], np.int64) for r in range(2)]
    e = {}
    for op, fn in (("SUM", np.add), ("MAX", np.maximum), ("MIN", np.minimum), ("PRODUCT", np.multiply)):
        e[f"f32_{op}"] = fn(f[0], f[1]).tolist()
        e[f"i64_{op}"] = fn(i[0], i[1]).tolist()
    e["f32_AVG"] = ((f[0] + f[1]) / 2).tolist()
    s = i[0] + i[1]
    e["i64_AVG"] = (np.sign(s) * (np.abs(s) // 2)).tolist()  # truncated toward zero, as NCCL
    e["bool_SUM"] = [True, True, False]
    for src in range(2):
        e[f"bcast_f32_src{src}"] = [[src + 10.0] * 3] * 2
        e[f"bcast_i64_src{src}"] = [src, src * 100]
    e["gather_f32"] = [[r, r + 0.5, -r] for r in range(2)]
    e["gather_i64"] = [[[r, 2**50 * (r + 1)]] for r in range(2)]
    e["async_sum"] = [3.0, 3.0]
    e["async_done"] = True
    return e


def _check_collectives(got: dict) -> None:
    for k, v in _expected_collectives().items():
        assert got[k] == v, f"{k}: got {got[k]}, expected {v}"
    for op in ("SUM", "AVG", "MAX", "MIN", "PRODUCT"):
        assert got[f"i64_{op}_dtype"] == "int64"
        assert got[f"f32_{op}_version_bumped"]
    assert "src 2 is not a rank" in got["bad_src"]


def test_collectives_give_the_right_values_on_every_rank(job):
    for rank, res in enumerate(job):
        assert res["rank"] == rank and res["world_size"] == 2 and res["backend"] == "mpi"
        _check_collectives(res["cpu"])
        assert res["initialized_after_destroy"] is False


def test_collectives_on_cuda_tensors_staged_through_the_host(job):
    if not job[0]["cuda_available"]:
        pytest.skip("cuda: no device (the emulated-CUDA CI pass runs this)")
    for res in job:
        _check_collectives(res["cuda"])
        assert res["cuda_ddp"]["max_abs_diff"] < 1e-6


# ---- DistributedDataParallel -------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["mlp", "lenet", "mlp_no_sync", "lenet_no_sync", "mlp_small_buckets"])
def test_ddp_on_two_ranks_equals_one_process_on_the_whole_batch(job, case):
    for res in job:
        eq = res[f"eq_{case}"]
        assert eq["allclose"], f"{case}: max abs diff {eq['max_abs_diff']:.3g} (params moved {eq['moved']:.3g})"
        assert eq["max_abs_diff"] < 1e-6
        assert eq["moved"] > 1e-2  # the comparison means something: training did move the weights
        assert eq["ranks_identical"]
        assert eq["after_broadcast_diff"] == 0.0  # rank 0's initial weights everywhere
    assert job[1][f"eq_{case}"]["before_broadcast_diff"] > 1e-3  # rank 1 started elsewhere
    stats = job[0][f"eq_{case}"]["stats"]
    # every bucket started from a gradient hook, i.e. while backward was still running
    assert stats["started_during_backward"] == stats["buckets"] >= 1
    if case == "mlp_small_buckets":
        assert stats["buckets"] >= 3


def test_ddp_unused_parameters_average_as_zero_and_never_used_stay_none(job):
    for res in job:
        u = res["unused"]
        for k in ("a.weight", "a.bias", "b.weight", "b.bias"):
            assert u[k] is not None and u[k] < 1e-6, (k, u[k])
        assert u["c.weight"] is None and u["c.bias"] is None
        assert u["direct_module_local"]


def test_ddp_broadcasts_buffers_each_forward_and_passes_state_dict(job):
    for res in job:
        b = res["buffers"]
        assert b["running_mean"] == [1.0] * 4  # rank 0's value, on rank 1 too
        assert b["module_is_net"]
        assert b["state_keys"][0] == "module.0.weight" and "module.1.running_mean" in b["state_keys"]


def test_ddp_needs_a_process_group():
    from neuraxon.nn.parallel import DistributedDataParallel

    assert not dist.is_initialized()
    with pytest.raises(RuntimeError, match="init_process_group"):
        DistributedDataParallel(nx.nn.Linear(2, 2))


# ---- DistributedSampler ------------------------------------------------------------------------------


def _torch_rule(n: int, replicas: int, rank: int, drop_last: bool, order: list[int]) -> list[int]:
    """torch.utils.data.DistributedSampler's index rule, written out (pad by repeating the
    start, or drop the tail; then every replicas-th index from rank)."""
    import math

    if drop_last and n % replicas:
        per = math.ceil((n - replicas) / replicas)
    else:
        per = math.ceil(n / replicas)
    total = per * replicas
    idx = list(order)
    if not drop_last:
        pad = total - len(idx)
        if pad <= len(idx):
            idx += idx[:pad]
        else:
            idx += (idx * math.ceil(pad / len(idx)))[:pad]
    else:
        idx = idx[:total]
    return idx[rank:total:replicas]


@pytest.mark.parametrize("n", [1, 2, 7, 10, 11, 16])
@pytest.mark.parametrize("replicas", [1, 2, 3, 4, 8])
@pytest.mark.parametrize("drop_last", [False, True])
def test_sampler_shards_cover_the_dataset_once_with_torchs_padding(n, replicas, drop_last):
    ds = TensorDataset(np.arange(n))
    shards = [list(DistributedSampler(ds, replicas, r, shuffle=False, drop_last=drop_last)) for r in range(replicas)]
    for r, s in enumerate(shards):
        assert s == _torch_rule(n, replicas, r, drop_last, list(range(n)))
        assert len(s) == len(DistributedSampler(ds, replicas, r, shuffle=False, drop_last=drop_last))
    assert len({len(s) for s in shards}) == 1  # equal lengths
    seen = [i for s in shards for i in s]
    if drop_last:
        assert len(seen) == len(set(seen)) == (n // replicas) * replicas
    else:
        assert set(seen) == set(range(n))  # every index at least once
        assert len(seen) - n == (-n) % replicas  # and only the padding twice


def test_sampler_matches_torch_when_installed():
    torch = pytest.importorskip("torch")
    from torch.utils.data import DistributedSampler as TorchSampler

    for n, replicas, drop_last in [(10, 3, False), (10, 3, True), (2, 4, False), (17, 4, False), (17, 4, True)]:
        for r in range(replicas):
            ours = list(
                DistributedSampler(TensorDataset(np.arange(n)), replicas, r, shuffle=False, drop_last=drop_last)
            )
            theirs = list(TorchSampler(list(range(n)), replicas, r, shuffle=False, drop_last=drop_last))
            assert ours == theirs, (n, replicas, r, drop_last)
    del torch


def test_sampler_shuffle_is_per_epoch_and_deterministic_by_seed():
    ds = TensorDataset(np.arange(50))

    def shards(seed, epoch):
        out = []
        for r in range(3):
            s = DistributedSampler(ds, 3, r, shuffle=True, seed=seed)
            s.set_epoch(epoch)
            out.append(list(s))
        return out

    a = shards(0, 0)
    assert a == shards(0, 0)  # same seed and epoch: same shards (every rank computes the same permutation)
    assert a != shards(0, 1) and a != shards(1, 0)
    assert sorted({i for s in a for i in s}) == list(range(50))
    assert sorted(i for s in a for i in s) != [i for s in a for i in s]  # shuffled
    # the DataLoader takes it as its sampler
    s = DistributedSampler(ds, 3, 1, shuffle=True, seed=0)
    got = [v for (b,) in DataLoader(ds, batch_size=4, sampler=s) for v in b.tolist()]
    assert got == a[1] and len(DataLoader(ds, batch_size=4, sampler=s)) == 5


def test_sampler_defaults_come_from_the_process_group(job):
    sams = [res["sampler"] for res in job]
    for r, s in enumerate(sams):
        assert (s["len"], s["num_replicas"], s["rank"]) == (6, 2, r)
    for epoch in ("epoch0", "epoch1"):
        both = sams[0][epoch]
        assert both == sams[1][epoch]  # the ranks agree on who has what
        assert set(both[0]) | set(both[1]) == set(range(11)) and len(both[0] + both[1]) == 12
    assert sams[0]["epoch0"] != sams[0]["epoch1"]


def test_sampler_needs_replicas_or_a_process_group():
    ds = TensorDataset(np.arange(4))
    with pytest.raises(RuntimeError, match="init_process_group"):
        DistributedSampler(ds)
    with pytest.raises(ValueError, match="Invalid rank"):
        DistributedSampler(ds, 2, 2)


# ---- the API without a job -------------------------------------------------------------------------------


def test_api_errors_without_a_job():
    assert not dist.is_initialized() and dist.is_available()
    with pytest.raises(RuntimeError, match="not been initialized"):
        dist.get_rank()
    with pytest.raises(RuntimeError, match="not been initialized"):
        dist.all_reduce(nx.ones(1))
    with pytest.raises(ValueError, match="unknown backend"):
        dist.init_process_group("gloo")
    assert not dist.is_initialized()  # backend "nccl" without a GPU: tests/test_distributed_nccl.py


def test_a_script_started_alone_is_a_world_of_one(mpiexec, tmp_path):
    script = tmp_path / "alone.py"
    script.write_text(
        "import neuraxon as nx, neuraxon.distributed as dist\n"
        "dist.init_process_group('mpi', rank=0, world_size=1)\n"
        "t = nx.tensor([1.5, 2.0]); dist.all_reduce(t, op=dist.ReduceOp.AVG)\n"
        "outs = [nx.zeros(2)]; dist.all_gather(outs, t); dist.barrier()\n"
        "print('world', dist.get_world_size(), dist.get_rank(), t.tolist(), outs[0].tolist())\n"
    )
    r = subprocess.run(
        [sys.executable, str(script)], check=False, env=_env(), capture_output=True, text=True, timeout=JOB_TIMEOUT
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "world 1 0 [1.5, 2.0] [1.5, 2.0]" in r.stdout


# ---- the launcher and failures -----------------------------------------------------------------------------


def test_launcher_command_line(mpiexec):
    cores = os.cpu_count() or 1
    cmd, env = launch.build_command(cores + 1, ["s.py", "--x", "1"], mpiexec=mpiexec)
    assert cmd[:3] == [mpiexec, "-n", str(cores + 1)]
    assert cmd[-6:] == [sys.executable, "-m", "neuraxon.distributed._child", "s.py", "--x", "1"]
    assert env["NEURAXON_DIST_LAUNCHED"] == "1"
    if launch.mpi_flavour(mpiexec) == "openmpi":
        assert "--oversubscribe" in cmd
        cmd2, _ = launch.build_command(1, ["s.py"], mpiexec=mpiexec, hostfile="hosts", mpi_args="--bind-to none")
        assert "--oversubscribe" not in cmd2 and cmd2[3:5] == ["--hostfile", "hosts"] and "--bind-to" in cmd2
    saved = os.environ.pop("OMP_NUM_THREADS", None)
    try:
        _, env = launch.build_command(2, ["s.py"], mpiexec=mpiexec)
        assert env["OMP_NUM_THREADS"] == str(max(1, cores // 2))
    finally:
        if saved is not None:
            os.environ["OMP_NUM_THREADS"] = saved
    with pytest.raises(ValueError):
        launch.build_command(0, ["s.py"], mpiexec=mpiexec)


def test_neuraxon_run_starts_two_ranks(mpiexec, tmp_path):
    script = tmp_path / "hello.py"
    script.write_text(
        "import sys, os, neuraxon as nx, neuraxon.distributed as dist\n"
        "dist.init_process_group('mpi')\n"
        "t = nx.tensor([float(dist.get_rank())]); dist.all_reduce(t)\n"
        "print(f'rank {dist.get_rank()} of {dist.get_world_size()} sum {t.item()} args {sys.argv[1:]} '"
        " f'launched {os.environ.get(\"NEURAXON_DIST_LAUNCHED\")} name {__name__}')\n"
    )
    r = _neuraxon(["run", "-n", "2", str(script), "--lr", "0.1", "-n", "5"])
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    for rank in range(2):
        assert f"rank {rank} of 2 sum 1.0 args ['--lr', '0.1', '-n', '5'] launched 1 name __main__" in r.stdout


@pytest.mark.parametrize("how", ["raise", "exit"])
def test_a_failing_rank_ends_the_whole_job_naming_the_rank(mpiexec, tmp_path, how):
    script = tmp_path / "fail.py"
    failure = "raise ValueError('rank one fails on purpose')" if how == "raise" else "sys.exit(3)"
    script.write_text(
        "import sys, neuraxon as nx, neuraxon.distributed as dist\n"
        "dist.init_process_group('mpi')\n"
        "dist.all_reduce(nx.ones(2))\n"
        f"if dist.get_rank() == 1:\n    {failure}\n"
        "dist.all_reduce(nx.ones(2))  # rank 0 waits here for rank 1, which is gone\n"
        "print('rank', dist.get_rank(), 'finished')\n"
    )
    t0 = time.perf_counter()
    r = _neuraxon(["run", "-n", "2", str(script)], timeout=60)
    took = time.perf_counter() - t0
    assert r.returncode != 0
    assert took < 30  # far below the 30-minute default timeout: the job was aborted, not timed out
    if how == "raise":
        assert "rank 1 of 2 raised an uncaught ValueError" in r.stderr
        assert "[rank 1] ValueError: rank one fails on purpose" in r.stderr
    else:
        assert "rank 1 of 2 exited with status 3" in r.stderr
    assert "finished" not in r.stdout


def test_a_rank_that_never_joins_a_collective_times_out(mpiexec, tmp_path):
    script = tmp_path / "skip.py"
    script.write_text(
        "import time, neuraxon as nx, neuraxon.distributed as dist\n"
        "dist.init_process_group('mpi', timeout=2)\n"
        "if dist.get_rank() == 1:\n    time.sleep(60)\n"
        "dist.all_reduce(nx.ones(2))\n"
    )
    t0 = time.perf_counter()
    r = _mpirun(mpiexec, 2, [str(script)], timeout=60)  # straight mpiexec: the ranks' own timeout
    assert r.returncode != 0 and time.perf_counter() - t0 < 30
    assert "rank 0 of 2: all_reduce(sum) of float32[2] on cpu did not complete within 2 s" in r.stderr


def test_train_nproc_2_writes_once_from_rank_0(mpiexec, tmp_path):
    out = tmp_path / "run"
    r = _neuraxon(
        [
            "train",
            "--nproc",
            "2",
            "--model",
            "mlp",
            "--data",
            "synthetic",
            "--limit",
            "512",
            "--test-limit",
            "128",
            "--epochs",
            "2",
            "--batch-size",
            "32",
            "--out",
            str(out),
        ],
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    assert r.stdout.count("neuraxon train: mlp") == 1 and "2 processes (batch 16 each)" in r.stdout
    assert r.stdout.count("epoch 2/2: train loss") == 1 and r.stdout.count("final test accuracy") == 1
    assert r.stderr.count("epoch 1/2 [") >= 1 and r.stderr.count("32/32") == 0  # rank 0's bar: 8 steps of 16
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.npz", "curves.png", "metrics.csv", "metrics.json"]
    m = json.loads((out / "metrics.json").read_text())
    assert m["epoch"] == [1, 2] and 0 <= m["test_acc"][-1] <= 1
    ck = nx.load(str(out / "checkpoint.npz"))
    assert all(not k.startswith("module.") for k in ck["model"])  # the plain model's keys
    from neuraxon import models

    models.build("mlp", (1, 28, 28), 10).load_state_dict(ck["model"])
