"""DLPack (issue 15): Tensor.__dlpack__/__dlpack_device__ and neuraxon.from_dlpack, zero copy
in both directions. CPU tensors: checked with NumPy always and with torch when installed. CUDA
tensors: the capsule's fields read back with ctypes, round trips through neuraxon's own
capsules, capsules a ctypes producer builds over device memory (any dtype, strides, offset,
flags, version), lifetimes and the deleter without the GIL, on the emulated device here and
on a GPU; and with torch.cuda, which runs only on neuraxon's real CUDA device."""

from __future__ import annotations

import ctypes
import gc
import threading

import neuraxon as nx
import numpy as np
import pytest
from conftest import _cuda_skip_reason
from neuraxon import _ext


def _ptr(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


@pytest.mark.parametrize("dtype", [nx.float32, nx.int64, nx.bool])
def test_numpy_reads_a_tensor_without_a_copy(dtype):
    x = nx.tensor([[1, 0, 3], [4, 5, 0]], dtype=dtype)
    assert x.__dlpack_device__() == (1, 0)
    a = np.from_dlpack(x)
    assert a.shape == (2, 3) and a.dtype == dtype.numpy and a.tolist() == x.tolist()
    assert np.shares_memory(a, np.asarray(x))
    if dtype is not nx.bool:
        a[0, 0] = 7
        assert x[0, 0].item() == 7
        x.mul_(2)
        assert a[0, 0] == 14


def test_from_dlpack_shares_numpy_memory_and_converts_the_rest():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    x = nx.from_dlpack(a)
    assert x.shape == (2, 3) and x.dtype is nx.float32 and _ptr(np.asarray(x)) == _ptr(a)
    a[1, 2] = -1.0
    assert x[1, 2].item() == -1.0
    x.add_(1.0)  # in-place on our side is seen by NumPy
    assert a[0, 0] == 1.0
    for arr in (np.zeros((0, 4), np.int64), np.array(True), np.array([1, 2], np.int64)):
        y = nx.from_dlpack(arr)
        assert y.shape == arr.shape and y.tolist() == arr.tolist()
    # not shareable: converted like tensor() converts data, a copy; copy=False refuses
    for arr, why in [(np.ones(3), "no float64"), (np.arange(3, dtype=np.int32), "no int32"),
                     (np.arange(6, dtype=np.float32).reshape(2, 3).T, "C-contiguous")]:  # fmt: skip
        y = nx.from_dlpack(arr)
        assert y.tolist() == arr.astype(y.dtype.numpy).tolist() and not np.shares_memory(np.asarray(y), arr)
        with pytest.raises(BufferError, match=why):
            nx.from_dlpack(arr, copy=False)
    ro = np.arange(3, dtype=np.float32)
    ro.flags.writeable = False
    y = nx.from_dlpack(ro)  # kernels write into a tensor's memory: read-only memory is copied
    assert y.tolist() == [0.0, 1.0, 2.0] and not np.shares_memory(np.asarray(y), ro)
    c = nx.from_dlpack(a, copy=True)
    assert not np.shares_memory(np.asarray(c), a) and c.tolist() == a.tolist()
    with pytest.raises(TypeError, match="__dlpack__"):
        nx.from_dlpack([1, 2, 3])


def test_a_roundtrip_through_our_own_tensor():
    x = nx.tensor([1.0, 2.0])
    y = nx.from_dlpack(x)
    y[0] = 5.0
    assert x[0].item() == 5.0


def test_a_raw_capsule_is_accepted_too():
    a = np.arange(3, dtype=np.float32)
    y = nx.from_dlpack(a.__dlpack__(max_version=(1, 0)))  # as torch.from_dlpack(capsule)
    a[0] = 5.0
    assert y.tolist() == [5.0, 1.0, 2.0]


def test_tensors_that_cannot_be_exported_say_why(device):
    with pytest.raises(RuntimeError, match="require gradient"):
        nx.ones(2, device=device, requires_grad=True).__dlpack__()
    nx.ones(2, device=device, requires_grad=True).detach().__dlpack__()
    other = (1, 0) if device == "cuda" else (2, 0)
    with pytest.raises(BufferError, match="exports a tensor only where it is"):
        nx.ones(2, device=device).__dlpack__(dl_device=other)
    x = nx.ones(2, device=device)
    assert x.__dlpack_device__() == ((2, 0) if device == "cuda" else (1, 0))
    x.__dlpack__(dl_device=x.__dlpack_device__())
    if device == "cuda":
        with pytest.raises((BufferError, RuntimeError), match="[Uu]nsupported device"):
            np.from_dlpack(x)  # NumPy reads CPU memory only: it refuses the capsule itself
        with pytest.raises(BufferError, match="only where it is"):
            np.from_dlpack(x, device="cpu")  # asks for dl_device=(1, 0)


class _RefusedProducer:
    def __init__(self, where):
        self.where = where

    def __dlpack_device__(self):
        return self.where

    def __dlpack__(self, **kwargs):
        raise AssertionError("must not be asked for a capsule")


def test_producers_on_other_devices_are_refused_before_their_capsule():
    with pytest.raises(BufferError, match="OpenCL device.*CPU and CUDA memory only"):
        nx.from_dlpack(_RefusedProducer((4, 0)))
    with pytest.raises(ValueError, match="CUDA device 1; neuraxon uses one CUDA device"):
        nx.from_dlpack(_RefusedProducer((2, 1)))
    if _cuda_skip_reason() is not None:  # no usable CUDA: said before any capsule is made
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            nx.from_dlpack(_RefusedProducer((2, 0)))


def test_torch_shares_memory_both_ways():
    torch = pytest.importorskip("torch")
    x = nx.tensor([[1.0, 2.0], [3.0, 4.0]])
    t = torch.from_dlpack(x)
    assert t.dtype == torch.float32 and t.shape == (2, 2)
    t[0, 0] = 9.0  # a write through torch is seen by neuraxon
    assert x[0, 0].item() == 9.0
    x.add_(1.0)  # and the other way
    assert t[0, 0].item() == 10.0
    assert torch.from_dlpack(nx.arange(3)).dtype == torch.int64
    assert torch.from_dlpack(nx.tensor([True, False])).tolist() == [True, False]
    assert torch.from_dlpack(nx.tensor(3.0)).shape == () and torch.from_dlpack(nx.zeros(0, 3)).shape == (0, 3)
    assert torch.as_tensor(x).data_ptr() == t.data_ptr()  # torch.as_tensor(x) works and shares too

    tt = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    y = nx.from_dlpack(tt)
    assert y.shape == (2, 3) and y.dtype is nx.float32
    tt[1, 1] = -7.0
    assert y[1, 1].item() == -7.0
    y.mul_(2.0)
    assert tt[1, 1].item() == -14.0
    assert nx.from_dlpack(torch.tensor([True])).dtype is nx.bool
    assert nx.from_dlpack(torch.arange(3)).dtype is nx.int64
    assert nx.from_dlpack(torch.ones(2, dtype=torch.float64)).dtype is nx.float32  # a converted copy
    assert nx.from_dlpack(tt.t()).tolist() == tt.t().tolist()  # a strided view: copied
    with pytest.raises(BufferError):
        nx.from_dlpack(tt.t(), copy=False)
    with pytest.raises(RuntimeError, match="require gradient"):
        torch.from_dlpack(nx.ones(2, requires_grad=True))


# ---- CUDA ----------------------------------------------------------------------------------
# The DLPack structs as ctypes sees them (the C ABI of dmlc/dlpack's dlpack.h), to read the
# capsules neuraxon exports and to build producers of any kind over device memory.


class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("device", _DLDevice),
        ("ndim", ctypes.c_int32),
        ("dtype", _DLDataType),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
        ("byte_offset", ctypes.c_uint64),
    ]


