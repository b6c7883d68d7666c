"""Backend "nccl" (neuraxon/distributed/_nccl.py). NO GPU HAS RUN THESE TESTS YET: the last
group skips until one does (bench/gpu_check.sh runs this file in a step of its own).

1. Host side, on any machine: the ctypes ABI against the nccl.h of an installed
   nvidia-nccl-cu13/-cu12 wheel (skips without it), library discovery and its errors, the
   dtype and op tables, init_process_group("nccl") failing clearly without a GPU, and
   ncclGetVersion when the library loads.
2. The backend's Python side against FakeNccl, a stand-in that does what NCCL documents for
   each call in NumPy, on the emulated CUDA device (NEURAXON_USE_CUDA_EMU=1; device memory is
   host memory there, so the fake reads and writes the very addresses the backend passes):
   device addresses, counts, dtype/op codes, the stream, Work and its events, timeouts and
   asynchronous errors, and tests/nccl_jobs.py's checks (collectives, DDP, SyncBatchNorm) in
   a world of one. The fake's world of two gives the other rank values made from ours.
3. A real GPU with NCCL: tests/nccl_jobs.py in a subprocess (a world of one; two ranks under
   mpiexec, one GPU each, or on one GPU, which NCCL refuses: then the refusal must be clean).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import neuraxon as nx
import neuraxon.distributed as dist
import numpy as np
import pytest
from neuraxon import _ext
from neuraxon.distributed import _nccl

HERE = Path(__file__).resolve().parent
JOB_TIMEOUT = 240

# ---- where things are -------------------------------------------------------------------------------


def _header() -> Path | None:
    """nccl.h of an installed nvidia-nccl wheel (site-packages/nvidia/nccl/include)."""
    for d in _nccl._wheel_dirs():
        h = Path(d).parent / "include" / "nccl.h"
        if h.is_file():
            return h
    return None


def _loadable() -> str:
    """The empty string if libnccl.so.2 loads here, else why not."""
    try:
        _nccl.load_library()
        return ""
    except RuntimeError as e:
        return str(e)


HEADER = _header()
needs_header = pytest.mark.skipif(
    HEADER is None, reason="no nvidia-nccl wheel installed (pip install nvidia-nccl-cu13): no nccl.h to check against"
)
emulated_only = pytest.mark.skipif(
    not nx.cuda.is_emulated(),
    reason="needs the emulated CUDA device (NEURAXON_USE_CUDA_EMU=1: CI's emulated pass runs these)",
)


def _gpu_skip_reason() -> str | None:
    if _ext.cuda is None:
        return "no GPU run: neuraxon was built without CUDA"
    if _ext.cuda_emulated:
        return "no GPU run: the CUDA device is emulated (no NCCL for it)"
    if not nx.cuda.is_available():
        return f"no GPU run: no CUDA device ({nx.cuda.unavailable_reason()})"
    why = _loadable()
    return f"no GPU run: NCCL not loadable ({why})" if why else None


GPU_SKIP = _gpu_skip_reason()
needs_gpu = pytest.mark.skipif(GPU_SKIP is not None, reason=GPU_SKIP or "")


# ---- 1. host side: the ABI against nccl.h ------------------------------------------------------------


def _enum(text: str, name: str) -> dict:
    m = re.search(r"typedef\s+enum\s*\{((?:(?!typedef).)*?)\}\s*" + name + r"\s*;", text, re.DOTALL)
    assert m, f"nccl.h: enum {name} not found"
    body = re.sub(r"/\*.*?\*/", "", m.group(1), flags=re.DOTALL)
    return {k: int(v) for k, v in re.findall(r"(nccl\w+)\s*=\s*(\d+)\s*(?=[,}\n]|$)", body)}


_C_TYPES = {
    "void*": ctypes.c_void_p,
    "size_t": ctypes.c_size_t,
    "int": ctypes.c_int,
    "int*": ctypes.POINTER(ctypes.c_int),
    "ncclDataType_t": ctypes.c_int,
    "ncclRedOp_t": ctypes.c_int,
    "ncclResult_t": ctypes.c_int,
    "ncclResult_t*": ctypes.POINTER(ctypes.c_int),
    "ncclComm_t": ctypes.c_void_p,
    "ncclComm_t*": ctypes.POINTER(ctypes.c_void_p),
    "cudaStream_t": ctypes.c_void_p,
    "ncclUniqueId": _nccl.UniqueId,
    "ncclUniqueId*": ctypes.POINTER(_nccl.UniqueId),
    "char*": ctypes.c_char_p,
}


def _c_type(decl: str):
    """The ctypes type of one C parameter declaration ("const void* sendbuff" -> c_void_p)."""
    words = re.sub(r"\s*\*\s*", "* ", re.sub(r"\bconst\b", " ", decl)).split()
    assert words and words[0] in _C_TYPES, f"nccl.h: no ctypes twin for C type in {decl!r}"
    return _C_TYPES[words[0]]


def _prototype(text: str, name: str):
    m = re.search(r"^\s*(const\s+char\s*\*|ncclResult_t)\s+" + name + r"\s*\(([^)]*)\)\s*;", text, re.MULTILINE)
    assert m, f"nccl.h: no prototype of {name}"
    res = ctypes.c_char_p if "char" in m.group(1) else ctypes.c_int
    params = [p.strip() for p in m.group(2).replace("\n", " ").split(",") if p.strip() and p.strip() != "void"]
    return res, [_c_type(p) for p in params]


@needs_header
def test_enum_values_match_nccl_h():
    text = HEADER.read_text()
    for enum, ours in (
        ("ncclResult_t", _nccl.RESULTS),
        ("ncclRedOp_t", _nccl.REDOPS),
        ("ncclDataType_t", _nccl.DATATYPES),
    ):
        theirs = _enum(text, enum)
        for k, v in ours.items():
            assert theirs.get(k) == v, f"{enum}: {k} is {theirs.get(k)} in {HEADER}, {v} in _nccl.py"


@needs_header
def test_unique_id_matches_nccl_h():
    text = HEADER.read_text()
    n = int(re.search(r"#define\s+NCCL_UNIQUE_ID_BYTES\s+(\d+)", text).group(1))
    assert n == _nccl.NCCL_UNIQUE_ID_BYTES == ctypes.sizeof(_nccl.UniqueId)
    body = re.search(r"typedef\s+struct\s*\{([^}]*)\}\s*ncclUniqueId\s*;", text).group(1)
    assert re.fullmatch(r"\s*char\s+internal\s*\[\s*NCCL_UNIQUE_ID_BYTES\s*\]\s*;\s*", body), body


@needs_header
@pytest.mark.parametrize("name", sorted({**_nccl.SIGNATURES, **_nccl.OPTIONAL}))
def test_signature_matches_nccl_h(name):
    res, args = {**_nccl.SIGNATURES, **_nccl.OPTIONAL}[name]
    want_res, want_args = _prototype(HEADER.read_text(), name)
    assert res is want_res and args == want_args, f"{name}: ours {res}, {args}; nccl.h {want_res}, {want_args}"


def test_c_type_parser_reads_pointers_and_consts():
    assert _c_type("const void* sendbuff") is ctypes.c_void_p
    assert _c_type("ncclComm_t* comm") is ctypes.POINTER(ctypes.c_void_p)
    assert _c_type("ncclResult_t *asyncError") is ctypes.POINTER(ctypes.c_int)
    assert _c_type("const ncclComm_t comm") is ctypes.c_void_p
    assert _c_type("ncclUniqueId commId") is _nccl.UniqueId


def _cuda_header() -> Path | None:
    """cuda.h of a CUDA toolkit ($CUDA_HOME, the nvcc on PATH, /usr/local/cuda*)."""
    import glob
    import shutil

    roots = [os.environ.get("CUDA_HOME", ""), os.environ.get("CUDA_PATH", "")]
    nvcc = shutil.which("nvcc")
    if nvcc:
        roots.append(str(Path(os.path.realpath(nvcc)).parent.parent))
        text = Path(nvcc).read_text(errors="replace") if os.path.getsize(nvcc) < 4096 else ""
        roots += [str(Path(m).parent.parent) for m in re.findall(r"(/\S+/bin/nvcc)", text)]  # a wrapper script
    roots += sorted(glob.glob("/usr/local/cuda*"), reverse=True)
    for r in roots:
        if r and (Path(r) / "include" / "cuda.h").is_file():
            return Path(r) / "include" / "cuda.h"
    return None


_CU_TYPES = {
    "unsigned int": ctypes.c_uint,
    "int": ctypes.c_int,
    "CUresult": ctypes.c_int,
    "CUdevice": ctypes.c_int,
    "CUdevice*": ctypes.POINTER(ctypes.c_int),
    "CUcontext": ctypes.c_void_p,
    "CUcontext*": ctypes.POINTER(ctypes.c_void_p),
    "CUevent": ctypes.c_void_p,
    "CUevent*": ctypes.POINTER(ctypes.c_void_p),
    "CUstream": ctypes.c_void_p,
    "char**": ctypes.POINTER(ctypes.c_char_p),
}


@pytest.mark.skipif(_cuda_header() is None, reason="no CUDA toolkit here: no cuda.h to check CudaDriver against")
def test_driver_signatures_match_cuda_h():
    text = _cuda_header().read_text(errors="replace")
    assert re.search(r"#define\s+cuEventDestroy\s+cuEventDestroy_v2\b", text)
    for name, args in _nccl.DRIVER_SIGNATURES.items():
        base = name.removesuffix("_v2")
        m = re.search(r"CUresult\s+CUDAAPI\s+" + base + r"\s*\(([^)]*)\)\s*;", text)
        assert m, f"cuda.h: no prototype of {base}"
        want = []
        for decl in m.group(1).split(","):
            words = re.sub(r"\s*\*\s*", "* ", re.sub(r"\bconst\b", " ", decl)).split()
            typ = re.sub(r"\s+\*", "*", " ".join(words[:-1]))  # without the parameter's name
            assert typ in _CU_TYPES, f"{base}: no ctypes twin for {typ!r}"
            want.append(_CU_TYPES[typ])
        assert args == want, f"{name}: ours {args}, cuda.h {want}"
    enum = re.search(r"CU_EVENT_DISABLE_TIMING\s*=\s*(0x[0-9a-fA-F]+|\d+)", text).group(1)
    assert int(enum, 0) == _nccl.CudaDriver.CU_EVENT_DISABLE_TIMING
    assert int(re.search(r"CUDA_ERROR_NOT_READY\s*=\s*(\d+)", text).group(1)) == _nccl.CudaDriver.CUDA_ERROR_NOT_READY


@pytest.mark.skipif(nx.cuda.is_available() and not nx.cuda.is_emulated(), reason="a GPU driver is here")
def test_cuda_driver_without_a_driver_says_so():
    if os.path.exists("/proc/driver/nvidia/version"):
        pytest.skip("an NVIDIA driver is installed here")
    with pytest.raises(RuntimeError, match="libcuda.so.1 could not be loaded"):
        _nccl.CudaDriver()


# ---- 1. host side: tables, versions, discovery -----------------------------------------------------------


def test_every_neuraxon_dtype_has_an_nccl_type_and_others_are_refused():
    from neuraxon import dtypes

    assert {d.name for d in dtypes._BY_CODE.values()} == set(_nccl.DTYPES)
    assert _nccl.nccl_dtype(nx.float32) == 7 and _nccl.nccl_dtype(nx.int64) == 4 and _nccl.nccl_dtype(nx.bool) == 1
    for bad in ("float64", "float16", "int32"):
        with pytest.raises(TypeError, match=f"unsupported dtype {bad}"):
            _nccl.nccl_dtype(bad)


def test_op_table_follows_torch_semantics():
    R = _nccl.REDOPS
    assert [_nccl.nccl_op(o, nx.float32) for o in ("sum", "avg", "product", "max", "min")] == [
        R["ncclSum"], R["ncclAvg"], R["ncclProd"], R["ncclMax"], R["ncclMin"],
    ]  # fmt: skip
    # bool: SUM and MAX a logical or (max of 0/1 bytes), MIN and PRODUCT a logical and
    assert [_nccl.nccl_op(o, nx.bool) for o in ("sum", "max", "min", "product")] == [R["ncclMax"]] * 2 + [
        R["ncclMin"]
    ] * 2
    with pytest.raises(ValueError, match="AVG is not defined for bool"):
        _nccl.nccl_op("avg", nx.bool)


def test_version_codes_decode_both_schemes():
    assert _nccl.decode_version(23007) == (2, 30, 7)
    assert _nccl.decode_version(21003) == (2, 10, 3)
    assert _nccl.decode_version(2804) == (2, 8, 4)  # up to 2.8: X*1000 + Y*100 + Z


@pytest.fixture
def fresh_library(monkeypatch):
    monkeypatch.setattr(_nccl, "_loaded", None)
    monkeypatch.delenv(_nccl.ENV_LIB, raising=False)


def test_env_path_is_the_only_one_tried(fresh_library, monkeypatch, tmp_path):
    missing = tmp_path / "nope" / "libnccl.so.2"
    monkeypatch.setenv(_nccl.ENV_LIB, str(missing))
    assert _nccl.library_candidates() == [(f"${_nccl.ENV_LIB}", str(missing))]
    with pytest.raises(RuntimeError) as e:
        _nccl.load_library()
    msg = str(e.value)
    assert f"{missing} (${_nccl.ENV_LIB}): no such file" in msg
    assert "pip install nvidia-nccl-cu13" in msg and "wheel" not in msg.split("Install")[0]


def test_env_path_that_is_not_a_library_or_not_nccl(fresh_library, monkeypatch, tmp_path):
    junk = tmp_path / "libnccl.so.2"
    junk.write_bytes(b"not an ELF file")
    monkeypatch.setenv(_nccl.ENV_LIB, str(junk))
    with pytest.raises(RuntimeError, match=re.escape(str(junk)) + r".*(invalid ELF|too short|file)"):
        _nccl.load_library()
    libm = ctypes.util.find_library("m")
    if libm:
        monkeypatch.setenv(_nccl.ENV_LIB, libm)
        with pytest.raises(RuntimeError, match="has no ncclCommInitRank"):
            _nccl.load_library()


def test_search_order_wheel_then_system_and_every_path_named(fresh_library, monkeypatch, tmp_path):
    wheels = [str(tmp_path / "a" / "lib"), str(tmp_path / "b" / "lib")]
    monkeypatch.setattr(_nccl, "_wheel_dirs", lambda: wheels)
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: "libnccl-found.so.2" if name == "nccl" else None)
    cands = [p for _, p in _nccl.library_candidates()]
    assert cands == [f"{wheels[0]}/libnccl.so.2", f"{wheels[1]}/libnccl.so.2", "libnccl-found.so.2", "libnccl.so.2"]
    for w in wheels:
        os.makedirs(w)
        Path(w, "libnccl.so.2").write_bytes(b"junk")
    seen = []

    def refuse(path, *a, **k):
        seen.append(path)
        raise OSError(f"refused {path}")

    monkeypatch.setattr(ctypes, "CDLL", refuse)
    with pytest.raises(RuntimeError) as e:
        _nccl.load_library()
    assert seen == cands
    msg = str(e.value)
    tried = msg.split("tried: ")[1].split(". Install")[0].split("; ")
    assert [t.split(" (")[0] for t in tried] == cands
    assert "the nvidia-nccl wheel" in msg and "ctypes.util.find_library" in msg and "dynamic loader" in msg


def test_wheel_dir_found_through_the_nvidia_namespace_package(fresh_library, monkeypatch, tmp_path):
    lib = tmp_path / "nvidia" / "nccl" / "lib"
    lib.mkdir(parents=True)  # no __init__.py: `nvidia` and `nvidia.nccl` are namespace packages
    saved = {k: sys.modules.pop(k) for k in ("nvidia", "nvidia.nccl") if k in sys.modules}
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    try:
        cands = _nccl.library_candidates()
        assert cands[0] == ("the nvidia-nccl wheel", str(lib / "libnccl.so.2"))
    finally:
        for k in ("nvidia", "nvidia.nccl"):
            sys.modules.pop(k, None)
        sys.modules.update(saved)


def test_is_nccl_available_tells_the_truth():
    want = _ext.cuda is not None and not _ext.cuda_emulated and _loadable() == ""
    assert dist.is_nccl_available() == want


@pytest.mark.skipif(GPU_SKIP is None, reason="a GPU with NCCL is here: init_process_group('nccl') works")
def test_init_process_group_nccl_says_why_it_cannot_run_here():
    with pytest.raises(RuntimeError) as e:
        dist.init_process_group("nccl")
    msg = str(e.value)
    if _ext.cuda is None:
        assert "needs neuraxon's CUDA backend" in msg
    elif _ext.cuda_emulated:
        assert "emulated CUDA device" in msg and 'use backend "mpi"' in msg
    elif not nx.cuda.is_available():
        assert "needs a CUDA device, and there is none" in msg
    else:
        assert "could not be loaded" in msg and "pip install nvidia-nccl-cu13" in msg
    assert not dist.is_initialized()


def test_nccl_get_version_when_the_library_loads():
    why = _loadable()
    if why:
        pytest.skip(f"libnccl.so.2 does not load here: {why}")
    lib = _nccl.NcclLib()
    v = lib.version()
    assert v >= _nccl.MIN_VERSION
    assert lib.error_string(_nccl.RESULTS["ncclInvalidArgument"]).startswith("invalid argument")
    if HEADER is not None and Path(lib.path).parent.parent == HEADER.parent.parent:  # the same wheel
        text = HEADER.read_text()
        want = tuple(int(re.search(rf"#define\s+NCCL_{k}\s+(\d+)", text).group(1)) for k in ("MAJOR", "MINOR", "PATCH"))
        assert v == want


@pytest.mark.skipif(GPU_SKIP is None, reason="a GPU is here: ncclCommInitRank would succeed")
def test_the_real_library_without_a_gpu_fails_init_cleanly():
    """The real libnccl through our signatures, where it loads but no GPU runs: ncclGetUniqueId
    fills the id, ncclCommInitRank takes it by value and returns an error code (no crash), and
    the error names NCCL's own reason. In a subprocess: a wrong ABI would crash it, not pytest."""
    why = _loadable()
    if why:
        pytest.skip(f"libnccl.so.2 does not load here: {why}")
    script = (
        "from neuraxon.distributed import _nccl\n"
        "class D:\n"
        "    record = query = release = lambda self, *a: True\n"
        "    close = lambda self: None\n"
        "try:\n"
        "    _nccl.NcclBackend(5.0, lib=_nccl.NcclLib(), driver=D(), stream=0, world=(0, 1, lambda b: b))\n"
        "    print('INIT SUCCEEDED')\n"
        "except RuntimeError as e:\n"
        "    print('ERROR', e)\n"
    )
    r = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"exit {r.returncode}: {r.stderr[-3000:]}"
    assert r.stdout.startswith("ERROR") and "ncclCommInitRank (rank 0 of 1) failed" in r.stdout, r.stdout
    assert re.search(r"\[ncclResult_t [1-9]\]", r.stdout), r.stdout


