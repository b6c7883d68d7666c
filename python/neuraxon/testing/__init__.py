"""neuraxon.testing: NumPy references of every kernel, gradient checks and tolerances."""

from . import gradcheck, reference, tolerances  # noqa: F401
