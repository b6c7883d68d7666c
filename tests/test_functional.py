"""functional ops: Tensor.backward vs float32 central differences for every op (and the
Tensor ops with gradients), forward values vs NumPy, errors, and parity with
torch.nn.functional (values and input gradients) when PyTorch is installed."""

import numpy as np
import pytest

import neuraxon as nx
import neuraxon.functional as F
from neuraxon.testing.gradcheck import gradcheck_tensor
from neuraxon.testing.tolerances import assert_close

R = np.random.default_rng(11)


def rn(*shape):
    return R.standard_normal(shape).astype(np.float32)


def away(*shape, lo=0.2):
    """Random values with |x| >= lo (no kinks of relu/abs/clamp within the FD step)."""
    v = R.uniform(lo, 1.0, shape) * R.choice([-1.0, 1.0], shape)
    return v.astype(np.float32)


def distinct(*shape):
    """A shuffled grid with gaps of 0.05: no ties within the FD step (max, pooling)."""
    n = int(np.prod(shape))
    return (R.permutation(n) * 0.05 - n * 0.025).astype(np.float32).reshape(shape)


def pos(*shape):
    return R.uniform(0.3, 1.5, shape).astype(np.float32)


def idx(high, *shape):
    return R.integers(0, high, shape).astype(np.int64)


def dropout_fn(x):
    nx.manual_seed(5)
    return F.dropout(x, 0.3)


