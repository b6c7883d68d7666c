"""Tensor: a flat backend array + shape + dtype + device + autograd fields; creation functions.

Tensors are ALWAYS contiguous (row-major). `reshape`, `view`, `flatten`, `squeeze`,
`unsqueeze` (and `detach`, `.data`) share the underlying array; `permute`, `transpose`,
slicing, `expand` and every other "view" of PyTorch return a contiguous COPY. Writing
into such a result does not change the source tensor: this is a deliberate difference from
PyTorch (it keeps every kernel contiguous and simple).
"""

from __future__ import annotations

import numpy as np

from . import _array, autograd
from ._tensor.elementwise import ElementwiseMethods
from ._tensor.inplace import InPlaceMethods
from ._tensor.reduction import ReductionMethods
from ._tensor.shape import ShapeMethods
from ._tensor_base import TensorBase
from .creation import _size, empty, full, ones, tensor, zeros
from .device import device as _device
from .dtypes import bool_, float32, get_dtype, int64, is_dtype_like
from .ops import elementwise, movement


class Tensor(TensorBase, ElementwiseMethods, ReductionMethods, ShapeMethods, InPlaceMethods):
    """An n-dimensional array on a device, with autograd.

    Fields (TensorBase): `_data` (flat backend array of numel() elements: a 1-D NumPy array
    on the CPU, a neuraxon._cuda.DeviceArray on CUDA), `shape` (tuple of ints), `dtype`
    (neuraxon.float32, int64 or bool), `device` (neuraxon.device), `requires_grad`, `grad`,
    `_node` (the autograd node that made it, None for leaves).

    `Tensor(t)` with a Tensor aliases t's data (detached): subclasses such as nn.Parameter
    can wrap an existing tensor that way. `Tensor(array_like)` copies data as float32.

    Views other than reshape/view/flatten/squeeze/unsqueeze do not alias (see module doc).
    In-place ops are allowed on tensors that do not require grad, or under no_grad(); each
    bumps the version counter the tensor shares with its aliases, and backward raises if a
    tensor a Function saved has changed since (as torch).
    """

    __slots__ = ()

    def __init__(self, data=None, *, dtype=None, device=None, requires_grad: bool = False):
        if isinstance(data, Tensor):
            src = data
            if dtype is not None and get_dtype(dtype) is not src.dtype:
                src = src.to(get_dtype(dtype))
            if device is not None and _device(device) != src.device:
                src = src.to(_device(device))
            self._data, self.shape, self.dtype, self.device = src._data, src.shape, src.dtype, src.device
            self._ver = src._version_counter()  # same data, same version counter
        else:
            t = tensor([] if data is None else data, dtype=dtype if dtype is not None else float32, device=device)
            self._data, self.shape, self.dtype, self.device = t._data, t.shape, t.dtype, t.device
            self._ver = None
        self.requires_grad = bool(requires_grad)
        self.grad = None
        self._node = None
        self._out_idx = 0

    # -- metadata -----------------------------------------------------------------------
    def size(self, dim: int | None = None):
        if dim is None:
            return self.shape
        return self.shape[_array.norm_dim(dim, self.ndim)]

    def dim(self) -> int:
        return len(self.shape)

    nelement = TensorBase.numel

    def element_size(self) -> int:
        return self.dtype.itemsize

    @property
    def grad_fn(self):
        return self._node

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    def is_floating_point(self) -> bool:
        return self.dtype.is_floating_point

    @property
    def data(self) -> "Tensor":
        """The same data, detached from autograd (writing into it changes this tensor). As
        torch's .data, it has a version counter of its own: autograd does not see in-place
        changes made through it (detach() shares the counter, so it does)."""
        return Tensor._wrap(self._data, self.shape, self.dtype, self.device)

    @data.setter
    def data(self, other: "Tensor") -> None:
        self._data, self.shape, self.dtype, self.device = other._data, other.shape, other.dtype, other.device

    # -- host conversion ----------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The data as a NumPy array (on the CPU it shares memory with the tensor)."""
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead.")
        return self.device.to_numpy(self._data, self.shape, self.dtype)

    def __array__(self, dtype=None, copy=None):
        """np.asarray(t): a CPU tensor's data without a copy (a view: writes are shared), a
        CUDA tensor's data copied to the host. copy=False raises ValueError where a copy is
        needed (CUDA, another dtype), as NumPy 2 asks. Unlike torch this also reads tensors
        that require grad (the data, detached)."""
        if copy is False and (self.device.type != "cpu" or (dtype is not None and np.dtype(dtype) != self.dtype.numpy)):
            raise ValueError(f"a {self.device.type} {self.dtype.name} tensor cannot become this array without a copy")
        a = self.device.to_numpy(self._data, self.shape, self.dtype)
        if dtype is not None:
            a = a.astype(dtype, copy=False)
        return np.array(a, copy=True) if copy else a

    # -- DLPack (the array-interchange protocol of torch.from_dlpack, np.from_dlpack, JAX, ...)
    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        """A DLPack capsule over this tensor's memory, without a copy: a consumer such as
        torch.from_dlpack or np.from_dlpack (CPU), torch.from_dlpack or cupy.from_dlpack
        (CUDA) shares it, and writes are seen on both sides.

        The keywords are the array API's. ``max_version`` (1, 0) or later gives a versioned
        capsule (DLPack 1.x), else the legacy one. ``copy=True`` exports a copy; ``dl_device``
        other than ``__dlpack_device__()`` raises BufferError (move the tensor first, e.g.
        ``t.cpu()``). On the CPU NumPy builds the capsule (``stream`` must be None there).
        On CUDA ``stream`` names the consumer's stream (None or 1: the legacy default stream,
        2: the per-thread default stream, else a cudaStream_t as an int; -1: no ordering):
        it is made to wait, on the device, for every kernel neuraxon has enqueued so far, so
        the consumer sees finished data; later writes on either side are not ordered (see
        neuraxon.from_dlpack). A tensor that requires grad raises RuntimeError (export
        ``t.detach()``)."""
        if self.requires_grad:
            raise RuntimeError("Can't export tensors that require gradient, use tensor.detach()")
        here = self.__dlpack_device__()
        if dl_device is not None and tuple(int(v) for v in dl_device) != here:
            raise BufferError(
                f"__dlpack__(dl_device={tuple(dl_device)}): this {self.device} tensor is on DLPack device {here}; "
                "neuraxon exports a tensor only where it is (move it first, e.g. t.cpu(): a copy)"
            )
        return self.device.to_dlpack(self._data, self.shape, stream=stream, max_version=max_version, copy=copy)

    def __dlpack_device__(self) -> tuple:
        """(device type, index) as DLPack numbers them: (1, 0) for the CPU (kDLCPU), (2, 0)
        for CUDA (kDLCUDA)."""
        return (1, 0) if self.device.type == "cpu" else (2, self.device.index or 0)

    def item(self):
        if self.numel() != 1:
            raise RuntimeError(
                f"a Tensor with {self.numel()} elements cannot be converted to Scalar (shape {self.shape})"
            )
        return self.device.to_numpy(self._data, (1,), self.dtype)[0].item()

    def tolist(self):
        return self.device.to_numpy(self._data, self.shape, self.dtype).tolist()

    def __repr__(self) -> str:
        a = self.device.to_numpy(self._data, self.shape, self.dtype)
        body = np.array2string(
            a, separator=", ", prefix="tensor(", precision=4, formatter={"bool": lambda v: "True" if v else "False"}
        )
        extras = []
        if self.device.type != "cpu":
            extras.append(f"device='{self.device}'")
        # as PyTorch: the dtype is shown when it is not implied by the printed values
        if self.numel() == 0 and self.dtype is not float32:
            extras.append(f"dtype={self.dtype!r}")
        if self._node is not None:
            extras.append(f"grad_fn={self._node!r}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        if spec and self.numel() == 1:
            return format(self.item(), spec)
        return format(repr(self), spec)

    # -- new tensors like this one (same device, same dtype unless given) ----------------
    def new_tensor(self, data, dtype=None, device=None, requires_grad: bool = False) -> "Tensor":
        return tensor(data, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)

    def new_zeros(self, *size, dtype=None, device=None, requires_grad: bool = False) -> "Tensor":
        return zeros(_size(size), dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad: bool = False) -> "Tensor":
        return ones(_size(size), dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)

    def new_full(self, size, fill_value, dtype=None, device=None, requires_grad: bool = False) -> "Tensor":
        return full(
            size, fill_value, dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad
        )

    def new_empty(self, *size, dtype=None, device=None, requires_grad: bool = False) -> "Tensor":
        return empty(_size(size), dtype=dtype or self.dtype, device=device or self.device, requires_grad=requires_grad)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d tensor")
        for i in range(self.shape[0]):
            yield self[i]

    def __bool__(self) -> bool:
        if self.numel() != 1:
            raise RuntimeError(f"Boolean value of Tensor with more than one value is ambiguous (shape {self.shape})")
        return bool(self.item())

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.dtype is float32 or self.numel() != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    __hash__ = object.__hash__

    def __reduce_ex__(self, proto):
        a = np.array(self.device.to_numpy(self._data, self.shape, self.dtype), copy=True)
        return (_rebuild, (a, str(self.device), self.requires_grad))

    def __deepcopy__(self, memo):
        t = _array.clone_raw(self)
        t.requires_grad = self.requires_grad
        if self.grad is not None:
            t.grad = self.grad.clone()
        if type(self) is not Tensor:
            new = object.__new__(type(self))
            for k in TensorBase.__slots__:
                if k not in ("__weakref__", "__dict__"):
                    setattr(new, k, getattr(t, k))
            new.__dict__.update({k: v for k, v in getattr(self, "__dict__", {}).items()})
            t = new
        memo[id(self)] = t
        return t

    # -- autograd -----------------------------------------------------------------------
    def backward(
        self, gradient=None, retain_graph: bool | None = None, create_graph: bool = False, inputs=None
    ) -> None:
        """Accumulate d self / d leaf into every leaf's .grad (gradient required unless
        self has one element), or only into `inputs`' .grad when given. The graph is freed
        unless retain_graph=True."""
        if create_graph:
            raise NotImplementedError("backward(create_graph=True) is not supported")
        autograd.backward(self, gradient, retain_graph, inputs=inputs)

    def detach(self) -> "Tensor":
        t = Tensor._wrap(self._data, self.shape, self.dtype, self.device)
        t._ver = self._version_counter()  # shared: autograd sees changes made through it
        return t

    def detach_(self) -> "Tensor":
        self._node = None
        self.requires_grad = False
        return self

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if requires_grad and not self.dtype.is_floating_point:
            raise RuntimeError(f"only Tensors of floating point dtype can require gradients (got {self.dtype.name})")
        if not requires_grad and self._node is not None:
            raise RuntimeError("you can only change requires_grad flags of leaf variables.")
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self) -> None:
        autograd._retain(self)

    def register_hook(self, hook):
        """hook(grad) runs when this tensor's gradient is computed; a non-None return replaces
        the gradient. Returns a handle whose remove() unregisters it (as torch)."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self._node is None:
            hooks = self.__dict__.setdefault("_nx_hooks", {})
        else:
            hooks = self._node.__dict__.setdefault("_nx_hooks", {}).setdefault(self._out_idx, {})
        return _HookHandle(hooks, hook)

    def register_post_accumulate_grad_hook(self, hook):
        """hook(tensor) runs once per backward() on this leaf, after its gradient of that
        pass has been accumulated into .grad (as torch); its return value is ignored. Returns
        a handle whose remove() unregisters it. autograd.grad() does not run it."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self._node is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf tensors")
        return _PostHookHandle(self.__dict__.setdefault("_nx_post_hooks", {}), hook)

    # -- conversion ---------------------------------------------------------------------
    def to(self, *args, **kwargs) -> "Tensor":
        """to(device), to(dtype), to(device, dtype), to(other_tensor); non_blocking/copy accepted.

        The dtype may be a neuraxon, NumPy or torch dtype or a name; one neuraxon does not
        store (float64, float16, int32, uint8, ...) raises TypeError (never a silent change)."""
        dev, dt = kwargs.pop("device", None), kwargs.pop("dtype", None)
        copy = kwargs.pop("copy", False)
        kwargs.pop("non_blocking", None)
        if kwargs:
            raise TypeError(f"to() got unexpected arguments {list(kwargs)}")
        for a in args:
            if isinstance(a, Tensor):
                dev, dt = a.device, a.dtype
            elif is_dtype_like(a):
                dt = a
            elif a is not None:
                dev = a
        out = self
        if dt is not None:
            dt = get_dtype(dt)
            if dt is not out.dtype:
                out = elementwise.Cast.apply(out, dt) if out.dtype is float32 else _array.cast(out, dt)
        if dev is not None:
            dev = _device(dev)
            if dev != out.device:
                out = movement.ToDevice.apply(out, dev)
        if copy and out is self:
            out = self.clone()
        return out

    def cpu(self) -> "Tensor":
        return self.to("cpu")

    def cuda(self, device=None) -> "Tensor":
        return self.to("cuda")

    def float(self) -> "Tensor":
        return self.to(float32)

    def long(self) -> "Tensor":
        return self.to(int64)

    def int(self) -> "Tensor":
        """int64: neuraxon's one integer type (neuraxon.int is int64; torch's .int() is int32)."""
        return self.to(int64)

    def double(self) -> "Tensor":
        """Raises TypeError: neuraxon has no float64 (use .float())."""
        return self.to("float64")

    def half(self) -> "Tensor":
        """Raises TypeError: neuraxon has no float16 (use .float())."""
        return self.to("float16")

    def bfloat16(self) -> "Tensor":
        """Raises TypeError: neuraxon has no bfloat16 (use .float())."""
        return self.to("bfloat16")

    def short(self) -> "Tensor":
        """Raises TypeError: neuraxon has no int16 (use .long())."""
        return self.to("int16")

    def char(self) -> "Tensor":
        """Raises TypeError: neuraxon has no int8 (use .long())."""
        return self.to("int8")

    def byte(self) -> "Tensor":
        """Raises TypeError: neuraxon has no uint8 (use .long())."""
        return self.to("uint8")

    def bool(self) -> "Tensor":
        return self.to(bool_)

    def type_as(self, other: "Tensor") -> "Tensor":
        return self.to(other.dtype)

    def type(self, dtype=None):
        """The type name ("neuraxon.FloatTensor", ...) without an argument; else a cast to
        ``dtype`` (a dtype, or a tensor type name such as "torch.FloatTensor"). A type
        neuraxon does not store ("torch.DoubleTensor", float64, ...) raises TypeError."""
        if dtype is None:
            return _TYPE_NAMES[self.dtype.name]
        if isinstance(dtype, str) and dtype.endswith("Tensor"):
            name = dtype.rpartition(".")[2]
            by_name = {v.rpartition(".")[2]: k for k, v in _TYPE_NAMES.items()}
            if name not in by_name:
                raise TypeError(f"unsupported tensor type {dtype}: neuraxon stores float32, int64 and bool only")
            dtype = by_name[name]
        return self.to(get_dtype(dtype))

    def clone(self) -> "Tensor":
        if self.dtype is float32:
            return movement.Clone.apply(self)
        return _array.clone_raw(self)

    def contiguous(self) -> "Tensor":
        return self

    def is_contiguous(self) -> bool:
        return True


