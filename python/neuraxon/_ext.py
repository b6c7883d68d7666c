"""Loads the compiled backends: neuraxon._cpu always, neuraxon._cuda when it was built.

With NEURAXON_USE_CUDA_EMU=1 in the environment, `cuda` is the emulated CUDA module instead
(neuraxon._cuda_emu: the same CUDA kernels compiled for the CPU against HIP-CPU, built with
NEURAXON_CUDA_EMU=ON), so device "cuda" runs the CUDA sources without a GPU. It is only ever
used when asked for this way; `cuda_emulated` says which one is loaded.
"""

from __future__ import annotations

import importlib
import os
import sys

# Development builds (cmake -DNEURAXON_DEV_OUTPUT=DIR) put the modules in DIR; point
# NEURAXON_DEV_BUILD at it to use them without reinstalling.
_dev = os.environ.get("NEURAXON_DEV_BUILD")
if _dev:
    _pkg_path = sys.modules[__package__].__path__  # the package being initialised

    if _dev not in _pkg_path:
        _pkg_path.insert(0, _dev)

cpu = importlib.import_module("neuraxon._cpu")

cuda_emulated = os.environ.get("NEURAXON_USE_CUDA_EMU", "").strip() not in ("", "0")
try:
    cuda = importlib.import_module("neuraxon._cuda_emu" if cuda_emulated else "neuraxon._cuda")
    cuda_import_error = ""
except ImportError as e:  # not built, or built for a different environment
    cuda = None
    cuda_import_error = str(e)
    if cuda_emulated:
        cuda_import_error = (
            "NEURAXON_USE_CUDA_EMU=1 asks for the emulated CUDA module, which was not built "
            f"(build with NEURAXON_CUDA_EMU=ON and NEURAXON_HIP_CPU_DIR): {e}"
        )
