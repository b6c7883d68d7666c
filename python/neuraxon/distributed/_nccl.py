"""The "nccl" backend: NVIDIA's NCCL through ctypes, on neuraxon's own CUDA stream.

NOT YET RUN ON A GPU. It was written and its host side tested on machines without one (see
tests/test_distributed_nccl.py: the ABI against the wheel's nccl.h, library discovery, the
dtype and op tables, and every Python path against a fake NCCL on the emulated CUDA device);
the tests that call the real library on a real device skip until a GPU runs them.

Library. libnccl.so.2 is loaded with ctypes (no C++ build): $NEURAXON_NCCL_LIB (a path; when
set it is the only one tried), else the `nvidia-nccl-cu13` / `-cu12` wheel's
site-packages/nvidia/nccl/lib (torch's CUDA wheels install it), else the system's (ctypes.util,
then plain "libnccl.so.2" through the loader's path). NCCL >= 2.10 (ncclAvg). The signatures
below follow nccl.h; tests/test_distributed_nccl.py compares them with the header of an
installed wheel.

Ranks. NCCL needs its 128-byte ncclUniqueId on every rank before ncclCommInitRank: rank 0
makes it and MPI (mpi4py, with the launcher of the "mpi" backend: `neuraxon run -n N`)
broadcasts it. A script started alone is a world of one, with or without mpi4py. neuraxon
drives CUDA device 0, so every rank of a machine must see its own GPU as device 0
(CUDA_VISIBLE_DEVICES per rank); NCCL refuses two ranks on one GPU.

Data. A CUDA tensor's data is one contiguous DeviceArray; its device address is read from the
DLPack capsule neuraxon itself exports for it (DLManagedTensor -> DLTensor.data), and the
capsule, which holds a reference to the array, is kept until the collective is known to be
done, so the memory cannot be freed under NCCL. Every collective is enqueued on neuraxon's
CUDA stream (Device.k.stream_handle()), so it is ordered after the kernels that wrote its
input and before the ones that read its output, with no host wait. CPU tensors are refused
(ValueError naming the device), as torch's NCCL backend does.

Completion and timeouts. After a collective a CUDA event is recorded on the stream (driver
API, libcuda.so.1); Work.is_completed() queries it, Work.wait() polls it (and
ncclCommGetAsyncError) until the process group's timeout, so wait() blocks the host until the
GPU has finished the collective. Past the deadline, or on an asynchronous NCCL error, the
communicator is aborted (ncclCommAbort, which also ends the NCCL kernels that would spin on
the stream forever) and the rank raises, naming itself and the collective; in a job of
several ranks a timeout without an explicit wait(timeout) aborts the whole MPI job as the
"mpi" backend does. The communicator is unusable afterwards.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.util
import os
import sys

from ._work import wait_polling

NCCL_UNIQUE_ID_BYTES = 128
MIN_VERSION = (2, 10, 0)  # ncclAvg
ENV_LIB = "NEURAXON_NCCL_LIB"

# ncclResult_t, ncclRedOp_t, ncclDataType_t (nccl.h; tests compare them with the header)
RESULTS = {
    "ncclSuccess": 0,
    "ncclUnhandledCudaError": 1,
    "ncclSystemError": 2,
    "ncclInternalError": 3,
    "ncclInvalidArgument": 4,
    "ncclInvalidUsage": 5,
    "ncclRemoteError": 6,
    "ncclInProgress": 7,
}
REDOPS = {"ncclSum": 0, "ncclProd": 1, "ncclMax": 2, "ncclMin": 3, "ncclAvg": 4}
DATATYPES = {
    "ncclInt8": 0,
    "ncclUint8": 1,
    "ncclInt32": 2,
    "ncclUint32": 3,
    "ncclInt64": 4,
    "ncclUint64": 5,
    "ncclFloat16": 6,
    "ncclFloat32": 7,
    "ncclFloat64": 8,
    "ncclBfloat16": 9,
}
ncclSuccess, ncclInProgress = RESULTS["ncclSuccess"], RESULTS["ncclInProgress"]

# neuraxon dtype -> ncclDataType_t. bool is one byte holding 0 or 1: Uint8.
DTYPES = {"float32": DATATYPES["ncclFloat32"], "int64": DATATYPES["ncclInt64"], "bool": DATATYPES["ncclUint8"]}
# ReduceOp -> ncclRedOp_t; on bool (0/1 bytes) SUM and MAX are a logical or, MIN and PRODUCT a
# logical and, as the "mpi" backend (a byte SUM would overflow past 255 ranks and leave 2s).
OPS = {
    "sum": REDOPS["ncclSum"],
    "avg": REDOPS["ncclAvg"],
    "product": REDOPS["ncclProd"],
    "max": REDOPS["ncclMax"],
    "min": REDOPS["ncclMin"],
}
BOOL_OPS = {"sum": REDOPS["ncclMax"], "max": REDOPS["ncclMax"], "product": REDOPS["ncclMin"], "min": REDOPS["ncclMin"]}


class UniqueId(ctypes.Structure):
    """ncclUniqueId: typedef struct { char internal[NCCL_UNIQUE_ID_BYTES]; } (passed by value)."""

    _fields_ = [("internal", ctypes.c_char * NCCL_UNIQUE_ID_BYTES)]


_vp, _int, _size = ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t
# name: (restype, argtypes), as declared in nccl.h. ncclComm_t and cudaStream_t are pointers;
# the enums (ncclResult_t, ncclDataType_t, ncclRedOp_t) are C ints.
SIGNATURES = {
    "ncclGetVersion": (_int, [ctypes.POINTER(_int)]),
    "ncclGetUniqueId": (_int, [ctypes.POINTER(UniqueId)]),
    "ncclCommInitRank": (_int, [ctypes.POINTER(_vp), _int, UniqueId, _int]),
    "ncclCommDestroy": (_int, [_vp]),
    "ncclCommAbort": (_int, [_vp]),
    "ncclCommGetAsyncError": (_int, [_vp, ctypes.POINTER(_int)]),
    "ncclGetErrorString": (ctypes.c_char_p, [_int]),
    "ncclAllReduce": (_int, [_vp, _vp, _size, _int, _int, _vp, _vp]),
    "ncclBroadcast": (_int, [_vp, _vp, _size, _int, _int, _vp, _vp]),
    "ncclAllGather": (_int, [_vp, _vp, _size, _int, _vp, _vp]),
}
OPTIONAL = {"ncclGetLastError": (ctypes.c_char_p, [_vp])}  # NCCL >= 2.13


def nccl_dtype(dtype) -> int:
    """The ncclDataType_t of a neuraxon dtype; TypeError for one NCCL is not given here."""
    name = getattr(dtype, "name", str(dtype))
    try:
        return DTYPES[name]
    except KeyError:
        raise TypeError(f'backend "nccl": unsupported dtype {name} (supported: {", ".join(DTYPES)})') from None


def nccl_op(op: str, dtype) -> int:
    """The ncclRedOp_t that does ReduceOp `op` on `dtype` (see BOOL_OPS)."""
    if getattr(dtype, "name", dtype) == "bool":
        if op == "avg":
            raise ValueError("all_reduce: ReduceOp.AVG is not defined for bool tensors")
        return BOOL_OPS[op]
    return OPS[op]


def decode_version(code: int) -> tuple[int, int, int]:
    """ncclGetVersion's integer as (major, minor, patch): X*1000+Y*100+Z up to 2.8, then
    X*10000+Y*100+Z (nccl.h's NCCL_VERSION)."""
    if code >= 10000:
        return code // 10000, code % 10000 // 100, code % 100
    return code // 1000, code % 1000 // 100, code % 100


# ---- finding and loading the library --------------------------------------------------------------


def _wheel_dirs() -> list[str]:
    """site-packages/nvidia/nccl/lib of the nvidia-nccl-cu* wheels (`nvidia` is a namespace
    package), without importing anything but the namespace."""
    try:
        spec = importlib.util.find_spec("nvidia.nccl")
    except (ImportError, ValueError):
        return []
    if spec is None:
        return []
    return [os.path.join(d, "lib") for d in (spec.submodule_search_locations or ())]


def library_candidates() -> list[tuple[str, str]]:
    """(where it comes from, path or name) in the order load_library tries them."""
    env = os.environ.get(ENV_LIB)
    if env:
        return [(f"${ENV_LIB}", env)]
    out = [("the nvidia-nccl wheel", os.path.join(d, "libnccl.so.2")) for d in _wheel_dirs()]
    found = ctypes.util.find_library("nccl")
    if found:
        out.append(("ctypes.util.find_library", found))
    if "libnccl.so.2" not in [p for _, p in out]:
        out.append(("the dynamic loader's path", "libnccl.so.2"))
    return out


_loaded: tuple | None = None  # (CDLL, path) once loaded


def load_library() -> tuple[ctypes.CDLL, str]:
    """(libnccl, the path it came from). RuntimeError naming every path tried, and why each failed."""
    global _loaded
    cands = library_candidates()
    if _loaded is not None and _loaded[1] in [p for _, p in cands]:
        return _loaded
    tried = []
    for where, path in cands:
        if os.sep in path and not os.path.exists(path):
            tried.append(f"{path} ({where}): no such file")
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            tried.append(f"{path} ({where}): {e}")
            continue
        if not hasattr(lib, "ncclCommInitRank"):
            tried.append(f"{path} ({where}): loaded, but it has no ncclCommInitRank (not NCCL)")
            continue
        _loaded = (lib, path)
        return _loaded
    raise RuntimeError(
        'backend "nccl": libnccl.so.2 could not be loaded; tried: ' + "; ".join(tried) + ". Install NCCL with "
        f"`pip install nvidia-nccl-cu13` (CUDA 13; nvidia-nccl-cu12 for CUDA 12), or set {ENV_LIB} to its path"
    )


class NcclLib:
    """libnccl.so.2 with its signatures declared (SIGNATURES), and its error reporting."""

    def __init__(self, cdll: ctypes.CDLL | None = None, path: str = "") -> None:
        if cdll is None:
            cdll, path = load_library()
        self.cdll, self.path = cdll, path
        for name, (res, args) in SIGNATURES.items():
            f = getattr(cdll, name)
            f.restype, f.argtypes = res, args
            setattr(self, name, f)
        for name, (res, args) in OPTIONAL.items():
            f = getattr(cdll, name, None)
            if f is not None:
                f.restype, f.argtypes = res, args
            setattr(self, name, f)

    def version(self) -> tuple[int, int, int]:
        v = ctypes.c_int(0)
        self.check(self.ncclGetVersion(ctypes.byref(v)), "ncclGetVersion")
        return decode_version(v.value)

    def error_string(self, res: int, comm=None) -> str:
        s = (self.ncclGetErrorString(int(res)) or b"").decode(errors="replace")
        if self.ncclGetLastError is not None:
            last = (self.ncclGetLastError(comm) or b"").decode(errors="replace").strip()
            if last:
                s += f" ({last})"
        return f"{s} [ncclResult_t {int(res)}]"

    def check(self, res: int, what: str, comm=None) -> None:
        if res != ncclSuccess:
            raise RuntimeError(f'backend "nccl": {what} failed: {self.error_string(res, comm)}')


# the driver calls CudaDriver makes, as declared in cuda.h (all return CUresult, an int):
# CUcontext, CUevent and CUstream are pointers, CUdevice an int. cuEventDestroy is a macro for
# cuEventDestroy_v2, the symbol. tests/test_distributed_nccl.py compares them with cuda.h.
DRIVER_SIGNATURES = {
    "cuInit": [ctypes.c_uint],
    "cuCtxGetCurrent": [ctypes.POINTER(_vp)],
    "cuCtxSetCurrent": [_vp],
    "cuDeviceGet": [ctypes.POINTER(_int), _int],
    "cuDevicePrimaryCtxRetain": [ctypes.POINTER(_vp), _int],
    "cuEventCreate": [ctypes.POINTER(_vp), ctypes.c_uint],
    "cuEventRecord": [_vp, _vp],
    "cuEventQuery": [_vp],
    "cuEventDestroy_v2": [_vp],
    "cuGetErrorString": [_int, ctypes.POINTER(ctypes.c_char_p)],
}


class CudaDriver:
    """The few CUDA driver calls the backend needs (libcuda.so.1, which every machine with an
    NVIDIA driver has): events recorded on neuraxon's stream and queried without blocking."""

    CU_EVENT_DISABLE_TIMING = 0x2
    CUDA_ERROR_NOT_READY = 600

    def __init__(self) -> None:
        try:
            lib = ctypes.CDLL("libcuda.so.1")
        except OSError as e:
            raise RuntimeError(
                f'backend "nccl": the CUDA driver library libcuda.so.1 could not be loaded: {e}'
            ) from None
        for name, args in DRIVER_SIGNATURES.items():
            f = getattr(lib, name)
            f.restype, f.argtypes = _int, args
        self.lib = lib
        self._free: list = []  # events ready for reuse
        self._check(lib.cuInit(0), "cuInit")

    def _check(self, res: int, what: str) -> None:
        if res != 0:
            s = ctypes.c_char_p()
            self.lib.cuGetErrorString(res, ctypes.byref(s))
            raise RuntimeError(f'backend "nccl": {what} failed: {(s.value or b"?").decode()} [CUresult {res}]')

    def _context(self) -> None:
        """The primary context of device 0 current on this thread (neuraxon's runtime made it
        current on the threads that ran kernels; another thread may have none yet)."""
        ctx = _vp()
        self._check(self.lib.cuCtxGetCurrent(ctypes.byref(ctx)), "cuCtxGetCurrent")
        if not ctx.value:
            dev = _int()
            self._check(self.lib.cuDeviceGet(ctypes.byref(dev), 0), "cuDeviceGet")
            self._check(self.lib.cuDevicePrimaryCtxRetain(ctypes.byref(ctx), dev), "cuDevicePrimaryCtxRetain")
            self._check(self.lib.cuCtxSetCurrent(ctx), "cuCtxSetCurrent")

    def record(self, stream: int):
        """A fresh event recorded on `stream` (a cudaStream_t, which is a CUstream)."""
        self._context()
        if self._free:
            ev = self._free.pop()
        else:
            ev = _vp()
            self._check(self.lib.cuEventCreate(ctypes.byref(ev), self.CU_EVENT_DISABLE_TIMING), "cuEventCreate")
        self._check(self.lib.cuEventRecord(ev, _vp(stream)), "cuEventRecord")
        return ev

    def query(self, ev) -> bool:
        """Whether the work before the event has finished (no wait)."""
        self._context()
        res = self.lib.cuEventQuery(ev)
        if res == self.CUDA_ERROR_NOT_READY:
            return False
        self._check(res, "cuEventQuery")
        return True

    def release(self, ev) -> None:
        self._free.append(ev)

    def close(self) -> None:
        while self._free:
            self.lib.cuEventDestroy_v2(self._free.pop())


# ---- the device address of a tensor -----------------------------------------------------------

_capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_pointer.restype = ctypes.c_void_p
_capsule_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]


