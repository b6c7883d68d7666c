"""neuraxon: a readable deep-learning framework whose every hot loop is its own kernel."""

__version__ = "0.1.0"

from . import _ext, cuda  # noqa: E402,F401
