"""TensorBase: the fields of a tensor and the one way to make one, below every op module.

A tensor is a flat backend array (`_data`: a 1-D NumPy array on the CPU, a DeviceArray on
CUDA) with `shape`, `dtype` and `device`, plus the autograd fields (`requires_grad`, `grad`,
`_node`, `_out_idx`). The op modules (`ops/`), the autograd engine and the Tensor mixins
(`_tensor/`) make and recognise tensors through this class alone: `TensorBase._wrap(...)`
builds an instance of the full `neuraxon.Tensor` (registered by tensor.py when it defines
that class from TensorBase and the mixins), and `isinstance(x, TensorBase)` holds for every
tensor. So nothing below tensor.py imports it, and the package has no import cycle.
"""

from __future__ import annotations


class TensorBase:
    """The storage and autograd fields shared by every tensor (see the module doc)."""

    __slots__ = (
        "_data",
        "shape",
        "dtype",
        "device",
        "requires_grad",
        "grad",
        "_node",
        "_out_idx",
        "__weakref__",
        "__dict__",
    )
    __array_priority__ = 1000
    __array_ufunc__ = None  # numpy defers to our reflected operators

    # the full class (neuraxon.Tensor), set once by tensor.py
    _cls: type | None = None

    @staticmethod
    def _wrap(data, shape, dtype, device, requires_grad: bool = False):
        """A new neuraxon.Tensor over the flat backend array `data` (no copy, no graph)."""
        t = object.__new__(TensorBase._cls)
        t._data = data
        t.shape = shape
        t.dtype = dtype
        t.device = device
        t.requires_grad = requires_grad
        t.grad = None
        t._node = None
        t._out_idx = 0
        return t

    def _alias(self):
        """Another tensor over the same data (same requires_grad, no graph)."""
        return TensorBase._wrap(self._data, self.shape, self.dtype, self.device, self.requires_grad)

    def numel(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def is_leaf(self) -> bool:
        return self._node is None
