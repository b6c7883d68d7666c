"""Tensor: creation, dtypes, broadcasting arithmetic, indexing, shape ops, reductions and
errors, against NumPy, on every device."""

import math

import numpy as np
import pytest

import neuraxon as nx
from neuraxon.testing.tolerances import assert_close


def arr(t):
    return np.asarray(t.detach().cpu())


@pytest.fixture
def rng():
    return np.random.default_rng(7)


# ---- creation and dtypes ---------------------------------------------------------------


def test_tensor_dtype_inference(device):
    assert nx.tensor(1.5, device=device).dtype is nx.float32
    assert nx.tensor([1, 2], device=device).dtype is nx.int64
    assert nx.tensor([True, False], device=device).dtype is nx.bool
    assert nx.tensor(np.zeros(3, np.float64), device=device).dtype is nx.float32
    assert nx.tensor(np.zeros(3, np.int32), device=device).dtype is nx.int64
    assert nx.tensor([], device=device).dtype is nx.float32
    assert nx.tensor([1, 2], dtype=nx.float32, device=device).dtype is nx.float32
    t = nx.tensor([[1.0, 2.0], [3.0, 4.0]], device=device, requires_grad=True)
    assert t.shape == (2, 2) and t.size() == (2, 2) and t.size(-1) == 2 and t.ndim == 2 and t.dim() == 2
    assert t.numel() == 4 and len(t) == 2 and t.requires_grad and t.device == device and str(t.device) == device
    assert t.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert nx.tensor(3, device=device).item() == 3 and isinstance(nx.tensor(2.5).item(), float)
    assert "requires_grad=True" in repr(t)
    with pytest.raises(TypeError):
        nx.tensor(["a"], device=device)
    with pytest.raises(TypeError):
        nx.tensor([1.0], dtype=np.complex64)


def test_creation_functions(device):
    z = nx.zeros(2, 3, device=device)
    assert z.shape == (2, 3) and z.dtype is nx.float32 and (arr(z) == 0).all()
    assert (arr(nx.ones((4,), device=device)) == 1).all()
    f = nx.full((2, 2), 7, device=device)
    assert f.dtype is nx.int64 and (arr(f) == 7).all()
    assert nx.full((2,), 1.5, device=device).dtype is nx.float32
    assert nx.empty(3, 0, device=device).shape == (3, 0)
    np.testing.assert_array_equal(arr(nx.arange(5, device=device)), np.arange(5))
    assert nx.arange(5).dtype is nx.int64 and nx.arange(0, 1, 0.25).dtype is nx.float32
    np.testing.assert_allclose(arr(nx.arange(1, 2, 0.25, device=device)), [1, 1.25, 1.5, 1.75])
    np.testing.assert_allclose(arr(nx.linspace(0, 1, 5, device=device)), np.linspace(0, 1, 5), rtol=1e-6)
    np.testing.assert_array_equal(arr(nx.eye(3, 2, device=device)), np.eye(3, 2))
    x = nx.tensor([[1, 2]], device=device)
    for fn, val in ((nx.zeros_like, 0), (nx.ones_like, 1)):
        y = fn(x)
        assert y.shape == x.shape and y.dtype is nx.int64 and (arr(y) == val).all()
    assert (arr(nx.full_like(x, 3)) == 3).all() and nx.empty_like(x, dtype=nx.float32).dtype is nx.float32
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = nx.from_numpy(a)
    assert t.shape == (2, 3)
    a[0, 0] = 100  # shares memory on the CPU
    assert t[0, 0].item() == 100
    with pytest.raises(RuntimeError, match="negative dimension"):
        nx.zeros(2, -1)