# (name, fn, inputs) — every functional op and the differentiable Tensor ops
CASES = [
    ("linear", lambda x, w, b: F.linear(x, w, b), [rn(3, 4), rn(5, 4), rn(5)]),
    ("linear_3d_nobias", lambda x, w: F.linear(x, w), [rn(2, 3, 4), rn(2, 4)]),
    ("bilinear", lambda a, b, w, c: F.bilinear(a, b, w, c), [rn(2, 3), rn(2, 4), rn(5, 3, 4), rn(5)]),
    ("conv2d", lambda x, w, b: F.conv2d(x, w, b, stride=1, padding=1), [rn(2, 3, 5, 5), rn(4, 3, 3, 3), rn(4)]),
    (
        "conv2d_stride_dil_groups",
        lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2),
        [rn(1, 4, 6, 7), rn(4, 2, 3, 2), rn(4)],
    ),
    ("conv2d_same_even_kernel", lambda x, w: F.conv2d(x, w, padding="same"), [rn(1, 2, 5, 4), rn(3, 2, 2, 4)]),
    ("conv2d_unbatched_valid", lambda x, w: F.conv2d(x, w, padding="valid"), [rn(2, 5, 5), rn(3, 2, 3, 3)]),
    (
        "conv_transpose2d",
        lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1),
        [rn(2, 3, 3, 4), rn(3, 2, 3, 3), rn(2)],
    ),
    (
        "conv_transpose2d_groups_dil",
        lambda x, w: F.conv_transpose2d(x, w, None, 1, 0, 0, 2, 2),
        [rn(1, 4, 3, 3), rn(4, 1, 2, 2)],
    ),
    ("max_pool2d", lambda x: F.max_pool2d(x, 2), [distinct(2, 2, 5, 5)]),
    (
        "max_pool2d_pad_ceil_dil",
        lambda x: F.max_pool2d(x, 3, 2, padding=1, dilation=1, ceil_mode=True),
        [distinct(1, 2, 6, 7)],
    ),
    ("max_pool2d_dilation", lambda x: F.max_pool2d(x, 2, 1, 0, dilation=2), [distinct(1, 1, 6, 6)]),
    ("avg_pool2d", lambda x: F.avg_pool2d(x, 3, 2, 1), [rn(2, 2, 6, 5)]),
    ("avg_pool2d_nopad_ceil", lambda x: F.avg_pool2d(x, 2, ceil_mode=True, count_include_pad=False), [rn(1, 2, 5, 5)]),
    ("avg_pool2d_divisor", lambda x: F.avg_pool2d(x, 2, divisor_override=3), [rn(1, 1, 4, 4)]),
    ("adaptive_avg_pool2d", lambda x: F.adaptive_avg_pool2d(x, (3, 2)), [rn(2, 2, 7, 5)]),
    ("adaptive_avg_pool2d_1", lambda x: F.adaptive_avg_pool2d(x, 1), [rn(2, 3, 4, 4)]),
    ("max_unpool2d", lambda x: F.max_unpool2d(*F.max_pool2d(x, 2, return_indices=True), 2), [distinct(1, 2, 4, 6)]),
    (
        "batch_norm_train",
        lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
        [rn(4, 3, 2, 2), pos(3), rn(3)],
    ),
    ("batch_norm_train_2d", lambda x: F.batch_norm(x, None, None, training=True), [rn(5, 3)]),
    (
        "batch_norm_eval",
        lambda x, m, v, w, b: F.batch_norm(x, m.detach(), v.detach(), w, b, training=False),
        [rn(3, 2, 3), rn(2), pos(2), pos(2), rn(2)],
        [0, 3, 4],
    ),
    ("dropout", dropout_fn, [rn(4, 6)]),
    ("relu", F.relu, [away(3, 4)]),
    ("leaky_relu", lambda x: F.leaky_relu(x, 0.2), [away(3, 4)]),
    ("sigmoid", F.sigmoid, [rn(3, 4)]),
    ("tanh", F.tanh, [rn(3, 4)]),
    ("softplus", lambda x: F.softplus(x, 2.0), [rn(3, 4) * 3]),
    ("softplus_threshold", lambda x: F.softplus(x, 1.0, 1.0), [away(3, 4) * 3]),
    ("elu", lambda x: F.elu(x, 0.7), [away(3, 4)]),
    ("gelu", F.gelu, [rn(3, 4)]),
    ("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"), [rn(3, 4)]),
    ("silu", F.silu, [rn(3, 4)]),
    ("hardtanh", F.hardtanh, [away(3, 4) * 2]),
    ("relu6", F.relu6, [away(3, 4) * 8]),
    ("logsigmoid", F.logsigmoid, [rn(3, 4)]),
    ("softsign", F.softsign, [away(3, 4)]),
    ("softmax_last", lambda x: F.softmax(x, -1), [rn(3, 5)]),
    ("softmax_dim1", lambda x: F.softmax(x, 1), [rn(2, 3, 4)]),
    ("log_softmax_dim0", lambda x: F.log_softmax(x, 0), [rn(3, 5)]),
    ("softmin", lambda x: F.softmin(x, 1), [rn(3, 5)]),
    ("embedding", lambda w, i: F.embedding(i, w), [rn(6, 3), idx(6, 2, 5)]),
    ("embedding_padding_idx", lambda w, i: F.embedding(i, w, padding_idx=2), [rn(4, 3), np.array([0, 3, 3, 1])]),
    ("cross_entropy", lambda x, t: F.cross_entropy(x, t), [rn(5, 4), idx(4, 5)]),
    (
        "cross_entropy_ignore",
        lambda x, t: F.cross_entropy(x, t, ignore_index=1),
        [rn(6, 3), np.array([0, 1, 2, 1, 0, 2])],
    ),
    ("cross_entropy_sum", lambda x, t: F.cross_entropy(x, t, reduction="sum"), [rn(5, 4), idx(4, 5)]),
    ("cross_entropy_none_nd", lambda x, t: F.cross_entropy(x, t, reduction="none"), [rn(2, 4, 3, 2), idx(4, 2, 3, 2)]),
    ("cross_entropy_nd_mean", lambda x, t: F.cross_entropy(x, t), [rn(2, 3, 4), idx(3, 2, 4)]),
    (
        "cross_entropy_weight_smooth",
        lambda x, w, t: F.cross_entropy(x, t, weight=w.detach(), label_smoothing=0.2),
        [rn(5, 4), pos(4), idx(4, 5)],
        [0],
    ),
    (
        "cross_entropy_smooth_ignore",
        lambda x, t: F.cross_entropy(x, t, ignore_index=0, label_smoothing=0.1),
        [rn(5, 3), np.array([0, 1, 2, 2, 0])],
    ),
    ("cross_entropy_probs", lambda x, p: F.cross_entropy(x, F.softmax(p, 1)), [rn(4, 3), rn(4, 3)]),
    ("nll_loss", lambda x, t: F.nll_loss(F.log_softmax(x, 1), t), [rn(5, 4), idx(4, 5)]),
    (
        "nll_loss_weight_none",
        lambda x, w, t: F.nll_loss(x, t, weight=w.detach(), reduction="none"),
        [rn(5, 4), pos(4), idx(4, 5)],
        [0],
    ),
    ("mse_loss", F.mse_loss, [rn(3, 4), rn(3, 4)]),
    ("mse_loss_sum", lambda a, b: F.mse_loss(a, b, reduction="sum"), [rn(3, 4), rn(3, 4)]),
    ("l1_loss", F.l1_loss, [rn(3, 4), rn(3, 4) + 3]),
    ("smooth_l1_loss", F.smooth_l1_loss, [away(3, 4) * 3, np.zeros((3, 4), np.float32)]),
    ("huber_loss", lambda a, b: F.huber_loss(a, b, delta=0.5), [away(3, 4) * 3, np.zeros((3, 4), np.float32)]),
    (
        "kl_div",
        lambda x, t: F.kl_div(F.log_softmax(x, 1), F.softmax(t, 1), reduction="batchmean"),
        [rn(3, 4), rn(3, 4)],
    ),
    ("binary_cross_entropy", lambda x, t: F.binary_cross_entropy(F.sigmoid(x), t), [rn(3, 4), R.random((3, 4))]),
    (
        "bce_weight_none",
        lambda x, t, w: F.binary_cross_entropy(F.sigmoid(x), t, w, reduction="none"),
        [rn(3, 4), R.random((3, 4)), pos(3, 4)],
    ),
    ("binary_cross_entropy_with_logits", F.binary_cross_entropy_with_logits, [rn(3, 4) * 3, R.random((3, 4))]),
    (
        "bce_with_logits_pos_weight",
        lambda x, t, pw: F.binary_cross_entropy_with_logits(x, t, pos_weight=pw),
        [rn(3, 4) * 3, R.random((3, 4)), pos(4)],
    ),
    ("pad", lambda x: F.pad(x, (1, 2, 0, 1), value=0.5), [rn(2, 3, 4)]),
    ("pad_negative", lambda x: F.pad(x, (-1, 2, 1, -2)), [rn(2, 4, 5)]),
    ("normalize", lambda x: F.normalize(x, dim=1), [rn(3, 4)]),
    (
        "lstm_cell",
        lambda x, h, c, wi, wh, bi, bh: F.lstm_cell(x, (h, c), wi, wh, bi, bh),
        [rn(2, 3), rn(2, 4), rn(2, 4), rn(16, 3) * 0.5, rn(16, 4) * 0.5, rn(16), rn(16)],
    ),
    ("lstm_cell_nobias_nohx", lambda x, wi, wh: F.lstm_cell(x, None, wi, wh), [rn(3, 2), rn(8, 2), rn(8, 2)]),
    (
        "lstm_layer",
        lambda x, h, c, wi, wh, bi, bh: F.lstm_layer(x, h, c, wi, wh, bi, bh),
        [rn(4, 2, 3), rn(2, 3), rn(2, 3), rn(12, 3) * 0.5, rn(12, 3) * 0.5, rn(12), rn(12)],
    ),
    (
        "lstm_layer_no_state",
        lambda x, wi, wh, bi: F.lstm_layer(x, None, None, wi, wh, bi, None),
        [rn(3, 2, 2), rn(8, 2) * 0.5, rn(8, 2) * 0.5, rn(8)],
    ),
    # Tensor ops
    ("add_sub_broadcast", lambda a, b: (a + b) * 2 - b - 1.5, [rn(3, 1, 4), rn(2, 1)]),
    ("mul_div_broadcast", lambda a, b: a * b / (b * b + 1) + 3 / (b + 5), [rn(3, 4), rn(4)]),
    ("pow", lambda a, b: a**b + a**2 + 2**b, [pos(3, 4), rn(4)]),
    ("maximum_minimum", lambda a, b: nx.maximum(a, b) + nx.minimum(a, b * 2), [distinct(3, 4), distinct(4) + 0.01]),
    (
        "unary_math",
        lambda x: (
            x.exp()
            + x.log()
            + x.sqrt()
            + x.rsqrt()
            + x.sin()
            + x.cos()
            + x.reciprocal()
            + x.log1p()
            + x.expm1()
            + x.square()
        ),
        [pos(3, 4)],
    ),
    ("abs_clamp_neg", lambda x: x.abs() + x.clamp(-0.5, 0.5) - x.clamp(min=0.1), [away(3, 4)]),
    (
        "sum_mean_dims",
        lambda x: x.sum((0, 2)) + x.mean(1).sum(-1, keepdim=True).sum() + x.sum(1, keepdim=True).sum(),
        [rn(2, 3, 4)],
    ),
    ("var_std", lambda x: x.var(1) + x.std(0, unbiased=False).sum() + x.var(), [rn(3, 4)]),
    ("prod_norm", lambda x: x.prod(1) + x.norm(dim=0).sum() + x.norm(1), [pos(3, 4)]),
    (
        "max_min_dim",
        lambda x: x.max(1).values + x.min(0, keepdim=True)[0].sum() + x.max() + x.amax((0, 1)),
        [distinct(3, 4)],
    ),
    ("logsumexp", lambda x: x.logsumexp(1), [rn(3, 4)]),
    ("matmul_batched", lambda a, b: a @ b, [rn(2, 3, 4), rn(4, 5)]),
    ("matmul_broadcast", lambda a, b: a @ b, [rn(3, 4), rn(2, 4, 5)]),
    ("matmul_vec", lambda a, b: (a @ b) * (b @ b), [rn(3, 4), rn(4)]),
    ("indexing_basic", lambda x: x[1:, ::2] * 2 + x[0, None, ::-1][:, :3].sum(), [rn(3, 4)]),
    ("indexing_advanced", lambda x: x[nx.tensor([2, 0, 2])][:, :3] + x[:, nx.tensor([1, 1, 3])].t(), [rn(3, 4)]),
    (
        "indexing_two_tensors_mask",
        lambda x: x[nx.tensor([0, 2]), nx.tensor([1, 3])].sum() + x[x > 0.0].sum(),
        [away(3, 4)],
    ),
    (
        "shape_ops",
        lambda x: (
            x.permute(2, 0, 1).reshape(4, 6).t().unsqueeze(0).expand(2, 6, 4).sum(0)
            + x.transpose(0, 1).flatten(1)[:, :4].repeat(2, 1)
        ),
        [rn(2, 3, 4)],
    ),
    (
        "cat_stack_split",
        lambda a, b: nx.cat([a, b], 1).split(2, 1)[1] + nx.stack([a, b[:, :3]], 0).sum(0).chunk(3, 1)[0].repeat(1, 1),
        [rn(2, 3), rn(2, 4)],
    ),
    ("where_masked_fill", lambda x, y: nx.where(x > 0, x, y) + x.masked_fill(y > 0, 2.0), [away(3, 4), away(3, 4)]),
    (
        "gather_index_select",
        lambda x: x.gather(1, nx.tensor([[0, 0], [2, 1], [1, 2]], device=x.device))
        + x.index_select(1, nx.tensor([2, 2], device=x.device)),
        [rn(3, 3)],
    ),
    (
        "sort_topk_cumsum",
        lambda x: x.sort(1).values + x.topk(5, 1).values.flip(1) + x.cumsum(1) + x.cumsum(0),
        [distinct(3, 5)],
    ),
    ("narrow_unbind_flip", lambda x: x.narrow(1, 1, 2) + x.unbind(1)[0].unsqueeze(1) + x.flip(0)[:, :2], [rn(3, 4)]),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_gradcheck(device, case):
    name, fn, inputs = case[:3]
    gradcheck_tensor(fn, inputs, device=device, wrt=case[3] if len(case) > 3 else None)


