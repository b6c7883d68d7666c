"""nn.SyncBatchNorm: on a real 2-rank MPI job (tests/sync_batchnorm_jobs.py, as
tests/test_distributed.py runs its jobs; without mpi4py these tests FAIL rather than skip) and
in a single process, where it must be BatchNorm.

The job compares each rank's share of a batch (even and uneven splits, one row or none on a
rank; 2-D to 5-D; affine, running statistics and momentum on and off) with plain batch norm on
the whole batch: output, input gradient, weight/bias gradients (summed over the ranks) and
running statistics agree to float32 rounding (max relative difference measured: 6e-7). It also
trains a small BN-CNN with DDP for 10 SGD steps, which equals one process on the whole batch
with SyncBatchNorm (2.4e-7) and not with plain BatchNorm (0.45).
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
from neuraxon import nn
from neuraxon.distributed import launch
from neuraxon.testing.gradcheck import gradcheck_tensor

HERE = Path(__file__).resolve().parent
JOB_TIMEOUT = 180  # seconds: a hung job fails the test instead of hanging the suite
CASES = [  # tests/sync_batchnorm_jobs.py CASES
    "2d_even",
    "2d_uneven",
    "4d_even",
    "4d_uneven",
    "3d_uneven_momentum_none",
    "5d_uneven",
    "4d_no_affine",
    "4d_no_running_stats",
    "2d_one_row_on_a_rank",
    "4d_empty_rank",
]
REL = 3e-6  # float32 rounding: |difference| <= REL * max(1, |reference|)


def _env() -> dict:
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = "1"  # 2 ranks on 2 cores
    env["OMPI_ALLOW_RUN_AS_ROOT"] = env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"  # containers run as root
    env.pop("NEURAXON_DIST_TIMEOUT", None)
    return env


@pytest.fixture(scope="module")
def mpiexec() -> str:
    try:
        import mpi4py  # noqa: F401
    except ImportError as e:  # fail loudly: CI installs the extra
        pytest.fail(f'mpi4py is not installed ({e}); install the extra: pip install ".[test,distributed]"')
    try:
        return launch.find_mpiexec()
    except FileNotFoundError as e:
        pytest.fail(str(e))


@pytest.fixture(scope="module")
def job(mpiexec, tmp_path_factory) -> list[dict]:
    """Both ranks' results of tests/sync_batchnorm_jobs.py (run once for the module)."""
    out = tmp_path_factory.mktemp("syncbn")
    cmd = [mpiexec, "-n", "2"] + (["--oversubscribe"] if launch.mpi_flavour(mpiexec) == "openmpi" else [])
    t0 = time.perf_counter()
    r = subprocess.run(
        cmd + [sys.executable, str(HERE / "sync_batchnorm_jobs.py"), str(out)],
        check=False,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=JOB_TIMEOUT,
    )
    assert r.returncode == 0, f"the 2-rank job failed (rc {r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}"
    res = [json.loads((out / f"rank{i}.json").read_text()) for i in range(2)]
    res[0]["_seconds"] = time.perf_counter() - t0
    return res


# ---- two ranks -----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("where", ["cpu", "cuda"])
def test_two_ranks_equal_batchnorm_on_the_whole_batch(job, where, case):
    if where == "cuda" and not job[0]["cuda_available"]:
        pytest.skip("cuda: no device (the emulated-CUDA CI pass runs this)")
    for rank, res in enumerate(job):
        assert sorted(res[where]) == sorted(CASES)
        got = res[where][case]
        for what, diff in got["max_abs_diff"].items():
            bound = REL * max(1.0, got["max_abs_value"][what])
            assert diff <= bound, f"rank {rank}, {case}: {what} differs by {diff:.3g} (bound {bound:.3g})"
        if "num_batches_tracked" in got:
            assert got["num_batches_tracked"] == [2, 2]
            assert got["running_var_moved"] > 1e-2  # the running statistics did change


def test_two_ranks_all_reduced_gradient_matches_central_differences(job):
    for res in job:
        for what, g in res["gradcheck"].items():
            assert g["max_abs"] > 0.1, what  # a gradient worth checking
            assert g["max_abs_diff"] < 2e-3 + 2e-2 * g["max_abs"], f"{what}: {g}"


def test_ddp_with_sync_batchnorm_trains_as_one_process_on_the_whole_batch(job):
    for res in job:
        d = res["ddp"]
        assert d["converted"] == 3  # BatchNorm2d x 2 and BatchNorm1d
        assert d["moved"] > 0.1  # training moved the weights: the comparison means something
        assert d["sync"]["params"] < 2e-6 and d["sync"]["buffers"] < 2e-6, d["sync"]
        # with per-rank statistics (plain BatchNorm) DDP trains another model
        assert d["plain"]["params"] > 1e-2, d["plain"]


def test_bad_input_raises_value_error_on_every_rank(job):
    for rank, res in enumerate(job):
        e = res["errors"]
        assert e["one_value"].startswith("Expected more than 1 value per channel when training")
        assert "1 value per channel over all 2 ranks" in e["one_value"]
        assert "has 5 channels, expected 3" in e["channels"]
        assert e["after"] == [2.0, 2.0]  # no rank was left waiting in a collective