def test_random_creation_reproducible_and_in_range(device):
    nx.manual_seed(3)
    a = arr(nx.rand(1000, device=device))
    b = arr(nx.randn(1000, device=device))
    nx.manual_seed(3)
    np.testing.assert_array_equal(arr(nx.rand(1000, device=device)), a)
    np.testing.assert_array_equal(arr(nx.randn(1000, device=device)), b)
    assert a.min() >= 0 and a.max() < 1 and abs(a.mean() - 0.5) < 0.05
    assert abs(b.mean()) < 0.15 and abs(b.std() - 1) < 0.1
    r = arr(nx.randint(-3, 4, (2000,), device=device))
    assert r.dtype == np.int64 and r.min() == -3 and r.max() == 3
    p = arr(nx.randperm(50, device=device))
    np.testing.assert_array_equal(np.sort(p), np.arange(50))
    x = nx.rand(3, device=device)
    assert nx.rand_like(x).shape == (3,) and nx.randn_like(x).dtype is nx.float32
    u = nx.empty(500, device=device).uniform_(2, 3)
    assert arr(u).min() >= 2 and arr(u).max() < 3
    n = nx.empty(2000, device=device).normal_(5.0, 0.5)
    assert abs(arr(n).mean() - 5) < 0.1


def test_conversions(device):
    x = nx.tensor([1.7, -2.2, 0.0], device=device)
    np.testing.assert_array_equal(arr(x.long()), [1, -2, 0])
    np.testing.assert_array_equal(arr(x.bool()), [True, True, False])
    assert x.to(nx.int64).dtype is nx.int64 and x.float() is x
    assert x.to("cpu").device == "cpu" and x.cpu().device == nx.device("cpu")
    assert x.type_as(nx.tensor([1])).dtype is nx.int64
    y = x.clone()
    y.add_(1.0)
    assert arr(x)[0] == pytest.approx(1.7)
    assert x.contiguous() is x
    assert float(nx.tensor(2.5, device=device)) == 2.5 and int(nx.tensor(3, device=device)) == 3
    with pytest.raises(RuntimeError, match="requires grad"):
        nx.tensor([1.0], requires_grad=True).numpy()


# ---- arithmetic ------------------------------------------------------------------------

SHAPE_PAIRS = [
    ((3,), (3,)),
    ((2, 3), (3,)),
    ((4, 1), (1, 5)),
    ((2, 1, 3), (4, 1)),
    ((), (2, 2)),
    ((0, 3), (3,)),
    ((5, 7), (5, 7)),
]


@pytest.mark.parametrize("sa,sb", SHAPE_PAIRS)
def test_broadcasting_arithmetic_vs_numpy(device, rng, sa, sb):
    a = rng.standard_normal(sa).astype(np.float32)
    b = rng.random(sb).astype(np.float32) + 0.5
    ta, tb = nx.tensor(a, device=device), nx.tensor(b, device=device)
    assert_close(arr(ta + tb), a + b)
    assert_close(arr(ta - tb), a - b)
    assert_close(arr(ta * tb), a * b)
    assert_close(arr(ta / tb), a / b)
    assert_close(arr(tb**ta), b.astype(np.float64) ** a, "transcendental")
    assert_close(arr(nx.maximum(ta, tb)), np.maximum(a, b))
    assert_close(arr(nx.minimum(ta, tb)), np.minimum(a, b))
    np.testing.assert_array_equal(arr(ta < tb), a < b)
    np.testing.assert_array_equal(arr(ta >= tb), a >= b)
    np.testing.assert_array_equal(arr(ta == ta), np.ones(a.shape, bool))


def test_scalars_and_promotion(device, rng):
    a = rng.standard_normal((3, 4)).astype(np.float32)
    t = nx.tensor(a, device=device)
    assert_close(arr(t + 2), a + 2)
    assert_close(arr(2 - t), 2 - a)
    assert_close(arr(t * 0.5), a * 0.5)
    assert_close(arr(3 / (t.abs() + 1)), 3 / (np.abs(a) + 1))
    assert_close(arr(t / 4), a / 4)
    assert_close(arr(t**2), a**2)
    assert_close(arr(2**t), 2.0**a, "transcendental")
    assert_close(arr(-t), -a)
    assert_close(arr(np.float32(2) * t), 2 * a)
    i = nx.tensor([1, 2, 3], device=device)
    assert (i + 1).dtype is nx.int64 and (i * 2).tolist() == [2, 4, 6]
    assert (i + 0.5).dtype is nx.float32 and (i + 0.5).tolist() == [1.5, 2.5, 3.5]
    assert (i / 2).dtype is nx.float32 and (i / 2).tolist() == [0.5, 1.0, 1.5]
    f = nx.tensor([0.5, 0.5, 0.5], device=device)
    assert (i + f).dtype is nx.float32 and (i + f).tolist() == [1.5, 2.5, 3.5]
    assert (i**2).tolist() == [1, 4, 9] and (-i).tolist() == [-1, -2, -3] and abs(-i).tolist() == [1, 2, 3]
    b = nx.tensor([True, False, True], device=device)
    assert (b & nx.tensor([True, True, False], device=device)).tolist() == [True, False, False]
    assert (~b).tolist() == [False, True, False] and (b | False).tolist() == [True, False, True]
    assert b.sum().item() == 2 and b.sum().dtype is nx.int64
    with pytest.raises(TypeError, match="int64"):
        i.add_(0.5)  # float result cannot be stored in int64
    with pytest.raises(TypeError, match="float32 .*int64|int64 .*float32"):
        nx.tensor([[1.0]], device=device) @ nx.tensor([[1]], device=device)


