"""Tensor: a flat backend array + shape + dtype + device + autograd fields; creation functions.

Tensors are ALWAYS contiguous (row-major). `reshape`, `view`, `flatten`, `squeeze`,
`unsqueeze` (and `detach`, `.data`) share the underlying array; `permute`, `transpose`,
slicing, `expand` and every other "view" of PyTorch return a contiguous COPY. Writing
into such a result does not change the source tensor: this is a deliberate difference from
PyTorch (it keeps every kernel contiguous and simple).
"""

from __future__ import annotations

import collections as _collections
import math
import numbers

import numpy as np

from . import _array, autograd
from . import _codes as C
from . import functional as F
from . import random as _random
from ._tensor_base import TensorBase
from .device import device as _device
from .dtypes import bool_, float32, get_dtype, int64, promote
from .dtypes import dtype as DType
from .ops import elementwise, host, indexing, linalg, movement, reduction


class Tensor(TensorBase):
    """An n-dimensional array on a device, with autograd.

    Fields (TensorBase): `_data` (flat backend array of numel() elements: a 1-D NumPy array
    on the CPU, a neuraxon._cuda.DeviceArray on CUDA), `shape` (tuple of ints), `dtype`
    (neuraxon.float32, int64 or bool), `device` (neuraxon.device), `requires_grad`, `grad`,
    `_node` (the autograd node that made it, None for leaves).

    `Tensor(t)` with a Tensor aliases t's data (detached): subclasses such as nn.Parameter
    can wrap an existing tensor that way. `Tensor(array_like)` copies data as float32.

    Views other than reshape/view/flatten/squeeze/unsqueeze do not alias (see module doc).
    In-place ops are allowed on tensors that do not require grad, or under no_grad();
    autograd does not track in-place changes to tensors it saved.
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
        else:
            t = tensor([] if data is None else data, dtype=dtype if dtype is not None else float32, device=device)
            self._data, self.shape, self.dtype, self.device = t._data, t.shape, t.dtype, t.device
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
        """The same data, detached from autograd (writing into it changes this tensor)."""
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
        a = self.device.to_numpy(self._data, self.shape, self.dtype)
        if dtype is not None:
            a = a.astype(dtype)
        return np.array(a, copy=True) if copy else a

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
        return Tensor._wrap(self._data, self.shape, self.dtype, self.device)

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

    # -- conversion ---------------------------------------------------------------------
    def to(self, *args, **kwargs) -> "Tensor":
        """to(device), to(dtype), to(device, dtype), to(other_tensor); non_blocking/copy accepted."""
        dev, dt = kwargs.pop("device", None), kwargs.pop("dtype", None)
        copy = kwargs.pop("copy", False)
        kwargs.pop("non_blocking", None)
        if kwargs:
            raise TypeError(f"to() got unexpected arguments {list(kwargs)}")
        for a in args:
            if isinstance(a, Tensor):
                dev, dt = a.device, a.dtype
            elif (
                isinstance(a, (DType, type))
                or (isinstance(a, str) and a.split(":")[0] not in ("cpu", "cuda"))
                or isinstance(a, np.dtype)
            ):
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
        return self.to(int64)

    def bool(self) -> "Tensor":
        return self.to(bool_)

    def type_as(self, other: "Tensor") -> "Tensor":
        return self.to(other.dtype)

    def type(self, dtype=None):
        if dtype is None:
            return {"float32": "neuraxon.FloatTensor", "int64": "neuraxon.LongTensor", "bool": "neuraxon.BoolTensor"}[
                self.dtype.name
            ]
        return self.to(get_dtype(dtype))

    def clone(self) -> "Tensor":
        if self.dtype is float32:
            return movement.Clone.apply(self)
        return _array.clone_raw(self)

    def contiguous(self) -> "Tensor":
        return self

    def is_contiguous(self) -> bool:
        return True

    # -- arithmetic ---------------------------------------------------------------------
    def __add__(self, o):
        return elementwise.binary(self, o, C.BIN_ADD)

    def __radd__(self, o):
        return elementwise.binary(self, o, C.BIN_ADD, True)

    def __sub__(self, o):
        return elementwise.binary(self, o, C.BIN_SUB)

    def __rsub__(self, o):
        return elementwise.binary(self, o, C.BIN_SUB, True)

    def __mul__(self, o):
        return elementwise.binary(self, o, C.BIN_MUL)

    def __rmul__(self, o):
        return elementwise.binary(self, o, C.BIN_MUL, True)

    def __truediv__(self, o):
        return elementwise.binary(self, o, C.BIN_DIV)

    def __rtruediv__(self, o):
        return elementwise.binary(self, o, C.BIN_DIV, True)

    def __pow__(self, o):
        return elementwise.binary(self, o, C.BIN_POW)

    def __rpow__(self, o):
        return elementwise.binary(self, o, C.BIN_POW, True)

    def __matmul__(self, o):
        return linalg.matmul(self, o)

    def __rmatmul__(self, o):
        return linalg.matmul(o, self)

    def __neg__(self):
        if self.dtype is bool_:
            raise RuntimeError(
                "Negation, the `-` operator, on a bool tensor is not supported. "
                "If you are trying to invert a mask, use the `~` or `logical_not()` operator instead."
            )
        return elementwise.unary(self, C.UN_NEG)

    def __pos__(self):
        return self

    def __abs__(self):
        return self.abs()

    def __eq__(self, o):  # noqa: D105
        return elementwise.binary(self, o, C.BIN_EQ)

    def __ne__(self, o):
        return elementwise.binary(self, o, C.BIN_NE)

    def __lt__(self, o):
        return elementwise.binary(self, o, C.BIN_LT)

    def __le__(self, o):
        return elementwise.binary(self, o, C.BIN_LE)

    def __gt__(self, o):
        return elementwise.binary(self, o, C.BIN_GT)

    def __ge__(self, o):
        return elementwise.binary(self, o, C.BIN_GE)

    def __invert__(self):
        if self.dtype is int64:
            return -self - 1  # bitwise not of two's complement integers (as torch)
        if self.dtype is not bool_:
            raise TypeError(f"~ is only supported on bool and integer tensors, got {self.dtype.name}")
        return self == False  # noqa: E712

    def __and__(self, o):
        return host.logical(self, o, C.BIN_MIN)

    def __or__(self, o):
        return host.logical(self, o, C.BIN_MAX)

    def __xor__(self, o):
        return host.logical(self, o, C.BIN_NE)

    __rand__, __ror__, __rxor__ = __and__, __or__, __xor__

    def logical_and(self, other):
        return host.logical(self.bool(), other.bool() if isinstance(other, Tensor) else bool(other), C.BIN_MIN)

    def logical_or(self, other):
        return host.logical(self.bool(), other.bool() if isinstance(other, Tensor) else bool(other), C.BIN_MAX)

    def logical_xor(self, other):
        return host.logical(self.bool(), other.bool() if isinstance(other, Tensor) else bool(other), C.BIN_NE)

    bitwise_and, bitwise_or, bitwise_xor = __and__, __or__, __xor__
    bitwise_not = __invert__

    def add(self, other, alpha=1):
        return self + (other * alpha if alpha != 1 else other)

    def sub(self, other, alpha=1):
        return self - (other * alpha if alpha != 1 else other)

    def mul(self, other):
        return self * other

    def div(self, other, *, rounding_mode=None):
        if rounding_mode is None:
            return self / other
        if rounding_mode == "floor":
            return host.floor_divide(self, other)
        if rounding_mode == "trunc":
            return host.trunc_divide(self, other)
        raise ValueError(
            f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found {rounding_mode!r}"
        )

    divide = div
    true_divide = div

    def pow(self, e):
        return self**e

    def matmul(self, other):
        return linalg.matmul(self, other)

    def mm(self, other):
        if self.ndim != 2 or getattr(other, "ndim", 2) != 2:
            raise RuntimeError(
                f"mm(): expected two matrices, got shapes {self.shape} and {getattr(other, 'shape', None)}"
            )
        return linalg.matmul(self, other)

    def bmm(self, other):
        if self.ndim != 3 or getattr(other, "ndim", 3) != 3 or self.shape[0] != other.shape[0]:
            raise RuntimeError(
                f"bmm(): expected two 3-D tensors with the same batch size, got shapes {self.shape} and "
                f"{getattr(other, 'shape', None)}"
            )
        return linalg.matmul(self, other)

    def dot(self, other):
        if self.ndim != 1 or getattr(other, "ndim", 1) != 1:
            raise RuntimeError(f"1D tensors expected, but got shapes {self.shape} and {getattr(other, 'shape', None)}")
        return linalg.matmul(self, other)

    def neg(self):
        return -self

    def eq(self, o):
        return self == o

    def ne(self, o):
        return self != o

    def lt(self, o):
        return self < o

    def le(self, o):
        return self <= o

    def gt(self, o):
        return self > o

    def ge(self, o):
        return self >= o

    def logical_not(self):
        return self.bool() == False  # noqa: E712

    def maximum(self, other):
        return elementwise.binary(self, other, C.BIN_MAX)

    def minimum(self, other):
        return elementwise.binary(self, other, C.BIN_MIN)

    def equal(self, other) -> bool:
        return self.shape == other.shape and bool((self == other).all())

    def allclose(self, other, rtol=1e-5, atol=1e-8) -> bool:
        return bool(np.allclose(np.asarray(self), np.asarray(other), rtol=rtol, atol=atol))

    # -- unary math -----------------------------------------------------------------------
    def exp(self):
        return elementwise.unary(self, C.UN_EXP)

    def log(self):
        return elementwise.unary(self, C.UN_LOG)

    def sqrt(self):
        return elementwise.unary(self, C.UN_SQRT)

    def rsqrt(self):
        return elementwise.unary(self, C.UN_RSQRT)

    def abs(self):
        return elementwise.unary(self, C.UN_ABS)

    def sin(self):
        return elementwise.unary(self, C.UN_SIN)

    def cos(self):
        return elementwise.unary(self, C.UN_COS)

    def reciprocal(self):
        return elementwise.unary(self, C.UN_RECIPROCAL)

    def square(self):
        return elementwise.unary(self, C.UN_SQUARE)

    def sign(self):
        return elementwise.unary(self, C.UN_SIGN)  # sign(NaN) == 0, as torch 2.x on the CPU

    sgn = sign

    def log1p(self):
        return elementwise.unary(self, C.UN_LOG1P)

    def expm1(self):
        return elementwise.unary(self, C.UN_EXPM1)

    def clamp(self, min=None, max=None):
        if isinstance(min, Tensor) or isinstance(max, Tensor):
            out = self
            if min is not None:
                out = out.maximum(min)
            if max is not None:
                out = out.minimum(max)
            return out
        if min is None and max is None:
            raise RuntimeError("clamp(): at least one of 'min' or 'max' must not be None")
        if self.dtype is not float32 and any(
            b is not None and not isinstance(b, (numbers.Integral, np.integer)) for b in (min, max)
        ):
            return self.float().clamp(min, max)  # int tensor, float bound: float result (as torch)
        lo = -math.inf if min is None else float(min)
        hi = math.inf if max is None else float(max)
        return elementwise.unary(self, C.UN_CLAMP, lo, hi)

    clip = clamp

    def clamp_min(self, m):
        return self.clamp(min=m)

    def clamp_max(self, m):
        return self.clamp(max=m)

    def _piecewise(self, fn):
        if self.dtype is not float32:
            return _array.clone_raw(self)  # integers are their own floor/ceil/round/trunc
        return host.HostMap.apply(self, fn)

    def floor(self):
        return self._piecewise(np.floor)

    def ceil(self):
        return self._piecewise(np.ceil)

    def trunc(self):
        return self._piecewise(np.trunc)

    fix = trunc

    def round(self, decimals: int = 0):
        if decimals:
            return self._piecewise(lambda a: np.round(a, int(decimals)))
        return self._piecewise(np.round)  # half to even, as torch

    def frac(self):
        return self - self.trunc()

    def floor_divide(self, other):
        return host.floor_divide(self, other)

    def remainder(self, other):
        return host.remainder(self, other)

    def fmod(self, other):
        return host.remainder(self, other, fmod=True)

    def __floordiv__(self, o):
        return host.floor_divide(self, o)

    def __rfloordiv__(self, o):
        return host.floor_divide(self, o, reverse=True)

    def __mod__(self, o):
        return host.remainder(self, o)

    def __rmod__(self, o):
        return host.remainder(self, o, reverse=True)

    def sigmoid(self):
        return F.sigmoid(self)

    def tanh(self):
        return F.tanh(self)

    def relu(self):
        return F.relu(self)

    def softmax(self, dim):
        return F.softmax(self, dim)

    def log_softmax(self, dim):
        return F.log_softmax(self, dim)

    def isnan(self):
        return self != self

    def isinf(self):
        if self.dtype is not float32:
            return _array.full(self.shape, False, bool_, self.device)
        return self.abs() == math.inf

    def isfinite(self):
        if self.dtype is not float32:
            return _array.full(self.shape, True, bool_, self.device)
        return self.abs() < math.inf  # False for NaN and +-inf

    def nan_to_num(self, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None):
        big = float(np.finfo(np.float32).max)
        out = elementwise.where(self.isnan(), nan, self)
        out = elementwise.where(out == math.inf, big if posinf is None else posinf, out)
        return elementwise.where(out == -math.inf, -big if neginf is None else neginf, out)

    def masked_fill(self, mask, value):
        if isinstance(value, Tensor):
            if value.ndim:
                raise RuntimeError(
                    f"masked_fill only supports a 0-dimensional value tensor, but got one of shape {value.shape}"
                )
            value = value.to(self.dtype)
        elif self.dtype is int64:
            value = int(value)  # the result keeps this tensor's dtype (as torch)
        elif self.dtype is bool_:
            value = bool(value)
        return elementwise.where(mask, value, self)

    def unique(self, sorted: bool = True, return_inverse: bool = False, return_counts: bool = False, dim=None):
        """Distinct values (sorted), computed on the host; optional inverse indices and counts."""
        h = host.to_host(self.detach())
        if dim is None:
            vals, inv, cnt = np.unique(h.reshape(-1), return_inverse=True, return_counts=True)
            inv = inv.reshape(h.shape)
        else:
            d = _array.norm_dim(dim, self.ndim)
            vals, inv, cnt = np.unique(h, return_inverse=True, return_counts=True, axis=d)
            inv = inv.reshape(-1)
        out = [host.from_host(vals, self.dtype, self.device)]
        if return_inverse:
            out.append(host.from_host(inv.astype(np.int64), int64, self.device))
        if return_counts:
            out.append(host.from_host(cnt.astype(np.int64), int64, self.device))
        return out[0] if len(out) == 1 else tuple(out)

    def where(self, cond, other):
        return elementwise.where(cond, self, other)

    # -- reductions -----------------------------------------------------------------------
    def sum(self, dim=None, keepdim: bool = False, dtype=None):
        return reduction.reduce(self, dim, keepdim, C.RED_SUM, dtype)

    def mean(self, dim=None, keepdim: bool = False, dtype=None):
        return reduction.reduce(self, dim, keepdim, C.RED_MEAN, dtype)

    def prod(self, dim=None, keepdim: bool = False):
        if self.dtype is float32 and self.requires_grad:
            return reduction.Prod.apply(self, _array.norm_dims(dim, self.ndim), keepdim)
        return reduction.reduce(self, dim, keepdim, C.RED_PROD)

    def var(self, dim=None, unbiased: bool | None = None, keepdim: bool = False, *, correction=None):
        if correction is None:
            correction = 1 if unbiased is None or unbiased else 0
        dims = _array.norm_dims(reduction.red_dim(dim), self.ndim)
        n = 1
        for d in dims:
            n *= self.shape[d]
        x = self if self.dtype is float32 else self.float()
        mu = x.mean(dims if dims else None, keepdim=True) if dims else x
        sq = ((x - mu) ** 2).sum(dims, keepdim=keepdim)
        denom = max(n - correction, 0)
        return sq / denom if denom > 0 else sq * float("nan")

    def std(self, dim=None, unbiased: bool | None = None, keepdim: bool = False, *, correction=None):
        return self.var(dim, unbiased, keepdim, correction=correction).sqrt()

    def max(self, dim=None, keepdim: bool = False):
        if isinstance(dim, Tensor):
            return self.maximum(dim)
        return reduction.maxmin(self, dim, keepdim, True)

    def min(self, dim=None, keepdim: bool = False):
        if isinstance(dim, Tensor):
            return self.minimum(dim)
        return reduction.maxmin(self, dim, keepdim, False)

    def amax(self, dim=None, keepdim: bool = False):
        return self._amaxmin(dim, keepdim, True)

    def amin(self, dim=None, keepdim: bool = False):
        return self._amaxmin(dim, keepdim, False)

    def _amaxmin(self, dim, keepdim, is_max):
        if dim is None and not keepdim:
            return self.max() if is_max else self.min()
        if isinstance(dim, (list, tuple)) and len(dim) == 0:
            dim = None
        dims = _array.norm_dims(dim, self.ndim)
        if self.dtype is float32 and self.requires_grad and autograd.is_grad_enabled() and self.ndim:
            return reduction.AMaxMin.apply(self, dims, bool(keepdim), is_max)
        out = self
        for d in sorted(dims, reverse=True):
            r = out.max(d, keepdim) if is_max else out.min(d, keepdim)
            out = r.values
        return out

    def argmax(self, dim=None, keepdim: bool = False):
        return reduction.argmaxmin(self, dim, keepdim, True)

    def argmin(self, dim=None, keepdim: bool = False):
        return reduction.argmaxmin(self, dim, keepdim, False)

    def norm(self, p=2, dim=None, keepdim: bool = False):
        dim = reduction.red_dim(dim)
        if not self.dtype.is_floating_point:
            raise RuntimeError(f"norm(): expected a floating point tensor, got {self.dtype.name}")
        if p in ("fro", 2, 2.0):
            if self.dtype is float32 and self.requires_grad and autograd.is_grad_enabled():
                return reduction.Norm2.apply(self, _array.norm_dims(dim, self.ndim), bool(keepdim))
            return (self * self).sum(dim, keepdim).sqrt()
        if p in (1, 1.0):
            return self.abs().sum(dim, keepdim)
        if p in (math.inf, float("inf")):
            return self.abs().amax(dim, keepdim)
        if p in (-math.inf, float("-inf")):
            return self.abs().amin(dim, keepdim)
        if p == 0:  # the number of non-zero elements (no gradient), as torch
            return (self != 0).float().sum(dim, keepdim)
        p = float(p)
        return (self.abs() ** p).sum(dim, keepdim) ** (1.0 / p)

    def logsumexp(self, dim, keepdim: bool = False):
        if self.dtype is not float32:
            return self.float().logsumexp(dim, keepdim)
        dim = reduction.red_dim(dim)
        dims = _array.norm_dims(dim, self.ndim)
        if self.numel() == 0:  # log(sum of nothing) = -inf, as torch
            shape = (
                tuple(1 if i in dims else s for i, s in enumerate(self.shape))
                if keepdim
                else tuple(s for i, s in enumerate(self.shape) if i not in dims)
            )
            return full(shape, -math.inf, device=self.device)
        if dim is None:
            dim = dims
        m = self.detach().amax(dim, keepdim=True)
        m = elementwise.where(m.abs() == math.inf, 0.0, m)
        out = (self - m).exp().sum(dim, keepdim=True).log() + m
        if not keepdim:
            out = (
                out.squeeze(dim)
                if isinstance(dim, int)
                else out.reshape(tuple(s for i, s in enumerate(self.shape) if i not in _array.norm_dims(dim, self.ndim)))
            )
        return out

    def all(self, dim=None, keepdim: bool = False):
        if isinstance(dim, (tuple, list)) and not dim:
            return self.bool().clone()  # torch: all over no dims is elementwise
        # all == no element is zero: count the zeros (works on empty tensors too)
        x = (self == 0) if self.dtype is not bool_ else (self == False)  # noqa: E712
        return x.long().sum(dim, keepdim) == 0

    def any(self, dim=None, keepdim: bool = False):
        if isinstance(dim, (tuple, list)) and not dim:
            return self.bool().clone()
        x = (self != 0) if self.dtype is not bool_ else self
        return x.long().sum(dim, keepdim) > 0

    def count_nonzero(self, dim=None):
        return (self != 0).sum(reduction.red_dim(dim))

    def nansum(self, dim=None, keepdim: bool = False, dtype=None):
        x = self if self.dtype is not float32 else elementwise.where(self.isnan(), 0.0, self)
        return x.sum(dim, keepdim, dtype=dtype)

    def nanmean(self, dim=None, keepdim: bool = False, dtype=None):
        if self.dtype is not float32 and dtype is None:
            raise RuntimeError(f"nanmean(): expected a floating point tensor, got {self.dtype.name}")
        x = self.to(dtype) if dtype is not None else self
        ok = (x == x).float()
        return x.nansum(dim, keepdim) / ok.sum(dim, keepdim)

    def median(self, dim=None, keepdim: bool = False):
        """The lower of the two middle values (as torch); with dim, (values, indices)."""
        if dim is None:
            if self.numel() == 0:
                return full((), math.nan, device=self.device)  # as torch
            v, _ = self.reshape(-1).sort()
            n = v.shape[0]
            nan = v.isnan()
            if bool(nan.any()):
                return v[n - 1]  # NaN sorts last: the median of data with NaN is NaN
            return v[(n - 1) // 2]
        d = _array.norm_dim(dim, self.ndim)
        if self.ndim == 0:
            return _MedianRes(self.clone(), full((), 0, dtype=int64, device=self.device))
        size = self.shape[d]
        if size == 0:
            raise IndexError(f"median(): Expected reduction dim {d} to have non-zero size (shape {self.shape})")
        v, i = self.sort(d)
        k = (size - 1) // 2
        if self.dtype is float32:
            # a row holding NaN has median NaN: after sorting, its last element
            pos = elementwise.where(v.isnan().any(d, keepdim=True), size - 1, k)
            vals, idx = v.gather(d, pos), i.gather(d, pos)
        else:
            vals, idx = v.narrow(d, k, 1), i.narrow(d, k, 1)
        if not keepdim:
            vals, idx = vals.squeeze(d), idx.squeeze(d)
        return _MedianRes(vals, idx)

    # -- shape ----------------------------------------------------------------------------
    def reshape(self, *shape):
        return movement.reshape(self, _shape_args(shape))

    def view(self, *shape):
        if len(shape) == 1 and not isinstance(shape[0], (tuple, list, int)) and shape[0] is not None:
            return self.to(get_dtype(shape[0]))  # view(dtype): a cast here (no reinterpretation)
        return movement.reshape(self, _shape_args(shape))

    def view_as(self, other):
        return self.reshape(other.shape)

    def reshape_as(self, other):
        return self.reshape(other.shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        if self.ndim == 0:
            return self.reshape(1)
        s = _array.norm_dim(start_dim, self.ndim)
        e = _array.norm_dim(end_dim, self.ndim)
        if s > e:
            raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
        n = 1
        for d in self.shape[s : e + 1]:
            n *= d
        return self.reshape(self.shape[:s] + (n,) + self.shape[e + 1 :])

    def unflatten(self, dim: int, sizes):
        d = _array.norm_dim(dim, self.ndim)
        sizes = movement.infer_shape(sizes, self.shape[d])
        return self.reshape(self.shape[:d] + tuple(sizes) + self.shape[d + 1 :])

    def squeeze(self, dim=None):
        if dim is None:
            return self.reshape(tuple(s for s in self.shape if s != 1))
        dims = _array.norm_dims(dim, self.ndim) if self.ndim else ()
        return self.reshape(tuple(s for i, s in enumerate(self.shape) if not (i in dims and s == 1)))

    def unsqueeze(self, dim: int):
        d = _array.norm_dim(dim, self.ndim + 1)
        return self.reshape(self.shape[:d] + (1,) + self.shape[d:])

    def permute(self, *dims):
        return movement.permute(self, _shape_args(dims))

    def transpose(self, dim0: int, dim1: int):
        if self.ndim == 0:
            return self
        p = list(range(self.ndim))
        a, b = _array.norm_dim(dim0, self.ndim), _array.norm_dim(dim1, self.ndim)
        p[a], p[b] = p[b], p[a]
        return movement.permute(self, p)

    swapaxes = transpose
    swapdims = transpose

    def movedim(self, source, destination):
        src = [source] if isinstance(source, int) else list(source)
        dst = [destination] if isinstance(destination, int) else list(destination)
        if len(src) != len(dst):
            raise RuntimeError(f"movedim: source {src} and destination {dst} must have the same number of dims")
        src = [_array.norm_dim(d, self.ndim) for d in src]
        dst = [_array.norm_dim(d, self.ndim) for d in dst]
        if len(set(src)) != len(src) or len(set(dst)) != len(dst):
            raise RuntimeError(f"movedim: repeated dim in source {src} or destination {dst}")
        order = [None] * self.ndim
        for s_, d_ in zip(src, dst):
            order[d_] = s_
        rest = iter(d for d in range(self.ndim) if d not in src)
        order = [o if o is not None else next(rest) for o in order]
        return self.permute(order) if self.ndim else self

    moveaxis = movedim

    def select(self, dim: int, index: int):
        d = _array.norm_dim(dim, self.ndim)
        size = self.shape[d]
        if not -size <= index < size:
            raise IndexError(f"select(): index {index} out of range for tensor of size {self.shape} at dimension {d}")
        return self.narrow(d, index % size, 1).squeeze(d)

    def tile(self, *dims):
        dims = _shape_args(dims)
        dims = (1,) * (self.ndim - len(dims)) + dims
        return self.repeat(dims)

    def roll(self, shifts, dims=None):
        if dims is None:
            return self.flatten().roll(shifts, 0).reshape(self.shape)
        shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
        dims = (dims,) if isinstance(dims, int) else tuple(dims)
        if len(shifts) != len(dims):
            raise RuntimeError(f"roll: shifts {shifts} and dims {dims} must have the same length")
        out = self
        for sh, d in zip(shifts, dims):
            d = _array.norm_dim(d, out.ndim)
            n = out.shape[d]
            if n == 0 or sh % n == 0:
                continue
            k = sh % n
            out = movement.cat([out.narrow(d, n - k, k), out.narrow(d, 0, n - k)], d)
        return out if out is not self else self.clone()

    def _tri(self, diagonal, upper):
        if self.ndim < 2:
            raise RuntimeError(f"{'triu' if upper else 'tril'}: input tensor must have at least 2 dimensions")
        r, c = self.shape[-2:]
        mask = np.triu(np.ones((r, c), bool), diagonal) if upper else np.tril(np.ones((r, c), bool), diagonal)
        zero = False if self.dtype is bool_ else 0
        return elementwise.where(tensor(mask, device=self.device), self, zero)

    def triu(self, diagonal: int = 0):
        return self._tri(diagonal, True)

    def tril(self, diagonal: int = 0):
        return self._tri(diagonal, False)

    def diagonal(self, offset: int = 0, dim1: int = 0, dim2: int = 1):
        a, b = _array.norm_dim(dim1, self.ndim), _array.norm_dim(dim2, self.ndim)
        if a == b:
            raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
        x = self.movedim((a, b), (-2, -1))
        r, c = x.shape[-2:]
        i0, j0 = (0, offset) if offset >= 0 else (-offset, 0)
        n = max(min(r - i0, c - j0), 0)
        flat = x.reshape(x.shape[:-2] + (r * c,))
        pos = tensor(np.arange(n, dtype=np.int64) * (c + 1) + i0 * c + j0, device=self.device)
        return flat.index_select(-1, pos)

    def diag(self, diagonal: int = 0):
        if self.ndim == 2:
            return self.diagonal(diagonal)
        if self.ndim != 1:
            raise RuntimeError(f"diag(): expected a 1-D or 2-D tensor, got shape {self.shape}")
        n = self.shape[0] + abs(diagonal)
        i0, j0 = (0, diagonal) if diagonal >= 0 else (-diagonal, 0)
        pos = tensor(np.arange(self.shape[0], dtype=np.int64) * (n + 1) + i0 * n + j0, device=self.device)
        out = zeros(n * n, dtype=self.dtype, device=self.device)
        return out.index_add(0, pos, self).reshape(n, n)

    def outer(self, other):
        if self.ndim != 1 or other.ndim != 1:
            raise RuntimeError(f"outer: expected 1-D tensors, got shapes {self.shape} and {other.shape}")
        return self.unsqueeze(1) * other.unsqueeze(0)

    ger = outer

    def nonzero(self, as_tuple: bool = False):
        return nonzero(self, as_tuple)

    def argwhere(self):
        return nonzero(self)

    def masked_select(self, mask):
        shape = _array.broadcast_shapes(self.shape, mask.shape)
        return self.expand(shape)[mask.expand(shape)]

    def take(self, index):
        return self.reshape(-1)[index]

    def take_along_dim(self, indices, dim=None):
        if dim is None:
            return self.reshape(-1)[indices.reshape(-1)]
        d = _array.norm_dim(dim, self.ndim)
        shape = list(_array.broadcast_shapes(self.shape[:d] + (1,) + self.shape[d + 1 :],
                                           indices.shape[:d] + (1,) + indices.shape[d + 1 :]))  # fmt: skip
        xs, ishape = list(shape), list(shape)
        xs[d], ishape[d] = self.shape[d], indices.shape[d]
        return self.expand(xs).gather(d, indices.expand(ishape))

    def index_add(self, dim: int, index, source, alpha=1):
        d = _array.norm_dim(dim, self.ndim) if self.ndim else 0
        if not isinstance(index, Tensor) or index.dtype is not int64 or index.ndim > 1:
            raise TypeError("index_add(): index must be a 1-D int64 tensor")
        x = self if self.ndim else self.reshape(1)
        src = source if source.ndim else source.reshape(1)
        want = x.shape[:d] + (index.numel(),) + x.shape[d + 1 :]
        if src.shape != want:
            raise RuntimeError(f"index_add(): source of shape {source.shape} must have shape {want}")
        if alpha != 1:
            src = src * alpha
        src = src.to(x.dtype)
        out = (
            indexing.IndexAdd.apply(x, d, index.reshape(-1), src)
            if x.dtype is float32
            else indexing.IndexAdd.forward(None, x, d, index.reshape(-1), src)
        )
        return out.reshape(self.shape)

    def scatter_add(self, dim: int, index, src):
        d = _array.norm_dim(dim, self.ndim) if self.ndim else 0
        self._check_scatter(d, index, src)
        pos = indexing._gather_positions(self.shape, d, index).reshape(-1)
        s = indexing._narrow_to(src, index.shape).reshape(-1).to(self.dtype)
        flat = self.reshape(-1)
        out = indexing.IndexAdd.apply(flat, 0, pos, s) if self.dtype is float32 else indexing.IndexAdd.forward(None, flat, 0, pos, s)
        return out.reshape(self.shape)

    def scatter(self, dim: int, index, src=None, value=None, reduce=None):
        if reduce is not None:
            if reduce != "add":
                raise NotImplementedError(f"scatter(reduce={reduce!r}) is not supported (only 'add')")
            if not isinstance(src, Tensor):
                src = full(index.shape, src if value is None else value, dtype=self.dtype, device=self.device)
            return self.scatter_add(dim, index, src)
        if not isinstance(src, Tensor):
            src = full(index.shape, src if value is None else value, dtype=self.dtype, device=self.device)
        d = _array.norm_dim(dim, self.ndim) if self.ndim else 0
        self._check_scatter(d, index, src)
        pos = indexing._gather_positions(self.shape, d, index).reshape(-1)
        s = indexing._narrow_to(src, index.shape).reshape(-1).to(self.dtype)
        if self.dtype is float32 and (self.requires_grad or s.requires_grad) and autograd.is_grad_enabled():
            return indexing.Scatter.apply(self.reshape(-1), pos, s).reshape(self.shape)
        with autograd.no_grad():
            out = _array.clone_raw(self)
            flat = Tensor._wrap(out._data, (out.numel(),), out.dtype, out.device)
            flat[pos] = s.detach()
        return out

    def _check_scatter(self, d, index, src):
        if not isinstance(index, Tensor) or index.dtype is not int64:
            raise TypeError("scatter(): index must be an int64 tensor")
        if index.ndim != self.ndim or any(
            index.shape[i] > src.shape[i] or (i != d and index.shape[i] > self.shape[i]) for i in range(index.ndim)
        ):
            raise RuntimeError(
                f"scatter(): index of shape {index.shape} must be no larger than src {src.shape} and, except in "
                f"dim {d}, than self {self.shape}"
            )
        if index.numel():
            h = host.to_host(index)
            if h.min() < 0 or h.max() >= self.shape[d]:
                raise IndexError(f"scatter(): index out of range for dimension {d} of size {self.shape[d]}")

    def repeat_interleave(self, repeats, dim=None):
        x = self.reshape(-1) if dim is None else self
        d = 0 if dim is None else _array.norm_dim(dim, x.ndim)
        n = x.shape[d]
        r = host.to_host(repeats) if isinstance(repeats, Tensor) else np.asarray(repeats)
        if (r < 0).any():
            raise RuntimeError("repeat_interleave: repeats can not be negative")
        if r.ndim and r.size not in (1, n):
            raise RuntimeError(f"repeat_interleave: repeats must have size 1 or {n}, got {r.size}")
        idx = np.repeat(np.arange(n, dtype=np.int64), r.reshape(-1) if r.ndim else int(r))
        return x.index_select(d, tensor(idx, device=self.device))

    def tensor_split(self, indices_or_sections, dim: int = 0):
        d = _array.norm_dim(dim, self.ndim)
        n = self.shape[d]
        if isinstance(indices_or_sections, int):
            k = indices_or_sections
            if k <= 0:
                raise RuntimeError(f"tensor_split: number of sections must be greater than 0, got {k}")
            sizes = [n // k + 1] * (n % k) + [n // k] * (k - n % k)
        else:
            cuts = [min(max(int(i) if i >= 0 else int(i) + n, 0), n) for i in indices_or_sections]
            bounds = [0] + cuts + [n]
            sizes = [max(b - a, 0) for a, b in zip(bounds[:-1], bounds[1:])]
            starts = bounds[:-1]
            return tuple(self.narrow(d, min(s0, n), sz) for s0, sz in zip(starts, sizes))
        out, off = [], 0
        for sz in sizes:
            out.append(self.narrow(d, off, sz))
            off += sz
        return tuple(out)

    def kthvalue(self, k: int, dim: int = -1, keepdim: bool = False):
        d = _array.norm_dim(dim, self.ndim) if self.ndim else 0
        size = self.shape[d] if self.ndim else 1
        if not 1 <= k <= size:
            raise RuntimeError(f"kthvalue(): selected number k ({k}) out of range for dimension {d} of size {size}")
        v, i = self.sort(d)
        if not self.ndim:
            return _KthRes(v, i)
        v, i = v.narrow(d, k - 1, 1), i.narrow(d, k - 1, 1)
        return _KthRes(v if keepdim else v.squeeze(d), i if keepdim else i.squeeze(d))

    def diff(self, n: int = 1, dim: int = -1):
        out = self
        d = _array.norm_dim(dim, self.ndim)
        for _ in range(n):
            m = out.shape[d]
            if m == 0:
                break
            a, b = out.narrow(d, 1, m - 1), out.narrow(d, 0, m - 1)
            out = (a ^ b) if out.dtype is bool_ else a - b
        return out

    def lerp(self, end, weight):
        return self + (end - self) * weight

    def isclose(self, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False):
        a, b = self, other if isinstance(other, Tensor) else full((), other, device=self.device)
        if a.dtype is not float32 and b.dtype is not float32:
            return a == b
        a, b = a.float(), b.float()
        close = (a - b).abs() <= atol + rtol * b.abs()
        close = close | (a == b)  # equal infinities
        if equal_nan:
            close = close | (a.isnan() & b.isnan())
        return close

    def log2(self):
        return self.log() * (1.0 / math.log(2.0))

    def log10(self):
        return self.log() * (1.0 / math.log(10.0))

    def exp2(self):
        return 2.0**self if self.dtype is float32 else 2.0 ** self.float()

    def tan(self):
        return self.sin() / self.cos()

    def double(self):
        raise TypeError("neuraxon has no float64 dtype (float32, int64 and bool only); use .float()")

    def half(self):
        raise TypeError("neuraxon has no float16 dtype (float32, int64 and bool only); use .float()")

    def t(self):
        if self.ndim > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {self.ndim}D")
        return self.transpose(0, 1) if self.ndim == 2 else self

    @property
    def T(self):
        return movement.permute(self, tuple(range(self.ndim - 1, -1, -1)))

    @property
    def mT(self):
        return self.transpose(-2, -1)

    def expand(self, *sizes):
        return movement.expand(self, _shape_args(sizes))

    def expand_as(self, other):
        return movement.expand(self, other.shape)

    def repeat(self, *sizes):
        return movement.repeat(self, _shape_args(sizes))

    def flip(self, *dims):
        return indexing.flip(self, _shape_args(dims))

    def narrow(self, dim: int, start: int, length: int):
        return movement.narrow(self, dim, int(start), int(length))

    def split(self, split_size_or_sections, dim: int = 0):
        return split(self, split_size_or_sections, dim)

    def chunk(self, chunks: int, dim: int = 0):
        return chunk(self, chunks, dim)

    def unbind(self, dim: int = 0):
        d = _array.norm_dim(dim, self.ndim)
        return tuple(self.narrow(d, i, 1).squeeze(d) for i in range(self.shape[d]))

    def index_select(self, dim: int, index):
        return indexing.index_select(self, dim, index)

    def gather(self, dim: int, index):
        d = _array.norm_dim(dim, self.ndim)
        if not isinstance(index, Tensor) or index.dtype is not int64:
            raise TypeError("gather(): index must be an int64 tensor")
        if index.ndim != max(self.ndim, 1) or any(
            i != d and index.shape[i] > (self.shape[i] if self.ndim else 1) for i in range(index.ndim)
        ):
            raise RuntimeError(
                f"gather(): index of shape {index.shape} must have as many dimensions as input of shape "
                f"{self.shape} and be no larger except in dimension {d}"
            )
        if self.ndim == 0:
            return self.reshape(1).gather(0, index).reshape(index.shape)
        pos = indexing._gather_positions(self.shape, d, index)
        return indexing.index_select(self.reshape(-1), 0, pos.reshape(-1)).reshape(index.shape)

    def sort(self, dim: int = -1, descending: bool = False, stable: bool = True):
        """(values, indices) along dim. The order is computed on the host (NumPy, stable)
        and the values gathered on the device, so values carry gradients."""
        d = _array.norm_dim(dim, self.ndim) if self.ndim else 0
        if self.ndim == 0:
            return _SortRes(self, _array.full((), 0, int64, self.device))
        h = host.to_host(self.detach())
        if not descending:
            order = np.argsort(h, axis=d, kind="stable")  # NaN last, as torch
        elif h.dtype == np.bool_:
            order = np.argsort(~h, axis=d, kind="stable")
        elif h.dtype.kind == "f":
            # descending with NaN first (torch treats NaN as the largest); both sorts stable
            order = np.argsort(-h, axis=d, kind="stable")  # NaN land last here
            nan_last = ~np.isnan(np.take_along_axis(h, order, axis=d))
            order = np.take_along_axis(order, np.argsort(nan_last, axis=d, kind="stable"), axis=d)
        else:
            order = np.argsort(-h, axis=d, kind="stable")
        idx = tensor(order.astype(np.int64), device=self.device)
        return _SortRes(self.gather(d, idx), idx)

    def argsort(self, dim: int = -1, descending: bool = False, stable: bool = True):
        return self.sort(dim, descending).indices

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):
        """(values, indices) of the k largest (smallest) along dim; order found on the host."""
        d = _array.norm_dim(dim, self.ndim) if self.ndim else 0
        size = self.shape[d] if self.ndim else 1
        if not 0 <= k <= size:
            raise RuntimeError(f"topk: k ({k}) is out of range for dimension {d} of size {size} (shape {self.shape})")
        v, i = self.sort(d, descending=largest)
        return _TopkRes(v.narrow(d, 0, k), i.narrow(d, 0, k))

    def cumsum(self, dim: int, dtype=None):
        """Cumulative sum along dim (computed on the host; see Cumsum)."""
        x = self.to(dtype) if dtype is not None else self
        if x.dtype is bool_:
            x = x.long()
        d = _array.norm_dim(dim, x.ndim)
        if x.ndim == 0:
            return x.clone()
        if x.dtype is float32:
            return host.Cumsum.apply(x, d)
        return host.from_host(np.cumsum(host.to_host(x), axis=d, dtype=np.int64), int64, x.device)

    # -- indexing -------------------------------------------------------------------------
    def __getitem__(self, idx):
        return indexing.getitem(self, idx)

    def __setitem__(self, idx, value):
        indexing.setitem(self, idx, value)

    # -- in place ------------------------------------------------------------------------
    def _check_inplace(self, what: str) -> None:
        if self.requires_grad and autograd.is_grad_enabled():
            if self._node is None:
                raise RuntimeError(
                    f"a leaf Variable that requires grad is being used in an in-place operation ({what}); "
                    "use neuraxon.no_grad()"
                )
            raise RuntimeError(
                f"in-place operation {what} on a tensor that is part of an autograd graph is not supported"
            )

    def _inplace_binary(self, other, op: int, what: str):
        self._check_inplace(what)
        if isinstance(other, Tensor):
            _array.check_same_device(self, other)
            other = other.detach()
            dt = promote(self.dtype, other.dtype)
        else:
            dt = promote(self.dtype, _array.scalar_dtype(other))
        if op == C.BIN_DIV and self.dtype is not float32:
            dt = float32
        if dt is not self.dtype:
            raise TypeError(f"{what}: result type {dt.name} can't be cast to the desired output type {self.dtype.name}")
        with autograd.no_grad():
            if (
                not isinstance(other, Tensor)
                and self.dtype is float32
                and op in (C.BIN_ADD, C.BIN_SUB, C.BIN_MUL, C.BIN_DIV)
            ):
                s = float(other)
                a, b = {
                    C.BIN_ADD: (1.0, s),
                    C.BIN_SUB: (1.0, -s),
                    C.BIN_MUL: (s, 0.0),
                    C.BIN_DIV: (1.0 / s if s else math.nan, 0.0),
                }[op]
                if op == C.BIN_DIV and s == 0:
                    other = full((), s, device=self.device)
                else:
                    _array.unary_raw(self, C.UN_AFFINE, a, b, out=self)
                    return self
            if not isinstance(other, Tensor):
                other = full((), other, dtype=self.dtype, device=self.device)
            other = _array.cast(other, self.dtype)
            shape = _array.broadcast_shapes(self.shape, other.shape)
            if shape != self.shape:
                raise RuntimeError(
                    f"{what}: output with shape {self.shape} doesn't match the broadcast shape {shape} "
                    f"(other has shape {other.shape})"
                )
            work = self if self.dtype is not bool_ else _array.cast(self, int64)
            res = _array.binary_raw(work, _array.cast(other, work.dtype), op, out=work if self.dtype is not bool_ else None)
            if self.dtype is bool_:
                _array.copy_into(self, _array.cast(res, bool_), (self.numel(),), [1], 0, [1], 0)
        return self

    def add_(self, other, alpha=1):
        return self._inplace_binary(other * alpha if alpha != 1 else other, C.BIN_ADD, "add_")

    def sub_(self, other, alpha=1):
        return self._inplace_binary(other * alpha if alpha != 1 else other, C.BIN_SUB, "sub_")

    def mul_(self, other):
        return self._inplace_binary(other, C.BIN_MUL, "mul_")

    def div_(self, other):
        return self._inplace_binary(other, C.BIN_DIV, "div_")

    def pow_(self, other):
        return self._inplace_binary(other, C.BIN_POW, "pow_")

    __iadd__ = add_
    __isub__ = sub_
    __imul__ = mul_
    __itruediv__ = div_

    def addcmul_(self, t1, t2, value=1):
        return self.add_(t1 * t2 * value)

    def addcdiv_(self, t1, t2, value=1):
        return self.add_(t1 / t2 * value)

    def lerp_(self, end, weight):
        return self.add_((end - self) * weight)

    def fill_(self, value):
        self._check_inplace("fill_")
        if isinstance(value, Tensor):
            value = value.item()
        if self.numel():
            self.device.k.fill(self._data, self.numel(), float(value))
        return self

    def zero_(self):
        return self.fill_(0.0)

    def copy_(self, src, non_blocking: bool = False):
        self._check_inplace("copy_")
        if not isinstance(src, Tensor):
            src = tensor(src, dtype=self.dtype)
        src = src.detach()
        if src.device != self.device:
            src = src.to(self.device)
        src = _array.cast(src, self.dtype)
        shape = _array.broadcast_shapes(self.shape, src.shape)
        if shape != self.shape:
            raise RuntimeError(f"copy_: source of shape {src.shape} cannot be broadcast to {self.shape}")
        _array.copy_into(self, src, self.shape, _array.strides_of(self.shape), 0, _array.bcast_strides(src.shape, self.shape))
        return self

    def clamp_(self, min=None, max=None):
        self._check_inplace("clamp_")
        with autograd.no_grad():
            r = self.clamp(min, max)
        _array.copy_into(self, r, (self.numel(),), [1], 0, [1], 0)
        return self

    def neg_(self):
        return self.mul_(-1)

    def exp_(self):
        return self._apply_unary_(C.UN_EXP)

    def sqrt_(self):
        return self._apply_unary_(C.UN_SQRT)

    def abs_(self):
        return self._apply_unary_(C.UN_ABS)

    def _apply_unary_(self, op):
        self._check_inplace("unary_")
        if self.dtype is not float32:
            raise TypeError(f"in-place unary op needs a float32 tensor, got {self.dtype.name}")
        _array.unary_raw(self, op, out=self)
        return self

    def masked_fill_(self, mask, value):
        self._check_inplace("masked_fill_")
        with autograd.no_grad():
            r = self.masked_fill(mask, value)
        if r.shape != self.shape:
            raise RuntimeError(
                f"masked_fill_: mask of shape {mask.shape} broadcasts the result to {r.shape}, not {self.shape}"
            )
        _array.copy_into(self, r, (self.numel(),), [1], 0, [1], 0)
        return self

    def uniform_(self, a: float = 0.0, b: float = 1.0, generator=None):
        self._check_inplace("uniform_")
        _require_float(self, "uniform_")
        return _array.uniform_(self, a, b, generator)

    def normal_(self, mean: float = 0.0, std: float = 1.0, generator=None):
        self._check_inplace("normal_")
        _require_float(self, "normal_")
        return _array.normal_(self, mean, std, generator)

    def bernoulli_(self, p: float = 0.5):
        u = rand(self.shape, device=self.device)
        return self.copy_((u < p).to(self.dtype))


def _make_inplace(name: str, shape_op: bool = False):
    """Tensor.<name>_ from the out-of-place <name>: computed without a graph, written back
    into this tensor's buffer (value ops: same shape, cast to this dtype) or, for shape ops
    (t_, transpose_, unsqueeze_, squeeze_), taking the result's data and shape."""

    def method(self, *args, **kwargs):
        self._check_inplace(name + "_")
        with autograd.no_grad():
            r = getattr(self, name)(*args, **kwargs)
        if shape_op:
            self._data, self.shape = r._data, r.shape
            return self
        if r.shape != self.shape:
            raise RuntimeError(f"{name}_: result of shape {r.shape} does not fit the tensor of shape {self.shape}")
        if r.dtype is not self.dtype:
            if self.dtype is not float32 and r.dtype is float32:
                raise TypeError(
                    f"{name}_: result type float32 can't be cast to the desired output type {self.dtype.name}"
                )
            r = _array.cast(r, self.dtype)
        _array.copy_into(self, r, (self.numel(),), [1], 0, [1], 0)
        return self

    method.__name__ = name + "_"
    method.__doc__ = f"In-place {name} (see Tensor.{name})."
    return method


