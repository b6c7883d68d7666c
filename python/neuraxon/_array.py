"""The raw-array layer: tensors' data, shape, dtype and device, and the kernel calls on them.

Everything here works on TensorBase fields only (`_data`, `shape`, `dtype`, `device`): no
autograd, no graph, no Tensor methods. Outputs are new tensors made with TensorBase._wrap.
The op modules above (autograd's Functions, the Tensor methods, nn.functional) build on
these; the shape helpers (broadcasting, dims, strides) live here too, since every kernel
call needs them.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from . import _codes as C
from . import random as _random
from ._tensor_base import TensorBase
from .dtypes import bool_, dtype_of_data, float32, int64

_wrap = TensorBase._wrap

# ------------------------------------------------------------------------------------
# shape helpers
# ------------------------------------------------------------------------------------


def prod(shape) -> int:
    p = 1
    for s in shape:
        p *= s
    return p


def strides_of(shape) -> list[int]:
    st, acc = [0] * len(shape), 1
    for i in range(len(shape) - 1, -1, -1):
        st[i] = acc
        acc *= shape[i]
    return st


def broadcast_shapes(*shapes) -> tuple:
    nd = max((len(s) for s in shapes), default=0)
    out = [1] * nd
    for s in shapes:
        for i, d in enumerate(s):
            j = nd - len(s) + i
            if d == out[j] or d == 1:
                continue
            if out[j] == 1:
                out[j] = d
            else:
                raise RuntimeError(
                    "shapes " + " and ".join(str(tuple(x)) for x in shapes) + " cannot be broadcast together"
                    f" (size {d} vs {out[j]} at dimension {j})"
                )
    return tuple(out)


def bcast_strides(shape, out_shape) -> list[int]:
    """Strides that read a contiguous `shape` array broadcast to `out_shape` (0 on
    broadcast axes)."""
    st = strides_of(shape)
    off = len(out_shape) - len(shape)
    res = [0] * len(out_shape)
    for i, d in enumerate(shape):
        if d != 1 or out_shape[off + i] == 1:
            res[off + i] = st[i] if d != 1 else 0
    return res


def norm_dim(dim: int, ndim: int, what: str = "dim") -> int:
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return dim % n


def norm_dims(dim, ndim: int) -> tuple:
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, (list, tuple)):
        ds = tuple(sorted({norm_dim(d, ndim) for d in dim}))
        if len(ds) != len(dim):
            raise RuntimeError(f"dim {tuple(dim)} appears multiple times in the list of dims")
        return ds
    return (norm_dim(dim, ndim),)


def check_same_device(*ts) -> None:
    d = None
    for t in ts:
        if isinstance(t, TensorBase):
            if d is None:
                d = t.device
            elif t.device != d:
                raise RuntimeError(
                    f"Expected all tensors to be on the same device, but found at least two devices, {d} and {t.device}!"
                )


def is_scalar(x) -> bool:
    return isinstance(x, (numbers.Number, np.bool_)) and not isinstance(x, TensorBase)


def scalar_dtype(x):
    if isinstance(x, (bool, np.bool_)):
        return bool_
    if isinstance(x, numbers.Integral):
        return int64
    if isinstance(x, numbers.Real):
        return float32
    raise TypeError(f"unsupported scalar {x!r} (complex numbers are not supported)")


# ------------------------------------------------------------------------------------
# raw kernel calls (no autograd)
# ------------------------------------------------------------------------------------


def empty(shape, dtype, device) -> TensorBase:
    shape = tuple(map(int, shape))
    n = 1
    for d in shape:
        n *= d
    return _wrap(device.empty(n, dtype), shape, dtype, device)


def full(shape, value, dtype, device) -> TensorBase:
    t = empty(shape, dtype, device)
    n = t.numel()
    if n:
        device.k.fill(t._data, n, float(value))
    return t


def zeros(shape, dtype, device) -> TensorBase:
    return full(shape, 0.0, dtype, device)


def strided_copy(x: TensorBase, shape, strides, offset: int = 0) -> TensorBase:
    """out (contiguous, shape)[i] = x.flat[offset + sum(i * strides)]."""
    out = empty(shape, x.dtype, x.device)
    if out.numel():
        x.device.k.copy_strided(
            out._data, x._data, list(out.shape), strides_of(out.shape), 0, list(strides), int(offset)
        )
    return out


def copy_into(dst: TensorBase, src: TensorBase, shape, dst_strides, dst_offset, src_strides, src_offset=0) -> None:
    if prod(shape):
        dst.device.k.copy_strided(
            dst._data, src._data, list(shape), list(dst_strides), int(dst_offset), list(src_strides), int(src_offset)
        )


def cast(x: TensorBase, dtype) -> TensorBase:
    if x.dtype is dtype:
        return x
    out = empty(x.shape, dtype, x.device)
    if out.numel():
        x.device.k.cast(out._data, x._data, out.numel())
    return out


def expand_raw(x: TensorBase, shape) -> TensorBase:
    shape = tuple(shape)
    if x.shape == shape:
        return x
    return strided_copy(x, shape, bcast_strides(x.shape, shape))


def binary_raw(a: TensorBase, b: TensorBase, op: int, out: TensorBase | None = None) -> TensorBase:
    """a op b with broadcasting; a and b share one dtype (float32 or int64)."""
    shape = broadcast_shapes(a.shape, b.shape)
    if out is None:
        out = empty(shape, bool_ if op >= C.BIN_EQ else a.dtype, a.device)
    if out.numel():
        a.device.k.binary_forward(
            out._data, a._data, b._data, list(shape), bcast_strides(a.shape, shape), bcast_strides(b.shape, shape), op
        )
    return out


def unary_raw(x: TensorBase, op: int, p0: float = 0.0, p1: float = 0.0, out: TensorBase | None = None) -> TensorBase:
    if out is None:
        out = empty(x.shape, x.dtype, x.device)
    if out.numel():
        x.device.k.unary_forward(out._data, x._data, out.numel(), op, float(p0), float(p1))
    return out


def reduce_raw(x: TensorBase, dims: tuple, op: int, keepdim: bool) -> TensorBase:
    """Reduce x over dims (sorted, unique) with a RedOp; mean is the mean over all dims."""
    shape = list(x.shape)
    kshape = [1 if i in dims else s for i, s in enumerate(shape)]
    final = tuple(kshape) if keepdim else tuple(s for i, s in enumerate(shape) if i not in dims)
    if not dims:
        return x
    if dims == tuple(range(dims[0], dims[-1] + 1)):  # one contiguous block: one kernel call
        outer, red, inner = prod(shape[: dims[0]]), prod(shape[dims[0] : dims[-1] + 1]), prod(shape[dims[-1] + 1 :])
        if red == 0 and op in (C.RED_MAX, C.RED_MIN):
            raise RuntimeError(f"max/min(): cannot reduce over a zero-size dimension (input shape {tuple(shape)})")
        out = empty(final, x.dtype, x.device)
        if outer * inner:
            x.device.k.reduce_forward(out._data, x._data, outer, red, inner, op)
        return out
    step_op = C.RED_SUM if op == C.RED_MEAN else op
    cur = x
    count = 1
    for d in reversed(dims):
        count *= shape[d]
        cur = reduce_raw(cur, (d,), step_op, True)
    if op == C.RED_MEAN:
        cur = unary_raw(cur, C.UN_AFFINE, 1.0 / count if count else float("nan"), 0.0)
    return _wrap(cur._data, final, cur.dtype, cur.device)


def where_raw(cond: TensorBase, a: TensorBase, b: TensorBase) -> TensorBase:
    """where(cond, a, b) with broadcasting; a and b share one dtype."""
    shape = broadcast_shapes(cond.shape, a.shape, b.shape)
    cond, a, b = expand_raw(cond, shape), expand_raw(a, shape), expand_raw(b, shape)
    if a.dtype is float32:
        out = empty(shape, float32, a.device)
        if out.numel():
            a.device.k.where_forward(out._data, cond._data, a._data, b._data, out.numel())
        return out
    # integers: exact select with arithmetic in int64
    dt = a.dtype
    a64, b64, c64 = cast(a, int64), cast(b, int64), cast(cond, int64)
    diff = binary_raw(a64, b64, C.BIN_SUB)
    res = binary_raw(b64, binary_raw(diff, c64, C.BIN_MUL), C.BIN_ADD)
    return cast(res, dt)


def from_numpy(arr: np.ndarray, dtype, device) -> TensorBase:
    """A new tensor holding a copy of `arr` converted to `dtype` (a neuraxon dtype)."""
    return _wrap(device.from_numpy(arr, dtype), tuple(arr.shape), dtype, device)


def array_operand(x, device):
    """A NumPy array operand of a binary operator (``t + ndarray``, ``ndarray < t``, ``t @
    ndarray``, ...) as a tensor on ``device``, converted as ``neuraxon.tensor(x)`` converts
    data (float64 -> float32, any integer -> int64), as torch does with its own dtypes;
    None for anything else."""
    if not isinstance(x, np.ndarray):
        return None
    if x.dtype.hasobject:
        raise TypeError("an object array cannot be an operand of a tensor (convert it to a numeric array first)")
    return from_numpy(x, dtype_of_data(x.dtype), device)


def arange_raw(n: int, device) -> TensorBase:
    return _wrap(device.from_numpy(np.arange(n, dtype=np.int64)), (n,), int64, device)


def uniform_(t: TensorBase, a: float, b: float, generator=None) -> TensorBase:
    """Fill float32 `t` with uniform [a, b) draws of the Philox stream of `generator` (the
    global one by default); returns t."""
    n = t.numel()
    if n:
        seed, off = (generator or _random.default_generator).next_offset(n)
        t.device.k.random_uniform(t._data, n, float(a), float(b), seed, off)
    return t


def normal_(t: TensorBase, mean: float, std: float, generator=None) -> TensorBase:
    """Fill float32 `t` with normal(mean, std) draws (Philox, Box-Muller); returns t."""
    n = t.numel()
    if n:
        seed, off = (generator or _random.default_generator).next_offset(n)
        t.device.k.random_normal(t._data, n, float(mean), float(std), seed, off)
    return t


def sum_to(g: TensorBase, shape) -> TensorBase:
    """Sum a broadcast gradient back to `shape`."""
    shape = tuple(shape)
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    dims = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape) if s == 1 and g.shape[lead + i] != 1)
    r = reduce_raw(g, dims, C.RED_SUM, True) if dims else g
    return _wrap(r._data, shape, r.dtype, r.device)


def clone_raw(x: TensorBase) -> TensorBase:
    n = x.numel()
    out = empty(x.shape, x.dtype, x.device)
    if n:
        x.device.k.copy_strided(out._data, x._data, [n], [1], 0, [1], 0)
    return out


def flat_positions(shape, dim: int, idx: TensorBase) -> TensorBase:
    """Flat positions (int64, idx's shape) of the elements that `idx` (keepdim shape along
    `dim`) selects in a contiguous tensor of `shape`."""
    outer, size, inner = prod(shape[:dim]), shape[dim], prod(shape[dim + 1 :])
    dev = idx.device
    o = arange_raw(outer, dev)
    o = binary_raw(o, full((), size * inner, int64, dev), C.BIN_MUL)
    i = arange_raw(inner, dev)
    base = binary_raw(_wrap(o._data, (outer, 1), int64, dev), _wrap(i._data, (1, inner), int64, dev), C.BIN_ADD)
    pos = binary_raw(_wrap(idx._data, (outer, inner), int64, dev), full((), inner, int64, dev), C.BIN_MUL)
    pos = binary_raw(pos, base, C.BIN_ADD)
    return _wrap(pos._data, idx.shape, int64, dev)


def scatter_flat(numel: int, pos: TensorBase, src: TensorBase) -> TensorBase:
    """zeros(numel) with src added at flat positions pos."""
    out = zeros((numel,), src.dtype, src.device)
    m = pos.numel()
    if m:
        src.device.k.scatter_add(out._data, src._data, pos._data, 1, numel, m, 1)
    return out


def gather_flat(x: TensorBase, pos: TensorBase) -> TensorBase:
    out = empty(pos.shape, x.dtype, x.device)
    m = pos.numel()
    if m:
        x.device.k.gather(out._data, x._data, pos._data, 1, x.numel(), m, 1)
    return out


def check_index(idx: TensorBase, lo: int, hi: int, dim: int, runtime_error: bool = False) -> None:
    """IndexError (RuntimeError when runtime_error) unless every value of int64 idx lies in
    [lo, hi): "index v is out of bounds for dimension dim with size hi". Checked by a kernel
    on idx's device, so a CUDA index never visits the host: there the error is raised at the
    next synchronization (a deferred device error) instead of in this call."""
    n = idx.numel()
    if n:
        idx.device.k.check_index(idx._data, n, lo, hi, dim, runtime_error)


# One-element float32 add/sub/mul are computed on Python floats: a kernel call's argument
# conversion alone (~1 us) costs more than the whole op. Exact: the double result of two
# float32 operands rounded once to float32 equals the float32 operation (53 >= 2*24 + 2 bits,
# so double rounding cannot differ). NumPy ufuncs would be as fast but warn on overflow or
# inf - inf, which PyTorch does not; a finite double beyond float32's range is stored as inf
# here for the same reason (NumPy's cast would warn).
_F32_ROUNDS_TO_INF = 3.4028235677973366e38  # FLT_MAX + half an ulp: rounds to inf


def binary_same_shape(a: TensorBase, b: TensorBase, op: int, reverse: bool):
    """a op b for two float32 tensors of one shape on one device, no graph to record;
    None when the case is not that simple."""
    shape = a.shape
    dev = a.device
    if b.shape != shape or b.device is not dev or op > C.BIN_MIN or op == C.BIN_POW:
        return None
    x, y = (b._data, a._data) if reverse else (a._data, b._data)
    if dev.type == "cpu":
        n = x.shape[0]
        if n == 1 and op <= C.BIN_MUL:
            u, w = x.item(), y.item()
            v = u + w if op == C.BIN_ADD else (u - w if op == C.BIN_SUB else u * w)
            if not -_F32_ROUNDS_TO_INF < v < _F32_ROUNDS_TO_INF and v == v:
                v = math.copysign(math.inf, v)
            out = np.empty(1, np.float32)
            out[0] = v
            return _wrap(out, shape, float32, dev)
    else:
        n = prod(shape)
    out = dev.empty(n, float32)
    if n:
        dev.k.binary_forward(out, x, y, [n], _ONE, _ONE, op)
    return _wrap(out, shape, float32, dev)


_ONE = [1]


def run(kernel: str, device, *args) -> None:
    """Call kernel `kernel` of `device`'s backend with flat arguments (tensors as `t._data`,
    None for absent optional arrays, sizes and scalars as they are; the kernel checks them).
    The one door of the op modules, optimizers and nn helpers to the kernels; _array's own
    raw helpers call device.k directly. Arguments are passed through, not unwrapped here: a
    generic unwrap costs ~0.4 us a call, as much as a small kernel."""
    getattr(device.k, kernel)(*args)
