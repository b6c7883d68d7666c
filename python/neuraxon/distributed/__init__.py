"""neuraxon.distributed: processes that train one model together (torch.distributed-shaped).

    import neuraxon.distributed as dist
    dist.init_process_group("mpi")              # rank and world size from the MPI launcher
    t = nx.tensor([float(dist.get_rank())])
    dist.all_reduce(t, op=dist.ReduceOp.SUM)    # in place, on every rank

Backends
- "mpi": MPI through mpi4py (the `distributed` extra installs mpi4py and an Open MPI
  runtime). CPU tensors are handed to MPI as their own NumPy memory (no copy); CUDA tensors
  are staged through a host copy. Start the ranks with `neuraxon run -n N script.py` (or any
  mpiexec); a script started alone is a world of one.
- "nccl": NVIDIA's NCCL through ctypes (libnccl.so.2: `pip install nvidia-nccl-cu13`, which
  torch's CUDA wheels also bring; or $NEURAXON_NCCL_LIB), on CUDA tensors only, enqueued on
  neuraxon's CUDA stream with no host copy. Ranks as for "mpi" (mpi4py hands rank 0's NCCL id
  to the others; a script started alone is a world of one, even without mpi4py); each rank
  needs its own GPU, seen as device 0 (CUDA_VISIBLE_DEVICES per rank). It HAS NEVER RUN ON A
  GPU: it was written and its host side tested without one (the ABI against nccl.h, and
  every Python path against a fake NCCL on the emulated device); the GPU tests in
  tests/test_distributed_nccl.py skip until a GPU runs them. Not available on the emulated
  CUDA device. Details: neuraxon/distributed/_nccl.py.

Collectives work in place on neuraxon tensors with PyTorch's signatures: all_reduce(t, op)
(ReduceOp.SUM, AVG, MAX, MIN, PRODUCT), broadcast(t, src), all_gather(tensor_list, t),
barrier(). With async_op=True they return a Work whose wait() completes them (the result is
written into the tensor by wait()); otherwise they return None once done. Only the default
group (every rank) exists: `group` must be None or WORLD.

Failures never hang the job: every wait has a deadline (init_process_group's timeout,
default 30 minutes, or NEURAXON_DIST_TIMEOUT seconds); a rank that passes it prints which
collective it was waiting for and aborts the whole MPI job (with "nccl", after aborting the
NCCL communicator, which also stops its kernels on the GPU), and an uncaught exception on
any rank prints the rank's traceback and aborts the job (MPI_Abort) instead of leaving the
other ranks waiting in a collective. With "nccl", Work.wait() blocks the host until the
collective has finished on the GPU (that is how its deadline is kept).
"""

from __future__ import annotations

import datetime
import os
import sys
import traceback

from .._tensor_base import TensorBase
from ._work import Work

__all__ = [
    "WORLD",
    "ReduceOp",
    "Work",
    "all_gather",
    "all_reduce",
    "barrier",
    "broadcast",
    "destroy_process_group",
    "get_backend",
    "get_rank",
    "get_world_size",
    "init_process_group",
    "is_available",
    "is_initialized",
    "is_mpi_available",
    "is_nccl_available",
]

DEFAULT_TIMEOUT_S = 1800.0  # torch's default for its CPU backends (30 minutes)


class ReduceOp:
    """How all_reduce combines the ranks' values (torch.distributed.ReduceOp)."""

    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MAX = "max"
    MIN = "min"


_OPS = (ReduceOp.SUM, ReduceOp.AVG, ReduceOp.PRODUCT, ReduceOp.MAX, ReduceOp.MIN)


class _World:
    """The default group (every rank); the only one there is."""

    def __repr__(self) -> str:
        return "<neuraxon.distributed.WORLD>"


WORLD = _World()
GroupMember = type("GroupMember", (), {"WORLD": WORLD})


class _State:
    backend = None  # the backend object while a process group exists
    excepthook = None  # sys.excepthook before init_process_group replaced it


_state = _State()


def is_available() -> bool:
    """Whether neuraxon.distributed can be used at all (it can: MPI needs mpi4py at init)."""
    return True


def is_mpi_available() -> bool:
    """Whether mpi4py is installed (the "mpi" backend needs it)."""
    import importlib.util

    return importlib.util.find_spec("mpi4py") is not None