# ---- 2. the backend against a fake NCCL ----------------------------------------------------------------------

_NP = {7: np.float32, 4: np.int64, 1: np.uint8}


def _view(ptr: int, count: int, dt: int) -> np.ndarray:
    """The `count` elements of NCCL type `dt` at address `ptr` (host memory on the emulated device)."""
    npdt = np.dtype(_NP[dt])
    if count == 0:
        return np.empty(0, npdt)
    return np.frombuffer((ctypes.c_char * (count * npdt.itemsize)).from_address(ptr), npdt)


def _nccl_reduce(xs: list, op: int) -> np.ndarray:
    """What NCCL computes for ncclRedOp_t `op` over the ranks' arrays."""
    R = _nccl.REDOPS
    s = np.stack(xs)
    if op == R["ncclSum"]:
        return s.sum(0, dtype=s.dtype)
    if op == R["ncclProd"]:
        return s.prod(0, dtype=s.dtype)
    if op == R["ncclMax"]:
        return s.max(0)
    if op == R["ncclMin"]:
        return s.min(0)
    assert op == R["ncclAvg"]
    t = s.sum(0, dtype=s.dtype)
    if s.dtype.kind == "f":
        return t / s.dtype.type(len(xs))
    q = np.abs(t) // len(xs)  # integer division in C: toward zero
    return np.where(t < 0, -q, q)