for _n in (
    "log sigmoid tanh relu floor ceil round trunc reciprocal square sign clip rsqrt sin cos log1p expm1 "
    "index_add scatter scatter_add index_fill index_copy frac remainder fmod floor_divide lerp"
).split():
    if not hasattr(Tensor, _n + "_"):
        setattr(Tensor, _n + "_", _make_inplace(_n))
for _n in ("t", "transpose", "unsqueeze", "squeeze", "swapdims", "swapaxes"):
    setattr(Tensor, _n + "_", _make_inplace(_n, shape_op=True))
del _n


def _index_fill(self, dim: int, index, value):
    d = _array.norm_dim(dim, self.ndim) if self.ndim else 0
    if isinstance(value, Tensor):
        value = value.item()
    mask = np.zeros(self.shape[d] if self.ndim else 1, bool)
    mask[host.to_host(index).reshape(-1)] = True
    sh = [1] * max(self.ndim, 1)
    sh[d] = mask.size
    m = tensor(mask.reshape(sh) if self.ndim else mask.reshape(()), device=self.device)
    return elementwise.where(m, value, self)


def _index_copy(self, dim: int, index, source):
    d = _array.norm_dim(dim, self.ndim) if self.ndim else 0
    keep = np.ones(self.shape[d] if self.ndim else 1, np.float32)
    keep[host.to_host(index).reshape(-1)] = 0.0
    sh = [1] * max(self.ndim, 1)
    sh[d] = keep.size
    k = tensor(keep.reshape(sh) if self.ndim else keep.reshape(()), device=self.device)
    if self.dtype is not float32:
        return elementwise.where(k == 0.0, zeros_like(self).index_add(d, index, source), self)
    return (self * k).index_add(d, index, source)