def is_nccl_available() -> bool:
    """Whether backend "nccl" can be used with this build: neuraxon's real CUDA backend is
    built (not the emulated one) and libnccl.so.2 loads (whether a GPU is there is
    init_process_group's check, as torch's is_nccl_available does not look for one)."""
    from .. import _ext

    if _ext.cuda is None or _ext.cuda_emulated:
        return False
    from ._nccl import load_library

    try:
        load_library()
    except RuntimeError:
        return False
    return True


def is_initialized() -> bool:
    return _state.backend is not None


def _seconds(timeout) -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, datetime.timedelta):
        return timeout.total_seconds()
    return float(timeout)


def _default_timeout() -> float:
    env = os.environ.get("NEURAXON_DIST_TIMEOUT")
    if env:
        try:
            return float(env)
        except ValueError:
            raise ValueError(f"NEURAXON_DIST_TIMEOUT must be a number of seconds, got {env!r}") from None
    return DEFAULT_TIMEOUT_S


def init_process_group(
    backend: str | None = None,
    init_method: str | None = None,
    timeout=None,
    world_size: int = -1,
    rank: int = -1,
    store=None,
    group_name: str = "",
    pg_options=None,
    device_id=None,
) -> None:
    """Join the job's process group. backend: "mpi" (default) or "nccl" (CUDA tensors only;
    RuntimeError saying why when there is no CUDA device, no NCCL library, or only the
    emulated CUDA device). The rank and world size come from the launcher
    (mpiexec / `neuraxon run`); `rank` and `world_size`, when given, must agree with it.
    timeout (seconds or a timedelta; default NEURAXON_DIST_TIMEOUT or 30 minutes) bounds every
    wait on a collective: past it the job is aborted with a message naming the rank."""
    if _state.backend is not None:
        raise RuntimeError("trying to initialize the default process group twice!")
    name = (backend or "mpi").lower()
    if init_method not in (None, "env://") or store is not None:
        raise ValueError("init_process_group: only the launcher's environment is supported (init_method None)")
    t = _seconds(timeout)
    t = _default_timeout() if t is None else t
    if not t > 0:
        raise ValueError(f"init_process_group: timeout must be positive, got {timeout!r}")
    if name == "mpi":
        from ._mpi import MpiBackend

        b = MpiBackend(t)
    elif name == "nccl":
        from ._nccl import NcclBackend

        b = NcclBackend(t)
    else:
        raise ValueError(f'init_process_group: unknown backend {backend!r} (expected "mpi" or "nccl")')
    for what, given, real in (("rank", rank, b.rank), ("world_size", world_size, b.size)):
        if given is not None and given != -1 and given != real:
            b.destroy()
            raise ValueError(f"init_process_group: {what}={given}, but the launcher says {real}")
    _state.backend = b
    _install_excepthook(b)


def destroy_process_group(group=None) -> None:
    """Leave the process group (a no-op if there is none). MPI itself is finalized at exit."""
    _check_group(group)
    b = _state.backend
    if b is None:
        return
    _state.backend = None
    if _state.excepthook is not None and sys.excepthook is _excepthook:
        sys.excepthook = _state.excepthook
    _state.excepthook = None
    b.destroy()


def _backend():
    b = _state.backend
    if b is None:
        raise RuntimeError(
            "Default process group has not been initialized, please make sure to call init_process_group."
        )
    return b


def _check_group(group) -> None:
    if group is not None and group is not WORLD:
        raise ValueError("neuraxon.distributed has only the default group (group=None)")


def get_backend(group=None) -> str:
    _check_group(group)
    return _backend().name


def get_rank(group=None) -> int:
    """This process's rank, 0 .. world size - 1 (raises before init_process_group, as torch)."""
    _check_group(group)
    return _backend().rank


def get_world_size(group=None) -> int:
    _check_group(group)
    return _backend().size


# ---- uncaught exceptions: abort the job, naming the rank ------------------------------------------


def _job_rank_size() -> tuple[int, int] | None:
    """(rank, world size) of this process's MPI job, when MPI is initialized here and the job
    has several ranks (so that aborting it means something); else None."""
    b = _state.backend
    if b is not None:
        return (b.rank, b.size) if b.size > 1 else None
    mpi = sys.modules.get("mpi4py.MPI")
    if mpi is not None and mpi.Is_initialized() and not mpi.Is_finalized():
        w = mpi.COMM_WORLD
        return (w.Get_rank(), w.Get_size()) if w.Get_size() > 1 else None
    return None


