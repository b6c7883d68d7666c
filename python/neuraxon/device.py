"""Devices: the one place that knows the CPU and CUDA backends differ.

A `Device` owns its kernel module (`Device.k`: neuraxon._cpu or neuraxon._cuda, with the
same kernel names), allocates flat backend arrays (`empty`) and moves NumPy data in and out
(`from_numpy`, `to_numpy`). Every op above this module calls `x.device.k.<kernel>(...)`;
nothing else branches on the device type.

Backend arrays are flat: a 1-D NumPy array on the CPU, a `neuraxon._cuda.DeviceArray` on
CUDA.

CPU buffer cache. A fresh NumPy array of a few MB comes from a fresh mmap, and first touch of
each 4 KiB page costs ~2.3 us here (anchors/cpu-measured.md), so a training step that allocates
its activations anew every step spends much of its time in page faults (e.g. a ReLU over 12 MB
ran ~5x slower out-of-place than into a reused buffer). `_CpuCache` keeps every large buffer it
handed out, by (bytes, dtype); a buffer is free again when nothing but the cache refers to it
(its reference count: every view, tensor and `numpy()` result of it holds a reference to the
owning array, since NumPy collapses view chains onto the array that owns the memory). So a
steady-state step reuses warm pages and touches no fresh ones. Small buffers (< 64 KiB) come
from malloc's heap anyway and skip the cache. The cache holds at most NEURAXON_CPU_CACHE_MB
(default 2048) MB; past that it drops its free buffers, then stops tracking new ones.
`empty_cache()` returns the free ones to the system.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from . import _ext, cuda
from .dtypes import dtype as _dtype_cls
from .dtypes import dtype_of_data, get_dtype


def _find_free(lst: list, free: int):
    """The first array of `lst` that nothing but `lst` refers to, or None."""
    getrc = sys.getrefcount
    for b in lst:
        if getrc(b) == free:
            return b
    return None


class _CpuCache:
    """Reuses large CPU buffers once no tensor or view refers to them (see module doc)."""

    MIN_BYTES = 64 * 1024

    def __init__(self, limit_bytes: int):
        self.limit = limit_bytes
        self.total = 0  # bytes of every tracked buffer, free or in use
        self.lists: dict[tuple, list] = {}
        # references a free buffer has while `_find_free` scans its list (list slot, loop
        # variable, getrefcount's argument: 3 on CPython 3.11): measured through the very
        # same function rather than assumed, so an interpreter that counts differently gets
        # a matching threshold (a too-low one would only stop reuse, never reuse a live buffer)
        probe = [np.empty(1, np.float32)]
        self.free_refs = next((k for k in range(1, 16) if _find_free(probe, k) is probe[0]), 0)

    def alloc(self, numel: int, npdt) -> np.ndarray:
        key = (numel, npdt)
        lst = self.lists.get(key)
        if lst is None:
            lst = self.lists.setdefault(key, [])
        else:
            b = _find_free(lst, self.free_refs)
            if b is not None:
                return b
        a = np.empty(numel, dtype=npdt)
        nbytes = a.nbytes
        if self.total + nbytes > self.limit:
            self.trim()
            if self.total + nbytes > self.limit:
                return a  # untracked: freed as usual
        lst.append(a)
        self.total += nbytes
        return a

    def trim(self) -> int:
        """Drop every free buffer (the memory goes back to the allocator); bytes released."""
        free, getrc, released = self.free_refs, sys.getrefcount, 0
        for key, lst in list(self.lists.items()):
            keep = []
            for b in lst:
                if getrc(b) == free:
                    released += b.nbytes
                else:
                    keep.append(b)
            if keep:
                self.lists[key] = keep
            else:
                del self.lists[key]
        self.total -= released
        return released

    def stats(self) -> dict:
        free, getrc = self.free_refs, sys.getrefcount
        nfree = sum(b.nbytes for lst in self.lists.values() for b in lst if getrc(b) == free)
        return {"tracked_bytes": self.total, "free_bytes": nfree, "buffers": sum(map(len, self.lists.values()))}


_cpu_cache = _CpuCache(int(float(os.environ.get("NEURAXON_CPU_CACHE_MB", "2048")) * 2**20))


def empty_cache() -> int:
    """Release the free cached CPU buffers and the CPU kernels' scratch arenas (per thread,
    grown to the largest call); returns the bytes released."""
    return _cpu_cache.trim() + _ext.cpu.release_scratch()


_INT64_MAX = np.iinfo(np.int64).max
_F32_MAX_ROUNDING = 3.4028235677973366e38  # float32's max + half an ulp: at or above, inf


class Device:
    """A device: `type` is "cpu" or "cuda"; `index` is kept for PyTorch compatibility.

    Devices compare equal by type (one CUDA device is used); str(d) is "cpu" or "cuda".
    """

    __slots__ = ("type", "index", "_k")

    def __init__(self, type: str = "cpu", index: int | None = None):
        if isinstance(type, Device):
            type, index = type.type, type.index
        if not isinstance(type, str):
            raise TypeError(f"device must be a string like 'cpu' or 'cuda:0', got {type!r}")
        name = type.strip().lower()
        if ":" in name:
            name, _, idx = name.partition(":")
            try:
                index = int(idx)
            except ValueError:
                raise ValueError(f"invalid device string {type!r}") from None
        if name not in ("cpu", "cuda"):
            raise ValueError(f"unknown device {type!r}: expected 'cpu' or 'cuda'")
        if name == "cuda" and index not in (None, 0):
            raise ValueError(f"device {type!r}: neuraxon uses one CUDA device (index 0)")
        self.type = name
        self.index = index
        self._k = None

    # -- the kernel module ------------------------------------------------------------
    @property
    def k(self):
        """The kernel module of this backend (same kernel names on every backend)."""
        k = self._k
        if k is None:
            if self.type == "cpu":
                k = _ext.cpu
            else:
                if not cuda.is_available():
                    raise RuntimeError(f"CUDA is not available: {cuda.unavailable_reason()}")
                k = _ext.cuda
            self._k = k
        return k

    # -- memory -----------------------------------------------------------------------
    def empty(self, numel: int, dtype) -> object:
        """An uninitialised flat backend array of `numel` elements."""
        dt = dtype if type(dtype) is _dtype_cls else get_dtype(dtype)
        if self.type == "cpu":
            npdt = dt.numpy
            if numel * dt.itemsize < _CpuCache.MIN_BYTES:
                return np.empty(numel, dtype=npdt)
            return _cpu_cache.alloc(int(numel), npdt)
        return self.k.DeviceArray(int(numel), dt.code)

    def from_numpy(self, a: np.ndarray, dtype=None) -> object:
        """A flat backend array holding a copy of `a` (converted to `dtype` if given)."""
        dt = get_dtype(dtype) if dtype is not None else dtype_of_data(a.dtype)
        if a.dtype.kind == "u" and a.dtype.itemsize == 8 and np.dtype(dt.numpy).kind == "i" and a.size and a.max() > _INT64_MAX:
            # uint64 has no neuraxon twin: a value past int64 would wrap negative (torch
            # keeps uint64; a Python int that large raises there too)
            raise OverflowError(f"value {int(a.max())} does not fit {dt.name} (at most {_INT64_MAX})")
        narrowing = a.dtype.kind == "f" and a.dtype.itemsize > 4 and dt.numpy == np.float32
        with np.errstate(over="ignore"):  # checked below instead of NumPy's warning
            flat = np.ascontiguousarray(a, dtype=dt.numpy).reshape(-1)
        if narrowing and flat.size and np.isinf(flat).any():
            big = a[np.isfinite(a)]
            big = big[np.abs(big) > _F32_MAX_ROUNDING]
            if big.size:  # a finite float64 that would become inf: a wrong value, not a rounding
                raise OverflowError(
                    f"value {float(big.flat[0])!r} is beyond float32's range (neuraxon stores float32): "
                    "it would become inf"
                )
        if self.type == "cpu":
            return flat.copy() if np.may_share_memory(flat, a) else flat
        arr = self.k.DeviceArray(flat.size, dt.code)
        if flat.size:
            arr.copy_from_host(flat)
        return arr

    def to_numpy(self, arr, shape, dtype=None) -> np.ndarray:
        """The data of a backend array as a NumPy array of `shape` (on the CPU: a view)."""
        if self.type == "cpu":
            return arr.reshape(shape)
        if arr.numel == 0:
            return np.empty(shape, dtype=get_dtype(dtype).numpy if dtype is not None else np.float32)
        return arr.to_host().reshape(shape)

    def synchronize(self) -> None:
        if self.type == "cuda":
            self.k.synchronize()

    # -- DLPack -----------------------------------------------------------------------
    def to_dlpack(self, arr, shape, *, stream=None, max_version=None, copy=None):
        """A DLPack capsule over a backend array viewed as `shape` (Tensor.__dlpack__): NumPy
        builds it on the CPU, the CUDA module on CUDA (a versioned capsule when max_version is
        (1, x) or later; the consumer's `stream` waits for neuraxon's first)."""
        if self.type == "cpu":
            kwargs = {k: v for k, v in (("max_version", max_version), ("copy", copy)) if v is not None}
            return arr.reshape(shape).__dlpack__(stream=stream, **kwargs)
        versioned = max_version is not None and int(max_version[0]) >= 1
        return self.k.dlpack_export(arr, list(shape), stream, versioned, bool(copy))

    def dlpack_stream(self) -> int:
        """The `stream` neuraxon, as a DLPack consumer on CUDA, passes to producers' __dlpack__:
        neuraxon's CUDA stream, so the producer orders its pending writes before it. -1 (no
        ordering) on the emulated device, where the only importable producer is neuraxon
        itself, on the same stream (and a real GPU library must not get its handle)."""
        k = self.k  # RuntimeError when CUDA is not available, before any producer is asked
        return -1 if _ext.cuda_emulated else k.stream_handle()

    def dlpack_import(self, capsule, copy=None):
        """Consumes a CUDA DLPack capsule: (backend array sharing its memory, or a copy,
        shape, dtype code), or (host ndarray copy, shape, None) for dtypes and strides that
        neuraxon cannot share (see neuraxon.from_dlpack)."""
        return self.k.dlpack_import(capsule, copy)

    # -- identity ---------------------------------------------------------------------
    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            try:
                other = device(other)
            except (ValueError, TypeError):
                return False
        return isinstance(other, Device) and other.type == self.type

    def __hash__(self) -> int:
        return hash(self.type)

    def __str__(self) -> str:
        return self.type

    def __repr__(self) -> str:
        return (
            f"device(type='{self.type}')" if self.index is None else f"device(type='{self.type}', index={self.index})"
        )

    def __reduce__(self):
        return (device, (self.type,))


_CACHE: dict[str, Device] = {}


def device(d=None, index: int | None = None) -> Device:
    """neuraxon.device("cpu" | "cuda" | "cuda:0" | Device | int | None) -> Device (None: cpu)."""
    if isinstance(d, Device):
        return d
    if d is None:
        d = "cpu"
    if isinstance(d, int) and not isinstance(d, bool):
        d = f"cuda:{d}"
    if not isinstance(d, str):
        raise TypeError(f"device must be a string, a neuraxon.device or an int, got {d!r}")
    key = d.strip().lower() if index is None else f"{d.strip().lower()}:{index}"
    dev = _CACHE.get(key)
    if dev is None:
        dev = Device(d, index)
        # share kernel-module lookups: one Device object per type
        base = _CACHE.get(dev.type)
        if base is not None and dev.index == base.index:
            dev = base
        _CACHE[key] = dev
    return dev


cpu = device("cpu")


def is_dlpack_capsule(x) -> bool:
    return type(x).__name__ == "PyCapsule"


def dlpack_capsule_device(capsule) -> tuple:
    """(DLPack device type, index) of an unconsumed DLPack capsule. Only the CUDA module
    can read one; without it the capsule is taken for CPU memory (NumPy reads it, or refuses
    another device)."""
    if _ext.cuda is None:
        return (1, 0)
    return tuple(_ext.cuda.dlpack_capsule_device(capsule))


__all__ = ["Device", "device", "cpu", "empty_cache", "_dtype_cls"]