def _fill_diagonal_(self, fill_value, wrap: bool = False):
    self._check_inplace("fill_diagonal_")
    if self.ndim < 2 or (self.ndim > 2 and len(set(self.shape)) != 1):
        raise RuntimeError(f"fill_diagonal_: all dimensions of input must be of equal length (shape {self.shape})")
    n = min(self.shape)
    st = sum(_array.strides_of(self.shape))
    pos = list(range(0, n * st, st))
    if wrap and self.ndim == 2 and self.shape[0] > self.shape[1] + 1:
        c = self.shape[1]
        pos = list(range(0, self.numel(), c + 1))
    with autograd.no_grad():
        flat = Tensor._wrap(self._data, (self.numel(),), self.dtype, self.device)
        flat[tensor(np.asarray(pos, np.int64), device=self.device)] = fill_value
    return self


Tensor.index_fill = _index_fill
Tensor.index_copy = _index_copy
Tensor.index_fill_ = _make_inplace("index_fill")
Tensor.index_copy_ = _make_inplace("index_copy")
Tensor.fill_diagonal_ = _fill_diagonal_


class _HookHandle:
    _next = 0

    def __init__(self, hooks: dict, hook) -> None:
        _HookHandle._next += 1
        self.id, self._hooks = _HookHandle._next, hooks
        hooks[self.id] = hook

    def remove(self) -> None:
        self._hooks.pop(self.id, None)


