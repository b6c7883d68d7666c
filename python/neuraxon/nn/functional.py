"""neuraxon.nn.functional: re-exports neuraxon.functional (torch.nn.functional-shaped).

Its __all__ lists the ops gradchecked in tests/test_functional.py; the composites defined in
neuraxon.functional (pixel_shuffle, adaptive_max_pool2d, interpolate, ...) are public too and
re-exported by name, as torch.nn.functional has them."""

import types as _types

from .. import functional as _functional
from ..functional import *  # noqa: F401,F403

globals().update(
    {
        _k: _v
        for _k, _v in vars(_functional).items()
        if not _k.startswith("_") and isinstance(_v, _types.FunctionType) and _v.__module__ == _functional.__name__
    }
)