def test_prod_gradient_with_zeros_and_max_ties(device):
    x = nx.tensor([[2.0, 0.0, 3.0], [0.0, 0.0, 4.0], [1.0, 2.0, 3.0]], device=device, requires_grad=True)
    x.prod(1).sum().backward()
    np.testing.assert_allclose(np.asarray(x.grad.cpu()), [[0, 6, 0], [0, 0, 0], [6, 3, 2]])
    y = nx.tensor([1.0, 5.0, 5.0, 2.0], device=device, requires_grad=True)
    y.max().backward()
    np.testing.assert_allclose(np.asarray(y.grad.cpu()), [0, 0.5, 0.5, 0])


def test_embedding_padding_idx_gets_no_gradient(device):
    w = nx.tensor(rn(4, 3), device=device, requires_grad=True)
    F.embedding(nx.tensor([0, 2, 2, 1], device=device), w, padding_idx=2).sum().backward()
    g = np.asarray(w.grad.cpu())
    np.testing.assert_array_equal(g[2], 0)
    np.testing.assert_array_equal(g[[0, 1]], 1)


def test_every_functional_op_is_gradchecked():
    names = " ".join(c[0] for c in CASES)
    missing = [
        op
        for op in F.__all__
        if op not in ("relu_", "one_hot") and op.replace("_", "") not in names.replace("_", "") and op not in names
    ]
    assert not missing, f"functional ops without a gradcheck: {missing}"