def test_unary_math_vs_numpy(device, rng):
    a = (rng.random((4, 5)) + 0.1).astype(np.float32)
    t = nx.tensor(a, device=device)
    for name, ref in [
        ("exp", np.exp),
        ("log", np.log),
        ("sqrt", np.sqrt),
        ("abs", np.abs),
        ("sin", np.sin),
        ("cos", np.cos),
        ("sigmoid", lambda v: 1 / (1 + np.exp(-v))),
        ("tanh", np.tanh),
        ("rsqrt", lambda v: 1 / np.sqrt(v)),
        ("reciprocal", lambda v: 1 / v),
        ("log1p", np.log1p),
        ("expm1", np.expm1),
        ("relu", lambda v: np.maximum(v, 0)),
        ("square", np.square),
    ]:
        assert_close(arr(getattr(t, name)()), ref(a.astype(np.float64)), "transcendental", name)
        assert_close(arr(getattr(nx, name)(t)), ref(a.astype(np.float64)), "transcendental", name)
    assert_close(arr(t.clamp(0.3, 0.7)), np.clip(a, 0.3, 0.7))
    assert_close(arr(t.clamp(min=0.5)), np.maximum(a, 0.5))
    assert_close(arr(t.softmax(1)), np.exp(a) / np.exp(a).sum(1, keepdims=True), "reduction")
    m = t > 0.5
    assert_close(arr(t.masked_fill(m, -1.0)), np.where(a > 0.5, -1, a))
    assert_close(arr(nx.where(m, t, 0.0)), np.where(a > 0.5, a, 0))
    assert nx.where(m, 1, 0).dtype is nx.int64


def test_matmul_shapes_vs_numpy(device, rng):
    cases = [
        ((3,), (3,)),
        ((2, 3), (3,)),
        ((3,), (3, 4)),
        ((2, 3), (3, 4)),
        ((5, 2, 3), (3, 4)),
        ((2, 3), (5, 3, 4)),
        ((5, 2, 3), (5, 3, 4)),
        ((2, 1, 2, 3), (4, 3, 2)),
        ((0, 3), (3, 2)),
        ((2, 0), (0, 3)),
    ]
    for sa, sb in cases:
        a = rng.standard_normal(sa).astype(np.float32)
        b = rng.standard_normal(sb).astype(np.float32)
        out = nx.tensor(a, device=device) @ nx.tensor(b, device=device)
        want = a.astype(np.float64) @ b
        assert out.shape == want.shape, (sa, sb)
        assert_close(arr(out), want, "reduction", f"{sa} @ {sb}")
    with pytest.raises(RuntimeError, match=r"2x3 and 4x5"):
        nx.zeros(2, 3, device=device) @ nx.zeros(4, 5, device=device)


