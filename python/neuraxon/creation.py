"""Creating tensors: from data (tensor, as_tensor, from_numpy), filled (zeros, ones, full,
empty, arange, linspace, eye), random (rand, randn, randint, randperm) and the *_like forms."""

from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING

import numpy as np

from . import _array
from . import _codes as C
from . import random as _random
from ._tensor_base import TensorBase
from .device import device as _device
from .device import dlpack_capsule_device, is_dlpack_capsule
from .dtypes import dtype_of_data, float32, from_code, get_dtype, int64

if TYPE_CHECKING:
    from .tensor import Tensor


def _require_float(t, what):
    if t.dtype is not float32:
        raise TypeError(f"{what} needs a float32 tensor, got {t.dtype.name}")


def _infer_np(data):
    if isinstance(data, TensorBase):
        return np.asarray(data)
    if isinstance(data, (list, tuple)) and any(isinstance(x, TensorBase) for x in _iter_flat(data)):
        data = _nested_items(data)
    return np.asarray(data)


def _iter_flat(x):
    if isinstance(x, (list, tuple)):
        for y in x:
            yield from _iter_flat(y)
    else:
        yield x


def _nested_items(x):
    if isinstance(x, (list, tuple)):
        return [_nested_items(y) for y in x]
    if isinstance(x, TensorBase):
        return x.tolist()
    return x


