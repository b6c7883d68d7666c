"""Edge cases of issue 13, each checked against PyTorch's behaviour (expected values below
were computed with torch 2.x; torch is not needed to run this file): 0-d tensors in the
indexing ops, conv_transpose2d with dilation + groups + output_padding, take_along_dim with
a broadcasting index, cat with a legacy empty tensor, norm(p=0), tensordot's dims forms,
einsum with a list of operands, unbatched (C, H, W) inputs."""

import numpy as np
import pytest

import neuraxon as nx


def _np(t):
    return t.detach().cpu().numpy()


# -- 1. 0-d tensors in topk / gather / index_select / scatter / scatter_add / argmax ------------


def _scalar(device, v=3.0):
    return nx.tensor(v, device=device, requires_grad=True)


@pytest.mark.parametrize("dim", [0, -1])
def test_scalar_index_select_gather_forward_and_backward(device, dim):
    for idx in (nx.tensor(0, device=device), nx.tensor([0], device=device)):
        x = _scalar(device)
        y = x.index_select(dim, idx)
        assert y.shape == ()
        assert y.item() == 3.0
        (y * 2).backward()
        assert x.grad.shape == () and x.grad.item() == 2.0
    x = _scalar(device)
    y = x.gather(dim, nx.tensor(0, device=device))
    assert y.shape == () and y.item() == 3.0
    (y * 2).backward()
    assert x.grad.shape == () and x.grad.item() == 2.0
    x = _scalar(device)
    y = x.gather(dim, nx.tensor([0, 0], device=device))  # the result has index's shape
    assert y.shape == (2,)
    y.sum().backward()
    assert x.grad.item() == 2.0


def test_scalar_index_select_gather_errors(device):
    x = _scalar(device)
    with pytest.raises(RuntimeError, match="only 1 value"):
        x.index_select(0, nx.tensor([0, 0], device=device))
    with pytest.raises(IndexError, match="vector"):
        x.index_select(0, nx.tensor([[0]], device=device))
    with pytest.raises(IndexError):
        x.index_select(1, nx.tensor(0, device=device))
    with pytest.raises(IndexError):
        x.gather(1, nx.tensor(0, device=device))
    with pytest.raises(RuntimeError):
        x.gather(0, nx.tensor([[0]], device=device))


def test_zero_d_index_on_1d_input(device):
    # torch: index_select with a 0-d index keeps the dim; gather returns index's shape ()
    a = nx.arange(3.0, device=device)
    r = a.index_select(0, nx.tensor(1, device=device))
    assert r.shape == (1,) and r.tolist() == [1.0]
    r = a.gather(0, nx.tensor(1, device=device))
    assert r.shape == () and r.item() == 1.0
    r = a.scatter(0, nx.tensor(1, device=device), nx.tensor(9.0, device=device))
    assert r.tolist() == [0.0, 9.0, 2.0]


@pytest.mark.parametrize("dim", [0, -1])
def test_scalar_scatter_and_scatter_add(device, dim):
    x, s = _scalar(device), _scalar(device, 5.0)
    y = x.scatter(dim, nx.tensor(0, device=device), s)
    assert y.shape == () and y.item() == 5.0
    (y * 2).backward()
    assert x.grad.item() == 0.0 and s.grad.shape == () and s.grad.item() == 2.0
    x, s = _scalar(device), _scalar(device, 5.0)
    y = x.scatter_add(dim, nx.tensor(0, device=device), s)
    assert y.shape == () and y.item() == 8.0
    (y * 2).backward()
    assert x.grad.item() == 2.0 and s.grad.item() == 2.0
    x = _scalar(device)
    assert x.scatter(dim, nx.tensor(0, device=device), 7.0).item() == 7.0
    assert x.scatter(dim, nx.tensor([0], device=device), nx.tensor([5.0], device=device)).shape == ()
    y = x.scatter_add(dim, nx.tensor([0, 0], device=device), nx.tensor([5.0, 1.0], device=device))
    assert y.shape == () and y.item() == 9.0
    with pytest.raises(IndexError):
        x.scatter(1, nx.tensor(0, device=device), 7.0)