_SortRes = _collections.namedtuple("sort", ["values", "indices"])
_TopkRes = _collections.namedtuple("topk", ["values", "indices"])
_MedianRes = _collections.namedtuple("median", ["values", "indices"])
_KthRes = _collections.namedtuple("kthvalue", ["values", "indices"])


def _require_float(t, what):
    if t.dtype is not float32:
        raise TypeError(f"{what} needs a float32 tensor, got {t.dtype.name}")


def _rebuild(a, dev, requires_grad):
    return tensor(a, device=dev, requires_grad=requires_grad)


def _shape_args(args) -> tuple:
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(int(s) for s in args[0])
    return tuple(int(s) for s in args)


# ------------------------------------------------------------------------------------
# small Functions that belong with Tensor
# ------------------------------------------------------------------------------------


# ------------------------------------------------------------------------------------
# creation
# ------------------------------------------------------------------------------------


def _infer_np(data):
    if isinstance(data, Tensor):
        return np.asarray(data)
    if isinstance(data, (list, tuple)) and any(isinstance(x, Tensor) for x in _iter_flat(data)):
        data = _nested_items(data)
    return np.asarray(data)


def _iter_flat(x):
    if isinstance(x, (list, tuple)):
        for y in x:
            yield from _iter_flat(y)
    else:
        yield x