_DELETER = ctypes.CFUNCTYPE(None, ctypes.c_void_p)  # calling it through ctypes releases the GIL


class _DLManagedTensor(ctypes.Structure):
    _fields_ = [("dl_tensor", _DLTensor), ("manager_ctx", ctypes.c_void_p), ("deleter", _DELETER)]


class _DLPackVersion(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint32), ("minor", ctypes.c_uint32)]


class _DLManagedTensorVersioned(ctypes.Structure):
    _fields_ = [
        ("version", _DLPackVersion),
        ("manager_ctx", ctypes.c_void_p),
        ("deleter", _DELETER),
        ("flags", ctypes.c_uint64),
        ("dl_tensor", _DLTensor),
    ]


_capsule_new = ctypes.pythonapi.PyCapsule_New
_capsule_new.restype, _capsule_new.argtypes = ctypes.py_object, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
_capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_pointer.restype, _capsule_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
_capsule_set_name = ctypes.pythonapi.PyCapsule_SetName
_capsule_set_name.restype, _capsule_set_name.argtypes = ctypes.c_int, [ctypes.py_object, ctypes.c_char_p]

_F32, _F64, _I64, _BOOL = (2, 32, 1), (2, 64, 1), (0, 64, 1), (6, 8, 1)


def _name(capsule) -> str:
    return repr(capsule).split('"')[1]  # <capsule object "dltensor" at 0x...>