# ---- forward values vs NumPy ---------------------------------------------------------


def test_linear_conv_pool_forward_vs_numpy(device):
    x, w, b = rn(3, 4), rn(5, 4), rn(5)
    assert_close(
        np.asarray(
            F.linear(nx.tensor(x, device=device), nx.tensor(w, device=device), nx.tensor(b, device=device)).cpu()
        ),
        x @ w.T + b,
        "reduction",
    )
    img = rn(1, 1, 4, 4)
    out, ind = F.max_pool2d(nx.tensor(img, device=device), 2, return_indices=True)
    want = img.reshape(2, 2, 2, 2).transpose(0, 2, 1, 3).reshape(2, 2, 4).max(-1)
    np.testing.assert_array_equal(np.asarray(out.cpu())[0, 0], want)
    assert ind.dtype is nx.int64 and ind.shape == (1, 1, 2, 2)
    assert_close(
        np.asarray(F.avg_pool2d(nx.tensor(img, device=device), 2).cpu())[0, 0],
        img.reshape(2, 2, 2, 2).transpose(0, 2, 1, 3).reshape(2, 2, 4).mean(-1),
        "reduction",
    )
    # a 1x1 convolution is a per-pixel linear map
    xc, wc = rn(2, 3, 4, 5), rn(6, 3, 1, 1)
    got = np.asarray(F.conv2d(nx.tensor(xc, device=device), nx.tensor(wc, device=device)).cpu())
    assert_close(got, np.einsum("nchw,kc->nkhw", xc, wc[:, :, 0, 0]), "reduction")