def test_inplace_ops(device):
    x = nx.zeros(2, 3, device=device)
    x.add_(1.0).mul_(3.0).sub_(nx.tensor([1.0, 2.0, 3.0], device=device))
    np.testing.assert_allclose(arr(x), [[2, 1, 0], [2, 1, 0]])
    x += 1
    x *= nx.tensor([[2.0], [3.0]], device=device)
    x /= 2
    np.testing.assert_allclose(arr(x), [[3, 2, 1], [4.5, 3, 1.5]])
    x.clamp_(max=2.5)
    np.testing.assert_allclose(arr(x), [[2.5, 2, 1], [2.5, 2.5, 1.5]])
    x.fill_(7)
    assert (arr(x) == 7).all()
    x.zero_()
    assert (arr(x) == 0).all()
    x.copy_(nx.tensor([1.0, 2.0, 3.0], device=device))
    np.testing.assert_allclose(arr(x), [[1, 2, 3], [1, 2, 3]])
    x.add_(nx.ones(3, device=device), alpha=-2)
    np.testing.assert_allclose(arr(x), [[-1, 0, 1], [-1, 0, 1]])
    x.masked_fill_(x < 0, 9.0)
    np.testing.assert_allclose(arr(x), [[9, 0, 1], [9, 0, 1]])
    y = x.reshape(6)
    y.add_(1.0)  # reshape shares data
    assert arr(x)[0, 0] == 10
    with pytest.raises(RuntimeError, match=r"\(2, 3\)"):
        x.add_(nx.ones(2, 2, 3, device=device))


# ---- indexing --------------------------------------------------------------------------


def test_basic_indexing_vs_numpy(device):
    a = np.arange(120, dtype=np.float32).reshape(4, 5, 6)
    t = nx.tensor(a, device=device)
    idxs = [
        0,
        -1,
        (1, 2),
        (1, 2, 3),
        slice(1, 3),
        (slice(None), 2),
        (slice(None, None, 2), slice(1, None, 3)),
        (Ellipsis, 1),
        (None, 1),
        (1, None, slice(2, 4)),
        (slice(None, None, -1),),
        (slice(3, 0, -2), Ellipsis, -1),
        (slice(10, 20),),
        (slice(None), slice(4, 1)),
    ]
    for ix in idxs:
        got = t[ix]
        want = a[ix]
        assert got.shape == want.shape, ix
        np.testing.assert_array_equal(arr(got), want, err_msg=str(ix))
    assert t[1, 2, 3].item() == a[1, 2, 3]
    with pytest.raises(IndexError, match="out of bounds"):
        t[4]
    with pytest.raises(IndexError, match="too many indices"):
        t[0, 0, 0, 0]


def test_advanced_indexing_vs_numpy(device):
    a = np.arange(60, dtype=np.float32).reshape(3, 4, 5)
    t = nx.tensor(a, device=device)
    idx = np.array([2, 0, 2])
    cases = [
        (nx.tensor(idx, device=device), idx),
        ([0, 2], [0, 2]),
        ((slice(None), nx.tensor([3, 1], device=device)), (slice(None), [3, 1])),
        ((nx.tensor([0, 2], device=device), nx.tensor([1, 3], device=device)), ([0, 2], [1, 3])),
        (
            (nx.tensor([0, 2], device=device), slice(None), nx.tensor([1, 4], device=device)),
            ([0, 2], slice(None), [1, 4]),
        ),
        ((Ellipsis, nx.tensor([[0, 1], [4, 4]], device=device)), (Ellipsis, np.array([[0, 1], [4, 4]]))),
        ((nx.tensor([-1], device=device),), ([-1],)),
        (t > 30, a > 30),
        (nx.tensor(a[:, :, 0] > 20, device=device), a[:, :, 0] > 20),
    ]
    for ix, nix in cases:
        got = t[ix]
        want = a[nix]
        assert got.shape == want.shape, nix
        np.testing.assert_array_equal(arr(got), want)
    with pytest.raises(IndexError):
        t[nx.tensor([0.5], device=device)]


def test_setitem(device):
    a = np.zeros((3, 4), np.float32)
    t = nx.tensor(a, device=device)
    ops = [
        (1, 5.0),
        ((slice(None), 2), np.array([1, 2, 3], np.float32)),
        ((0, slice(1, 3)), 7.0),
        ((slice(None, None, -1), 0), np.array([4, 5, 6], np.float32)),
        ([0, 2], 9.0),
        ((np.array([1, 2]), np.array([3, 0])), np.array([-1, -2], np.float32)),
    ]
    for ix, v in ops:
        t[ix if not isinstance(ix, np.ndarray) else nx.tensor(ix)] = (
            nx.tensor(v, device=device) if isinstance(v, np.ndarray) else v
        )
        a[ix] = v
        np.testing.assert_array_equal(arr(t), a, err_msg=str(ix))
    t[t > 5] = 0.5
    a[a > 5] = 0.5
    np.testing.assert_array_equal(arr(t), a)
    i = nx.zeros(4, dtype=nx.int64, device=device)
    i[1:3] = 4
    assert i.tolist() == [0, 4, 4, 0]
    with pytest.raises(RuntimeError, match="in-place|requires grad"):
        nx.zeros(2, requires_grad=True)[0] = 1.0