def _peer(a: np.ndarray, k: int) -> np.ndarray:
    """Rank k's data in the fake world, made from rank 0's."""
    if a.dtype == np.float32:
        return (a * 2 - k).astype(np.float32)
    if a.dtype == np.int64:
        return a * 3 - 7 * k
    return (np.arange(a.size) % 3 == 0).astype(np.uint8)


class FakeNccl(_nccl.NcclLib):
    """NCCL's calls done at once in NumPy (on the emulated device, after its stream drained).
    This process is rank 0 of `world`; rank k > 0 holds _peer(ours, k)."""

    def __init__(self, world: int = 1) -> None:
        self.path, self.ncclGetLastError, self.world = "fake", None, world
        self.calls, self.init, self.async_error, self.fail_next = [], None, 0, 0
        self.aborted = self.destroyed = 0
        self.uid_made = 0

    def version(self):
        return (2, 99, 0)

    def ncclGetErrorString(self, res):
        return {4: b"invalid argument", 6: b"remote process exited or there was a network error"}.get(int(res), b"?")

    def ncclGetUniqueId(self, p):
        self.uid_made += 1
        ctypes.memset(ctypes.addressof(p._obj), 0x5A, _nccl.NCCL_UNIQUE_ID_BYTES)
        return 0

    def ncclCommInitRank(self, pcomm, n, uid, rank):
        self.init = (n, bytes(uid.internal), rank)
        pcomm._obj.value = 0xC0FFEE
        return 0

    def ncclCommGetAsyncError(self, comm, perr):
        perr._obj.value = self.async_error
        return 0

    def ncclCommAbort(self, comm):
        self.aborted += 1
        return 0

    def ncclCommDestroy(self, comm):
        self.destroyed += 1
        return 0

    def _enqueue(self, *call) -> int:
        self.calls.append(call)
        _ext.cuda.synchronize()
        res, self.fail_next = self.fail_next, 0
        return res

    def ncclAllReduce(self, send, recv, count, dt, op, comm, stream):
        res = self._enqueue("allreduce", send, recv, count, dt, op, stream)
        if not res:
            a = _view(recv, count, dt)
            a[:] = _nccl_reduce([a.copy()] + [_peer(a.copy(), k) for k in range(1, self.world)], op)
        return res

    def ncclBroadcast(self, send, recv, count, dt, root, comm, stream):
        res = self._enqueue("broadcast", send, recv, count, dt, root, stream)
        if not res and root != 0:
            a = _view(recv, count, dt)
            a[:] = _peer(a.copy(), root)
        return res

    def ncclAllGather(self, send, recv, count, dt, comm, stream):
        res = self._enqueue("allgather", send, recv, count, dt, stream)
        if not res:
            src, dst = _view(send, count, dt), _view(recv, count * self.world, dt)
            for k in range(self.world):
                dst[k * count : (k + 1) * count] = src if k == 0 else _peer(src.copy(), k)
        return res