def test_batch_norm_updates_running_stats(device):
    x = rn(8, 3, 2, 2) * 2 + 1
    rm, rv = nx.zeros(3, device=device), nx.ones(3, device=device)
    out = F.batch_norm(nx.tensor(x, device=device), rm, rv, training=True, momentum=0.1)
    mean = x.mean((0, 2, 3))
    var_u = x.var((0, 2, 3), ddof=1)
    assert_close(np.asarray(rm.cpu()), 0.1 * mean, "reduction")
    assert_close(np.asarray(rv.cpu()), 0.9 + 0.1 * var_u, "reduction")
    o = np.asarray(out.cpu())
    assert_close(o.mean((0, 2, 3)), np.zeros(3), (1e-4, 1e-5))
    ev = F.batch_norm(nx.tensor(x, device=device), rm, rv, training=False)
    want = (x - np.asarray(rm.cpu())[None, :, None, None]) / np.sqrt(np.asarray(rv.cpu())[None, :, None, None] + 1e-5)
    assert_close(np.asarray(ev.cpu()), want, "reduction")
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        F.batch_norm(nx.zeros(1, 3, device=device), None, None, training=True)


def test_dropout_statistics_and_modes(device):
    x = nx.ones(20000, device=device)
    nx.manual_seed(1)
    y = np.asarray(F.dropout(x, 0.25).cpu())
    kept = y != 0
    assert abs(kept.mean() - 0.75) < 0.02
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)
    assert F.dropout(x, 0.5, training=False) is x
    assert (np.asarray(F.dropout(x, 1.0).cpu()) == 0).all()
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout(x, 1.5)


