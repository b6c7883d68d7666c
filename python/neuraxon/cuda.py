"""neuraxon.cuda: is the CUDA backend built, is a device there, and its memory."""

from __future__ import annotations

from . import _ext

if _ext.cuda is not None:
    # The exception the C++ allocator raises (registered in module_cuda.cc), so that
    # `except neuraxon.cuda.OutOfMemoryError` catches what kernels and DeviceArray throw.
    OutOfMemoryError = _ext.cuda.OutOfMemoryError
else:

    class OutOfMemoryError(RuntimeError):  # type: ignore[no-redef]
        """Raised when device memory runs out even after the allocator's cache was freed."""


def is_built() -> bool:
    return _ext.cuda is not None


def unavailable_reason() -> str:
    """Why is_available() is False ("" when it is True)."""
    if _ext.cuda is None:
        return "neuraxon was built without CUDA (_cuda module not built)" + (
            f": {_ext.cuda_import_error}"
            if _ext.cuda_import_error and "No module" not in _ext.cuda_import_error
            else ""
        )
    reason = _ext.cuda.unavailable_reason()
    if "driver version is insufficient" in reason and not _nvidia_driver_present():
        # what the runtime says when there is no driver at all, which misleads: name it
        reason = f"no NVIDIA driver on this machine (no GPU to run on; the CUDA runtime says: {reason})"
    return reason


def _nvidia_driver_present() -> bool:
    import os

    return os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/nvidia0")


def is_emulated() -> bool:
    """True when device "cuda" is the emulated CUDA module (NEURAXON_USE_CUDA_EMU=1): the CUDA
    kernels compiled for the CPU against HIP-CPU, for testing without a GPU."""
    return _ext.cuda is not None and _ext.cuda_emulated


def host_sync_count() -> int:
    """How many times the host has waited for the CUDA stream so far (reading results,
    synchronize(), kernels that check indices); 0 without the CUDA module."""
    return _ext.cuda.host_sync_count() if _ext.cuda is not None else 0


def is_available() -> bool:
    return _ext.cuda is not None and _ext.cuda.device_count() > 0


def device_count() -> int:
    return _ext.cuda.device_count() if _ext.cuda is not None else 0


def get_device_name(index: int = 0) -> str:
    _require()
    return _ext.cuda.device_name(index)


def synchronize() -> None:
    if is_available():
        _ext.cuda.synchronize()


def memory_allocated() -> int:
    return _ext.cuda.memory_allocated() if _ext.cuda is not None else 0


def max_memory_allocated() -> int:
    return _ext.cuda.max_memory_allocated() if _ext.cuda is not None else 0


def memory_reserved() -> int:
    """Bytes the caching allocator holds from the driver (live and cached blocks)."""
    return _ext.cuda.memory_cached() if _ext.cuda is not None else 0


def reset_peak_memory_stats() -> None:
    if _ext.cuda is not None:
        _ext.cuda.reset_peak_memory_stats()


def empty_cache() -> None:
    if _ext.cuda is not None:
        _ext.cuda.empty_cache()


def _require() -> None:
    if not is_available():
        raise RuntimeError(f"CUDA is not available: {unavailable_reason()}")