def _abort_job(what: str, detail: str = "", code: int = 1) -> bool:
    """Print `what` (and `detail`, each line tagged with the rank) and abort the whole MPI job
    (MPI_Abort), so that no other rank waits forever for this one. False (nothing done) when
    this process is not part of a multi-rank MPI job."""
    rs = _job_rank_size()
    if rs is None:
        return False
    rank, size = rs
    lines = [f"neuraxon.distributed: rank {rank} of {size} {what}; aborting the job"]
    lines += [f"[rank {rank}] {line}" for line in detail.rstrip("\n").split("\n") if detail]
    sys.stderr.write("\n".join(lines) + "\n")
    sys.stderr.flush()
    sys.modules["mpi4py.MPI"].COMM_WORLD.Abort(code or 1)
    return True


def _excepthook(tp, value, tb) -> None:
    """sys.excepthook while a process group exists: an uncaught exception aborts the job."""
    if not issubclass(tp, KeyboardInterrupt):
        _abort_job("raised an uncaught exception", "".join(traceback.format_exception(tp, value, tb)))
    (_state.excepthook or sys.__excepthook__)(tp, value, tb)


def _install_excepthook(b) -> None:
    if sys.excepthook is not _excepthook:
        _state.excepthook = sys.excepthook
        sys.excepthook = _excepthook


# ---- collectives ----------------------------------------------------------------------------------


def _check_tensor(t, what: str) -> None:
    if not isinstance(t, TensorBase):
        raise TypeError(f"{what}: expected a neuraxon Tensor, got {type(t).__name__}")


def _done(work: Work, async_op: bool):
    if async_op:
        return work
    work.wait()
    return None


def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op: bool = False):
    """Combine `tensor` over every rank with `op`, in place (every rank gets the result).
    AVG divides the sum by the world size (integers: truncated toward zero, as NCCL); on bool
    tensors SUM and MAX are a logical or, MIN and PRODUCT a logical and."""
    _check_tensor(tensor, "all_reduce")
    _check_group(group)
    if op not in _OPS:
        raise ValueError(f"all_reduce: unknown op {op!r} (use neuraxon.distributed.ReduceOp)")
    return _done(_backend().all_reduce(tensor, op), async_op)


def broadcast(tensor, src: int, group=None, async_op: bool = False):
    """Copy rank `src`'s `tensor` into `tensor` on every other rank (same shape and dtype)."""
    _check_tensor(tensor, "broadcast")
    _check_group(group)
    b = _backend()
    if not 0 <= int(src) < b.size:
        raise ValueError(f"broadcast: src {src} is not a rank of a world of {b.size}")
    return _done(b.broadcast(tensor, int(src)), async_op)


def all_gather(tensor_list: list, tensor, group=None, async_op: bool = False):
    """tensor_list[r] = rank r's `tensor`, on every rank; tensor_list has one tensor per rank,
    each of `tensor`'s shape, dtype and device (written in place)."""
    _check_tensor(tensor, "all_gather")
    _check_group(group)
    b = _backend()
    if not isinstance(tensor_list, (list, tuple)) or len(tensor_list) != b.size:
        n = len(tensor_list) if isinstance(tensor_list, (list, tuple)) else type(tensor_list).__name__
        raise ValueError(f"all_gather: tensor_list must hold one tensor per rank ({b.size}), got {n}")
    for o in tensor_list:
        _check_tensor(o, "all_gather")
        if o.shape != tensor.shape or o.dtype != tensor.dtype or o.device != tensor.device:
            raise ValueError(
                f"all_gather: every output must be {tensor.dtype.name}{list(tensor.shape)} on {tensor.device}, "
                f"got {o.dtype.name}{list(o.shape)} on {o.device}"
            )
    return _done(b.all_gather(list(tensor_list), tensor), async_op)


def barrier(group=None, async_op: bool = False, device_ids=None):
    """Wait until every rank has reached this barrier."""
    _check_group(group)
    return _done(_backend().barrier(), async_op)