def test_cross_entropy_matches_log_softmax_formula(device):
    x, t = rn(6, 5), idx(5, 6)
    lp = x - np.log(np.exp(x.astype(np.float64)).sum(1, keepdims=True))
    want = -lp[np.arange(6), t]
    X, T = nx.tensor(x, device=device), nx.tensor(t, device=device)
    assert_close(F.cross_entropy(X, T).item(), want.mean(), "reduction")
    assert_close(F.cross_entropy(X, T, reduction="sum").item(), want.sum(), "reduction")
    assert_close(np.asarray(F.cross_entropy(X, T, reduction="none").cpu()), want, "reduction")
    with pytest.raises((IndexError, ValueError)):
        F.cross_entropy(X, nx.tensor([0, 1, 2, 3, 4, 9], device=device), reduction="none")
    with pytest.raises(ValueError, match="target"):
        F.cross_entropy(X, nx.tensor([0, 1], device=device))


def test_one_hot_and_embedding_values(device):
    t = nx.tensor([[0, 2], [1, 0]], device=device)
    oh = F.one_hot(t, 3)
    assert oh.dtype is nx.int64 and oh.shape == (2, 2, 3)
    np.testing.assert_array_equal(np.asarray(oh.cpu()), np.eye(3, dtype=np.int64)[[[0, 2], [1, 0]]])
    assert F.one_hot(nx.tensor([3, 1], device=device)).shape == (2, 4)
    w = rn(4, 3)
    e = F.embedding(t, nx.tensor(w, device=device))
    np.testing.assert_array_equal(np.asarray(e.cpu()), w[[[0, 2], [1, 0]]])


def test_conv_errors_name_shapes(device):
    x = nx.zeros(1, 3, 5, 5, device=device)
    with pytest.raises(RuntimeError, match=r"\(1, 3, 5, 5\)"):
        F.conv2d(x, nx.zeros(4, 2, 3, 3, device=device))
    with pytest.raises(RuntimeError, match="Kernel size can't be greater"):
        F.conv2d(x, nx.zeros(4, 3, 7, 7, device=device))
    with pytest.raises(ValueError, match="strided"):
        F.conv2d(x, nx.zeros(4, 3, 3, 3, device=device), stride=2, padding="same")
    with pytest.raises(RuntimeError, match="mat1 and mat2"):
        F.linear(nx.zeros(2, 3, device=device), nx.zeros(4, 5, device=device))
    with pytest.raises(NotImplementedError):
        F.pad(x, (1, 1), mode="symmetric")  # reflect/replicate/circular: see test_api_conformance
    with pytest.raises(TypeError, match="int64"):
        F.conv2d(nx.zeros(1, 3, 5, 5, dtype=nx.int64, device=device), nx.zeros(4, 3, 3, 3, device=device))


def test_training_step_decreases_loss(device):
    nx.manual_seed(0)
    x = nx.randn(16, 1, 8, 8, device=device)
    y = nx.randint(0, 3, (16,), device=device)
    w1 = (nx.randn(4, 1, 3, 3, device=device) * 0.3).requires_grad_()
    g, b = nx.ones(4, device=device, requires_grad=True), nx.zeros(4, device=device, requires_grad=True)
    w2 = (nx.randn(3, 64, device=device) * 0.1).requires_grad_()
    params = [w1, g, b, w2]
    losses = []
    for _ in range(15):
        h = F.max_pool2d(F.relu(F.batch_norm(F.conv2d(x, w1, padding=1), None, None, g, b, training=True)), 2)
        loss = F.cross_entropy(F.linear(F.dropout(h.flatten(1), 0.1), w2), y)
        for p in params:
            p.grad = None
        loss.backward()
        with nx.no_grad():
            for p in params:
                p -= 0.2 * p.grad
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


