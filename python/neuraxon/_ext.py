"""Loads the compiled backends: neuraxon._cpu always, neuraxon._cuda when it was built."""

from __future__ import annotations

import importlib
import os

# Development builds (cmake -DNEURAXON_DEV_OUTPUT=DIR) put the modules in DIR; point
# NEURAXON_DEV_BUILD at it to use them without reinstalling.
_dev = os.environ.get("NEURAXON_DEV_BUILD")
if _dev:
    from . import __path__ as _pkg_path  # type: ignore[attr-defined]

    if _dev not in _pkg_path:
        _pkg_path.insert(0, _dev)

cpu = importlib.import_module("neuraxon._cpu")

try:
    cuda = importlib.import_module("neuraxon._cuda")
    cuda_import_error = ""
except ImportError as e:  # not built, or built for a different environment
    cuda = None
    cuda_import_error = str(e)
