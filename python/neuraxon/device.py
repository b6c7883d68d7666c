"""Devices: the one place that knows the CPU and CUDA backends differ.

A `Device` owns its kernel module (`Device.k`: neuraxon._cpu or neuraxon._cuda, with the
same kernel names), allocates flat backend arrays (`empty`) and moves NumPy data in and out
(`from_numpy`, `to_numpy`). Every op above this module calls `x.device.k.<kernel>(...)`;
nothing else branches on the device type.

Backend arrays are flat: a 1-D NumPy array on the CPU, a `neuraxon._cuda.DeviceArray` on
CUDA. (A cache of freed CPU buffers would slot into `empty`; NumPy's allocator is fast
enough that we have not needed one.)
"""

from __future__ import annotations

import numpy as np

from . import _ext
from .dtypes import dtype as _dtype_cls
from .dtypes import get_dtype


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
                from . import cuda

                if not cuda.is_available():
                    raise RuntimeError(f"CUDA is not available: {cuda.unavailable_reason()}")
                k = _ext.cuda
            self._k = k
        return k

    # -- memory -----------------------------------------------------------------------
    def empty(self, numel: int, dtype) -> object:
        """An uninitialised flat backend array of `numel` elements."""
        dt = get_dtype(dtype)
        if self.type == "cpu":
            return np.empty(int(numel), dtype=dt.numpy)
        return self.k.DeviceArray(int(numel), dt.code)

    def from_numpy(self, a: np.ndarray, dtype=None) -> object:
        """A flat backend array holding a copy of `a` (converted to `dtype` if given)."""
        dt = get_dtype(dtype if dtype is not None else a.dtype)
        flat = np.ascontiguousarray(a, dtype=dt.numpy).reshape(-1)
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

__all__ = ["Device", "device", "cpu", "_dtype_cls"]