# ---- parity with PyTorch ---------------------------------------------------------------

PARITY = [
    ("linear", lambda m, x, w, b: m.linear(x, w, b), [rn(3, 4), rn(5, 4), rn(5)]),
    ("conv2d", lambda m, x, w, b: m.conv2d(x, w, b, 2, 1, 1, 1), [rn(2, 3, 7, 6), rn(4, 3, 3, 3), rn(4)]),
    ("conv2d_groups_dil", lambda m, x, w: m.conv2d(x, w, None, 1, 2, 2, 2), [rn(1, 4, 6, 6), rn(6, 2, 3, 3)]),
    ("conv2d_same", lambda m, x, w: m.conv2d(x, w, padding="same"), [rn(1, 2, 5, 6), rn(3, 2, 4, 3)]),
    (
        "conv_transpose2d",
        lambda m, x, w, b: m.conv_transpose2d(x, w, b, 2, 1, 1, 1, 1),
        [rn(2, 4, 3, 3), rn(4, 3, 3, 3), rn(3)],
    ),
    ("max_pool2d", lambda m, x: m.max_pool2d(x, 3, 2, 1, ceil_mode=True), [rn(2, 3, 7, 7)]),
    ("avg_pool2d", lambda m, x: m.avg_pool2d(x, 3, 2, 1, count_include_pad=False), [rn(2, 3, 7, 6)]),
    ("adaptive_avg_pool2d", lambda m, x: m.adaptive_avg_pool2d(x, (3, 4)), [rn(2, 2, 7, 9)]),
    ("batch_norm", lambda m, x, w, b: m.batch_norm(x, None, None, w, b, True), [rn(4, 3, 3, 3), rn(3), rn(3)]),
    ("relu", lambda m, x: m.relu(x), [rn(4, 5)]),
    ("leaky_relu", lambda m, x: m.leaky_relu(x, 0.1), [rn(4, 5)]),
    ("elu", lambda m, x: m.elu(x, 1.3), [rn(4, 5)]),
    ("gelu", lambda m, x: m.gelu(x), [rn(4, 5)]),
    ("gelu_tanh", lambda m, x: m.gelu(x, approximate="tanh"), [rn(4, 5)]),
    ("softplus", lambda m, x: m.softplus(x, 2.0), [rn(4, 5) * 8]),
    ("sigmoid_tanh", lambda m, x: m.sigmoid(x) + m.tanh(x), [rn(4, 5)]),
    ("softmax", lambda m, x: m.softmax(x, 1), [rn(2, 5, 3)]),
    ("log_softmax", lambda m, x: m.log_softmax(x, -1), [rn(4, 7)]),
    ("cross_entropy", lambda m, x, t: m.cross_entropy(x, t), [rn(6, 5), idx(5, 6)]),
    (
        "cross_entropy_nd_smooth",
        lambda m, x, t: m.cross_entropy(x, t, label_smoothing=0.1, ignore_index=2),
        [rn(2, 4, 3, 3), idx(4, 2, 3, 3)],
    ),
    ("cross_entropy_weight", lambda m, x, t, w: m.cross_entropy(x, t, weight=w), [rn(6, 4), idx(4, 6), pos(4)], [2]),
    ("nll_loss", lambda m, x, t: m.nll_loss(x, t, reduction="sum"), [rn(6, 5), idx(5, 6)]),
    ("mse_l1", lambda m, a, b: m.mse_loss(a, b) + m.l1_loss(a, b), [rn(3, 4), rn(3, 4)]),
    ("bce", lambda m, x, t: m.binary_cross_entropy(x, t), [R.uniform(0.05, 0.95, (3, 4)), R.random((3, 4))]),
    (
        "bce_logits",
        lambda m, x, t, pw: m.binary_cross_entropy_with_logits(x, t, pos_weight=pw),
        [rn(3, 4) * 4, R.random((3, 4)), pos(4)],
        [2],
    ),
    ("smooth_l1", lambda m, a, b: m.smooth_l1_loss(a, b, beta=0.5), [rn(3, 4), rn(3, 4)]),
    ("kl_div", lambda m, a, b: m.kl_div(a, b, reduction="batchmean"), [rn(3, 4), R.random((3, 4))]),
    ("pad", lambda m, x: m.pad(x, (1, 2, -1, 1), value=0.3), [rn(2, 3, 4)]),
    ("embedding", lambda m, i, w: m.embedding(i, w, padding_idx=1), [idx(5, 3, 4), rn(5, 3)]),
    ("normalize", lambda m, x: m.normalize(x, dim=0), [rn(3, 4)]),
    ("dropout_eval", lambda m, x: m.dropout(x, 0.3, training=False), [rn(3, 4)]),
]


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("case", PARITY, ids=[p[0] for p in PARITY])
def test_parity_with_torch(device, case):
    torch = pytest.importorskip("torch")
    tF = torch.nn.functional
    name, fn, inputs = case[:3]
    nograd = case[3] if len(case) > 3 else ()
    ours, theirs = [], []
    for i, a in enumerate(inputs):
        a = np.asarray(a)
        if a.dtype.kind == "f" and i in nograd:
            ours.append(nx.tensor(a.astype(np.float32), device=device))
            theirs.append(torch.tensor(a.astype(np.float32)))
        elif a.dtype.kind == "f":
            a = a.astype(np.float32)
            ours.append(nx.tensor(a, device=device, requires_grad=True))
            theirs.append(torch.tensor(a, requires_grad=True))
        else:
            ours.append(nx.tensor(a, device=device))
            theirs.append(torch.tensor(a))
    o, t = fn(F, *ours), fn(tF, *theirs)
    assert o.shape == tuple(t.shape)
    assert_close(np.asarray(o.detach().cpu()), t.detach().numpy(), (1e-4, 1e-5), f"{name} forward")
    dout = R.standard_normal(t.shape).astype(np.float32)
    (o * nx.tensor(dout, device=device)).sum().backward()
    (t * torch.tensor(dout)).sum().backward()
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if b.grad is not None:
            assert a.grad is not None, f"{name}: no gradient for input {i}"
            assert_close(np.asarray(a.grad.cpu()), b.grad.numpy(), (1e-4, 1e-5), f"{name} grad {i}")


