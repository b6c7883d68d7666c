"""Functions on tensors that are not methods (neuraxon.cat, stack, einsum, meshgrid, ...), and
the named tuples that methods such as sort and topk return."""

from __future__ import annotations

import collections as _collections
from typing import TYPE_CHECKING

import numpy as np

from . import _array
from . import _codes as C
from . import random as _random
from ._tensor_base import TensorBase
from .creation import _size, full, rand, randn, tensor
from .dtypes import float32
from .ops import elementwise, host, linalg, movement

if TYPE_CHECKING:
    from .tensor import Tensor


_SortRes = _collections.namedtuple("sort", ["values", "indices"])


_TopkRes = _collections.namedtuple("topk", ["values", "indices"])


_MedianRes = _collections.namedtuple("median", ["values", "indices"])


_KthRes = _collections.namedtuple("kthvalue", ["values", "indices"])


def _shape_args(args) -> tuple:
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(int(s) for s in args[0])
    return tuple(int(s) for s in args)


def split(x: Tensor, split_size_or_sections, dim: int = 0):
    """x split along dim into pieces of split_size (an int) or of the given sizes (a list)."""
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
    """x split into `chunks` pieces along dim (the last may be smaller)."""
    d = _array.norm_dim(dim, x.ndim)
    size = x.shape[d]
    if chunks <= 0:
        raise RuntimeError("chunk expects `chunks` to be greater than 0")
    step = max((size + chunks - 1) // chunks, 1)
    return split(x, step, d)


def cat(tensors, dim: int = 0) -> Tensor:
    """The tensors joined along an existing dimension `dim` (shapes equal elsewhere)."""
    return movement.cat(tensors, dim)


concat = cat


concatenate = cat


def stack(tensors, dim: int = 0) -> Tensor:
    """The tensors (all of one shape) joined along a new dimension `dim`."""
    return movement.stack(tensors, dim)


def where(condition, input=None, other=None) -> Tensor:
    """Elementwise input where condition is true, else other; with only condition, nonzero(condition,
    as_tuple=True)."""
    if input is None and other is None:
        return tuple(tensor(a, device=condition.device) for a in np.nonzero(host.to_host(condition)))
    return elementwise.where(condition, input, other)


def maximum(a, b) -> Tensor:
    """The elementwise maximum of a and b (NaN propagates)."""
    return elementwise.binary(a, b, C.BIN_MAX)


def minimum(a, b) -> Tensor:
    """The elementwise minimum of a and b (NaN propagates)."""
    return elementwise.binary(a, b, C.BIN_MIN)


def matmul(a, b) -> Tensor:
    """The matrix product with NumPy/torch broadcasting rules (1-D operands, batches)."""
    return linalg.matmul(a, b)


def broadcast_shapes(*shapes) -> tuple:
    """The shape the given shapes broadcast to (NumPy's rules); RuntimeError if they do not."""
    return _array.broadcast_shapes(*shapes)


def broadcast_tensors(*ts):
    """The tensors expanded to their common broadcast shape."""
    shape = _array.broadcast_shapes(*(t.shape for t in ts))
    return tuple(t.expand(shape) for t in ts)


def nonzero(x: Tensor, as_tuple: bool = False):
    """The indices of the non-zero elements: (count, ndim) int64, or a tuple of 1-D index
    tensors with as_tuple=True."""
    nz = np.nonzero(host.to_host(x))
    if as_tuple:
        return tuple(tensor(a.astype(np.int64), device=x.device) for a in nz)
    return tensor(np.stack(nz, axis=1).astype(np.int64) if nz else np.zeros((0, 0), np.int64), device=x.device)


def bernoulli(input: Tensor, p=None, generator=None) -> Tensor:
    """0/1 draws with probabilities `input` (or the scalar p), same shape and dtype."""
    if p is not None:
        _check_probability(p, "bernoulli")
    prob = input if p is None else full(input.shape, float(p), device=input.device)
    if prob.dtype is not float32:
        raise TypeError(f"bernoulli: probabilities must be float32, got {prob.dtype.name}")
    if p is None:
        _check_probability(prob, "bernoulli")
    return (rand(prob.shape, device=prob.device) < prob).to(input.dtype)


def _check_probability(p, what: str) -> None:
    """ValueError unless p (a number, or every element of a float tensor) is in [0, 1], as
    PyTorch; NaN fails. For a CUDA tensor this reads one flag back (a host sync)."""
    if isinstance(p, TensorBase):
        if p.numel() and not bool(((p >= 0.0) & (p <= 1.0)).all().item()):
            raise ValueError(f"{what}: expects probabilities in [0, 1], got a tensor with values outside")
    elif not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"{what}: expects probabilities in [0, 1], got {p}")