_TYPE_NAMES = {"float32": "neuraxon.FloatTensor", "int64": "neuraxon.LongTensor", "bool": "neuraxon.BoolTensor"}


class _HookHandle:
    _next = 0

    def __init__(self, hooks: dict, hook) -> None:
        _HookHandle._next += 1
        self.id, self._hooks = _HookHandle._next, hooks
        hooks[self.id] = hook

    def remove(self) -> None:
        self._hooks.pop(self.id, None)


class _PostHookHandle(_HookHandle):
    """A post-accumulate-grad hook's handle: keeps the engine's count of live ones (while it
    is 0, backward does not count the edges into leaves)."""

    def __init__(self, hooks: dict, hook) -> None:
        super().__init__(hooks, hook)
        autograd._post_hooks_live[0] += 1

    def remove(self) -> None:
        if self._hooks.pop(self.id, None) is not None:
            autograd._post_hooks_live[0] -= 1


def _rebuild(a, dev, requires_grad):
    return tensor(a, device=dev, requires_grad=requires_grad)


# ------------------------------------------------------------------------------------
# small Functions that belong with Tensor
# ------------------------------------------------------------------------------------


# ------------------------------------------------------------------------------------
# creation
# ------------------------------------------------------------------------------------


# -- functions mirroring methods ------------------------------------------------------


TensorBase._cls = Tensor  # what TensorBase._wrap builds from now on