# ---- shape ops -----------------------------------------------------------------------


def test_shape_ops_vs_numpy(device, rng):
    a = rng.standard_normal((2, 3, 4)).astype(np.float32)
    t = nx.tensor(a, device=device)
    checks = [
        (t.reshape(4, 6), a.reshape(4, 6)),
        (t.view(-1, 4), a.reshape(-1, 4)),
        (t.flatten(), a.reshape(-1)),
        (t.flatten(1), a.reshape(2, 12)),
        (t.permute(2, 0, 1), a.transpose(2, 0, 1)),
        (t.transpose(0, 2), a.swapaxes(0, 2)),
        (t[0].t(), a[0].T),
        (t.T, a.transpose(2, 1, 0)),
        (t.unsqueeze(1), a[:, None]),
        (t.unsqueeze(-1), a[..., None]),
        (t[:, :1].squeeze(), a[:, 0]),
        (t[:, :1].squeeze(1), a[:, 0]),
        (t[:1].expand(3, 3, 4), np.broadcast_to(a[:1], (3, 3, 4))),
        (t[:, :, :1].expand(-1, -1, 5), np.broadcast_to(a[:, :, :1], (2, 3, 5))),
        (t.repeat(2, 1, 3), np.tile(a, (2, 1, 3))),
        (t.repeat(2, 1, 1, 1), np.tile(a, (2, 1, 1, 1))),
        (nx.cat([t, t * 2], 1), np.concatenate([a, a * 2], 1)),
        (nx.stack([t, t], -1), np.stack([a, a], -1)),
        (t.narrow(2, 1, 2), a[:, :, 1:3]),
        (t.flip(1), a[:, ::-1]),
        (t.unflatten(2, (2, 2)), a.reshape(2, 3, 2, 2)),
        (t.index_select(1, nx.tensor([2, 0], device=device)), a[:, [2, 0]]),
        (t.gather(2, nx.tensor(np.argsort(a, 2), device=device)), np.take_along_axis(a, np.argsort(a, 2), 2)),
    ]
    for got, want in checks:
        assert got.shape == want.shape
        np.testing.assert_array_equal(arr(got), want)
    parts = t.split(3, dim=2)
    assert [p.shape for p in parts] == [(2, 3, 3), (2, 3, 1)]
    parts = t.split([1, 2], dim=1)
    np.testing.assert_array_equal(arr(parts[1]), a[:, 1:])
    chunks = t.chunk(2, -1)
    assert len(chunks) == 2 and chunks[0].shape == (2, 3, 2)
    assert [u.shape for u in t.unbind(0)] == [(3, 4), (3, 4)]
    assert [arr(r).shape for r in t] == [(3, 4), (3, 4)]
    assert t.reshape(4, 6)._data is t._data  # reshape aliases
    with pytest.raises(RuntimeError, match=r"invalid for input of size 24"):
        t.reshape(5, 5)
    with pytest.raises(RuntimeError, match=r"\(2, 3, 4\)|2, 3, 4"):
        t.expand(3, 3, 4)
    with pytest.raises(RuntimeError, match="Sizes of tensors must match"):
        nx.cat([t, nx.zeros(2, 2, 5, device=device)], 1)
    with pytest.raises(IndexError, match="Dimension out of range"):
        t.sum(3)


# ---- reductions -------------------------------------------------------------------------