class FakeDriver:
    """CudaDriver's events: `ready` says whether every recorded event has completed."""

    def __init__(self) -> None:
        self.ready, self.recorded, self.streams, self.free, self.closed = True, 0, set(), [], False

    def record(self, stream):
        self.recorded += 1
        self.streams.add(stream)
        return object()

    def query(self, ev) -> bool:
        return self.ready

    def release(self, ev) -> None:
        self.free.append(ev)

    def close(self) -> None:
        self.closed = True


STREAM = 0x5EED


def _fake_backend(timeout=30.0, world=1, rank=0, bcast=None, lib=None, driver=None):
    return _nccl.NcclBackend(
        timeout,
        lib=lib or FakeNccl(world),
        driver=driver or FakeDriver(),
        stream=STREAM,
        world=(rank, world, bcast or (lambda b: b)),
    )


@pytest.fixture
def fake_group(monkeypatch):
    """init_process_group("nccl") makes a backend over FakeNccl(world) and FakeDriver."""
    made = {}

    def use(world: int = 1, timeout: float = 30.0):
        lib, drv = FakeNccl(world), FakeDriver()
        made.update(lib=lib, driver=drv)
        monkeypatch.setattr(
            _nccl,
            "NcclBackend",
            functools.partial(_nccl.NcclBackend, lib=lib, driver=drv, stream=STREAM, world=(0, world, lambda b: b)),
        )
        dist.init_process_group("nccl", timeout=timeout)
        return lib, drv

    yield use
    if "driver" in made:
        made["driver"].ready = True  # (a test that failed half way must not make this wait)
    dist.destroy_process_group()