def test_lstm_parity_with_torch(device):
    torch = pytest.importorskip("torch")
    T, B, I, H = 5, 3, 4, 6
    x, h0, c0 = rn(T, B, I), rn(B, H), rn(B, H)
    wi, wh, bi, bh = rn(4 * H, I) * 0.3, rn(4 * H, H) * 0.3, rn(4 * H) * 0.1, rn(4 * H) * 0.1
    lstm = torch.nn.LSTM(I, H)
    with torch.no_grad():
        for p, v in zip(lstm.parameters(), (wi, wh, bi, bh)):
            p.copy_(torch.tensor(v))
    tx = torch.tensor(x, requires_grad=True)
    tout, (th, tc) = lstm(tx, (torch.tensor(h0)[None], torch.tensor(c0)[None]))
    ours = [nx.tensor(v, device=device, requires_grad=True) for v in (x, h0, c0, wi, wh, bi, bh)]
    out, h, c = F.lstm_layer(*ours)
    assert_close(np.asarray(out.detach().cpu()), tout.detach().numpy(), (1e-4, 1e-5))
    assert_close(np.asarray(c.detach().cpu()), tc[0].detach().numpy(), (1e-4, 1e-5))
    (tout.sum() + tc.sum()).backward()
    (out.sum() + c.sum()).backward()
    assert_close(np.asarray(ours[0].grad.cpu()), tx.grad.numpy(), (1e-4, 1e-5))
    assert_close(np.asarray(ours[3].grad.cpu()), lstm.weight_ih_l0.grad.numpy(), (1e-4, 1e-5))
    # one step of the cell equals the first step of the layer
    h1, c1 = F.lstm_cell(ours[0][0].detach(), (ours[1].detach(), ours[2].detach()), *[t.detach() for t in ours[3:]])
    assert_close(np.asarray(h1.cpu()), tout[0].detach().numpy(), (1e-4, 1e-5))