@pytest.mark.parametrize("dim", [None, 0, 1, -1, (0, 2), (0, 1, 2)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_reductions_vs_numpy(device, rng, dim, keepdim):
    a = rng.standard_normal((3, 4, 5)).astype(np.float32)
    t = nx.tensor(a, device=device)
    npdim = dim if dim is not None else None
    kd = keepdim if dim is not None else False
    a64 = a.astype(np.float64)
    assert_close(arr(t.sum(dim, keepdim=kd)), a64.sum(npdim, keepdims=kd), "reduction")
    assert_close(arr(t.mean(dim, keepdim=kd)), a64.mean(npdim, keepdims=kd), "reduction")
    assert_close(arr(t.var(dim, keepdim=kd)), a64.var(npdim, ddof=1, keepdims=kd), "reduction")
    assert_close(arr(t.var(dim, unbiased=False, keepdim=kd)), a64.var(npdim, keepdims=kd), "reduction")
    assert_close(arr(t.std(dim, correction=0, keepdim=kd)), a64.std(npdim, keepdims=kd), "reduction")
    assert_close(arr(t.prod(dim, keepdim=kd)), a64.prod(npdim, keepdims=kd), "reduction")
    assert_close(arr(t.norm(2, dim, keepdim=kd)), np.sqrt((a64**2).sum(npdim, keepdims=kd)), "reduction")
    assert_close(arr(t.amax(dim, keepdim=kd)), a64.max(npdim, keepdims=kd), "exact")
    assert_close(
        arr(t.logsumexp(dim if dim is not None else (0, 1, 2), keepdim=kd)),
        np.log(np.exp(a64).sum(npdim, keepdims=kd)),
        "reduction",
    )


def test_max_min_arg_vs_numpy(device, rng):
    a = rng.standard_normal((3, 4, 5)).astype(np.float32)
    t = nx.tensor(a, device=device)
    for d in (0, 1, 2, -1):
        v, i = t.max(d)
        np.testing.assert_array_equal(arr(v), a.max(d))
        np.testing.assert_array_equal(arr(i), a.argmax(d))
        r = t.min(d, keepdim=True)
        np.testing.assert_array_equal(arr(r.values), a.min(d, keepdims=True))
        np.testing.assert_array_equal(arr(r.indices), a.argmin(d)[(slice(None),) * (d % 3) + (None,)])
        np.testing.assert_array_equal(arr(t.argmax(d)), a.argmax(d))
        np.testing.assert_array_equal(arr(t.argmin(d, keepdim=True)), np.expand_dims(a.argmin(d), d))
    assert t.max().item() == a.max() and t.min().item() == a.min()
    assert t.argmax().item() == a.argmax() and t.argmin().item() == a.argmin()
    i = nx.tensor([[3, 1], [2, 7]], device=device)
    assert i.sum().item() == 13 and i.max().item() == 7 and i.sum(0).tolist() == [5, 8]
    assert i.max(1).indices.tolist() == [0, 1]
    b = nx.tensor([[True, False], [True, True]], device=device)
    assert b.all(1).tolist() == [False, True] and b.any().item() and not b.all().item()
    with pytest.raises(RuntimeError, match="floating point"):
        i.mean()


# ---- devices and errors --------------------------------------------------------------


def test_mixing_devices_names_both():
    cpu = nx.zeros(2)
    fake = nx.Tensor._wrap(np.zeros(2, np.float32), (2,), nx.float32, nx.device("cuda"))
    with pytest.raises(RuntimeError, match="cpu and cuda"):
        cpu + fake
    with pytest.raises(RuntimeError, match="cpu and cuda"):
        nx.cat([cpu, fake])
    assert nx.device("cuda:0") == nx.device("cuda") and nx.device("cpu") == "cpu"
    with pytest.raises(ValueError):
        nx.device("tpu")


def test_broadcast_error_names_shapes(device):
    with pytest.raises(RuntimeError, match=r"\(2, 3\) and \(4,\)"):
        nx.zeros(2, 3, device=device) + nx.zeros(4, device=device)


def test_len_iter_bool_errors(device):
    s = nx.tensor(1.0, device=device)
    with pytest.raises(TypeError):
        len(s)
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(nx.zeros(2, device=device))
    assert bool(nx.tensor([1.0], device=device))
    assert math.isclose(nx.tensor([[2.0]], device=device).item(), 2.0)


def test_format_new_and_nan_helpers(device):
    t = nx.tensor([1.0, float("nan"), float("inf"), -float("inf")], device=device)
    assert t.isnan().tolist() == [False, True, False, False]
    assert t.isinf().tolist() == [False, False, True, True]
    assert t.isfinite().tolist() == [True, False, False, False]
    assert nx.isfinite(t).tolist() == [True, False, False, False]
    assert t.nan_to_num(0.0, 9.0, -9.0).tolist() == [1.0, 0.0, 9.0, -9.0]
    assert f"{nx.tensor(2.25, device=device):.1f}" == "2.2"
    z = t.new_zeros(2, 3)
    assert z.shape == (2, 3) and z.dtype is nx.float32 and z.device == device
    assert t.new_tensor([1, 2]).tolist() == [1.0, 2.0] and t.new_full((2,), 3.0).tolist() == [3.0, 3.0]


def test_sort_topk_cumsum_vs_numpy(device, rng):
    a = rng.standard_normal((3, 5)).astype(np.float32)
    t = nx.tensor(a, device=device)
    v, i = t.sort(1)
    np.testing.assert_array_equal(arr(v), np.sort(a, 1))
    np.testing.assert_array_equal(arr(i), np.argsort(a, 1))
    np.testing.assert_array_equal(arr(t.argsort(0, descending=True)), np.argsort(-a, 0))
    tv, ti = t.topk(2)
    np.testing.assert_array_equal(arr(tv), -np.sort(-a, 1)[:, :2])
    np.testing.assert_array_equal(arr(ti), np.argsort(-a, 1)[:, :2])
    assert_close(arr(t.cumsum(1)), np.cumsum(a.astype(np.float64), 1), "reduction")
    assert_close(arr(nx.cumsum(t, 0)), np.cumsum(a.astype(np.float64), 0), "reduction")
    assert nx.tensor([1, 2, 3], device=device).cumsum(0).tolist() == [1, 3, 6]
    with pytest.raises(RuntimeError, match="out of range"):
        t.topk(6)


def test_module_level_mm_and_bmm_match_numpy(device):
    a, b = nx.randn(2, 3, 4, device=device), nx.randn(2, 4, 5, device=device)
    np.testing.assert_allclose(nx.bmm(a, b).numpy(), a.numpy() @ b.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(nx.mm(a[0], b[0]).numpy(), a.numpy()[0] @ b.numpy()[0], rtol=1e-5, atol=1e-5)


def test_deepcopy_keeps_subclass_fields_and_values():
    import copy

    m = nx.nn.Linear(3, 2)
    m2 = copy.deepcopy(m)
    for p, q in zip(m.parameters(), m2.parameters()):
        assert type(q) is nx.nn.Parameter and q.requires_grad and q.shape == p.shape
        np.testing.assert_array_equal(q.detach().numpy(), p.detach().numpy())
        assert q._data is not p._data  # a copy, not an alias
    t = nx.tensor([[1.0, 2.0]], requires_grad=True)
    u = copy.deepcopy(t)
    assert u.requires_grad and u.shape == (1, 2) and u.tolist() == [[1.0, 2.0]]


def test_integers_past_int64_raise_instead_of_wrapping():
    # 2**63 + 5 became -9223372036854775803 (uint64 wrapped into int64); torch raises
    # "Overflow when unpacking long long" for such a Python int
    for data in ([2**63 + 5], np.array([1, 2**63 + 5], np.uint64), [2**64], [-(2**63) - 1]):
        with pytest.raises(OverflowError, match="int64"):
            nx.tensor(data)
    assert nx.tensor([2**63 - 1, -(2**63)]).tolist() == [2**63 - 1, -(2**63)]
    assert nx.tensor(np.array([5, 2**63 - 1], np.uint64)).tolist() == [5, 2**63 - 1]
    assert nx.tensor(np.array([2**63 + 5], np.uint64), dtype="float32").item() == float(np.float32(2**63 + 5))


def test_float64_past_float32_range_raises_instead_of_inf():
    # neuraxon stores float32: 1e300 became inf without a word (torch keeps float64 data as is)
    for data in ([1e300], np.array([1.0, -1e39]), np.array([[3.5e38]])):
        with pytest.raises(OverflowError, match="beyond float32's range"):
            nx.tensor(data)
    with pytest.raises(OverflowError):
        nx.from_numpy(np.array([1e300]))
    assert np.isinf(nx.tensor(np.array([np.inf, -np.inf, 1.0])).numpy()[:2]).all()  # inf stays inf
    assert nx.tensor(np.array([3.4028235e38])).item() == float(np.float32(3.4028235e38))  # float32's max fits
    assert np.isnan(nx.tensor([float("nan")]).item())