def test_init_hands_rank_0s_unique_id_to_every_rank():
    lib0 = FakeNccl(2)
    got = {}

    def bcast(b):
        got["sent"] = b
        return b

    b0 = _fake_backend(world=2, lib=lib0, bcast=bcast)
    assert lib0.uid_made == 1 and lib0.init == (2, b"\x5a" * 128, 0) and got["sent"] == b"\x01" + b"\x5a" * 128
    lib1 = FakeNccl(2)
    b1 = _fake_backend(world=2, rank=1, lib=lib1, bcast=lambda b: b"\x01" + b"\x11" * 128)
    assert lib1.uid_made == 0 and lib1.init == (2, b"\x11" * 128, 1)  # rank 1 uses what it was sent
    assert (b0.rank, b0.size, b1.rank, b1.size) == (0, 2, 1, 2) and b0.name == "nccl"
    # rank 0 failed to make the id: the others are told, and do not initialise
    lib1 = FakeNccl(2)
    with pytest.raises(RuntimeError, match="rank 0 could not make the NCCL id"):
        _fake_backend(world=2, rank=1, lib=lib1, bcast=lambda b: b"\x00" + bytes(128))
    assert lib1.init is None
    lib0 = FakeNccl(2)
    lib0.ncclGetUniqueId = lambda p: 2
    with pytest.raises(RuntimeError, match=r"could not make the NCCL id \(ncclGetUniqueId: .*ncclResult_t 2"):
        _fake_backend(world=2, lib=lib0)