def _managed(capsule):
    name = _name(capsule)
    cls = _DLManagedTensorVersioned if name == "dltensor_versioned" else _DLManagedTensor
    address = _capsule_pointer(capsule, name.encode())
    return cls.from_address(address), ctypes.c_void_p(address)


def _fields(capsule) -> dict:
    m, _ = _managed(capsule)
    t = m.dl_tensor
    out = {
        "data": t.data or 0,
        "device": (t.device.device_type, t.device.device_id),
        "dtype": (t.dtype.code, t.dtype.bits, t.dtype.lanes),
        "shape": tuple(t.shape[i] for i in range(t.ndim)),
        "strides": tuple(t.strides[i] for i in range(t.ndim)) if t.strides else None,
        "byte_offset": t.byte_offset,
    }
    if isinstance(m, _DLManagedTensorVersioned):
        out.update(version=(m.version.major, m.version.minor), flags=m.flags)
    return out


def _ptr_of(t) -> int:
    return t._data._nx_view[0]


def _our_stream() -> int:
    return -1 if nx.cuda.is_emulated() else _ext.cuda.stream_handle()


@pytest.fixture
def cuda():
    reason = _cuda_skip_reason()
    if reason:
        pytest.skip(reason)
    gc.collect()
    return _ext.cuda


@pytest.fixture
def foreign(cuda):
    """Lets the emulated device import capsules neuraxon did not make (its 'device' memory is
    host memory, which the ctypes producers below point at through a neuraxon tensor)."""
    if nx.cuda.is_emulated():
        cuda._dlpack_trust_foreign(True)
    yield
    if nx.cuda.is_emulated():
        cuda._dlpack_trust_foreign(False)


class _Producer:
    """A DLPack producer made with ctypes over CUDA memory that a neuraxon tensor holds (real
    device memory on a GPU): `data` placed `byte_offset` bytes in, described with any DLPack
    dtype, shape, strides (in elements), flags and version (None: a legacy capsule) (the data
    starts at `data_offset` instead when given); counts
    its deleter's calls and records the keywords __dlpack__ was called with."""

    def __init__(self, data: np.ndarray, dtype, shape=None, strides=None, byte_offset=0, flags=0, version=(1, 0),
                 device=(2, 0), legacy_signature=False, data_offset=None):  # fmt: skip
        pad = byte_offset if data_offset is None else data_offset
        raw = bytes(pad) + np.ascontiguousarray(data).tobytes()
        raw += bytes(-len(raw) % 8 + 8)
        self.memory = nx.tensor(np.frombuffer(raw, np.int64).copy(), device="cuda")  # its device memory
        self.shape_arr = (ctypes.c_int64 * max(1, len(shape if shape is not None else data.shape)))(
            *(shape if shape is not None else data.shape)
        )
        self.strides_arr = None if strides is None else (ctypes.c_int64 * max(1, len(strides)))(*strides)
        ndim = len(shape if shape is not None else data.shape)
        t = _DLTensor(
            _ptr_of(self.memory),
            _DLDevice(*device),
            ndim,
            _DLDataType(*dtype),
            self.shape_arr,
            self.strides_arr,
            byte_offset,
        )
        self.deleted = 0
        self.deleter = _DELETER(self._on_delete)
        if version is None:
            self.managed = _DLManagedTensor(t, None, self.deleter)
            self.capsule_name = b"dltensor"
        else:
            self.managed = _DLManagedTensorVersioned(_DLPackVersion(*version), None, self.deleter, flags, t)
            self.capsule_name = b"dltensor_versioned"
        self.device, self.calls, self.legacy_signature = device, [], legacy_signature

    def _on_delete(self, _):
        self.deleted += 1

    def capsule(self):
        return _capsule_new(ctypes.addressof(self.managed), self.capsule_name, None)

    def __dlpack_device__(self):
        return self.device

    def __dlpack__(self, *, stream=None, **kwargs):
        if self.legacy_signature and kwargs:
            raise TypeError("__dlpack__() got an unexpected keyword argument")
        self.calls.append(dict(stream=stream, **kwargs))
        return self.capsule()