def device_pointer(t) -> tuple[int, object]:
    """(device address of CUDA tensor t's first element, an object to keep alive while the
    address is in use). Through neuraxon's own DLPack export: an unversioned capsule
    "dltensor" points at a DLManagedTensor, whose first member is the DLTensor, whose first
    member is `void* data` (byte_offset is always 0 for our capsules). The capsule holds a
    reference to the DeviceArray; dropping it unconsumed releases that reference. No stream
    ordering is asked (-1): NCCL runs on neuraxon's stream itself."""
    arr = t._data
    cap = t.device.k.dlpack_export(arr, [int(arr.numel)], -1, False, False)
    managed = _capsule_pointer(cap, b"dltensor")
    return int(ctypes.c_void_p.from_address(managed).value or 0), cap


# ---- bootstrap: rank, size and the unique id --------------------------------------------------------


def bootstrap() -> tuple[int, int, object]:
    """(rank, world size, bcast(bytes) -> rank 0's bytes). MPI when mpi4py is there (mpiexec
    or `neuraxon run`; a script started alone is MPI's world of one); without mpi4py only a
    world of one, outside an MPI launcher."""
    try:
        from mpi4py import MPI
    except ImportError as e:
        from .launch import launched_world_size

        n = launched_world_size()
        if n is not None and n > 1:
            raise RuntimeError(
                f'backend "nccl": this process is one of {n} MPI ranks, but mpi4py is not installed ({e}); NCCL '
                'needs it to hand rank 0\'s ncclUniqueId to the others: pip install "neuraxon[distributed]"'
            ) from None
        return 0, 1, lambda b: b
    comm = MPI.COMM_WORLD

    def bcast(b: bytes) -> bytes:
        buf = bytearray(b)
        comm.Bcast(buf, root=0)
        return bytes(buf)

    return comm.Get_rank(), comm.Get_size(), bcast