def test_init_failure_names_the_rank_and_the_one_gpu_per_rank_rule():
    lib = FakeNccl(2)
    lib.ncclCommInitRank = lambda pcomm, n, uid, rank: 5
    with pytest.raises(RuntimeError, match=r"ncclCommInitRank \(rank 0 of 2\) failed.*CUDA_VISIBLE_DEVICES"):
        _fake_backend(world=2, lib=lib)


def test_cpu_tensors_are_refused_naming_the_device():
    b = _fake_backend()
    for call in (lambda: b.all_reduce(nx.ones(3), "sum"), lambda: b.broadcast(nx.ones(3), 0)):
        with pytest.raises(ValueError, match=r'backend "nccl" works on CUDA tensors only, got float32\[3\] on cpu'):
            call()
    with pytest.raises(ValueError, match="on cpu"):
        b.all_gather([nx.ones(3)], nx.ones(3))
    assert b.lib.calls == []


def test_bootstrap_without_mpi4py(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # import mpi4py -> ImportError
    for var in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MPI_LOCALNRANKS"):
        monkeypatch.delenv(var, raising=False)
    rank, size, bcast = _nccl.bootstrap()
    assert (rank, size, bcast(b"id")) == (0, 1, b"id")
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "2")
    with pytest.raises(RuntimeError, match="one of 2 MPI ranks, but mpi4py is not installed"):
        _nccl.bootstrap()


@emulated_only
def test_device_pointer_is_the_tensors_memory():
    for t in (nx.tensor([1.5, -2.0, 3.25]), nx.tensor([7, -9, 2**40]), nx.tensor([True, False, True])):
        c = t.to("cuda")
        ptr, keep = _nccl.device_pointer(c)
        nx.cuda.synchronize()
        got = _view(ptr, 3, _nccl.nccl_dtype(c.dtype))
        assert got.tolist() == t.numpy().astype(got.dtype).tolist()
        assert keep is not None


@emulated_only
def test_default_stream_is_neuraxons():
    b = _nccl.NcclBackend(30.0, lib=FakeNccl(), driver=FakeDriver(), world=(0, 1, lambda x: x))
    assert b.stream == _ext.cuda.stream_handle()


def _inputs(dtype: str, n: int) -> np.ndarray:
    rng = np.random.default_rng(n + 11 * len(dtype))
    if dtype == "float32":
        return rng.standard_normal(n).astype(np.float32)
    if dtype == "int64":
        return rng.integers(-9, 10, n)
    return rng.random(n) < 0.5


def _torch_semantics(op: str, xs: list) -> np.ndarray:
    s = np.stack(xs)
    if s.dtype == np.bool_:
        return s.any(0) if op in ("SUM", "MAX") else s.all(0)
    f = {"SUM": np.sum, "PRODUCT": np.prod, "MAX": np.max, "MIN": np.min}
    if op in f:
        return f[op](s, 0).astype(s.dtype)
    t = s.sum(0, dtype=s.dtype)
    if s.dtype.kind == "f":
        return t / np.float32(len(xs))
    return np.trunc(t / len(xs)).astype(np.int64)


@emulated_only
@pytest.mark.parametrize("dtype", ["float32", "int64", "bool"])
def test_all_reduce_world_of_two(fake_group, dtype):
    lib, drv = fake_group(world=2)
    for n in (0, 1, 3, 4097):
        for op in ("SUM", "AVG", "MAX", "MIN", "PRODUCT"):
            x = _inputs(dtype, n)
            t = nx.tensor(x, dtype=getattr(nx, dtype), device="cuda")
            v0, before = t._version, len(lib.calls)
            if dtype == "bool" and op == "AVG":
                with pytest.raises(ValueError, match="AVG is not defined for bool"):
                    dist.all_reduce(t, op=op.lower())
                continue
            dist.all_reduce(t, op=getattr(dist.ReduceOp, op))
            peer = _peer(x.astype(_NP[_nccl.nccl_dtype(getattr(nx, dtype))]), 1)
            want = _torch_semantics(op, [x, peer.astype(x.dtype)])
            got = t.to("cpu").numpy()
            if dtype == "float32":
                np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
            else:
                assert np.array_equal(got, want), (op, n)
            assert t._version > v0
            if n == 0:
                assert len(lib.calls) == before  # nothing to move: no NCCL call
                continue
            name, send, recv, count, dt, nop, stream = lib.calls[-1]
            assert (name, count, dt, stream) == ("allreduce", n, _nccl.DTYPES[dtype], STREAM) and send == recv
            assert nop == _nccl.nccl_op(op.lower(), getattr(nx, dtype))
    assert drv.streams == {STREAM} and len(drv.free) == drv.recorded  # every event went back