def test_a_cuda_capsule_describes_the_device_memory(cuda):
    for dtype, triple, data in [(nx.float32, _F32, [[1.5, 2.0, 3.0], [4.0, 5.0, 6.0]]), (nx.int64, _I64, [7, -8]),
                                (nx.bool, _BOOL, [[True], [False]]), (nx.float32, _F32, 2.5),
                                (nx.int64, _I64, np.zeros((0, 4), np.int64))]:  # fmt: skip
        x = nx.tensor(data, dtype=dtype, device="cuda")
        cap = x.__dlpack__()
        assert _name(cap) == "dltensor"  # legacy unless the consumer says it reads DLPack 1.x
        f = _fields(cap)
        assert f["device"] == (2, 0) and f["dtype"] == triple and f["shape"] == x.shape and f["byte_offset"] == 0
        assert f["data"] == (_ptr_of(x) if x.numel() else 0)  # zero copy; NULL without elements
        c_strides = tuple(int(np.prod([max(d, 1) for d in x.shape[i + 1 :]])) for i in range(x.ndim))
        assert f["strides"] == c_strides  # explicit C order (DLPack 1.x asks for strides)
        v = x.__dlpack__(max_version=(1, 2))
        assert _name(v) == "dltensor_versioned"
        fv = _fields(v)
        assert fv["version"] == (1, 0) and fv["flags"] == 0 and fv["data"] == f["data"] and fv["shape"] == x.shape
        assert _name(x.__dlpack__(max_version=(0, 8))) == "dltensor"
    x = nx.arange(4.0, device="cuda")
    fc = _fields(x.__dlpack__(max_version=(1, 0), copy=True))
    assert fc["flags"] == 2 and fc["data"] != _ptr_of(x)  # DLPACK_FLAG_BITMASK_IS_COPIED, other memory


def test_a_cuda_round_trip_shares_memory(cuda):
    x = nx.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], device="cuda")
    for max_version in (None, (1, 0)):
        cap = x.__dlpack__(max_version=max_version)
        y = nx.from_dlpack(cap)  # a raw capsule, as torch.from_dlpack takes
        assert _name(cap).startswith("used_")  # consumed, as DLPack asks
        assert y.device == "cuda" and y.shape == (2, 3) and y.dtype is nx.float32
        assert y._data.borrowed and _ptr_of(y) == _ptr_of(x)
        x.add_(1.0)  # a write on our side is seen through the import
        assert y[0, 0].item() == x[0, 0].item()
        y.mul_(2.0)  # and the other way
        assert x.tolist() == y.tolist() and x[1, 2].item() == y[1, 2].item()
        y[0, 1] = -1.0
        assert x[0, 1].item() == -1.0
    z = nx.from_dlpack(x)  # a neuraxon tensor as the producer: its data, directly
    assert z._data is x._data


