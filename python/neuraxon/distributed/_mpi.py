"""The "mpi" backend: MPI's non-blocking collectives through mpi4py.

A CPU tensor's data is a flat, contiguous NumPy array (`_data`), and that array itself is the
MPI buffer: nothing is copied. A CUDA tensor is copied to the host, reduced there, and copied
back when the Work completes (MPI here is not CUDA-aware).

Every collective is started non-blocking (Iallreduce, Ibcast, Iallgather, Ibarrier) and
completed by polling MPI_Test with a deadline, so no wait can outlast the process group's
timeout: past it, the rank says which collective it was waiting for and aborts the job.
Open MPI progresses a non-blocking collective only inside MPI calls, so code that overlaps
communication with computation (DistributedDataParallel) calls Work.is_completed() now and
then to move it along.
"""

from __future__ import annotations

import numpy as np

from ._work import Work, wait_polling


def _trunc_div(a: np.ndarray, n: int) -> None:
    """a //= n, rounding toward zero (integer AVG, as NCCL)."""
    q = np.abs(a) // n
    np.copyto(a, np.where(a < 0, -q, q))


class MpiBackend:
    name = "mpi"

    def __init__(self, timeout: float) -> None:
        try:
            from mpi4py import MPI
        except ImportError as e:
            raise RuntimeError(
                f'neuraxon.distributed: backend "mpi" needs mpi4py ({e}); install the extra: '
                'pip install "neuraxon[distributed]"'
            ) from None
        self.MPI = MPI
        # a communicator of our own: the user's MPI traffic on COMM_WORLD never matches ours
        self.comm = MPI.COMM_WORLD.Dup()
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        self.timeout = float(timeout)
        self._ops = {"sum": MPI.SUM, "avg": MPI.SUM, "product": MPI.PROD, "max": MPI.MAX, "min": MPI.MIN}
        self._bool_ops = {"sum": MPI.LOR, "max": MPI.LOR, "product": MPI.LAND, "min": MPI.LAND}

    # -- buffers -----------------------------------------------------------------------------
    @staticmethod
    def _host(t):
        """(the NumPy array MPI works on, a function writing it back into t or None). CPU: the
        tensor's own memory; CUDA: a host copy (to_host waits for the device)."""
        if t.device.type == "cpu":
            a = t._data
            if not a.flags.c_contiguous or not a.flags.writeable:  # never for a tensor's own data
                raise ValueError("neuraxon.distributed: the tensor's memory is not a writable contiguous array")
            return a, None
        a = t._data.to_host()
        return a, lambda: t._data.copy_from_host(a) if a.size else None

    @staticmethod
    def _desc(t) -> str:
        return f"{t.dtype.name}{list(t.shape)} on {t.device}"

    # -- collectives ---------------------------------------------------------------------------
    def all_reduce(self, t, op: str) -> Work:
        a, back = self._host(t)
        if a.dtype == np.bool_:
            if op == "avg":
                raise ValueError("all_reduce: ReduceOp.AVG is not defined for bool tensors")
            mop = self._bool_ops[op]
        else:
            mop = self._ops[op]
        req = self.comm.Iallreduce(self.MPI.IN_PLACE, a, op=mop)
        n = self.size

        def finish():
            if op == "avg" and n > 1:
                if a.dtype.kind == "f":
                    np.divide(a, n, out=a)
                else:
                    _trunc_div(a, n)
            if back is not None:
                back()
            t._bump_version()

        return Work(self, req, finish, f"all_reduce({op}) of {self._desc(t)}")

    def broadcast(self, t, src: int) -> Work:
        a, back = self._host(t)
        req = self.comm.Ibcast(a, root=src)
        mine = self.rank == src

        def finish():
            if not mine:
                if back is not None:
                    back()
                t._bump_version()

        return Work(self, req, finish, f"broadcast(src={src}) of {self._desc(t)}")

    def all_gather(self, outs: list, t) -> Work:
        a, _ = self._host(t)
        recv = np.empty((self.size, a.size), dtype=a.dtype)
        req = self.comm.Iallgather(a, recv)

        def finish():
            for o, row in zip(outs, recv):
                if o.device.type == "cpu":
                    np.copyto(o._data, row)
                elif row.size:
                    o._data.copy_from_host(row)
                o._bump_version()

        return Work(self, req, finish, f"all_gather of {self._desc(t)}")

    def barrier(self) -> Work:
        return Work(self, self.comm.Ibarrier(), None, "barrier")

    # -- completion ----------------------------------------------------------------------------
    @staticmethod
    def test(req) -> bool:
        return bool(req.Test())

    def wait(self, req, what: str, timeout: float | None = None) -> None:
        """Poll req until it completes. Past `timeout` seconds: RuntimeError; past the process
        group's timeout (no `timeout`): the job is aborted with a message naming this rank."""
        wait_polling(self, req, what, timeout)

    def abort(self, code: int) -> None:
        self.MPI.COMM_WORLD.Abort(code)

    def destroy(self) -> None:
        comm, self.comm = self.comm, None
        if comm is not None:
            comm.Free()