def check_cuda() -> None:
    """RuntimeError unless neuraxon's real CUDA backend is loaded and sees a device."""
    from .. import _ext, cuda

    if _ext.cuda is None:
        raise RuntimeError(f'backend "nccl" needs neuraxon\'s CUDA backend: {cuda.unavailable_reason()}')
    if _ext.cuda_emulated:
        raise RuntimeError(
            'backend "nccl" is not available on the emulated CUDA device (NEURAXON_USE_CUDA_EMU=1: the CUDA kernels '
            'run on the CPU through HIP-CPU, and there is no NCCL for it); use backend "mpi"'
        )
    if not cuda.is_available():
        raise RuntimeError(f'backend "nccl" needs a CUDA device, and there is none: {cuda.unavailable_reason()}')


# ---- the backend --------------------------------------------------------------------------------


class _Pending:
    """A collective in flight: its event, what must stay alive until it is done, its name."""

    __slots__ = ("done", "event", "keep", "what")

    def __init__(self, event, keep, what: str) -> None:
        self.event, self.keep, self.what = event, keep, what
        self.done = event is None


class NcclBackend:
    """The "nccl" backend (see the module doc). `lib`, `driver`, `stream` and `world` (rank,
    size, bcast) are the real ones unless given: tests pass fakes."""

    name = "nccl"

    def __init__(self, timeout: float, lib=None, driver=None, stream: int | None = None, world=None) -> None:
        from ..device import Device
        from ..dtypes import float32

        if lib is None:
            check_cuda()
            lib = NcclLib()
            v = lib.version()
            if v < MIN_VERSION:
                raise RuntimeError(
                    f'backend "nccl" needs NCCL >= {".".join(map(str, MIN_VERSION))} (ncclAvg); {lib.path} is '
                    f"{'.'.join(map(str, v))}"
                )
        self.lib = lib
        self.timeout = float(timeout)
        self.rank, self.size, bcast = world if world is not None else bootstrap()
        self.device = Device("cuda")
        self.driver = driver if driver is not None else CudaDriver()
        self.stream = int(self.device.k.stream_handle() if stream is None else stream)
        self.comm = None
        self.broken = ""  # why the communicator was aborted ("" while it is usable)
        # rank 0 sends one status byte and the id: a rank 0 that could not make one must not
        # leave the others initialising with a meaningless id
        uid = UniqueId()
        made = ncclSuccess
        if self.rank == 0:
            made = lib.ncclGetUniqueId(ctypes.byref(uid))
        raw = bcast((b"\x01" if made == ncclSuccess else b"\x00") + bytes(uid.internal))
        if raw[:1] != b"\x01":
            why = lib.error_string(made) if self.rank == 0 else "see rank 0's error"
            raise RuntimeError(f'backend "nccl": rank 0 could not make the NCCL id (ncclGetUniqueId: {why})')
        ctypes.memmove(ctypes.addressof(uid), raw[1:], NCCL_UNIQUE_ID_BYTES)
        comm = _vp()
        res = lib.ncclCommInitRank(ctypes.byref(comm), self.size, uid, self.rank)
        if res != ncclSuccess:
            hint = ""
            if self.size > 1:
                hint = (
                    "; every rank of a machine needs its own GPU (NCCL refuses two ranks on one device): set "
                    "CUDA_VISIBLE_DEVICES per rank, e.g. from OMPI_COMM_WORLD_LOCAL_RANK, before importing neuraxon"
                )
            raise RuntimeError(
                f'backend "nccl": ncclCommInitRank (rank {self.rank} of {self.size}) failed: '
                f"{lib.error_string(res)}{hint}"
            )
        self.comm = comm
        self._one = None  # the barrier's 1-element buffer, made on first use
        self._float32 = float32

    # -- arguments ---------------------------------------------------------------------------
    @staticmethod
    def _desc(t) -> str:
        return f"{t.dtype.name}{list(t.shape)} on {t.device}"

    def _usable(self, what: str) -> None:
        if self.comm is None:
            raise RuntimeError(
                f"neuraxon.distributed: rank {self.rank}: {what}: the NCCL communicator "
                + (f"was aborted earlier ({self.broken})" if self.broken else "is destroyed")
                + "; call destroy_process_group() and init_process_group() again"
            )

    def _cuda_only(self, t, what: str) -> None:
        if t.device.type != "cuda":
            raise ValueError(
                f'{what}: backend "nccl" works on CUDA tensors only, got {self._desc(t)} (move it with .cuda(), '
                'or use backend "mpi" for CPU tensors)'
            )

    def _buffer(self, t, what: str) -> tuple[int, int, object]:
        """(device address, ncclDataType_t, keep-alive) of a CUDA tensor; ValueError for another device."""
        self._cuda_only(t, what)
        dt = nccl_dtype(t.dtype)
        ptr, keep = device_pointer(t) if t.numel() else (0, None)
        return ptr, dt, keep

    def _launch(self, what: str, call, keep, finish):
        """Run the enqueueing NCCL call (unless None: nothing to move), record the event, and
        return the Work."""
        from ._work import Work

        if call is None:
            return Work(self, _Pending(None, keep, what), finish, what)
        res = call()
        if res != ncclSuccess:
            err = self.lib.error_string(res, self.comm)
            raise RuntimeError(f"neuraxon.distributed: rank {self.rank} of {self.size}: {what} failed: {err}")
        return Work(self, _Pending(self.driver.record(self.stream), keep, what), finish, what)

    # -- collectives ---------------------------------------------------------------------------
    def all_reduce(self, t, op: str):
        what = f"all_reduce({op}) of {self._desc(t)}"
        ptr, dt, keep = self._buffer(t, "all_reduce")
        nop = nccl_op(op, t.dtype)
        self._usable(what)
        n = t.numel()
        call = (lambda: self.lib.ncclAllReduce(ptr, ptr, n, dt, nop, self.comm, self.stream)) if n else None
        return self._launch(what, call, keep, t._bump_version)

    def broadcast(self, t, src: int):
        what = f"broadcast(src={src}) of {self._desc(t)}"
        ptr, dt, keep = self._buffer(t, "broadcast")
        self._usable(what)
        n = t.numel()
        call = (lambda: self.lib.ncclBroadcast(ptr, ptr, n, dt, int(src), self.comm, self.stream)) if n else None
        return self._launch(what, call, keep, None if src == self.rank else t._bump_version)

    def all_gather(self, outs: list, t):
        """NCCL gathers into one buffer of size * n; copies into the outputs follow on the
        same stream (so they are in order without a host wait)."""
        from .. import _array

        what = f"all_gather of {self._desc(t)}"
        ptr, dt, keep = self._buffer(t, "all_gather")
        for o in outs:  # (same device as `tensor`, checked by all_gather): written by copies
            self._cuda_only(o, "all_gather")
        self._usable(what)
        n = t.numel()

        def finish():
            for o in outs:
                o._bump_version()

        if not n:
            return self._launch(what, None, keep, finish)
        recv = _array.empty((self.size * n,), t.dtype, t.device)
        rptr, rkeep = device_pointer(recv)

        def call():
            res = self.lib.ncclAllGather(ptr, rptr, n, dt, self.comm, self.stream)
            if res == ncclSuccess:
                for r, o in enumerate(outs):
                    _array.copy_into(o, recv, [n], [1], 0, [1], r * n)
            return res

        return self._launch(what, call, (keep, rkeep, recv), finish)

    def barrier(self):
        """A 1-element all-reduce (as torch's NCCL barrier), waited for by Work.wait()."""
        from .. import _array

        self._usable("barrier")
        if self._one is None:
            self._one = _array.zeros((1,), self._float32, self.device)
        ptr, keep = device_pointer(self._one)
        nop, dt = OPS["sum"], DTYPES["float32"]
        return self._launch(
            "barrier", lambda: self.lib.ncclAllReduce(ptr, ptr, 1, dt, nop, self.comm, self.stream), keep, None
        )

    # -- completion ----------------------------------------------------------------------------
    def _check_async(self, what: str) -> None:
        """RuntimeError (after aborting the communicator) if NCCL reported an asynchronous error."""
        if self.comm is None:
            if self.broken:
                raise RuntimeError(
                    f"neuraxon.distributed: rank {self.rank} of {self.size}: {what} did not complete: the NCCL "
                    f"communicator was aborted ({self.broken})"
                )
            return
        err = _int(ncclSuccess)
        res = self.lib.ncclCommGetAsyncError(self.comm, ctypes.byref(err))
        if res == ncclSuccess and err.value in (ncclSuccess, ncclInProgress):
            return
        code = err.value if res == ncclSuccess else res
        detail = self.lib.error_string(code, self.comm)
        self.abort_comm(f"NCCL error during {what}: {detail}")
        raise RuntimeError(
            f"neuraxon.distributed: rank {self.rank} of {self.size}: NCCL failed during {what}: {detail}; the "
            "communicator was aborted"
        )

    def _finished(self, req: _Pending) -> None:
        req.done = True
        if req.event is not None:
            self.driver.release(req.event)
            req.event = None
        req.keep = None

    def test(self, req: _Pending) -> bool:
        if req.done:
            return True
        self._check_async(req.what)
        if self.driver.query(req.event):
            self._finished(req)
            return True
        return False

    def wait(self, req: _Pending, what: str, timeout: float | None = None) -> None:
        """Poll until the collective has finished on the GPU. Past `timeout` seconds (or the
        process group's timeout): abort the communicator, then raise RuntimeError (an explicit
        timeout, or a world of one) or abort the MPI job (see the module doc)."""
        wait_polling(
            self,
            req,
            what,
            timeout,
            suffix="; the NCCL communicator was aborted",
            on_timeout=lambda limit: self.abort_comm(f"{what} timed out after {limit:g} s"),
            raise_always=self.size == 1,
        )

    def abort_comm(self, why: str) -> None:
        """ncclCommAbort: ends this rank's NCCL kernels (which would otherwise spin on the
        stream forever) and frees the communicator; every later collective raises."""
        comm, self.comm = self.comm, None
        self.broken = self.broken or why
        if comm is not None:
            self.lib.ncclCommAbort(comm)

    def abort(self, code: int) -> None:
        """Abort the whole MPI job (several ranks only)."""
        mpi = sys.modules.get("mpi4py.MPI")
        if self.size > 1 and mpi is not None:
            mpi.COMM_WORLD.Abort(code)

    def destroy(self) -> None:
        """Wait (bounded by the timeout) for what was enqueued, then free the communicator."""
        try:
            comm = self.comm
            if comm is not None:
                req = _Pending(self.driver.record(self.stream), None, "destroy_process_group")
                self.wait(req, "destroy_process_group (waiting for the collectives in flight)", self.timeout)
                self.comm = None  # (wait aborted it instead, past the timeout)
                self.lib.check(self.lib.ncclCommDestroy(comm), "ncclCommDestroy")
        finally:
            self._one = None
            self.driver.close()