@pytest.mark.parametrize(
    "data,dtype",
    [([[1.5, -2.0], [3.0, 4.0]], nx.float32), ([2**40, -3, 0], nx.int64), ([[True, False, True]], nx.bool),
     (3.25, nx.float32), (7, nx.int64), (True, nx.bool), (np.zeros((0, 3)), nx.float32), (np.zeros(0), nx.int64),
     (np.zeros((2, 0), bool), nx.bool), ([5.0], nx.float32)],
)  # fmt: skip
def test_a_cuda_round_trip_keeps_dtype_shape_and_values(cuda, data, dtype):
    x = nx.tensor(data, dtype=dtype, device="cuda")
    for max_version in (None, (1, 0)):
        y = nx.from_dlpack(x.__dlpack__(max_version=max_version))
        assert y.dtype is dtype and y.shape == x.shape and y.tolist() == x.tolist() and y.device == "cuda"
        if x.numel():
            assert _ptr_of(y) == _ptr_of(x)


def test_the_import_keeps_the_memory_alive_and_lets_it_go(cuda):
    base = nx.cuda.memory_allocated()
    x = nx.full((1000,), 3.0, device="cuda")
    y = nx.from_dlpack(x.__dlpack__(max_version=(1, 0)))
    del x
    gc.collect()
    assert nx.cuda.memory_allocated() > base  # the capsule's deleter has not run: still ours
    nx.randn(1000, device="cuda")  # a new tensor must not be served from the imported block
    assert y.tolist() == [3.0] * 1000
    del y
    gc.collect()
    assert nx.cuda.memory_allocated() == base  # both gone: the memory is back
    # a capsule nobody consumed also holds the tensor, and lets it go when collected
    x = nx.ones(1000, device="cuda")
    cap = x.__dlpack__()
    del x
    gc.collect()
    assert nx.cuda.memory_allocated() > base
    del cap
    gc.collect()
    assert nx.cuda.memory_allocated() == base


def test_the_deleter_takes_the_gil_itself(cuda):
    """Consumers may call the deleter without the GIL, from any thread: ctypes releases the
    GIL around a foreign call, so this calls it as a C consumer would."""
    base = nx.cuda.memory_allocated()
    for versioned, thread in [(False, False), (True, False), (False, True), (True, True)]:
        x = nx.ones(500, device="cuda")
        cap = x.__dlpack__(max_version=(1, 0) if versioned else None)
        m, p = _managed(cap)
        assert _capsule_set_name(cap, b"used_dltensor_versioned" if versioned else b"used_dltensor") == 0
        del x, cap  # consumed: only the consumer's deleter call lets the memory go
        gc.collect()
        assert nx.cuda.memory_allocated() > base
        if thread:
            th = threading.Thread(target=m.deleter, args=(p,))
            th.start()
            th.join()
        else:
            m.deleter(p)
        gc.collect()
        assert nx.cuda.memory_allocated() == base


def test_a_capsule_is_consumed_once(cuda):
    x = nx.arange(3.0, device="cuda")
    for max_version in (None, (1, 0)):
        cap = x.__dlpack__(max_version=max_version)
        nx.from_dlpack(cap)
        with pytest.raises(BufferError, match="already consumed"):
            nx.from_dlpack(cap)
    with pytest.raises(TypeError, match="DLPack capsule"):
        cuda.dlpack_import(object())


def test_tensors_that_require_grad_are_not_exported(cuda):
    w = nx.ones(2, device="cuda", requires_grad=True)
    with pytest.raises(RuntimeError, match="require gradient"):
        w.__dlpack__()
    assert nx.from_dlpack(w.detach().__dlpack__()).tolist() == [1.0, 1.0]


def test_stream_argument(cuda):
    x = nx.arange(4.0, device="cuda")
    for stream in (None, 1, 2, -1, cuda.stream_handle()):
        assert nx.from_dlpack(x.__dlpack__(stream=stream)).tolist() == [0.0, 1.0, 2.0, 3.0]
    # our own stream and -1 need no ordering; the default streams get an event on a GPU (no
    # host wait) and a host wait on the emulated device (HIP-CPU cannot wait across streams)
    for stream, syncs in [(-1, 0), (cuda.stream_handle(), 0), (None, int(nx.cuda.is_emulated())),
                          (1, int(nx.cuda.is_emulated())), (2, int(nx.cuda.is_emulated()))]:  # fmt: skip
        before = nx.cuda.host_sync_count()
        x.__dlpack__(stream=stream)
        assert nx.cuda.host_sync_count() - before == syncs, stream
    with pytest.raises(ValueError, match="stream 0 is ambiguous"):
        x.__dlpack__(stream=0)
    with pytest.raises(ValueError, match="stream must be"):
        x.__dlpack__(stream=-7)
    with pytest.raises(TypeError, match="stream must be an int"):
        x.__dlpack__(stream="default")
    if nx.cuda.is_emulated():
        with pytest.raises(ValueError, match="not a stream of the emulated CUDA device"):
            x.__dlpack__(stream=12345)