@emulated_only
def test_broadcast_all_gather_and_barrier_world_of_two(fake_group):
    lib, _ = fake_group(world=2)
    x = np.arange(5, dtype=np.float32) - 2
    t = nx.tensor(x, device="cuda")
    v0 = t._version
    dist.broadcast(t, 0)
    assert t.tolist() == x.tolist() and t._version == v0  # the source keeps its data
    dist.broadcast(t, 1)
    assert t.tolist() == _peer(x, 1).tolist() and t._version > v0
    assert lib.calls[-1][0] == "broadcast" and lib.calls[-1][5] == 1
    for dtype in ("float32", "int64", "bool"):
        src = nx.tensor(_inputs(dtype, 4), dtype=getattr(nx, dtype), device="cuda")
        outs = [src, nx.zeros(4, dtype=getattr(nx, dtype), device="cuda")]  # outs[0] is the input itself
        dist.all_gather(outs, src)
        host = src.to("cpu").numpy()
        assert outs[0].to("cpu").numpy().tolist() == host.tolist()
        assert (
            outs[1].to("cpu").numpy().tolist()
            == _peer(host.astype(_NP[_nccl.DTYPES[dtype]]), 1).astype(host.dtype).tolist()
        )
    empty = [nx.zeros(0, device="cuda") for _ in range(2)]
    n_calls = len(lib.calls)
    dist.all_gather(empty, nx.zeros(0, device="cuda"))
    assert len(lib.calls) == n_calls
    dist.barrier()
    assert lib.calls[-1][:1] == ("allreduce",) and lib.calls[-1][3] == 1
    assert dist.get_backend() == "nccl" and dist.get_world_size() == 2


@emulated_only
def test_async_work_completes_when_the_event_does(fake_group):
    _, drv = fake_group(world=1)
    drv.ready = False
    t = nx.tensor([1.0, 2.0], device="cuda")
    w = dist.all_reduce(t, async_op=True)
    assert not w.is_completed() and not w.is_completed()
    drv.ready = True
    assert w.is_completed() and w.wait() is True
    assert dist.all_reduce(nx.zeros(0, device="cuda"), async_op=True).is_completed()


@emulated_only
def test_timeout_aborts_the_communicator_and_names_rank_and_collective(fake_group):
    lib, drv = fake_group(world=2)
    drv.ready = False  # the other rank never comes: the event never completes
    w = dist.all_reduce(nx.ones(3, device="cuda"), async_op=True)
    with pytest.raises(
        RuntimeError, match=r"rank 0 of 2: all_reduce\(sum\) of float32\[3\] on cuda did not complete within 0.05 s"
    ):
        w.wait(timeout=0.05)
    assert lib.aborted == 1
    with pytest.raises(RuntimeError, match="was aborted earlier.*timed out"):
        dist.all_reduce(nx.ones(3, device="cuda"))
    drv.ready = True


@emulated_only
def test_process_group_timeout_in_a_world_of_one_raises(fake_group):
    lib, drv = fake_group(world=1, timeout=0.05)
    drv.ready = False
    with pytest.raises(RuntimeError, match=r"rank 0 of 1: broadcast\(src=0\).*within 0.05 s"):
        dist.broadcast(nx.ones(2, device="cuda"), 0)
    assert lib.aborted == 1
    drv.ready = True


@emulated_only
def test_process_group_timeout_in_a_job_aborts_the_job():
    b = _fake_backend(timeout=0.05, world=2)
    codes = []
    b.abort = codes.append
    b.driver.ready = False
    w = b.all_reduce(nx.ones(2, device="cuda"), "max")
    with pytest.raises(RuntimeError, match="did not complete"):
        w.wait()
    assert codes == [1] and b.lib.aborted == 1


@emulated_only
def test_asynchronous_nccl_error_aborts_and_names_it(fake_group):
    lib, drv = fake_group(world=2)
    drv.ready = False
    w = dist.all_reduce(nx.ones(3, device="cuda"), async_op=True)
    lib.async_error = _nccl.RESULTS["ncclRemoteError"]
    with pytest.raises(
        RuntimeError, match=r"rank 0 of 2: NCCL failed during all_reduce.*remote process exited.*\[ncclResult_t 6\]"
    ):
        w.wait()
    assert lib.aborted == 1
    drv.ready = True


@emulated_only
def test_a_failing_enqueue_raises_with_nccls_words(fake_group):
    lib, _ = fake_group(world=1)
    lib.fail_next = _nccl.RESULTS["ncclInvalidArgument"]
    with pytest.raises(RuntimeError, match=r"all_reduce\(sum\) of float32\[2\] on cuda failed: invalid argument"):
        dist.all_reduce(nx.ones(2, device="cuda"))


@emulated_only
def test_destroy_waits_then_frees_and_is_bounded():
    b = _fake_backend()
    b.destroy()
    assert b.lib.destroyed == 1 and b.lib.aborted == 0 and b.driver.closed and b.driver.recorded == 1
    b = _fake_backend(timeout=0.05)
    b.driver.ready = False
    with pytest.raises(RuntimeError, match="destroy_process_group.*did not complete"):
        b.destroy()
    assert b.lib.destroyed == 0 and b.lib.aborted == 1 and b.driver.closed