def _nested_items(x):
    if isinstance(x, (list, tuple)):
        return [_nested_items(y) for y in x]
    if isinstance(x, Tensor):
        return x.tolist()
    return x


def tensor(data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of data (list, scalar, NumPy array or Tensor).

    Python floats -> float32, ints -> int64, bools -> bool; NumPy float64 -> float32.
    """
    dev = _device(device) if device is not None else (data.device if isinstance(data, Tensor) else _device("cpu"))
    arr = _infer_np(data)
    if arr.dtype == object:
        raise TypeError(f"tensor(): could not infer the dtype of {type(data).__name__} data")
    if dtype is not None:
        dt = get_dtype(dtype)
    elif arr.size == 0 and arr.dtype.kind == "f":
        dt = float32
    else:
        dt = get_dtype(arr.dtype)
    t = Tensor._wrap(dev.from_numpy(arr, dt), tuple(arr.shape), dt, dev)  # from_numpy copies
    if requires_grad:
        t.requires_grad_(True)
    return t


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like tensor(), but without a copy when it can: a Tensor already of that dtype and
    device is returned as is, and a C-contiguous float32/int64/bool NumPy array becomes a
    CPU tensor sharing its memory (as torch.as_tensor)."""
    if isinstance(data, Tensor):
        out = data
        if dtype is not None:
            out = out.to(get_dtype(dtype))
        if device is not None:
            out = out.to(_device(device))
        return out
    if isinstance(data, np.ndarray) and (device is None or _device(device).type == "cpu"):
        want = get_dtype(dtype) if dtype is not None else None
        if (
            data.dtype in (np.float32, np.int64, np.bool_)
            and data.flags.c_contiguous
            and (want is None or want.numpy == data.dtype)
        ):
            return from_numpy(data)
    return tensor(data, dtype=dtype, device=device)


def from_numpy(a: np.ndarray) -> Tensor:
    """A CPU tensor from a NumPy array: shares memory when a is C-contiguous float32, int64
    or bool (float64 and other types are converted, i.e. copied)."""
    a = np.asarray(a)
    dt = get_dtype(a.dtype)
    if a.dtype == dt.numpy and a.flags.c_contiguous:
        return Tensor._wrap(a.reshape(-1), tuple(a.shape), dt, _device("cpu"))
    return tensor(a, dtype=dt)


def _size(size) -> tuple:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for s in size:
        if not isinstance(s, (numbers.Integral, np.integer)) and not (
            isinstance(s, Tensor) and s.numel() == 1 and s.dtype is int64
        ):
            raise TypeError(f"size must be a tuple of ints, but got {type(s).__name__} {s!r} in {tuple(size)}")
    shape = tuple(int(s) for s in size)
    for s in shape:
        if s < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {s}: {list(shape)}")
    return shape


def _new(shape, dtype, device, requires_grad, default=float32) -> Tensor:
    dt = get_dtype(dtype) if dtype is not None else default
    t = _array.empty(shape, dt, _device(device))
    if requires_grad:
        t.requires_grad_(True)
    return t


def empty(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return _new(_size(size), dtype, device, requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    if isinstance(size, int):
        size = (size,)
    if dtype is None:
        dtype = _array.scalar_dtype(fill_value)
    t = _new(_size((size,)), dtype, device, False)
    if t.numel():
        t.device.k.fill(t._data, t.numel(), float(fill_value))
    if requires_grad:
        t.requires_grad_(True)
    return t


def zeros(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return full(_size(size), 0.0, dtype=dtype or float32, device=device, requires_grad=requires_grad)


def ones(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return full(_size(size), 1.0, dtype=dtype or float32, device=device, requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Computed on the host (NumPy) and copied to the device."""
    if end is None:
        start, end = 0, start
    vals = [start, end, step]
    vals = [v.item() if isinstance(v, Tensor) else v for v in vals]
    if vals[2] == 0:
        raise RuntimeError("arange(): step must be nonzero")
    if any(isinstance(v, float) and not math.isfinite(v) for v in vals):
        raise RuntimeError(f"arange(): unsupported range {vals[0]} -> {vals[1]} (step {vals[2]})")
    if (vals[1] - vals[0]) * vals[2] < 0:
        raise RuntimeError(
            f"arange(): upper bound and lower bound inconsistent with step sign (start {vals[0]}, end {vals[1]}, "
            f"step {vals[2]})"
        )
    is_int = all(isinstance(v, numbers.Integral) for v in vals)
    dt = get_dtype(dtype) if dtype is not None else (int64 if is_int else float32)
    n = max(int(math.ceil((vals[1] - vals[0]) / vals[2])), 0)
    a = vals[0] + np.arange(n, dtype=np.float64 if not is_int else np.int64) * vals[2]
    return tensor(a, dtype=dt, device=device, requires_grad=requires_grad)


def linspace(start, end, steps: int, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    a = np.linspace(float(start), float(end), int(steps))
    return tensor(a, dtype=dtype or float32, device=device, requires_grad=requires_grad)


def logspace(start, end, steps: int, base: float = 10.0, dtype=None, device=None) -> Tensor:
    return tensor(np.logspace(float(start), float(end), int(steps), base=base), dtype=dtype or float32, device=device)


def eye(n: int, m: int | None = None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    return tensor(np.eye(n, m), dtype=dtype or float32, device=device, requires_grad=requires_grad)


def rand(*size, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Uniform [0, 1) from the global generator (neuraxon.manual_seed)."""
    t = _new(_size(size), dtype, device, False)
    _require_float(t, "rand")
    t.uniform_(0.0, 1.0, generator=generator)
    return t.requires_grad_(True) if requires_grad else t


def randn(*size, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Standard normal from the global generator."""
    t = _new(_size(size), dtype, device, False)
    _require_float(t, "randn")
    t.normal_(0.0, 1.0, generator=generator)
    return t.requires_grad_(True) if requires_grad else t


def randint(
    low, high=None, size=None, generator=None, dtype=None, device=None, requires_grad: bool = False
) -> Tensor:
    """Integers uniform in [low, high), drawn as float32 uniforms on the device and floored
    (exact for ranges up to 2**24)."""
    if size is None:
        if high is None or not isinstance(high, (tuple, list)):
            raise TypeError("randint() missing required argument 'size'")
        low, high, size = 0, low, high
    if high is None:
        low, high = 0, low
    if isinstance(size, int):
        size = (size,)
    low, high = int(low), int(high)
    if high <= low:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    span = high - low
    u = _new(_size((size,)), float32, device, False)
    u.uniform_(0.0, float(span), generator=generator)
    i = _array.cast(u, int64)  # truncation == floor for u >= 0
    i = _array.binary_raw(i, _array.full((), span - 1, int64, i.device), C.BIN_MIN)
    if low:
        i = _array.binary_raw(i, _array.full((), low, int64, i.device), C.BIN_ADD)
    return i.to(get_dtype(dtype)) if dtype is not None else i


def randperm(n: int, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A random permutation of range(n), drawn on the host from the global generator's
    state (reproducible under manual_seed) and copied to the device."""
    if int(n) < 0:
        raise RuntimeError(f"randperm: n must be non-negative, got {n}")
    perm = (generator or _random.default_generator).numpy_rng().permutation(int(n))
    return tensor(perm, dtype=dtype or int64, device=device)


def _like(t, dtype, device):
    return (t.shape, dtype if dtype is not None else t.dtype, device if device is not None else t.device)


def empty_like(t, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    s, d, dev = _like(t, dtype, device)
    return empty(s, dtype=d, device=dev, requires_grad=requires_grad)


def zeros_like(t, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    s, d, dev = _like(t, dtype, device)
    return zeros(s, dtype=d, device=dev, requires_grad=requires_grad)


def ones_like(t, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    s, d, dev = _like(t, dtype, device)
    return ones(s, dtype=d, device=dev, requires_grad=requires_grad)


def full_like(t, fill_value, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    s, d, dev = _like(t, dtype, device)
    return full(s, fill_value, dtype=d, device=dev, requires_grad=requires_grad)


def rand_like(t, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    s, d, dev = _like(t, dtype, device)
    return rand(s, dtype=d, device=dev, requires_grad=requires_grad)


def randn_like(t, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    s, d, dev = _like(t, dtype, device)
    return randn(s, dtype=d, device=dev, requires_grad=requires_grad)


def randint_like(t, low, high=None, dtype=None, device=None) -> Tensor:
    s, d, dev = _like(t, dtype, device)
    return randint(low, high, s, dtype=d, device=dev)


# -- functions mirroring methods ------------------------------------------------------


def split(x: Tensor, split_size_or_sections, dim: int = 0):
    d = _array.norm_dim(dim, x.ndim)
    size = x.shape[d]
    if isinstance(split_size_or_sections, int):
        s = split_size_or_sections
        if s <= 0:
            raise RuntimeError(f"split_size must be positive, got {s}")
        sections = [min(s, size - i) for i in range(0, size, s)] or [0]
    else:
        sections = [int(v) for v in split_size_or_sections]
        if sum(sections) != size:
            raise RuntimeError(
                f"split_with_sizes expects split_sizes to sum exactly to {size} (input tensor's size at "
                f"dimension {d}), but got split_sizes={sections}"
            )
    out, off = [], 0
    for s in sections:
        out.append(x.narrow(d, off, s))
        off += s
    return tuple(out)


def chunk(x: Tensor, chunks: int, dim: int = 0):
    d = _array.norm_dim(dim, x.ndim)
    size = x.shape[d]
    if chunks <= 0:
        raise RuntimeError("chunk expects `chunks` to be greater than 0")
    step = max((size + chunks - 1) // chunks, 1)
    return split(x, step, d)


def cat(tensors, dim: int = 0) -> Tensor:
    return movement.cat(tensors, dim)


concat = cat
concatenate = cat


def stack(tensors, dim: int = 0) -> Tensor:
    return movement.stack(tensors, dim)


def where(condition, input=None, other=None) -> Tensor:
    if input is None and other is None:
        return tuple(tensor(a, device=condition.device) for a in np.nonzero(host.to_host(condition)))
    return elementwise.where(condition, input, other)


def maximum(a, b) -> Tensor:
    return elementwise.binary(a, b, C.BIN_MAX)


def minimum(a, b) -> Tensor:
    return elementwise.binary(a, b, C.BIN_MIN)


def matmul(a, b) -> Tensor:
    return linalg.matmul(a, b)


def broadcast_shapes(*shapes) -> tuple:
    return _array.broadcast_shapes(*shapes)


def broadcast_tensors(*ts):
    shape = _array.broadcast_shapes(*(t.shape for t in ts))
    return tuple(t.expand(shape) for t in ts)


def nonzero(x: Tensor, as_tuple: bool = False):
    nz = np.nonzero(host.to_host(x))
    if as_tuple:
        return tuple(tensor(a.astype(np.int64), device=x.device) for a in nz)
    return tensor(np.stack(nz, axis=1).astype(np.int64) if nz else np.zeros((0, 0), np.int64), device=x.device)


def bernoulli(input: Tensor, p=None, generator=None) -> Tensor:
    """0/1 draws with probabilities `input` (or the scalar p), same shape and dtype."""
    prob = input if p is None else full(input.shape, float(p), device=input.device)
    if prob.dtype is not float32:
        raise TypeError(f"bernoulli: probabilities must be float32, got {prob.dtype.name}")
    return (rand(prob.shape, device=prob.device) < prob).to(input.dtype)


def normal(mean, std=1.0, size=None, generator=None) -> Tensor:
    """Normal draws: tensor mean and/or std broadcast together, or floats with a size."""
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        ref = mean if isinstance(mean, Tensor) else std
        shape = _array.broadcast_shapes(getattr(mean, "shape", ()), getattr(std, "shape", ()))
        return randn(shape, device=ref.device) * std + mean
    if size is None:
        raise TypeError("normal(): with float mean and std, size is required")
    return (
        randn(_size((size,) if isinstance(size, int) else tuple(size)), dtype=float32)
        .mul_(float(std))
        .add_(float(mean))
    )


def multinomial(input: Tensor, num_samples: int, replacement: bool = False, generator=None) -> Tensor:
    """Category indices drawn with weights `input` (1-D or 2-D rows), on the host from the
    global generator (reproducible under manual_seed)."""
    w = host.to_host(input.detach()).astype(np.float64)
    if w.ndim not in (1, 2):
        raise RuntimeError(f"multinomial: prob_dist must be 1 or 2 dim, got shape {input.shape}")
    rows = w.reshape(-1, w.shape[-1])
    if (rows < 0).any() or not np.isfinite(rows).all() or (rows.sum(1) <= 0).any():
        raise RuntimeError("multinomial: invalid probability distribution (negative, inf, NaN or all zero)")
    if not replacement and num_samples > rows.shape[1]:
        raise RuntimeError(f"multinomial: cannot sample {num_samples} > {rows.shape[1]} categories without replacement")
    if num_samples <= 0:
        raise RuntimeError(f"multinomial: num_samples must be positive, got {num_samples}")
    if not replacement and ((rows > 0).sum(1) < num_samples).any():
        raise RuntimeError(
            f"multinomial: a row has fewer than {num_samples} categories of non-zero weight (replacement=False)"
        )
    rng = _random.default_generator.numpy_rng()
    out = np.stack([rng.choice(rows.shape[1], num_samples, replace=replacement, p=r / r.sum()) for r in rows])
    return tensor(out.reshape(w.shape[:-1] + (num_samples,)).astype(np.int64), device=input.device)


def einsum(equation: str, *operands) -> Tensor:
    """torch.einsum for one or more operands ('...' allowed; an index repeated within one
    operand, i.e. a diagonal, is not supported). Operands are contracted left to right, two
    at a time, each pair as one batched matmul, so gradients come from autograd."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands:
        raise ValueError("einsum(): must provide at least one operand")
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(operands):
        raise ValueError(f"einsum(): {len(terms)} operand terms in {equation!r} but {len(operands)} operands given")
    free = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in eq]
    ell_nd = max((t.ndim - (len(term) - 3) for t, term in zip(operands, terms) if "..." in term), default=0)
    ell = "".join(free[:ell_nd])
    subs = []
    for t, term in zip(operands, terms):
        if "..." in term:
            k = t.ndim - (len(term) - 3)
            if k < 0:
                raise ValueError(f"einsum(): term {term!r} has more indices than operand of shape {t.shape}")
            term = term.replace("...", ell[ell_nd - k :])
        if len(term) != t.ndim or not term.isalpha():
            raise ValueError(f"einsum(): term {term!r} does not match operand of shape {t.shape}")
        if len(set(term)) != len(term):
            raise NotImplementedError(f"einsum(): repeated index within one operand ({term!r}) is not supported")
        subs.append(term)
    if arrow:
        out = rhs.replace("...", ell)
        if not out.isalpha() and out:
            raise ValueError(f"einsum(): invalid output subscripts {rhs!r}")
    else:
        counts = _collections.Counter("".join(subs))
        out = ell + "".join(sorted(c for c in counts if counts[c] == 1 and c not in ell))
    sizes: dict = {}
    for t, term in zip(operands, subs):
        for c, n in zip(term, t.shape):
            if sizes.get(c, n) != n and n != 1 and sizes[c] != 1:
                raise RuntimeError(f"einsum(): index {c!r} has sizes {sizes[c]} and {n} in {equation!r}")
            sizes[c] = max(sizes.get(c, n), n) if n != 1 else sizes.get(c, 1)

    def reduce_unused(t, term, keep):
        drop = [i for i, c in enumerate(term) if c not in keep]
        if drop:
            t = t.sum(tuple(drop))
            term = "".join(c for c in term if c in keep)
        return t, term

    cur, cur_s = operands[0], subs[0]
    for k in range(1, len(operands)):
        nxt, nxt_s = operands[k], subs[k]
        later = set(out).union(*subs[k + 1 :])
        cur, cur_s = reduce_unused(cur, cur_s, later | set(nxt_s))
        nxt, nxt_s = reduce_unused(nxt, nxt_s, later | set(cur_s))
        batch = [c for c in cur_s if c in nxt_s and c in later]
        contr = [c for c in cur_s if c in nxt_s and c not in later]
        left = [c for c in cur_s if c not in nxt_s]
        right = [c for c in nxt_s if c not in cur_s]
        a = cur.permute([cur_s.index(c) for c in batch + left + contr]) if cur_s else cur
        b = nxt.permute([nxt_s.index(c) for c in batch + contr + right]) if nxt_s else nxt
        bs = [max(a.shape[i], b.shape[i]) for i in range(len(batch))]
        a = a.expand(bs + list(a.shape[len(batch) :])) if batch else a
        b = b.expand(bs + list(b.shape[len(batch) :])) if batch else b
        nl = _array.prod(a.shape[len(batch) : len(batch) + len(left)])
        nc = _array.prod(a.shape[len(batch) + len(left) :])
        nr = _array.prod(b.shape[len(batch) + len(contr) :])
        if a.dtype is not float32 or b.dtype is not float32:
            raise TypeError(f"einsum(): operands must be float32, got {a.dtype.name} and {b.dtype.name}")
        r = a.reshape(bs + [nl, nc]) @ b.reshape(bs + [nc, nr])
        cur = r.reshape(
            bs + list(a.shape[len(batch) : len(batch) + len(left)]) + list(b.shape[len(batch) + len(contr) :])
        )
        cur_s = "".join(batch + left + right)
    cur, cur_s = reduce_unused(cur, cur_s, set(out))
    missing = [c for c in out if c not in cur_s]
    if missing:
        raise ValueError(f"einsum(): output subscript(s) {missing} do not appear in the inputs of {equation!r}")
    return cur.permute([cur_s.index(c) for c in out]) if out else cur


def tensordot(a: Tensor, b: Tensor, dims=2) -> Tensor:
    if isinstance(dims, int):
        da, db = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        da, db = [list(d) if isinstance(d, (list, tuple)) else [d] for d in dims]
    da = [_array.norm_dim(d, a.ndim) for d in da]
    db = [_array.norm_dim(d, b.ndim) for d in db]
    letters = "abcdefghijklmnopqrstuvwxyz"
    sa = list(letters[: a.ndim])
    sb = list(letters[a.ndim : a.ndim + b.ndim])
    for i, j in zip(da, db):
        sb[j] = sa[i]
    out = [c for i, c in enumerate(sa) if i not in da] + [c for j, c in enumerate(sb) if j not in db]
    return einsum("".join(sa) + "," + "".join(sb) + "->" + "".join(out), a, b)


def broadcast_to(x: Tensor, shape) -> Tensor:
    return x.expand(tuple(shape))


def atleast_1d(*ts):
    out = tuple(
        t.reshape(1) if t.ndim == 0 else t for t in (ts[0] if len(ts) == 1 and isinstance(ts[0], (list, tuple)) else ts)
    )
    return out[0] if len(out) == 1 else out


def atleast_2d(*ts):
    out = tuple(t.reshape((1,) * (2 - t.ndim) + t.shape) if t.ndim < 2 else t
                for t in (ts[0] if len(ts) == 1 and isinstance(ts[0], (list, tuple)) else ts))  # fmt: skip
    return out[0] if len(out) == 1 else out


def vstack(tensors) -> Tensor:
    return cat([atleast_2d(t) for t in tensors], 0)


def hstack(tensors) -> Tensor:
    tensors = [atleast_1d(t) for t in tensors]
    return cat(tensors, 0 if tensors[0].ndim == 1 else 1)


def column_stack(tensors) -> Tensor:
    return cat([t.reshape(-1, 1) if t.ndim <= 1 else t for t in tensors], 1)


def argwhere(x: Tensor) -> Tensor:
    return nonzero(x)


def take_along_dim(x: Tensor, indices: Tensor, dim=None) -> Tensor:
    return x.take_along_dim(indices, dim)


def meshgrid(*tensors, indexing: str = "ij"):
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    for t in tensors:
        if t.ndim > 1:
            raise RuntimeError(f"meshgrid: expects 0-D or 1-D tensors, got shape {t.shape}")
    ts = [t.reshape(-1) for t in tensors]
    if indexing == "xy" and len(ts) >= 2:
        ts[0], ts[1] = ts[1], ts[0]
    shape = tuple(t.shape[0] for t in ts)
    out = []
    for i, t in enumerate(ts):
        sh = [1] * len(ts)
        sh[i] = t.shape[0]
        out.append(t.reshape(sh).expand(shape))
    if indexing == "xy" and len(out) >= 2:  # ij grids of (y, x, ...), outputs back in (x, y, ...) order
        out[0], out[1] = out[1], out[0]
    return tuple(out)


def addmm(input, mat1, mat2, *, beta=1, alpha=1) -> Tensor:
    prod_ = mat1.mm(mat2)
    if alpha != 1:
        prod_ = prod_ * alpha
    if beta == 0:
        return prod_  # input is ignored (NaN in it does not propagate), as torch
    return prod_ + (input * beta if beta != 1 else input)


def searchsorted(sorted_sequence: Tensor, values, *, right: bool = False, side=None, out_int32: bool = False):
    """Insertion indices into the innermost dim of sorted_sequence (computed on the host)."""
    if side is not None:
        right = side == "right"
    seq = host.to_host(sorted_sequence.detach())
    scalar = not isinstance(values, Tensor)
    v = host.to_host(values.detach()) if not scalar else np.asarray(values)
    how = "right" if right else "left"
    if seq.ndim <= 1:
        r = np.searchsorted(seq.reshape(-1), v, side=how)
    else:
        if seq.shape[:-1] != v.shape[:-1]:
            raise RuntimeError(
                f"searchsorted: boundaries of shape {seq.shape} and input of shape {v.shape} must match "
                "in all but the last dimension"
            )
        r = np.stack([np.searchsorted(a, b, side=how) for a, b in zip(seq.reshape(-1, seq.shape[-1]), v.reshape(-1, v.shape[-1]))]).reshape(v.shape)  # fmt: skip
    return tensor(np.asarray(r, np.int64), device=sorted_sequence.device)


def bucketize(input, boundaries: Tensor, *, right: bool = False, out_int32: bool = False):
    if boundaries.ndim != 1:
        raise RuntimeError(f"bucketize: boundaries must be 1-D, got shape {boundaries.shape}")
    return searchsorted(boundaries, input, right=right)


def is_tensor(x) -> bool:
    return isinstance(x, Tensor)


TensorBase._cls = Tensor  # what TensorBase._wrap builds from now on
