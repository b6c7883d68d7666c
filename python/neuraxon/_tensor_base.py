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


class _Version:
    """The version counter of a buffer: one object shared by every tensor over the same data
    (views, detach(), the alias a Function returns), bumped by every in-place change. The
    autograd engine records it when a Function saves a tensor and checks it in backward."""

    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0


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
        "_ver",  # the shared _Version, made on first need (None: no alias, never saved or changed)
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
        t._ver = None
        return t

    def _alias(self):
        """Another tensor over the same data (same requires_grad, no graph), sharing this
        tensor's version counter."""
        t = TensorBase._wrap(self._data, self.shape, self.dtype, self.device, self.requires_grad)
        t._ver = self._version_counter()
        return t

    def _version_counter(self) -> _Version:
        v = self._ver
        if v is None:
            v = self._ver = _Version()
        return v

    def _bump_version(self) -> None:
        """Record an in-place change of this tensor's data (seen by every alias)."""
        v = self._ver
        if v is None:
            v = self._ver = _Version()
        v.n += 1

    @property
    def _version(self) -> int:
        """How many in-place changes this tensor's data has had (torch's Tensor._version)."""
        v = self._ver
        return 0 if v is None else v.n

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