def _load_jobs():
    spec = importlib.util.spec_from_file_location("nccl_jobs", HERE / "nccl_jobs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@emulated_only
def test_the_gpu_job_in_a_fake_world_of_one(fake_group, monkeypatch, tmp_path):
    """tests/nccl_jobs.py's own checks (every collective vs NumPy, DDP and SyncBatchNorm vs one
    process) through the backend and FakeNccl: what the GPU run will check, minus NCCL."""
    jobs = _load_jobs()
    lib, drv = FakeNccl(1), FakeDriver()
    monkeypatch.setattr(
        _nccl,
        "NcclBackend",
        functools.partial(_nccl.NcclBackend, lib=lib, driver=drv, stream=STREAM, world=(0, 1, lambda b: b)),
    )
    assert jobs.main(str(tmp_path)) == 0
    res = json.loads((tmp_path / "rank0.json").read_text())
    _check_job(res, 1)
    assert lib.destroyed == 1


def _check_job(res: dict, world: int) -> None:
    assert "exception" not in res, res.get("exception")
    assert "init_error" not in res, res.get("init_error")
    assert res["backend"] == "nccl" and res["world_size"] == world
    assert res["collectives"]["bad"] == []
    assert "on cpu" in res["collectives"]["cpu_tensor_error"]
    assert res["ddp"]["max_abs_diff"] < 1e-5 and res["ddp"]["buckets"] > 1
    assert res["sync_batchnorm"]["max_abs_diff"] < 1e-5
    assert tuple(res["version"]) >= _nccl.MIN_VERSION


# ---- 3. a real GPU -------------------------------------------------------------------------------------------


def _env(**extra) -> dict:
    env = dict(os.environ)
    env["OMPI_ALLOW_RUN_AS_ROOT"] = env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    env.pop("NEURAXON_DIST_TIMEOUT", None)
    env.update(extra)
    return env


def _results(out: Path, n: int) -> list[dict]:
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(n) if (out / f"rank{r}.json").exists()]


@needs_gpu
def test_gpu_world_of_one(tmp_path):
    r = subprocess.run(
        [sys.executable, str(HERE / "nccl_jobs.py"), str(tmp_path)],
        check=False, env=_env(), capture_output=True, text=True, timeout=JOB_TIMEOUT,
    )  # fmt: skip
    res = _results(tmp_path, 1)
    assert res, f"no result (exit {r.returncode}): {r.stderr[-3000:]}"
    _check_job(res[0], 1)
    assert r.returncode == 0, r.stderr[-3000:]
    assert res[0]["initialized_after_destroy"] is False


def _mpiexec() -> str:
    if importlib.util.find_spec("mpi4py") is None:
        pytest.skip("mpi4py is not installed here: no multi-rank NCCL run")
    from neuraxon.distributed import launch

    try:
        return launch.find_mpiexec()
    except FileNotFoundError as e:
        pytest.skip(str(e))


def _two_ranks(tmp_path: Path, **env) -> tuple[subprocess.CompletedProcess, list[dict]]:
    mpiexec = _mpiexec()
    r = subprocess.run(
        [mpiexec, "-n", "2", "--oversubscribe", sys.executable, str(HERE / "nccl_jobs.py"), str(tmp_path)],
        check=False, env=_env(**env), capture_output=True, text=True, timeout=JOB_TIMEOUT,
    )  # fmt: skip
    return r, _results(tmp_path, 2)


@needs_gpu
def test_gpu_two_ranks_on_one_gpu_work_or_are_refused_cleanly(tmp_path):
    """NCCL generally refuses two ranks on one device ("Duplicate GPU detected"); then init
    must fail with a clear error on both ranks, quickly, rather than hang. If this NCCL
    accepts it, the results must be right."""
    r, res = _two_ranks(tmp_path, CUDA_VISIBLE_DEVICES=os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0])
    assert len(res) == 2, f"exit {r.returncode}: {r.stderr[-3000:]}"
    if all("init_error" in x for x in res):
        for x in res:
            assert "ncclCommInitRank" in x["init_error"] and "CUDA_VISIBLE_DEVICES" in x["init_error"], x
        return
    for x in res:
        _check_job(x, 2)


@needs_gpu
def test_gpu_two_ranks_one_gpu_each(tmp_path):
    if nx.cuda.device_count() < 2:
        pytest.skip(f"{nx.cuda.device_count()} GPU here: two ranks need one GPU each")
    r, res = _two_ranks(tmp_path, NEURAXON_TEST_GPU_PER_RANK="1")
    assert r.returncode == 0 and len(res) == 2, r.stderr[-3000:]
    for x in res:
        _check_job(x, 2)


@needs_gpu
def test_gpu_timeout_names_the_rank_and_does_not_hang(tmp_path):
    if nx.cuda.device_count() < 2:
        pytest.skip(f"{nx.cuda.device_count()} GPU here: two ranks need one GPU each")
    r, res = _two_ranks(tmp_path, NEURAXON_TEST_GPU_PER_RANK="1", NEURAXON_TEST_NCCL_TIMEOUT="1")
    rank0 = [x for x in res if x.get("rank") == 0]
    assert rank0, r.stderr[-3000:]
    err = rank0[0]["timeout"]["error"]
    assert err and "rank 0 of 2" in err and "all_reduce(sum)" in err and "did not complete within 4 s" in err
    assert rank0[0]["timeout"]["seconds"] < 30