def normal(mean, std=1.0, size=None, generator=None) -> Tensor:
    """Normal draws: tensor mean and/or std broadcast together, or floats with a size."""
    if isinstance(mean, TensorBase) or isinstance(std, TensorBase):
        ref = mean if isinstance(mean, TensorBase) else std
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
        if contr:  # a contracted index of size 1 on one side broadcasts to the other's size
            nb, nlft = len(batch), len(left)
            cs = [max(a.shape[nb + nlft + i], b.shape[nb + i]) for i in range(len(contr))]
            a = a.expand(list(a.shape[: nb + nlft]) + cs)
            b = b.expand(list(b.shape[:nb]) + cs + list(b.shape[nb + len(contr) :]))
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
    """Contract a's dims with b's, in torch's forms: an int n (a's last n with b's first n),
    a pair of lists ([1, 2], [0, 1]) or of ints (2, 0), a list of two tuples, or a tensor
    (one element: an int n; two rows: the two lists)."""
    if isinstance(dims, TensorBase):
        if dims.numel() > 1:
            if dims.shape[0] != 2:
                raise RuntimeError(f"tensordot: a dims tensor must have 2 rows, got shape {dims.shape}")
            dims = (dims[0].tolist(), dims[1].tolist())
        else:
            dims = int(dims.item())
    if isinstance(dims, (int, np.integer)):
        n = int(dims)
        if n < 0:
            raise RuntimeError(f"tensordot expects dims >= 0, but got dims={n}")
        if n > a.ndim or n > b.ndim:
            raise RuntimeError(f"tensordot expects dims < ndim_a or ndim_b, but got dims={n}")
        da, db = list(range(a.ndim - n, a.ndim)), list(range(n))
    else:
        if len(dims) != 2:
            raise RuntimeError(f"tensordot: dims must be an int or two lists of dims, got {dims!r}")
        da, db = [list(d) if isinstance(d, (list, tuple)) else [d] for d in dims]
    if len(da) != len(db):
        raise RuntimeError("both dimension lists should have same length")
    da = [_array.norm_dim(int(d), a.ndim) for d in da]
    db = [_array.norm_dim(int(d), b.ndim) for d in db]
    for i, j in zip(da, db):
        if a.shape[i] != b.shape[j] and 1 not in (a.shape[i], b.shape[j]):  # size 1 broadcasts
            raise RuntimeError(
                f"contracted dimensions need to match, but first has size {a.shape[i]} in dim {i} and second "
                f"has size {b.shape[j]} in dim {j}"
            )
    letters = "abcdefghijklmnopqrstuvwxyz"
    sa = list(letters[: a.ndim])
    sb = list(letters[a.ndim : a.ndim + b.ndim])
    for i, j in zip(da, db):
        sb[j] = sa[i]
    out = [c for i, c in enumerate(sa) if i not in da] + [c for j, c in enumerate(sb) if j not in db]
    return einsum("".join(sa) + "," + "".join(sb) + "->" + "".join(out), a, b)


def broadcast_to(x: Tensor, shape) -> Tensor:
    """x expanded to `shape` by broadcasting."""
    return x.expand(tuple(shape))


def atleast_1d(*ts):
    """Each tensor with at least one dimension (a 0-d tensor becomes shape (1,))."""
    out = tuple(
        t.reshape(1) if t.ndim == 0 else t for t in (ts[0] if len(ts) == 1 and isinstance(ts[0], (list, tuple)) else ts)
    )
    return out[0] if len(out) == 1 else out


def atleast_2d(*ts):
    """Each tensor with at least two dimensions (leading size-1 axes added)."""
    out = tuple(t.reshape((1,) * (2 - t.ndim) + t.shape) if t.ndim < 2 else t
                for t in (ts[0] if len(ts) == 1 and isinstance(ts[0], (list, tuple)) else ts))  # fmt: skip
    return out[0] if len(out) == 1 else out


def vstack(tensors) -> Tensor:
    """The tensors joined row-wise (along dim 0; 1-D tensors become rows)."""
    return cat([atleast_2d(t) for t in tensors], 0)


def hstack(tensors) -> Tensor:
    """The tensors joined column-wise (along dim 1; along dim 0 for 1-D tensors)."""
    tensors = [atleast_1d(t) for t in tensors]
    return cat(tensors, 0 if tensors[0].ndim == 1 else 1)


def column_stack(tensors) -> Tensor:
    """1-D tensors as columns (2-D ones as they are), joined along dimension 1."""
    return cat([t.reshape(-1, 1) if t.ndim <= 1 else t for t in tensors], 1)


def argwhere(x: Tensor) -> Tensor:
    """The indices of the non-zero elements, one row per element: (count, ndim) int64."""
    return nonzero(x)


def take_along_dim(x: Tensor, indices: Tensor, dim=None) -> Tensor:
    """Values of x at `indices` along dim (indices broadcast against x), as torch.take_along_dim;
    without dim, on the flattened x."""
    return x.take_along_dim(indices, dim)


def meshgrid(*tensors, indexing: str = "ij"):
    """Coordinate grids from 1-D tensors, indexing 'ij' (default) or 'xy'."""
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
    """beta * input + alpha * (mat1 @ mat2)."""
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
    scalar = not isinstance(values, TensorBase)
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
    """For each value of input, the index i of its bucket in the sorted 1-D `boundaries`:
    boundaries[i-1] < x <= boundaries[i], or boundaries[i-1] <= x < boundaries[i] with right=True
    (torch.bucketize)."""
    if boundaries.ndim != 1:
        raise RuntimeError(f"bucketize: boundaries must be 1-D, got shape {boundaries.shape}")
    return searchsorted(boundaries, input, right=right)


def is_tensor(x) -> bool:
    """True when x is a neuraxon Tensor."""
    return isinstance(x, TensorBase)