def test_copies_on_request(cuda):
    base = nx.cuda.memory_allocated()
    x = nx.tensor([1.0, 2.0, 3.0], device="cuda")
    a = nx.from_dlpack(x.__dlpack__(copy=True))  # the producer copies
    b = nx.from_dlpack(x.__dlpack__(), copy=True)  # the consumer copies (on the device)
    c = nx.from_dlpack(x, copy=True)
    x.add_(10.0)
    for y in (a, b, c):
        assert y.tolist() == [1.0, 2.0, 3.0] and _ptr_of(y) != _ptr_of(x)
    assert a._data.borrowed and not b._data.borrowed  # a borrows the producer's copy
    del x, a, b, c, y
    gc.collect()
    assert nx.cuda.memory_allocated() == base  # the copied-from capsule let its tensor go


def test_to_the_cpu_is_a_copy(cuda):
    x = nx.tensor([[1, 2], [3, 4]], device="cuda")
    y = nx.from_dlpack(x, device="cpu")
    assert y.device == "cpu" and y.tolist() == [[1, 2], [3, 4]] and y.dtype is nx.int64
    with pytest.raises(BufferError, match="copy=False.*on CUDA"):
        nx.from_dlpack(x, device="cpu", copy=False)


def test_a_foreign_producer_shares_its_memory(foreign):
    data = np.arange(6, dtype=np.float32).reshape(2, 3)
    for version, legacy_signature in [((1, 0), False), (None, False), (None, True)]:
        p = _Producer(data, _F32, version=version, legacy_signature=legacy_signature)
        y = nx.from_dlpack(p)
        assert y.shape == (2, 3) and y.dtype is nx.float32 and y.tolist() == data.tolist()
        assert y._data.borrowed and _ptr_of(y) == _ptr_of(p.memory)
        # asked for a capsule ordered on neuraxon's stream (-1 on the emulated device, where the
        # producer can only be neuraxon itself), as DLPack 1.x unless it takes no max_version
        assert p.calls[-1]["stream"] == _our_stream()
        assert p.calls[0].get("max_version") == (None if legacy_signature else (1, 0))
        y.mul_(2.0)
        assert np.frombuffer(p.memory.numpy().tobytes(), np.float32)[:6].tolist() == (2 * data).ravel().tolist()
        assert p.deleted == 0
        del y
        gc.collect()
        assert p.deleted == 1  # handed back once, when the last tensor over it went
    # an offset into the memory is honoured, still shared; int64 and bool too
    p = _Producer(np.array([5.0, 6.0], np.float32), _F32, byte_offset=8)
    y = nx.from_dlpack(p)
    assert y.tolist() == [5.0, 6.0] and _ptr_of(y) == _ptr_of(p.memory) + 8
    p = _Producer(np.array([[True, False]]), _BOOL, version=None)
    assert nx.from_dlpack(p).tolist() == [[True, False]]
    p = _Producer(np.array([3, -4], np.int64), _I64, strides=(1,))
    assert nx.from_dlpack(p, copy=False).tolist() == [3, -4]  # strides given, C order: shared
    p = _Producer(np.zeros((0, 3), np.float32), _F32, strides=(5, 7))  # no elements: any strides
    assert nx.from_dlpack(p, copy=False).shape == (0, 3)
    p = _Producer(np.ones((3, 1), np.float32), _F32, strides=(1, 99))  # a length-1 dim's stride is free
    assert nx.from_dlpack(p, copy=False).tolist() == [[1.0]] * 3


