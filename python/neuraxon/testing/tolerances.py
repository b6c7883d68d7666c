"""The one table of tolerances: kernel outputs (float32) vs the NumPy reference.

Products with a long inner dimension accumulate rounding in a different order than the
reference, so their tolerance grows with the summed length (`for_sum`).
"""

from __future__ import annotations

import numpy as np

TOL = {
    # kind: (rtol, atol)
    "exact": (0.0, 0.0),  # copies, indexing, max pooling, masks
    "elementwise": (1e-5, 1e-6),  # one float op per element
    "transcendental": (2e-5, 2e-6),  # exp/log/tanh/erf
    "reduction": (1e-4, 1e-5),  # sums, softmax, batchnorm statistics
    "optim": (1e-5, 1e-6),
}

# float64 central differences vs analytic gradients (gradcheck)
GRADCHECK = {"eps": 1e-6, "rtol": 1e-5, "atol": 1e-7}
# float32 Tensor.backward vs float64 finite differences
GRADCHECK_F32 = {"eps": 1e-3, "rtol": 2e-2, "atol": 2e-3}


def for_sum(length: int) -> tuple[float, float]:
    """(rtol, atol) for a float32 dot product of `length` terms of size ~1."""
    length = max(int(length), 1)
    return 2e-6 * np.sqrt(length) + 1e-5, 2e-6 * np.sqrt(length) + 1e-5


def assert_close(actual, expected, kind: str | tuple[float, float] = "elementwise", what: str = "") -> None:
    rtol, atol = TOL[kind] if isinstance(kind, str) else kind
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=rtol, atol=atol, err_msg=what)