@pytest.mark.parametrize("dim", [0, -1])
@pytest.mark.parametrize("largest", [True, False])
def test_scalar_topk(device, dim, largest):
    for k in (0, 1):  # torch returns the 0-d value for k=0 too
        x = _scalar(device)
        v, i = x.topk(k, dim, largest=largest)
        assert v.shape == () and i.shape == () and v.item() == 3.0 and i.item() == 0
        assert v is not x
        (v * 2).backward()
        assert x.grad.item() == 2.0
    with pytest.raises(RuntimeError):
        x.topk(2)
    with pytest.raises(IndexError):
        x.topk(1, 1)


@pytest.mark.parametrize("fn", ["argmax", "argmin"])
def test_argmax_argmin_shapes(device, fn):
    x = nx.tensor(3.0, device=device)
    for args in [(), (0,), (-1,), (0, True), (-1, True), (None, True)]:
        r = getattr(x, fn)(*args)
        assert r.shape == () and r.item() == 0, args
    assert getattr(nx, fn)(x).shape == ()
    m = nx.tensor([[1.0, 5.0, -2.0], [7.0, 0.0, 3.0]], device=device)
    r = getattr(m, fn)()
    assert r.shape == () and r.item() == (3 if fn == "argmax" else 2)
    r = getattr(m, fn)(None, True)
    assert r.shape == (1, 1) and r.tolist() == [[3 if fn == "argmax" else 2]]
    assert getattr(m, fn)(1, True).shape == (2, 1)
    assert getattr(nx.arange(3.0, device=device), fn)(0, True).shape == (1,)


# -- 2. conv_transpose2d: dilation + groups + output_padding >= stride (< dilation) --------------


def _conv_transpose_ref(x, w, G, stride, padding, output_padding, groups, dilation):
    """Direct NumPy transposed convolution (each input element scattered through the kernel),
    with d(sum(out * G))/dx and /dw; checked against torch.nn.functional.conv_transpose2d."""
    N, Cin, H, W = x.shape
    _, Cg, R, S = w.shape
    Ho = (H - 1) * stride[0] - 2 * padding[0] + dilation[0] * (R - 1) + output_padding[0] + 1
    Wo = (W - 1) * stride[1] - 2 * padding[1] + dilation[1] * (S - 1) + output_padding[1] + 1
    out, dx, dw = np.zeros((N, Cg * groups, Ho, Wo)), np.zeros(x.shape), np.zeros(w.shape)
    for n, ci, h, q, co, r, s in np.ndindex(N, Cin, H, W, Cg, R, S):
        oh = h * stride[0] - padding[0] + r * dilation[0]
        ow = q * stride[1] - padding[1] + s * dilation[1]
        if 0 <= oh < Ho and 0 <= ow < Wo:
            oc = ci // (Cin // groups) * Cg + co
            out[n, oc, oh, ow] += x[n, ci, h, q] * w[ci, co, r, s]
            dx[n, ci, h, q] += G[n, oc, oh, ow] * w[ci, co, r, s]
            dw[ci, co, r, s] += G[n, oc, oh, ow] * x[n, ci, h, q]
    return out, dx, dw


