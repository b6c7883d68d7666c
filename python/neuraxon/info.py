"""`neuraxon info`: what this build of neuraxon is and what it can run on."""

from __future__ import annotations

import platform

from . import __version__, _ext, cuda


def info_lines() -> list[str]:
    c = _ext.cpu
    lines = [
        f"neuraxon {__version__}",
        f"python {platform.python_version()} ({platform.machine()})",
        f"compiler: {c.compiler}",
        f"cpu ISA paths compiled: {', '.join(c.isa_paths())}; supported here: up to "
        f"{c.isa_supported()}; in use: {c.isa()}",
        f"OpenMP: {'yes' if c.openmp else 'no'}, threads: {c.num_threads()}",
    ]
    if _ext.cuda is None:
        lines.append(f"CUDA: not built ({cuda.unavailable_reason()})")
    elif cuda.is_emulated():
        lines.append(
            "CUDA: EMULATED (neuraxon._cuda_emu, selected by NEURAXON_USE_CUDA_EMU=1): the CUDA "
            "kernels compiled for this CPU against HIP-CPU; no GPU is used and speeds mean nothing"
        )
        lines.append(f"CUDA devices: 1 emulated ({_ext.cuda.device_name(0)})")
    else:
        v = _ext.cuda.runtime_version()
        lines.append(f"CUDA: built, runtime {v // 1000}.{(v % 1000) // 10}, archs {_ext.cuda.archs}")
        n = _ext.cuda.device_count()
        if n:
            names = ", ".join(_ext.cuda.device_name(i) for i in range(n))
            lines.append(f"CUDA devices: {n} ({names})")
        else:
            lines.append(f"CUDA devices: none ({_ext.cuda.unavailable_reason()})")
        lines.append(_nccl_line())
    return lines


def _nccl_line() -> str:
    """Which libnccl.so.2 the "nccl" distributed backend would load, and its version."""
    from .distributed import _nccl

    try:
        lib = _nccl.NcclLib()
        return f'NCCL (distributed backend "nccl"): {".".join(map(str, lib.version()))} from {lib.path}'
    except (RuntimeError, AttributeError) as e:
        return f'NCCL (distributed backend "nccl"): not found ({e})'
