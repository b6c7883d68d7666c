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

# OpenMP threads that finish their share of a parallel region spin before they sleep: libgomp's
# default is 300,000 spins. On a machine where another busy process holds a core, a spinning
# thread keeps its core while its teammate waits for one, and every region waits a scheduler
# time slice. LeNet-5 MNIST epochs (batch 64, 2 threads) beside a 2-thread training job, by
# spin count (2026-12-06, 2-core Xeon; 1 thread: 3.6-4.0 s):
#   300,000: 4.5-69.5 s | 10,000: 8.9-9.9 | 5,000: 6.6-7.0 | 3,000: 5.6 | 2,000: 4.8 | 0: 3.4-3.9
# and on the idle machine (1 thread: 3.2-3.7 s):
#   300,000: 2.3-2.4 s  | 10,000: 2.4-2.8 | 5,000: 2.7-2.8 | 3,000: 2.8-2.9 | 2,000: 2.9-3.0 | 0: 3.8
# 3,000 keeps 2 threads faster than 1 on both (idle within 5% of the longest spins; busy
# 10x steadier than libgomp's default). It must be set before libgomp loads (with _cpu below);
# OMP_WAIT_POLICY or GOMP_SPINCOUNT from the user win.
if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["GOMP_SPINCOUNT"] = "3000"

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