def test_a_world_of_one_is_batchnorm(mpiexec, tmp_path):
    """init_process_group in a script started alone: SyncBatchNorm falls back to batch_norm."""
    script = tmp_path / "alone.py"
    script.write_text(
        "import numpy as np, neuraxon as nx, neuraxon.distributed as dist\n"
        "from neuraxon import nn\n"
        "dist.init_process_group('mpi')\n"
        "a, b = nn.SyncBatchNorm(3), nn.BatchNorm2d(3)\n"
        "x = nx.randn(1, 3, 1, 2)\n"  # 2 values per channel
        "xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()\n"
        "a(xa).square().sum().backward(); b(xb).square().sum().backward()\n"
        "same = np.array_equal(xa.grad.numpy(), xb.grad.numpy()) and "
        "np.array_equal(a.running_var.numpy(), b.running_var.numpy())\n"
        "print('world', dist.get_world_size(), 'same', same)\n"
    )
    r = subprocess.run(
        [sys.executable, str(script)], check=False, env=_env(), capture_output=True, text=True, timeout=JOB_TIMEOUT
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert "world 1 same True" in r.stdout


# ---- one process, no process group: BatchNorm ----------------------------------------------------------


def _same(a, b) -> None:
    np.testing.assert_array_equal(a.detach().cpu().numpy(), b.detach().cpu().numpy())


@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("shape", [(6, 3), (6, 3, 5), (4, 3, 2, 5)])
def test_without_a_process_group_it_is_batchnorm(device, shape, momentum):
    assert not dist.is_initialized()
    ref_cls = nn.BatchNorm2d if len(shape) == 4 else nn.BatchNorm1d
    nx.manual_seed(0)
    a, b = nn.SyncBatchNorm(3, momentum=momentum).to(device), ref_cls(3, momentum=momentum).to(device)
    with nx.no_grad():
        for m in (a, b):
            m.weight.copy_(nx.tensor([0.5, 1.0, 2.0]))
            m.bias.copy_(nx.tensor([0.1, -0.2, 0.3]))
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = rng.standard_normal(shape).astype(np.float32)
        g = rng.standard_normal(shape).astype(np.float32)
        xa, xb = (nx.tensor(x, device=device, requires_grad=True) for _ in range(2))
        oa, ob = a(xa), b(xb)
        _same(oa, ob)
        (oa * nx.tensor(g, device=device)).sum().backward()
        (ob * nx.tensor(g, device=device)).sum().backward()
        for ta, tb in ((xa.grad, xb.grad), (a.weight.grad, b.weight.grad), (a.bias.grad, b.bias.grad)):
            _same(ta, tb)
        for ta, tb in zip(a.buffers(), b.buffers()):
            _same(ta, tb)
    a.eval(), b.eval()
    x = nx.tensor(rng.standard_normal(shape).astype(np.float32), device=device)
    _same(a(x), b(x))


def test_single_process_gradient_matches_central_differences(device):
    m = nn.SyncBatchNorm(3, track_running_stats=False).to(device)
    with nx.no_grad():
        m.weight.copy_(nx.tensor([0.7, 1.3, -0.5]))
        m.bias.copy_(nx.tensor([0.2, 0.0, -0.4]))
    x = np.random.default_rng(3).standard_normal((4, 3, 2)).astype(np.float32)
    gradcheck_tensor(m, [x], device=device)


def test_convert_sync_batchnorm_swaps_every_batchnorm_keeping_its_tensors():
    nx.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3),
        nn.BatchNorm2d(4, momentum=None),
        nn.Sequential(nn.ReLU(), nn.BatchNorm2d(4, affine=False, eps=1e-3)),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 5),
        nn.BatchNorm1d(5, track_running_stats=False),
    )
    net[1].eval()
    old = [net[1], net[2][1], net[5]]
    x = nx.randn(3, 1, 6, 6)
    want = net(x)
    conv, relu = net[0], net[2][0]
    names = [k for k, _ in net.named_parameters()] + [k for k, _ in net.named_buffers()]
    out = nn.SyncBatchNorm.convert_sync_batchnorm(net)
    assert out is net and out[0] is conv and out[2][0] is relu
    new = [out[1], out[2][1], out[5]]
    for o, n in zip(old, new):
        assert type(n) is nn.SyncBatchNorm
        assert (n.num_features, n.eps, n.momentum, n.affine, n.track_running_stats) == (
            o.num_features,
            o.eps,
            o.momentum,
            o.affine,
            o.track_running_stats,
        )
        assert n.training == o.training
        for k in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
            assert getattr(n, k) is getattr(o, k), k
    assert [k for k, _ in out.named_parameters()] + [k for k, _ in out.named_buffers()] == names
    _same(out(x), want)  # (the BatchNorm layers already ran once: same statistics, same output)
    # a BatchNorm layer on its own is replaced and returned
    bn = nn.BatchNorm1d(2)
    sbn = nn.SyncBatchNorm.convert_sync_batchnorm(bn)
    assert type(sbn) is nn.SyncBatchNorm and sbn.weight is bn.weight
    assert list(sbn.state_dict()) == list(bn.state_dict())


def test_bad_input_raises_value_error():
    bn = nn.SyncBatchNorm(3)
    with pytest.raises(ValueError, match="has 4 channels, expected 3"):
        bn(nx.randn(5, 4))
    with pytest.raises(ValueError, match="expected at least 2D input"):
        bn(nx.randn(3))
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        bn(nx.randn(1, 3))
    bn.eval()
    assert bn(nx.randn(1, 3)).shape == (1, 3)  # eval: running statistics, one row is fine
    with pytest.raises(ValueError, match="only the default group"):
        nn.SyncBatchNorm(3, process_group="another")