def tensor(data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of data (list, scalar, NumPy array, PIL image or Tensor).

    Without ``dtype`` the data's type decides: Python floats and NumPy float16/32/64 ->
    float32, Python ints and NumPy int8..int64/uint8..uint64 -> int64, bools -> bool (a PIL
    image is its (H, W[, C]) pixel array, uint8 -> int64). An explicit ``dtype`` must be one
    neuraxon stores (float32, int64, bool): float64, int32, uint8, ... raise TypeError rather
    than being silently changed.
    """
    dev = _device(device) if device is not None else (data.device if isinstance(data, TensorBase) else _device("cpu"))
    arr = _infer_np(data)
    if arr.dtype == object:
        if any(isinstance(x, numbers.Integral) and not isinstance(x, bool) for x in _iter_flat(data)):
            raise OverflowError("tensor(): an integer of the data does not fit int64 (neuraxon's integer type)")
        raise TypeError(f"tensor(): could not infer the dtype of {type(data).__name__} data")
    if dtype is not None:
        dt = get_dtype(dtype)
    elif arr.size == 0 and arr.dtype.kind == "f":
        dt = float32
    else:
        dt = dtype_of_data(arr.dtype)
    t = TensorBase._wrap(dev.from_numpy(arr, dt), tuple(arr.shape), dt, dev)  # from_numpy copies
    if requires_grad:
        t.requires_grad_(True)
    return t


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like tensor(), but without a copy when it can: a Tensor already of that dtype and
    device is returned as is, and a C-contiguous float32/int64/bool NumPy array becomes a
    CPU tensor sharing its memory (as torch.as_tensor)."""
    if isinstance(data, TensorBase):
        out = data
        if dtype is not None:
            out = out.to(get_dtype(dtype))
        if device is not None:
            out = out.to(_device(device))
        return out
    if isinstance(data, np.ndarray) and (device is None or _device(device).type == "cpu"):
        want = get_dtype(dtype) if dtype is not None else None
        if (
            data.dtype in (np.float32, np.int64, np.bool_)
            and data.flags.c_contiguous
            and data.flags.writeable
            and (want is None or want.numpy == data.dtype)
        ):
            return from_numpy(data)
    return tensor(data, dtype=dtype, device=device)


def from_numpy(a: np.ndarray) -> Tensor:
    """A CPU tensor from a NumPy array: shares memory when a is C-contiguous, writeable float32,
    int64 or bool (other types are converted, i.e. copied, as tensor() converts data: float16/
    float64 -> float32, other integer types -> int64). A read-only array
    (np.frombuffer of bytes, np.load(mmap_mode="r"), a broadcast view) is copied: kernels and
    in-place ops write into a tensor's memory. PyTorch shares it and warns instead."""
    a = np.asarray(a)
    dt = dtype_of_data(a.dtype)
    if a.dtype == dt.numpy and a.flags.c_contiguous and a.flags.writeable:
        return TensorBase._wrap(a.reshape(-1), tuple(a.shape), dt, _device("cpu"))
    return tensor(a, dtype=dt)


_DLPACK_DEVICES = {1: "CPU", 2: "CUDA", 3: "CUDA host", 4: "OpenCL", 7: "Vulkan", 8: "Metal", 10: "ROCm",
                   13: "CUDA managed", 14: "oneAPI"}  # fmt: skip


class _Capsule:
    """A raw DLPack capsule as a producer (np.from_dlpack takes producers only)."""

    def __init__(self, capsule):
        self.capsule = capsule

    def __dlpack__(self, **kwargs):
        return self.capsule


def from_dlpack(ext_tensor, *, device=None, copy=None) -> Tensor:
    """A tensor from any object with ``__dlpack__`` (a NumPy array, a torch tensor on the CPU
    or CUDA, a CuPy or JAX array, ...) or from a DLPack capsule, sharing its memory when it
    can (as torch.from_dlpack), so writes through either are seen by the other.

    CPU memory is shared when it is C-contiguous, writeable and float32, int64 or bool (NumPy
    does the capsule work, ``np.from_dlpack``). CUDA memory (DLPack device kDLCUDA, index 0:
    neuraxon has one CUDA device, another index raises ValueError) is shared on the same
    terms: the producer is asked for a capsule with ``stream=`` neuraxon's stream, so its
    pending writes are ordered before neuraxon's kernels, and its deleter is called when the
    last neuraxon tensor over the memory goes (after neuraxon's stream is done with it).
    Writes made later on another library's stream are not ordered with neuraxon's: call
    ``torch.cuda.synchronize()`` (or export again) before neuraxon reads them, and
    ``neuraxon.cuda.synchronize()`` before the other library reads neuraxon's writes.

    Otherwise (another dtype, a strided view, read-only memory, another ``device``) the data is
    converted as ``tensor()`` converts data (float16/float64 -> float32, other integer types
    -> int64), which is a copy (for CUDA memory through the host): ``copy=False`` raises
    BufferError instead, ``copy=True`` always copies. A raw capsule (``to_dlpack(t)``) is
    taken as it is: it was ordered for whatever stream its maker asked for. The emulated
    CUDA device (NEURAXON_USE_CUDA_EMU=1) imports only neuraxon's own CUDA tensors."""
    if is_dlpack_capsule(ext_tensor):
        kind, index = dlpack_capsule_device(ext_tensor)
    elif hasattr(ext_tensor, "__dlpack__"):
        where = ext_tensor.__dlpack_device__() if hasattr(ext_tensor, "__dlpack_device__") else (1, 0)
        kind, index = int(where[0]), int(where[1])
    else:
        raise TypeError(
            f"from_dlpack() needs an object with __dlpack__ (an array or tensor) or a DLPack capsule, got {type(ext_tensor).__name__}"
        )
    if kind == 2:
        return _from_cuda_dlpack(ext_tensor, index, device, copy)
    if kind != 1:
        raise BufferError(
            f"from_dlpack(): the producer's memory is on a {_DLPACK_DEVICES.get(kind, f'type {kind}')} device; "
            "neuraxon imports CPU and CUDA memory only (move it to the CPU first)"
        )
    if isinstance(ext_tensor, TensorBase):  # our own CPU tensor: the same data
        a = ext_tensor.detach().numpy()
    else:
        a = np.from_dlpack(_Capsule(ext_tensor) if is_dlpack_capsule(ext_tensor) else ext_tensor)
    dev = _device(device) if device is not None else _device("cpu")
    shareable = a.dtype in (np.float32, np.int64, np.bool_) and a.flags.c_contiguous and a.flags.writeable
    if shareable and dev.type == "cpu" and not copy:
        return TensorBase._wrap(a.reshape(-1), tuple(a.shape), dtype_of_data(a.dtype), dev)
    if copy is False:
        why = "it is not on the CPU" if dev.type != "cpu" else (
            f"neuraxon has no {a.dtype.name}" if a.dtype not in (np.float32, np.int64, np.bool_)
            else "it is not C-contiguous" if not a.flags.c_contiguous else "it is read-only"
        )  # fmt: skip
        raise BufferError(f"from_dlpack(copy=False): this memory cannot be shared ({why})")
    return tensor(a, device=dev)


def _from_cuda_dlpack(ext_tensor, index: int, device, copy) -> Tensor:
    """from_dlpack of memory on DLPack device (kDLCUDA, index)."""
    if index != 0:
        raise ValueError(
            f"from_dlpack(): the producer's memory is on CUDA device {index}; neuraxon uses one CUDA device "
            "(index 0): move it to device 0 first"
        )
    cuda = _device("cuda")
    dev = _device(device) if device is not None else cuda
    if dev.type != "cuda" and copy is False:
        raise BufferError("from_dlpack(copy=False): this memory cannot be shared (it is on CUDA, not the CPU)")
    if isinstance(ext_tensor, TensorBase):  # our own CUDA tensor: the same data
        t = TensorBase._wrap(ext_tensor._data, ext_tensor.shape, ext_tensor.dtype, ext_tensor.device)
        if copy and dev.type == "cuda":
            t = t.clone()
    else:
        if is_dlpack_capsule(ext_tensor):
            capsule = ext_tensor
        else:
            stream = cuda.dlpack_stream()  # raises RuntimeError when neuraxon has no usable CUDA
            try:
                capsule = ext_tensor.__dlpack__(stream=stream, max_version=(1, 0))
            except TypeError:  # a producer from before DLPack 1.0 (no max_version)
                capsule = ext_tensor.__dlpack__(stream=stream)
        arr, shape, code = cuda.dlpack_import(capsule, copy if dev.type == "cuda" else None)
        if code is None:  # another dtype or strides: a host copy, converted as tensor() converts data
            return tensor(arr, device=dev)
        t = TensorBase._wrap(arr, tuple(shape), from_code(code), cuda)
    return t if dev.type == "cuda" else t.to(dev)


def _size(size) -> tuple:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for s in size:
        if not isinstance(s, (numbers.Integral, np.integer)) and not (
            isinstance(s, TensorBase) and s.numel() == 1 and s.dtype is int64
        ):
            raise TypeError(f"size must be a tuple of ints, but got {type(s).__name__} {s!r} in {tuple(size)}")
    shape = tuple(int(s) for s in size)
    for s in shape:
        if s < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {s}: {list(shape)}")
    return shape


def _new(shape, dtype, device, requires_grad, default=float32) -> Tensor:
    dt = get_dtype(dtype) if dtype is not None else default
    t = _array.empty(shape, dt, _device(device))
    if requires_grad:
        t.requires_grad_(True)
    return t


def empty(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """An uninitialised tensor of the given size (contents are whatever the memory held)."""
    return _new(_size(size), dtype, device, requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of `size` filled with fill_value (dtype from the value unless given)."""
    if isinstance(size, int):
        size = (size,)
    if dtype is None:
        dtype = _array.scalar_dtype(fill_value)
    t = _new(_size((size,)), dtype, device, False)
    if t.numel():
        _array.run("fill", t.device, t._data, t.numel(), float(fill_value))
    if requires_grad:
        t.requires_grad_(True)
    return t


def zeros(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros of the given size (float32 unless dtype is given)."""
    return full(_size(size), 0.0, dtype=dtype or float32, device=device, requires_grad=requires_grad)


def ones(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones of the given size (float32 unless dtype is given)."""
    return full(_size(size), 1.0, dtype=dtype or float32, device=device, requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Computed on the host (NumPy) and copied to the device."""
    if end is None:
        start, end = 0, start
    vals = [start, end, step]
    vals = [v.item() if isinstance(v, TensorBase) else v for v in vals]
    if vals[2] == 0:
        raise RuntimeError("arange(): step must be nonzero")
    if any(isinstance(v, float) and not math.isfinite(v) for v in vals):
        raise RuntimeError(f"arange(): unsupported range {vals[0]} -> {vals[1]} (step {vals[2]})")
    if (vals[1] - vals[0]) * vals[2] < 0:
        raise RuntimeError(
            f"arange(): upper bound and lower bound inconsistent with step sign (start {vals[0]}, end {vals[1]}, "
            f"step {vals[2]})"
        )
    is_int = all(isinstance(v, numbers.Integral) for v in vals)
    dt = get_dtype(dtype) if dtype is not None else (int64 if is_int else float32)
    n = max(int(math.ceil((vals[1] - vals[0]) / vals[2])), 0)
    a = vals[0] + np.arange(n, dtype=np.float64 if not is_int else np.int64) * vals[2]
    return tensor(a, dtype=dt, device=device, requires_grad=requires_grad)


def linspace(start, end, steps: int, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """`steps` evenly spaced values from start to end, both included."""
    a = np.linspace(float(start), float(end), int(steps))
    return tensor(a, dtype=dtype or float32, device=device, requires_grad=requires_grad)


def logspace(start, end, steps: int, base: float = 10.0, dtype=None, device=None) -> Tensor:
    """`steps` values base**x for x evenly spaced from start to end, both included."""
    return tensor(np.logspace(float(start), float(end), int(steps), base=base), dtype=dtype or float32, device=device)


def eye(n: int, m: int | None = None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """The n x m (default n x n) identity matrix."""
    return tensor(np.eye(n, m), dtype=dtype or float32, device=device, requires_grad=requires_grad)


def rand(*size, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Uniform [0, 1) from the global generator (neuraxon.manual_seed)."""
    t = _new(_size(size), dtype, device, False)
    _require_float(t, "rand")
    t.uniform_(0.0, 1.0, generator=generator)
    return t.requires_grad_(True) if requires_grad else t


def randn(*size, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Standard normal from the global generator."""
    t = _new(_size(size), dtype, device, False)
    _require_float(t, "randn")
    t.normal_(0.0, 1.0, generator=generator)
    return t.requires_grad_(True) if requires_grad else t


def randint(low, high=None, size=None, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Integers uniform in [low, high), drawn as float32 uniforms on the device and floored
    (exact for ranges up to 2**24)."""
    if size is None:
        if high is None or not isinstance(high, (tuple, list)):
            raise TypeError("randint() missing required argument 'size'")
        low, high, size = 0, low, high
    if high is None:
        low, high = 0, low
    if isinstance(size, int):
        size = (size,)
    low, high = int(low), int(high)
    if high <= low:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    span = high - low
    u = _new(_size((size,)), float32, device, False)
    u.uniform_(0.0, float(span), generator=generator)
    i = _array.cast(u, int64)  # truncation == floor for u >= 0
    i = _array.binary_raw(i, _array.full((), span - 1, int64, i.device), C.BIN_MIN)
    if low:
        i = _array.binary_raw(i, _array.full((), low, int64, i.device), C.BIN_ADD)
    return i.to(get_dtype(dtype)) if dtype is not None else i


def randperm(n: int, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A random permutation of range(n), drawn on the host from the global generator's
    state (reproducible under manual_seed) and copied to the device."""
    if int(n) < 0:
        raise RuntimeError(f"randperm: n must be non-negative, got {n}")
    perm = (generator or _random.default_generator).numpy_rng().permutation(int(n))
    return tensor(perm, dtype=dtype or int64, device=device)


def _like(t, dtype, device):
    return (t.shape, dtype if dtype is not None else t.dtype, device if device is not None else t.device)


def empty_like(t, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """An uninitialised tensor of t's shape (and dtype/device unless given)."""
    s, d, dev = _like(t, dtype, device)
    return empty(s, dtype=d, device=dev, requires_grad=requires_grad)


def zeros_like(t, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros of t's shape (and dtype/device unless given)."""
    s, d, dev = _like(t, dtype, device)
    return zeros(s, dtype=d, device=dev, requires_grad=requires_grad)


def ones_like(t, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones of t's shape (and dtype/device unless given)."""
    s, d, dev = _like(t, dtype, device)
    return ones(s, dtype=d, device=dev, requires_grad=requires_grad)


def full_like(t, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of t's shape filled with fill_value."""
    s, d, dev = _like(t, dtype, device)
    return full(s, fill_value, dtype=d, device=dev, requires_grad=requires_grad)


def rand_like(t, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Uniform [0, 1) samples of t's shape, from the global generator."""
    s, d, dev = _like(t, dtype, device)
    return rand(s, dtype=d, device=dev, requires_grad=requires_grad)


def randn_like(t, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples of t's shape, from the global generator."""
    s, d, dev = _like(t, dtype, device)
    return randn(s, dtype=d, device=dev, requires_grad=requires_grad)


def randint_like(t, low, high=None, dtype=None, device=None) -> Tensor:
    """Random integers in [low, high) (or [0, low)) of t's shape."""
    s, d, dev = _like(t, dtype, device)
    return randint(low, high, s, dtype=d, device=dev)