def test_a_foreign_producer_is_copied_where_it_cannot_be_shared(foreign):
    cases = [
        # (data, dtype triple, producer kwargs, expected values and dtype, why copy=False refuses)
        (np.array([[1.5, -2.25], [3.0, 1e30]]), _F64, {}, "no float64"),
        (np.array([1, -2, 3], np.int32), (0, 32, 1), {}, "no int32"),
        (np.array([250, 3], np.uint8), (1, 8, 1), {}, "no uint8"),
        (np.array([0.5, -1.0], np.float16), (2, 16, 1), {}, "no float16"),
        (np.arange(6, dtype=np.float32), _F32, {"shape": (2, 3), "strides": (1, 2)}, "not C-contiguous"),
        (np.arange(6, dtype=np.float64), _F64, {"shape": (3,), "strides": (2,)}, "no float64"),
        (np.array([7, 8], np.int64), _I64, {"byte_offset": 4}, "not aligned to 8 bytes"),
        (np.array([1.0, 2.0], np.float32), _F32, {"flags": 1}, "read-only"),
    ]
    for data, triple, kwargs, why in cases:
        p = _Producer(data, triple, **kwargs)
        if "strides" in kwargs:
            expect = np.lib.stride_tricks.as_strided(
                data, kwargs["shape"], [s * data.itemsize for s in kwargs["strides"]]
            )
        else:
            expect = data
        y = nx.from_dlpack(p)
        want = nx.tensor(np.array(expect))  # converted as tensor() converts data
        assert y.device == "cuda" and y.dtype is want.dtype and y.tolist() == want.tolist(), why
        assert not y._data.borrowed
        gc.collect()
        assert p.deleted == 1, why  # consumed, copied, handed back at once
        p2 = _Producer(data, triple, **kwargs)
        with pytest.raises(BufferError, match=f"copy=False.*shape.*cannot be shared \\(.*{why}"):
            nx.from_dlpack(p2, copy=False)
    # a negative stride: NumPy reads the span the producer's strides reach
    data = np.arange(4, dtype=np.float64)
    p = _Producer(data, _F64, shape=(4,), strides=(-1,), byte_offset=24, data_offset=0)
    assert nx.from_dlpack(p).tolist() == [3.0, 2.0, 1.0, 0.0]


def test_what_a_foreign_producer_cannot_give(foreign):
    def raw(**kwargs):
        p = _Producer(np.zeros(2, np.float32), _F32, **kwargs)
        return p, p.capsule()

    _, cap = raw(version=(2, 0))
    with pytest.raises(BufferError, match="DLPack version 2.0 is not 1.x"):
        nx.from_dlpack(cap)
    assert _name(cap) == "dltensor_versioned"  # not consumed: its owner calls the deleter
    _, cap = raw(device=(2, 3))
    with pytest.raises(ValueError, match="CUDA device 3.*neuraxon uses one CUDA device"):
        nx.from_dlpack(cap)
    with pytest.raises(ValueError, match="float32 tensor of shape \\(2,\\) on CUDA device 3: neuraxon uses one"):
        _ext.cuda.dlpack_import(cap)  # the module checks it too
    _, cap = raw(device=(1, 0))
    with pytest.raises(BufferError, match="not on a CUDA device \\(DLPack device type 1\\)"):
        _ext.cuda.dlpack_import(cap)
    for triple, name in [((4, 16, 1), "bfloat16"), ((2, 32, 4), "float32x4"), ((3, 64, 1), "type3_64")]:
        p = _Producer(np.zeros(4, np.float32), triple)
        with pytest.raises(BufferError, match=f"cannot read {name}"):
            nx.from_dlpack(p)
        assert p.deleted == 0


def test_the_emulated_device_refuses_other_libraries_memory(cuda):
    if not nx.cuda.is_emulated():
        pytest.skip("the emulated device only (on a GPU any library's CUDA memory is imported)")
    p = _Producer(np.zeros(2, np.float32), _F32)
    with pytest.raises(BufferError, match="emulated CUDA device.*imports only neuraxon's own"):
        nx.from_dlpack(p)
    assert p.calls[0]["stream"] == -1  # never handed a stream of its own


# ---- torch.cuda (a GPU and neuraxon's real CUDA module) ---------------------------------------


def _torch_cuda():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch.cuda is not available (no GPU, or a CPU-only torch)")
    if not nx.cuda.is_available() or nx.cuda.is_emulated():
        pytest.skip("needs neuraxon's real CUDA device (not built, no device, or the emulated one)")
    return torch