@pytest.mark.parametrize("unbatched", [False, True])
def test_conv_transpose2d_dilation_groups_output_padding(device, unbatched):
    import neuraxon.nn.functional as F

    kw = {"stride": (3, 2), "padding": (1, 2), "output_padding": (2, 3), "groups": 2, "dilation": (4, 4)}
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 2, 4, 4)).astype(np.float32)
    w = rng.standard_normal((2, 2, 4, 5)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    if unbatched:
        x = x[:1]
    G = rng.standard_normal((x.shape[0], 4, 22, 22)).astype(np.float32)  # torch: (N, 4, 22, 22)
    ref, rdx, rdw = _conv_transpose_ref(x.astype(np.float64), w.astype(np.float64), G, **kw)
    ref = ref + b.reshape(1, 4, 1, 1)
    tx = nx.tensor(x[0] if unbatched else x, device=device, requires_grad=True)
    tw = nx.tensor(w, device=device, requires_grad=True)
    tb = nx.tensor(b, device=device, requires_grad=True)
    out = F.conv_transpose2d(tx, tw, tb, **kw)
    assert out.shape == ((4, 22, 22) if unbatched else (2, 4, 22, 22))
    np.testing.assert_allclose(_np(out).reshape(ref.shape), ref, rtol=1e-4, atol=1e-4)
    (out * nx.tensor(G.reshape(out.shape), device=device)).sum().backward()
    np.testing.assert_allclose(_np(tx.grad).reshape(rdx.shape), rdx, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(_np(tw.grad), rdw, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(_np(tb.grad), G.sum((0, 2, 3)), rtol=1e-4, atol=1e-4)
    # the module takes the same arguments
    m = nx.nn.ConvTranspose2d(2, 4, (4, 5), bias=False, **kw).to(device)
    with nx.no_grad():
        m.weight.copy_(tw)
    np.testing.assert_allclose(_np(m(tx)).reshape(ref.shape), ref - b.reshape(1, 4, 1, 1), rtol=1e-4, atol=1e-4)
    # output_padding must stay below stride or dilation (torch's rule)
    with pytest.raises(RuntimeError, match="output padding"):
        F.conv_transpose2d(tx, tw, stride=(3, 2), output_padding=(2, 4), groups=2, dilation=(4, 4))


# -- 3. take_along_dim with a broadcasting index; gather's index range --------------------------


@pytest.mark.parametrize(
    "xshape,ishape,dim",
    [
        ((5, 5), (1, 2), 1),
        ((5, 5), (1, 2), -1),
        ((1, 5), (5, 2), 1),
        ((3, 1, 4), (1, 2, 2), 2),
        ((3, 4, 1), (1, 2, 5), 1),
    ],
)
def test_take_along_dim_broadcasting_index(device, xshape, ishape, dim):
    rng = np.random.default_rng(3)
    xa = rng.standard_normal(xshape).astype(np.float32)
    ia = rng.integers(0, xshape[dim], ishape)
    d = dim % len(xshape)
    bshape = np.broadcast_shapes(xshape[:d] + (1,) + xshape[d + 1 :], ishape[:d] + (1,) + ishape[d + 1 :])
    xb = np.broadcast_to(xa, bshape[:d] + (xshape[d],) + bshape[d + 1 :])
    ib = np.broadcast_to(ia, bshape[:d] + (ishape[d],) + bshape[d + 1 :])
    ref = np.take_along_axis(xb, ib, dim)
    x = nx.tensor(xa, device=device, requires_grad=True)
    y = nx.take_along_dim(x, nx.tensor(ia, device=device), dim)
    assert y.shape == ref.shape
    np.testing.assert_array_equal(_np(y), ref)
    w = rng.standard_normal(ref.shape).astype(np.float32)
    (y * nx.tensor(w, device=device)).sum().backward()
    # gradient: w added back at the gathered positions, summed over the broadcast copies
    gb = np.zeros(xb.shape, np.float64)
    for pos in np.ndindex(*ib.shape):
        p = list(pos)
        p[d] = ib[pos]
        gb[tuple(p)] += w[pos]
    axes = tuple(i for i, (a, b) in enumerate(zip(xshape, gb.shape)) if a == 1 and b != 1)
    np.testing.assert_allclose(_np(x.grad), gb.sum(axes, keepdims=True), rtol=1e-5, atol=1e-6)
    assert np.array_equal(_np(x.take_along_dim(nx.tensor(ia, device=device), dim)), ref)


def test_take_along_dim_without_dim_and_errors(device):
    x = nx.arange(25.0, device=device).reshape(5, 5).requires_grad_()
    idx = nx.tensor([[0, 1], [24, 7]], device=device)
    y = nx.take_along_dim(x, idx)  # dim=None: flat input, flat index
    assert y.shape == (4,) and y.tolist() == [0.0, 1.0, 24.0, 7.0]
    y.sum().backward()
    g = np.zeros(25, np.float32)
    g[[0, 1, 24, 7]] = 1
    np.testing.assert_array_equal(_np(x.grad), g.reshape(5, 5))
    assert x.take_along_dim(idx, dim=None).tolist() == [0.0, 1.0, 24.0, 7.0]
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        nx.take_along_dim(x, nx.tensor([0, 1], device=device), 1)
    with pytest.raises(RuntimeError):
        nx.take_along_dim(x, nx.tensor([[0, 1], [1, 0]], device=device), 0)  # (5, 1) vs (2, 1)


def test_gather_index_out_of_range_raises(device):
    # flat positions of a negative or too-large index land on a neighbouring row: torch raises
    # (the CPU at once; CUDA, which never waits for the device, at the next synchronization)
    x = nx.arange(25.0, device=device).reshape(5, 5)
    for bad in (5, -1, -5):
        idx = nx.tensor([[bad]] * 5, device=device)
        if device == "cpu":
            with pytest.raises(RuntimeError, match=f"index {bad} is out of bounds for dimension 1 with size 5"):
                x.gather(1, idx)
        else:
            with pytest.raises(RuntimeError, match=f"index {bad} is out of bounds for dimension 1 with size 5"):
                x.gather(1, idx).tolist()
    assert x.gather(1, nx.tensor([[4]] * 5, device=device)).reshape(-1).tolist() == [4.0, 9.0, 14.0, 19.0, 24.0]


# -- 4. cat with a legacy empty 1-D tensor ------------------------------------------------------


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat_with_legacy_empty_keeps_gradients(device, dim):
    a = nx.tensor(np.arange(6, dtype=np.float32).reshape(2, 3), device=device, requires_grad=True)
    e = nx.zeros(0, device=device, requires_grad=True)
    w = nx.arange(12.0, device=device).reshape((4, 3) if dim == 0 else (2, 6))
    y = nx.cat([e, a, e, a], dim)
    assert y.shape == ((4, 3) if dim == 0 else (2, 6))
    (y * w).sum().backward()
    wa = _np(w)
    ga = wa[:2] + wa[2:] if dim == 0 else wa[:, :3] + wa[:, 3:]
    np.testing.assert_array_equal(_np(a.grad), ga)
    assert e.grad is not None and e.grad.shape == (0,)  # torch: tensor([])
    # only the empty one requires grad: the result still has a graph (as torch)
    b = nx.ones(2, 3, device=device)
    e2 = nx.zeros(0, device=device, requires_grad=True)
    y = nx.cat([e2, b], dim)
    assert y.requires_grad and y.grad_fn is not None
    y.sum().backward()
    assert e2.grad.shape == (0,)


def test_cat_legacy_empty_counts_for_dtype(device):
    # torch promotes over every tensor, the skipped empty ones included
    r = nx.cat([nx.zeros(0, device=device), nx.ones(2, 3, dtype=nx.int64, device=device)])
    assert r.dtype == nx.float32 and r.shape == (2, 3) and r.tolist() == [[1.0] * 3] * 2
    r = nx.cat([nx.zeros(0, device=device), nx.zeros(0, dtype=nx.int64, device=device)])
    assert r.dtype == nx.float32 and r.shape == (0,)
    with pytest.raises(IndexError):
        nx.cat([nx.zeros(0, device=device), nx.ones(2, 3, device=device)], 2)


# -- 5. norm(x, 0) ------------------------------------------------------------------------------


def test_norm_p0_is_in_the_graph_with_no_gradient(device):
    # torch: the count of non-zeros (NaN counts) requires grad and has a grad_fn, but its
    # backward gives the input nothing: x.grad stays None; autograd.grad needs allow_unused
    a = np.array([[0.0, 2.0, -1.0], [0.0, 0.0, np.nan]], np.float32)
    for args, shape, val in [
        ((0,), (), 3.0),
        ((0, 1), (2,), [2.0, 1.0]),
        ((0, 1, True), (2, 1), [[2.0], [1.0]]),
        ((0, None, True), (1, 1), [[3.0]]),
        ((0.0, 0), (3,), [0.0, 1.0, 2.0]),
    ]:
        x = nx.tensor(a, device=device, requires_grad=True)
        y = x.norm(*args)
        assert y.shape == shape and y.tolist() == val
        assert y.requires_grad and y.grad_fn is not None
        y.sum().backward()
        assert x.grad is None
    x = nx.tensor(a, device=device, requires_grad=True)
    (nx.norm(x, 0) + x.sum()).backward()  # the other branch still gives its gradient
    np.testing.assert_array_equal(_np(x.grad), np.ones((2, 3), np.float32))
    assert nx.autograd.grad(x.norm(0), x, allow_unused=True) == (None,)
    with pytest.raises(RuntimeError, match="not have been used"):
        nx.autograd.grad(x.norm(0), x)
    assert not nx.tensor(a, device=device).norm(0).requires_grad


# -- 6. tensordot's dims forms; 7. einsum with the operands as one list -------------------------


def test_tensordot_dims_forms(device):
    rng = np.random.default_rng(0)
    A = rng.standard_normal((2, 3, 4)).astype(np.float32)
    B = rng.standard_normal((3, 4, 5)).astype(np.float32)
    W = rng.standard_normal((2, 5)).astype(np.float32)
    ref = np.tensordot(A.astype(np.float64), B, 2)
    gA, gB = np.einsum("il,jkl->ijk", W, B), np.einsum("il,ijk->jkl", W, A)
    forms = [
        2,
        ([1, 2], [0, 1]),
        [(1, 2), (0, 1)],
        [[1, 2], [0, 1]],
        ([-2, -1], [0, 1]),
        nx.tensor([[1, 2], [0, 1]]),
        nx.tensor(2),
        nx.tensor(2.0),
    ]
    for dims in forms:
        a = nx.tensor(A, device=device, requires_grad=True)
        b = nx.tensor(B, device=device, requires_grad=True)
        y = nx.tensordot(a, b, dims=dims)
        assert y.shape == (2, 5), dims
        np.testing.assert_allclose(_np(y), ref, rtol=1e-4, atol=1e-5)
        (y * nx.tensor(W, device=device)).sum().backward()
        np.testing.assert_allclose(_np(a.grad), gA, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(_np(b.grad), gB, rtol=1e-4, atol=1e-5)
    C = rng.standard_normal((4, 5)).astype(np.float32)
    a, c = nx.tensor(A, device=device), nx.tensor(C, device=device)
    for dims in ((2, 0), ([2], [0])):  # a pair of ints (NumPy's form; the brief asks for it)
        np.testing.assert_allclose(_np(nx.tensordot(a, c, dims)), np.tensordot(A, C, (2, 0)), rtol=1e-4, atol=1e-5)
    assert nx.tensordot(a, nx.tensor(B, device=device), 0).shape == (2, 3, 4, 3, 4, 5)
    assert nx.tensordot(nx.ones(3, device=device), nx.ones(3, device=device), 1).item() == 3.0
    # a size-1 contracted dim broadcasts (torch: ones(2, 1) . ones(3, 4) over (1, 0) is 3s)
    assert (
        nx.tensordot(nx.ones(2, 1, device=device), nx.ones(3, 4, device=device), ([1], [0])).tolist() == [[3.0] * 4] * 2
    )
    b = nx.tensor(B, device=device)
    for dims, match in [
        (-1, "dims >= 0"),
        (nx.tensor(-1), "dims >= 0"),
        (4, "dims < ndim"),
        (([1, 2], [0]), "same length"),
        (([0], [0]), "contracted dimensions need to match"),
        (nx.tensor([1]), "contracted dimensions need to match"),
    ]:
        with pytest.raises(RuntimeError, match=match):
            nx.tensordot(a, b, dims)


def test_einsum_operands_as_one_list(device):
    rng = np.random.default_rng(1)
    A = rng.standard_normal((2, 3)).astype(np.float32)
    B = rng.standard_normal((3, 4)).astype(np.float32)
    for ops in (lambda a, b: [a, b], lambda a, b: (a, b)):
        a = nx.tensor(A, device=device, requires_grad=True)
        b = nx.tensor(B, device=device, requires_grad=True)
        y = nx.einsum("ij,jk->ik", ops(a, b))
        np.testing.assert_allclose(_np(y), A @ B, rtol=1e-5, atol=1e-6)
        y.sum().backward()
        np.testing.assert_allclose(_np(a.grad), np.ones((2, 4)) @ B.T, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(_np(b.grad), A.T @ np.ones((2, 4)), rtol=1e-5, atol=1e-6)
    assert nx.einsum("ij,jk", [nx.tensor(A, device=device), nx.tensor(B, device=device)]).shape == (2, 4)
    assert nx.einsum("ij->", [nx.tensor(A, device=device)]).shape == ()
    # a size-1 contracted index broadcasts, as torch
    r = nx.einsum("ij,jk->ik", [nx.ones(2, 1, device=device), nx.ones(3, 4, device=device)])
    assert r.tolist() == [[3.0] * 4] * 2


# -- 8. unbatched (C, H, W) input -------------------------------------------------------------


def _unbatched_cases():
    import neuraxon.nn.functional as F

    nn = nx.nn
    w = nx.tensor(np.random.default_rng(5).standard_normal((3, 4, 3, 3)).astype(np.float32))
    wt = nx.tensor(np.random.default_rng(6).standard_normal((4, 3, 3, 3)).astype(np.float32))

    def unpool(x):
        y, i = F.max_pool2d(x, 2, return_indices=True)
        return F.max_unpool2d(y, i, 2, output_size=x.shape[-2:])

    def unpool_module(x):
        y, i = nn.MaxPool2d(2, return_indices=True)(x)
        return nn.MaxUnpool2d(2)(y, i, output_size=x.shape[-2:])

    # name -> (function of (input, device), output shape for a (4, 7, 7) input); torch 2.x gives
    # the same shapes for (4, 7, 7), each a (1, 4, 7, 7) result without its batch dim
    return {
        "conv2d": (lambda x, d: F.conv2d(x, w.to(d), padding=1, stride=2), (3, 4, 4)),
        "conv_transpose2d": (lambda x, d: F.conv_transpose2d(x, wt.to(d), stride=2, output_padding=1), (3, 16, 16)),
        "max_pool2d": (lambda x, d: F.max_pool2d(x, 3, 2, 1), (4, 4, 4)),
        "max_pool2d_indices": (lambda x, d: F.max_pool2d(x, 2, return_indices=True)[0], (4, 3, 3)),
        "avg_pool2d": (lambda x, d: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False), (4, 4, 4)),
        "adaptive_avg_pool2d": (lambda x, d: F.adaptive_avg_pool2d(x, (3, 2)), (4, 3, 2)),
        "adaptive_max_pool2d": (lambda x, d: F.adaptive_max_pool2d(x, (3, 2)), (4, 3, 2)),
        "max_unpool2d": (lambda x, d: unpool(x), (4, 7, 7)),
        "pixel_shuffle": (lambda x, d: F.pixel_shuffle(x, 2), (1, 14, 14)),
        "pixel_unshuffle": (lambda x, d: F.pixel_unshuffle(x[..., :6, :6], 2), (16, 3, 3)),
        "Conv2d": (lambda x, d: _seeded(nn.Conv2d, 4, 3, 3, padding=1).to(d)(x), (3, 7, 7)),
        "ConvTranspose2d": (lambda x, d: _seeded(nn.ConvTranspose2d, 4, 3, 3, stride=2).to(d)(x), (3, 15, 15)),
        "ConvTranspose2d_output_size": (
            lambda x, d: _seeded(nn.ConvTranspose2d, 4, 3, 3, stride=2).to(d)(x, output_size=(16, 16)),
            (3, 16, 16),
        ),
        "MaxPool2d": (lambda x, d: nn.MaxPool2d(2, ceil_mode=True)(x), (4, 4, 4)),
        "AvgPool2d": (lambda x, d: nn.AvgPool2d(2)(x), (4, 3, 3)),
        "AdaptiveAvgPool2d": (lambda x, d: nn.AdaptiveAvgPool2d((None, 2))(x), (4, 7, 2)),
        "AdaptiveMaxPool2d": (lambda x, d: nn.AdaptiveMaxPool2d(3)(x), (4, 3, 3)),
        "MaxUnpool2d": (lambda x, d: unpool_module(x), (4, 7, 7)),
        "PixelShuffle": (lambda x, d: nn.PixelShuffle(2)(x), (1, 14, 14)),
        "PixelUnshuffle": (lambda x, d: nn.PixelUnshuffle(7)(x), (196, 1, 1)),
    }


def _seeded(cls, *args, **kwargs):
    nx.manual_seed(0)  # the same parameters for the batched and the unbatched run
    return cls(*args, **kwargs)


@pytest.mark.parametrize("name", list(_unbatched_cases()))
def test_unbatched_chw_input_matches_batched(device, name):
    fn, shape = _unbatched_cases()[name]
    a = np.random.default_rng(4).standard_normal((4, 7, 7)).astype(np.float32)
    x3 = nx.tensor(a, device=device, requires_grad=True)
    x4 = nx.tensor(a[None], device=device, requires_grad=True)
    y3, y4 = fn(x3, device), fn(x4, device)
    assert y3.shape == shape and y4.shape == (1,) + shape
    np.testing.assert_allclose(_np(y3), _np(y4)[0], rtol=1e-5, atol=1e-6)
    g = np.random.default_rng(9).standard_normal(shape).astype(np.float32)
    (y3 * nx.tensor(g, device=device)).sum().backward()
    (y4 * nx.tensor(g[None], device=device)).sum().backward()
    assert x3.grad.shape == (4, 7, 7)
    np.testing.assert_allclose(_np(x3.grad), _np(x4.grad)[0], rtol=1e-5, atol=1e-6)


def test_batch_norm_stays_batched_only():
    # torch's BatchNorm2d wants (N, C, H, W): a (C, H, W) input is refused, not read as unbatched
    with pytest.raises((ValueError, RuntimeError)):
        nx.nn.BatchNorm2d(4)(nx.randn(4, 5, 5))