def test_torch_cuda_shares_memory_both_ways():
    torch = _torch_cuda()
    # neuraxon -> torch
    x = nx.tensor([[1.0, 2.0], [3.0, 4.0]], device="cuda")
    t = torch.from_dlpack(x)
    assert t.device == torch.device("cuda", 0) and t.dtype == torch.float32 and t.shape == (2, 2)
    assert t.data_ptr() == _ptr_of(x)
    t[0, 0] = 9.0  # on torch's stream: DLPack orders the exchange only, so the writer syncs
    torch.cuda.synchronize()
    assert x[0, 0].item() == 9.0
    x.add_(1.0)
    nx.cuda.synchronize()
    assert t[0, 0].item() == 10.0
    # the exchange itself is ordered: torch's stream waits for kernels still queued on ours
    b = nx.ones(1 << 25, device="cuda")
    for _ in range(10):
        b.add_(1.0)
    assert bool((torch.from_dlpack(b) == 11.0).all())
    assert torch.from_dlpack(nx.arange(3, device="cuda")).dtype == torch.int64
    assert torch.from_dlpack(nx.tensor([True, False], device="cuda")).tolist() == [True, False]
    assert torch.from_dlpack(nx.tensor(3.0, device="cuda")).shape == ()
    assert torch.from_dlpack(nx.zeros(0, 3, device="cuda")).shape == (0, 3)
    with pytest.raises(RuntimeError, match="require gradient"):
        torch.from_dlpack(nx.ones(2, device="cuda", requires_grad=True))
    base = nx.cuda.memory_allocated()
    ts = torch.from_dlpack(nx.ones(1000, device="cuda"))  # torch holds neuraxon's memory
    assert nx.cuda.memory_allocated() > base and ts.sum().item() == 1000.0
    del ts
    gc.collect()
    assert nx.cuda.memory_allocated() == base  # torch called the deleter

    # torch -> neuraxon
    tt = torch.arange(6, dtype=torch.float32, device="cuda").reshape(2, 3)
    y = nx.from_dlpack(tt)
    assert y.device == "cuda" and y.shape == (2, 3) and y.dtype is nx.float32
    assert y._data.borrowed and _ptr_of(y) == tt.data_ptr()
    tt[1, 1] = -7.0
    torch.cuda.synchronize()
    assert y[1, 1].item() == -7.0
    y.mul_(2.0)
    nx.cuda.synchronize()
    assert tt[1, 1].item() == -14.0
    big = torch.ones(1 << 25, device="cuda")
    for _ in range(10):
        big.add_(1.0)
    z = nx.from_dlpack(big)  # torch makes neuraxon's stream wait for its pending adds
    assert (z == 11.0).all().item()
    w = nx.from_dlpack(torch.full((1000,), 2.0, device="cuda"))  # torch's own reference goes at once
    gc.collect()
    torch.cuda.empty_cache()
    torch.zeros(1000, device="cuda").fill_(5.0)
    assert w.tolist() == [2.0] * 1000
    assert nx.from_dlpack(torch.arange(3, device="cuda")).dtype is nx.int64
    assert nx.from_dlpack(torch.tensor([True, False], device="cuda")).tolist() == [True, False]
    assert nx.from_dlpack(torch.tensor(3.0, device="cuda")).shape == ()
    assert nx.from_dlpack(torch.zeros(0, 3, device="cuda")).shape == (0, 3)
    d = nx.from_dlpack(torch.ones(2, dtype=torch.float64, device="cuda"))  # converted: a copy
    assert d.dtype is nx.float32 and d.tolist() == [1.0, 1.0] and not d._data.borrowed
    assert nx.from_dlpack(tt.t()).tolist() == tt.t().tolist()  # a strided view: copied
    with pytest.raises(BufferError, match="not C-contiguous"):
        nx.from_dlpack(tt.t(), copy=False)
    if torch.cuda.device_count() > 1:
        with pytest.raises(ValueError, match="CUDA device 1"):
            nx.from_dlpack(torch.ones(2, device="cuda:1"))
