"""conv2d: forward, backward_data (also as a transposed convolution) and backward_weight
against the NumPy reference over a shape table, on every variant; the reference's
backward formulas against finite differences; bad sizes and dtypes."""

import numpy as np
import pytest
from neuraxon.testing import reference as ref
from neuraxon.testing.gradcheck import check_vjp
from neuraxon.testing.tolerances import assert_close, for_sum

VARIANTS = [-1, 0, 1]  # best, conv2d_k0_loop, conv2d_k1_im2col

# N, C, H, W, K, R, S, stride (h, w), padding (h, w), dilation (h, w), groups
SHAPES = [
    (1, 1, 1, 1, 1, 1, 1, (1, 1), (0, 0), (1, 1), 1),        # everything 1
    (2, 3, 5, 5, 4, 1, 1, (1, 1), (0, 0), (1, 1), 1),        # 1x1 pointwise: plain GEMM
    (2, 3, 5, 7, 4, 1, 1, (2, 2), (0, 0), (1, 1), 1),        # 1x1 strided
    (1, 2, 6, 6, 3, 1, 1, (1, 1), (1, 1), (1, 1), 1),        # 1x1 padded
    (2, 3, 7, 9, 4, 3, 3, (1, 1), (0, 0), (1, 1), 1),        # 3x3 valid
    (2, 3, 8, 8, 5, 3, 3, (1, 1), (1, 1), (1, 1), 1),        # 3x3 same
    (3, 5, 13, 11, 7, 5, 5, (1, 1), (2, 2), (1, 1), 1),      # 5x5, prime sizes
    (2, 4, 9, 10, 6, 3, 3, (2, 2), (1, 1), (1, 1), 1),       # stride 2
    (2, 3, 7, 7, 4, 3, 3, (3, 3), (0, 0), (2, 2), 1),        # stride 3, dilation 2
    (2, 4, 11, 13, 6, 3, 2, (2, 1), (1, 0), (2, 3), 2),      # everything rectangular, groups
    (2, 6, 9, 9, 6, 3, 3, (1, 1), (1, 1), (1, 1), 6),        # depthwise
    (2, 6, 9, 9, 12, 3, 3, (1, 1), (1, 1), (1, 1), 3),       # groups with multiplier 4
    (2, 8, 7, 7, 8, 1, 1, (1, 1), (0, 0), (1, 1), 4),        # grouped pointwise
    (1, 7, 3, 4, 5, 3, 3, (1, 1), (1, 1), (1, 1), 1),        # image smaller than a tile
    (3, 2, 5, 5, 4, 5, 5, (1, 1), (0, 0), (1, 1), 1),        # kernel == image: 1x1 output
    (1, 1, 28, 28, 6, 5, 5, (1, 1), (0, 0), (1, 1), 1),      # LeNet conv1
    (4, 6, 12, 12, 16, 5, 5, (1, 1), (0, 0), (1, 1), 1),     # LeNet conv2, images in parallel
    (5, 3, 17, 19, 8, 3, 3, (1, 1), (1, 1), (1, 1), 1),      # odd N: threads split images
    (3, 10, 20, 20, 20, 3, 3, (1, 1), (1, 1), (1, 1), 5),    # threads split planes mid-group
    (8, 3, 10, 10, 5, 3, 3, (2, 2), (1, 1), (1, 1), 1),      # many images
    (2, 33, 13, 17, 17, 3, 3, (1, 1), (1, 1), (1, 1), 1),    # not tile multiples
    (23, 4, 6, 7, 6, 3, 3, (1, 1), (1, 1), (1, 1), 2),       # forward/backward_data batch 13 images per GEMM: last batch partial
    (11, 20, 7, 8, 6, 3, 3, (1, 1), (1, 1), (1, 1), 1),      # backward_weight GEMM batched (CRS 180): 10 + 1 images
    (2, 20, 17, 16, 6, 3, 3, (1, 1), (1, 1), (1, 1), 1),     # backward_weight GEMM per image (P*Q 272)
    (1, 3, 32, 32, 16, 7, 7, (2, 2), (3, 3), (1, 1), 1),     # ResNet stem-like 7x7/2
    (1, 2, 4, 4, 3, 2, 2, (5, 5), (0, 0), (1, 1), 1),        # stride larger than kernel
    (1, 2, 3, 3, 2, 3, 3, (1, 1), (4, 4), (1, 1), 1),        # padding larger than kernel
    (0, 3, 5, 5, 4, 3, 3, (1, 1), (0, 0), (1, 1), 1),        # N = 0
    (2, 3, 5, 5, 0, 3, 3, (1, 1), (0, 0), (1, 1), 1),        # K = 0
    (2, 0, 5, 5, 3, 3, 3, (1, 1), (1, 1), (1, 1), 1),        # C = 0: out = bias
    (1, 2, 0, 3, 3, 1, 1, (1, 1), (1, 1), (1, 1), 1),        # H = 0: all taps in padding
]


def _ids(shapes):
    return ["N{}C{}H{}W{}K{}R{}S{}s{}p{}d{}g{}".format(*s[:7], "x".join(map(str, s[7])), "x".join(map(str, s[8])), "x".join(map(str, s[9])), s[10]) for s in shapes]


def _args(shape):
    N, C, H, W, K, R, S, (sh, sw), (ph, pw), (dh, dw), G = shape
    return (N, C, H, W, K, R, S, sh, sw, ph, pw, dh, dw, G)


def _data(rng, shape, bias=True):
    N, C, H, W, K, R, S, *_, G = shape
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    w = rng.standard_normal((K, C // G, R, S)).astype(np.float32)
    b = rng.standard_normal(K).astype(np.float32) if bias else None
    return x, w, b


def _out_hw(shape):
    _, _, H, W, _, R, S, (sh, sw), (ph, pw), (dh, dw), _ = shape
    return ref.conv_out_size(H, R, sh, ph, dh), ref.conv_out_size(W, S, sw, pw, dw)


def _check_all(dev, rng, shape, variant, bias=True):
    """Forward, backward_data and backward_weight of one shape vs the reference."""
    N, C, H, W, K, R, S, st, pd, dl, G = shape
    P, Q = _out_hw(shape)
    x, w, b = _data(rng, shape, bias)
    # forward
    out = dev.out((N, K, P, Q))
    dev.k.conv2d_forward(out, dev.put(x), dev.put(w), None if b is None else dev.put(b), *_args(shape), variant)
    want = ref.conv2d_forward(x, w, b, st, pd, dl, G)
    assert_close(dev.get(out, (N, K, P, Q)), want, for_sum(C // G * R * S), "forward")
    # backward
    d = rng.standard_normal((N, K, P, Q)).astype(np.float32)
    dx = dev.out((N, C, H, W))
    dev.k.conv2d_backward_data(dx, dev.put(d), dev.put(w), *_args(shape), variant)
    assert_close(dev.get(dx, (N, C, H, W)), ref.conv2d_backward_data(d, w, (H, W), st, pd, dl, G), for_sum(K // G * R * S), "backward_data")
    dw, db = dev.out(w.shape), dev.out((K,)) if bias else None
    dev.k.conv2d_backward_weight(dw, db, dev.put(d), dev.put(x), *_args(shape), variant)
    rdw, rdb = ref.conv2d_backward_weight(d, x, (R, S), st, pd, dl, G)
    assert_close(dev.get(dw, w.shape), rdw, for_sum(N * P * Q), "backward_weight")
    if bias:
        assert_close(dev.get(db, (K,)), rdb, for_sum(N * P * Q), "backward_weight dbias")


@pytest.mark.parametrize("shape", SHAPES, ids=_ids(SHAPES))
@pytest.mark.parametrize("variant", VARIANTS)
def test_conv2d_forward_and_backward(dev, rng, shape, variant):
    _check_all(dev, rng, shape, variant)


@pytest.mark.parametrize("variant", VARIANTS)
def test_conv2d_without_bias(dev, rng, variant):
    _check_all(dev, rng, (3, 4, 9, 8, 5, 3, 3, (1, 2), (1, 1), (1, 1), 1), variant, bias=False)


@pytest.mark.parametrize("variant", VARIANTS)
def test_conv2d_column_blocks(dev, rng, variant):
    # C*R*S*P*Q = 36 * 180*170 floats exceeds k1's column budget (2^20 per thread): im2col
    # goes block by block (the second block starts mid-row).
    _check_all(dev, rng, (1, 4, 180, 170, 3, 3, 3, (1, 1), (1, 1), (1, 1), 1), variant)


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANTS)
def test_conv2d_resnet_layer(dev, rng, variant):
    _check_all(dev, rng, (2, 64, 56, 56, 64, 3, 3, (1, 1), (1, 1), (1, 1), 1), variant)


# k1's backward_weight runs the dot-product kernel (conv2d_kernel.inc) when C/groups*R*S <=
# 160 and the GEMM above that; these shapes sit on both sides, with row/column counts that
# are not tile multiples (AVX-512 tile 4 x 6, AVX2/portable 3 x 4) and pixel counts that are
# not vector multiples, or span several 512-pixel chunks. The forward's direct row kernel
# (>= 32 taps, >= VL output channels per group) is per ISA too: the shapes marked "direct"
# have channel counts that are not lane multiples and rows wider than one tile; "flat" (stride
# 1, few output channels, pixels across the lanes) likewise.
DOT_SHAPES = [
    (2, 5, 11, 13, 7, 3, 3, (1, 1), (1, 1), (1, 1), 1),       # dot: CRS 45, 143 pixels per image
    (4, 6, 8, 8, 10, 1, 1, (1, 1), (0, 0), (1, 1), 2),        # dot, pointwise grouped: 3 x 5
    (3, 1, 28, 28, 20, 5, 5, (1, 1), (0, 0), (1, 1), 1),      # dot: LeNet conv1, 20 x 25 over 576
    (2, 1, 1, 1, 1, 1, 1, (1, 1), (0, 0), (1, 1), 1),         # dot: 1 x 1 over 1 pixel
    (2, 2, 9, 7, 5, 2, 3, (2, 1), (1, 2), (2, 1), 1),         # dot: strides, padding, dilation
    (1, 3, 40, 37, 13, 7, 7, (1, 1), (3, 3), (1, 1), 1),      # dot: CRS 147, 1480 pixels (3 chunks)
    (11, 6, 14, 14, 16, 5, 5, (1, 1), (0, 0), (1, 1), 1),     # dot, 11 small images batched (LeNet conv2); direct forward
    (3, 2, 9, 11, 37, 3, 3, (2, 1), (1, 2), (1, 2), 1),       # direct forward: 37 channels = 2 + 1 blocks (AVX-512), strides, dilation
    (2, 4, 10, 9, 40, 3, 3, (1, 1), (1, 1), (1, 1), 2),       # direct forward, groups: 20 channels per group
    (1, 1, 5, 35, 24, 3, 3, (1, 1), (1, 1), (1, 1), 1),       # direct forward: 35-pixel rows in 3 tiles
    (2, 4, 11, 29, 20, 3, 3, (2, 2), (1, 1), (1, 1), 1),      # direct forward, column stride 2 (a constant in the kernel)
    (2, 4, 10, 31, 18, 3, 3, (1, 3), (1, 1), (1, 1), 1),      # direct forward, column stride 3 (at run time)
    (3, 2, 7, 23, 3, 3, 3, (1, 1), (1, 1), (1, 1), 1),        # flat forward (3 channels) and backward_data: partial vectors
    (2, 3, 9, 6, 7, 2, 3, (1, 1), (0, 2), (2, 1), 1),         # flat: dilated rows, padded columns only
    (2, 13, 8, 9, 5, 3, 3, (1, 1), (1, 1), (1, 1), 1),        # flat backward_data: 13 channels = 6 + 6 + 1 (AVX-512)
    (2, 4, 8, 8, 6, 3, 3, (1, 1), (1, 1), (1, 1), 2),         # flat forward and backward_data with groups
    (2, 17, 9, 11, 7, 4, 4, (2, 2), (1, 1), (1, 1), 1),       # backward_data by phases: 4x4/2 (DCGAN), odd sizes
    (3, 19, 10, 8, 4, 3, 3, (3, 2), (2, 0), (1, 1), 1),       # phases: strides 3 and 2, padding 2 and 0
    (2, 32, 7, 7, 6, 2, 2, (2, 2), (0, 0), (1, 1), 2),        # phases with groups, one tap per phase
    (7, 3, 9, 13, 5, 3, 3, (1, 1), (2, 0), (1, 1), 1),        # dot batched, rows padded, 16-float row copies
    (40, 2, 6, 5, 3, 3, 3, (1, 1), (0, 0), (1, 1), 1),        # dot batched: 3 batches, last one partial
    (2, 20, 9, 11, 9, 3, 3, (1, 1), (1, 1), (1, 1), 1),       # GEMM, images batched: CRS 180
    (2, 20, 17, 16, 6, 3, 3, (1, 1), (2, 1), (1, 1), 1),      # GEMM per image: CRS 180, P*Q 304
]


def test_conv2d_every_isa_path(dev, isa, rng):
    if dev.name != "cpu":
        pytest.skip("ISA paths are a CPU matter")
    for shape in DOT_SHAPES + WINOGRAD_SHAPES[:2]:
        _check_all(dev, rng, shape, 1)


# k1 runs Winograd F(2x2, 3x3) for 3x3, stride-1, undilated, ungrouped layers with
# 16 <= K <= 256 and C >= 16 (backward_data: the same with C and K swapped and padding
# 2 - pad), all three kernels: odd output sizes (partial 2x2 tiles), paddings 0, 1, 2 and
# mixed, a 1x1 image, several batches of images per call.
WINOGRAD_SHAPES = [
    (2, 16, 7, 9, 16, 3, 3, (1, 1), (1, 1), (1, 1), 1),       # odd P, Q: partial tiles
    (3, 17, 8, 8, 19, 3, 3, (1, 1), (0, 0), (1, 1), 1),       # pad 0 (backward_data pads 2)
    (1, 32, 5, 6, 20, 3, 3, (1, 1), (2, 2), (1, 1), 1),       # pad 2 (backward_data pads 0)
    (2, 16, 1, 1, 16, 3, 3, (1, 1), (1, 1), (1, 1), 1),       # 1x1 image
    (5, 16, 3, 14, 16, 3, 3, (1, 1), (1, 0), (1, 1), 1),      # mixed padding
    (13, 16, 12, 12, 16, 3, 3, (1, 1), (1, 1), (1, 1), 1),    # 36 tiles per image: batches of 6 + 6 + 1
]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", WINOGRAD_SHAPES, ids=_ids(WINOGRAD_SHAPES))
def test_conv2d_winograd(dev, rng, shape, bias):
    _check_all(dev, rng, shape, -1, bias=bias)


@pytest.mark.parametrize("shape", DOT_SHAPES, ids=_ids(DOT_SHAPES))
def test_conv2d_backward_weight_reads_only_its_arrays(dev, rng, shape):
    # The dot kernel loads the last partial vector of every row through a zero-padded copy:
    # NaN right after dout and inp in memory must not reach dW (NaN * 0 would be NaN).
    if dev.name != "cpu":
        pytest.skip("memory layout around host arrays is a CPU matter")
    N, C, H, W, K, R, S, st, pd, dl, G = shape
    P, Q = _out_hw(shape)
    x, _, _ = _data(rng, shape)
    d = rng.standard_normal((N, K, P, Q)).astype(np.float32)

    def fenced(a):  # a, followed in memory by 64 NaNs
        buf = np.full(a.size + 64, np.nan, np.float32)
        buf[: a.size] = a.reshape(-1)
        return buf[: a.size].reshape(a.shape)

    for variant in (-1, 1):
        dw, db = dev.out((K, C // G, R, S)), dev.out((K,))
        dev.k.conv2d_backward_weight(dw, db, fenced(d), fenced(x), *_args(shape), variant)
        rdw, rdb = ref.conv2d_backward_weight(d, x, (R, S), st, pd, dl, G)
        assert_close(dw, rdw, for_sum(N * P * Q), "backward_weight")
        assert_close(db, rdb, for_sum(N * P * Q), "dbias")


@pytest.mark.parametrize("threads", [1, 2, 3, 5])
def test_conv2d_thread_splits(dev, rng, threads):
    # k1 splits pixels (forward, backward_weight) and planes (backward_data) over threads:
    # ranges that start mid-image, mid-row and mid-group must all add up.
    if dev.name != "cpu":
        pytest.skip("OpenMP threads are a CPU matter")
    before = dev.k.num_threads()
    dev.k.set_num_threads(threads)
    try:
        for shape in [(3, 10, 20, 20, 20, 3, 3, (1, 1), (1, 1), (1, 1), 5), (1, 16, 23, 29, 16, 3, 3, (2, 1), (1, 1), (1, 1), 1),
                      (4, 32, 15, 15, 32, 1, 1, (1, 1), (0, 0), (1, 1), 2), (3, 20, 11, 13, 24, 3, 3, (1, 1), (1, 1), (1, 1), 1),
                      (29, 3, 5, 6, 8, 3, 3, (1, 1), (1, 1), (1, 1), 1), (13, 16, 12, 12, 16, 3, 3, (1, 1), (1, 1), (1, 1), 1)]:
            _check_all(dev, rng, shape, 1)
        assert dev.k.num_threads() == threads  # the kernels leave the thread count alone
    finally:
        dev.k.set_num_threads(before)


@pytest.mark.parametrize("shape", [(6, 1, 28, 28, 20, 5, 5, (1, 1), (0, 0), (1, 1), 1),   # dot path
                                   (5, 20, 11, 13, 24, 3, 3, (1, 1), (1, 1), (1, 1), 1)])  # GEMM path
def test_conv2d_threads_are_deterministic(dev, rng, shape):
    # k1 hands chunks to threads dynamically; backward_weight sums per-chunk partials in chunk
    # order, so repeated calls give identical bits whichever thread ran which chunk.
    if dev.name != "cpu":
        pytest.skip("OpenMP threads are a CPU matter")
    N, C, H, W, K, R, S, st, pd, dl, G = shape
    P, Q = _out_hw(shape)
    x, w, b = _data(rng, shape)
    d = rng.standard_normal((N, K, P, Q)).astype(np.float32)
    before = dev.k.num_threads()
    dev.k.set_num_threads(2)
    try:
        runs = []
        for _ in range(4):
            out, dx, dw, db = dev.out((N, K, P, Q)), dev.out(x.shape), dev.out(w.shape), dev.out((K,))
            dev.k.conv2d_forward(out, x, w, b, *_args(shape), 1)
            dev.k.conv2d_backward_data(dx, d, w, *_args(shape), 1)
            dev.k.conv2d_backward_weight(dw, db, d, x, *_args(shape), 1)
            runs.append([dev.get(a) for a in (out, dx, dw, db)])
    finally:
        dev.k.set_num_threads(before)
    for r in runs[1:]:
        for got, first in zip(r, runs[0]):
            np.testing.assert_array_equal(got, first)
    rdw, _ = ref.conv2d_backward_weight(d, x, (R, S), st, pd, dl, G)
    assert_close(runs[0][2], rdw, for_sum(N * P * Q), "backward_weight")


# ---- transposed convolution = backward_data ---------------------------------------------


def _conv_transpose_direct(x, w, stride, pad, dil, groups, out_hw):
    """ConvTranspose2d by its definition (scatter of every input pixel through the kernel):
    x (N, Cin, P, Q), w (Cin, Cout/groups, R, S) -> (N, Cout, H, W)."""
    N, Cin, P, Q = x.shape
    _, Cog, R, S = w.shape
    H, W = out_hw
    Cig = Cin // groups
    y = np.zeros((N, Cog * groups, H, W))
    for ci in range(Cin):
        g = ci // Cig
        for r in range(R):
            for s in range(S):
                for p in range(P):
                    h = p * stride[0] - pad[0] + r * dil[0]
                    if not 0 <= h < H:
                        continue
                    for q in range(Q):
                        ww = q * stride[1] - pad[1] + s * dil[1]
                        if 0 <= ww < W:
                            y[:, g * Cog : (g + 1) * Cog, h, ww] += x[:, ci, p, q][:, None] * w[ci, :, r, s][None, :]
    return y


# N, in channels (K), P, Q, out channels (C), R, S, stride, padding, dilation, output_padding, groups
TRANSPOSED = [
    (2, 3, 4, 5, 4, 3, 3, (2, 2), (1, 1), (1, 1), (1, 1), 1),
    (1, 4, 3, 3, 2, 4, 4, (2, 2), (1, 1), (1, 1), (0, 0), 1),   # DCGAN-like 4x4/2 upsampling
    (2, 4, 5, 4, 6, 3, 2, (3, 2), (0, 1), (2, 1), (2, 0), 2),
    (1, 2, 6, 6, 2, 1, 1, (1, 1), (0, 0), (1, 1), (0, 0), 1),
]


@pytest.mark.parametrize("case", TRANSPOSED)
@pytest.mark.parametrize("variant", VARIANTS)
def test_conv_transpose_is_backward_data(dev, rng, case, variant):
    N, Cin, P, Q, Cout, R, S, st, pd, dl, op, G = case
    H = ref.conv_transpose_out_size(P, R, st[0], pd[0], dl[0], op[0])
    W = ref.conv_transpose_out_size(Q, S, st[1], pd[1], dl[1], op[1])
    # the transposed convolution's output is an input whose convolution has size (P, Q)
    assert (ref.conv_out_size(H, R, st[0], pd[0], dl[0]), ref.conv_out_size(W, S, st[1], pd[1], dl[1])) == (P, Q)
    x = rng.standard_normal((N, Cin, P, Q)).astype(np.float32)
    w = rng.standard_normal((Cin, Cout // G, R, S)).astype(np.float32)  # ConvTranspose2d layout
    y = dev.out((N, Cout, H, W))
    dev.k.conv2d_backward_data(y, dev.put(x), dev.put(w), N, Cout, H, W, Cin, R, S, *st, *pd, *dl, G, variant)
    want = _conv_transpose_direct(x.astype(np.float64), w.astype(np.float64), st, pd, dl, G, (H, W))
    assert_close(dev.get(y, (N, Cout, H, W)), want, for_sum(Cin // G * R * S))
    assert_close(ref.conv2d_backward_data(x, w, (H, W), st, pd, dl, G), want, "reduction")


def test_conv2d_kernels_match_pytorch(dev, rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    shape = (2, 4, 11, 13, 6, 3, 2, (2, 1), (1, 0), (2, 3), 2)
    N, C, _, _, K, R, S, st, pd, dl, G = shape
    x, w, b = _data(rng, shape)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    t_out = F.conv2d(xt, wt, bt, st, pd, dl, G)
    out = dev.out(tuple(t_out.shape))
    dev.k.conv2d_forward(out, dev.put(x), dev.put(w), dev.put(b), *_args(shape), -1)
    assert_close(dev.get(out, tuple(t_out.shape)), t_out.detach().numpy(), for_sum(C // G * R * S))
    d = rng.standard_normal(tuple(t_out.shape)).astype(np.float32)
    t_out.backward(torch.tensor(d))
    dx, dw, db = dev.out(x.shape), dev.out(w.shape), dev.out((K,))
    dev.k.conv2d_backward_data(dx, dev.put(d), dev.put(w), *_args(shape), -1)
    dev.k.conv2d_backward_weight(dw, db, dev.put(d), dev.put(x), *_args(shape), -1)
    assert_close(dev.get(dx, x.shape), xt.grad.numpy(), for_sum(K // G * R * S))
    assert_close(dev.get(dw, w.shape), wt.grad.numpy(), for_sum(N * t_out.shape[2] * t_out.shape[3]))
    assert_close(dev.get(db, (K,)), bt.grad.numpy(), for_sum(N * t_out.shape[2] * t_out.shape[3]))
    # transposed convolution with output_padding
    xin = rng.standard_normal((2, 4, 5, 4)).astype(np.float32)
    wtr = rng.standard_normal((4, 3, 3, 2)).astype(np.float32)
    t_y = F.conv_transpose2d(torch.tensor(xin), torch.tensor(wtr), None, (3, 2), (0, 1), (2, 0), 2, (2, 1)).numpy()
    Hy, Wy = t_y.shape[2:]
    y = dev.out(t_y.shape)
    dev.k.conv2d_backward_data(y, dev.put(xin), dev.put(wtr), 2, 6, Hy, Wy, 4, 3, 2, 3, 2, 0, 1, 2, 1, 2, -1)
    assert_close(dev.get(y, t_y.shape), t_y, for_sum(2 * 3 * 2))


# ---- the reference's backward vs finite differences --------------------------------------


@pytest.mark.parametrize(
    "shape",
    [
        (2, 2, 5, 6, 3, 3, 3, (1, 1), (1, 1), (1, 1), 1),
        (1, 4, 6, 5, 4, 3, 2, (2, 1), (1, 0), (1, 2), 2),
        (2, 3, 7, 7, 2, 2, 3, (3, 2), (0, 1), (2, 1), 1),
        (1, 2, 4, 4, 2, 1, 1, (1, 1), (0, 0), (1, 1), 1),
    ],
)
def test_conv2d_reference_backward_matches_finite_differences(rng, shape):
    N, C, H, W, K, R, S, st, pd, dl, G = shape
    x = rng.standard_normal((N, C, H, W))
    w = rng.standard_normal((K, C // G, R, S))
    b = rng.standard_normal(K)
    P, Q = _out_hw(shape)
    d = rng.standard_normal((N, K, P, Q))
    dw, db = ref.conv2d_backward_weight(d, x, (R, S), st, pd, dl, G)
    dx = ref.conv2d_backward_data(d, w, (H, W), st, pd, dl, G)
    check_vjp(lambda inp, weight, bias: ref.conv2d_forward(inp, weight, bias, st, pd, dl, G),
              {"inp": dx, "weight": dw, "bias": db}, {"inp": x, "weight": w, "bias": b}, d)


def test_conv2d_reference_matches_direct_definition(rng):
    # The tap-sliced reference against the formula written out loop by loop.
    N, C, H, W, K, R, S, st, pd, dl, G = 2, 4, 6, 7, 4, 3, 2, (2, 1), (1, 1), (1, 2), 2
    x, w = rng.standard_normal((N, C, H, W)), rng.standard_normal((K, C // G, R, S))
    P, Q = ref.conv_out_size(H, R, st[0], pd[0], dl[0]), ref.conv_out_size(W, S, st[1], pd[1], dl[1])
    want = np.zeros((N, K, P, Q))
    for k in range(K):
        g = k // (K // G)
        for c in range(C // G):
            for r in range(R):
                for s in range(S):
                    for p in range(P):
                        for q in range(Q):
                            h, ww = p * st[0] - pd[0] + r * dl[0], q * st[1] - pd[1] + s * dl[1]
                            if 0 <= h < H and 0 <= ww < W:
                                want[:, k, p, q] += w[k, c, r, s] * x[:, g * (C // G) + c, h, ww]
    np.testing.assert_allclose(ref.conv2d_forward(x, w, None, st, pd, dl, G), want, rtol=1e-12, atol=1e-12)


def _raises(dev, exc, msg):
    """pytest.raises(exc); the message is checked on the CPU (other backends word theirs)."""
    return pytest.raises(exc, match=msg if dev.name == "cpu" else None)


# ---- bad input ---------------------------------------------------------------------------


def test_conv2d_bad_sizes_raise_value_error(dev):
    k = dev.k
    N, C, H, W, K, R, S = 2, 4, 6, 6, 6, 3, 3
    x = dev.put(np.zeros((N, C, H, W), np.float32))
    w = dev.put(np.zeros((K, C, R, S), np.float32))
    out = dev.out((N, K, 4, 4))

    def fwd(*sizes, weight=w, bias=None, out=out, inp=x, variant=-1):
        k.conv2d_forward(out, inp, weight, bias, *sizes, variant)

    good = [N, C, H, W, K, R, S, 1, 1, 0, 0, 1, 1, 1]
    fwd(*good)  # sanity: the good call works

    def bad(i, v):
        s = list(good)
        s[i] = v
        return s

    with _raises(dev, ValueError, "must be >= 0"):
        fwd(*bad(0, -1))
    with _raises(dev, ValueError, "must be >= 0"):
        fwd(*bad(2, -6))
    with _raises(dev, ValueError, "R=0 must be > 0"):
        fwd(*bad(5, 0))
    with _raises(dev, ValueError, "stride_h=0 must be > 0"):
        fwd(*bad(7, 0))
    with _raises(dev, ValueError, "stride_w=-1 must be > 0"):
        fwd(*bad(8, -1))
    with _raises(dev, ValueError, "pad_w=-1 must be >= 0"):
        fwd(*bad(10, -1))
    with _raises(dev, ValueError, "dil_h=0 must be > 0"):
        fwd(*bad(11, 0))
    with _raises(dev, ValueError, "groups=0 must be > 0"):
        fwd(*bad(13, 0))
    with _raises(dev, ValueError, "divisible by groups=3"):
        fwd(*bad(13, 3))
    with _raises(dev, ValueError, "empty output"):
        fwd(*bad(5, 7))  # 7x3 kernel on a 6x6 image
    with _raises(dev, ValueError, "empty output"):
        fwd(*bad(11, 3))  # dilation 3: effective kernel 7
    with _raises(dev, ValueError, "too large"):
        fwd(*bad(3, 2**50))
    with _raises(dev, ValueError, "variant"):
        fwd(*good, variant=5)
    with _raises(dev, ValueError, r"'weight' has 216 elements, expected 108 for shape \(K, C/groups, R, S\) = \(6, 2, 3, 3\)"):
        fwd(*bad(13, 2))
    with _raises(dev, ValueError, "'inp'"):
        fwd(*bad(1, 5))
    with _raises(dev, ValueError, r"'out' has 192 elements, expected 288 for shape \(N, K, P, Q\) = \(2, 6, 6, 4\)"):
        fwd(*bad(9, 1))  # pad_h 1: output 6x4
    with _raises(dev, ValueError, "'bias'"):
        fwd(*good, bias=dev.put(np.zeros(5, np.float32)))
    with _raises(dev, ValueError, "'weight' is None"):
        fwd(*good, weight=None)
    with _raises(dev, TypeError, "int64"):
        fwd(*good, inp=dev.put(np.zeros((N, C, H, W), np.int64)))
    d = dev.put(np.zeros((N, K, 4, 4), np.float32))
    with _raises(dev, ValueError, "'dinp'"):
        k.conv2d_backward_data(dev.out((N, C, H, W + 1)), d, w, *good, -1)
    with _raises(dev, ValueError, "'dout'"):
        k.conv2d_backward_data(dev.out((N, C, H, W)), d, w, *bad(7, 2), -1)
    with _raises(dev, ValueError, "divisible by groups"):
        k.conv2d_backward_data(dev.out((N, C, H, W)), d, w, *bad(13, 4), -1)
    with _raises(dev, ValueError, "'dweight'"):
        k.conv2d_backward_weight(dev.out((K, C, R, S + 1)), None, d, x, *good, -1)
    with _raises(dev, ValueError, "'dbias'"):
        k.conv2d_backward_weight(dev.out((K, C, R, S)), dev.out((K + 1,)), d, x, *good, -1)
    with _raises(dev, ValueError, "empty output"):
        k.conv2d_backward_weight(dev.out((K, C, R, S)), None, d, x, *bad(12, 4), -1)
    with _raises(dev, TypeError, "float32"):
        k.conv2d_backward_weight(dev.out((K, C, R, S), np.int64), None, d, x, *good, -1)


def _random_shapes(seed, count):
    """Small random layers that reach every k1 path (direct, flat, phases, dot, batched,
    im2col, Winograd) with sizes no table above lists: channels around the vector widths,
    strides up to 3, padding up to the kernel size, dilation, groups."""
    r = np.random.default_rng(seed)
    shapes = []
    while len(shapes) < count:
        G = int(r.choice([1, 1, 1, 2, 3]))
        Cg, Kg = int(r.integers(1, 21)), int(r.choice([1, 3, 6, 8, 15, 16, 17, 33]))
        R, S = int(r.integers(1, 6)), int(r.integers(1, 6))
        sh, sw = int(r.choice([1, 1, 2, 3])), int(r.choice([1, 1, 2]))
        dh, dw = int(r.choice([1, 1, 2])), int(r.choice([1, 1, 2]))
        ph, pw = int(r.integers(0, R + 1)), int(r.integers(0, S + 1))
        H, W = int(r.integers(1, 20)), int(r.integers(1, 24))
        if H + 2 * ph < dh * (R - 1) + 1 or W + 2 * pw < dw * (S - 1) + 1:
            continue  # no output pixel
        shapes.append((int(r.integers(1, 6)), G * Cg, H, W, G * Kg, R, S, (sh, sw), (ph, pw), (dh, dw), G))
    return shapes


RANDOM_SHAPES = _random_shapes(7, 64)


def test_conv2d_random_layers_every_isa(dev, isa, rng):
    if dev.name != "cpu":
        pytest.skip("ISA paths are a CPU matter")
    for shape in RANDOM_SHAPES:
        _check_all(dev, rng, shape, 1, bias=bool(shape[0] % 2))


def test_conv2d_nonfinite_input_stays_local(dev, rng):
    # An inf pixel reaches only the weight-gradient taps that read it (stride-1 dot path over
    # the row-flattened padded image: its columns past Q pair zero dout with real pixels, so
    # a naive reduction would spread NaN to every tap of the row).
    shape = (2, 2, 20, 21, 5, 3, 3, (1, 1), (0, 1), (1, 1), 1)
    N, C, H, W, K, R, S, st, pd, dl, G = shape
    P, Q = _out_hw(shape)
    x, w, _ = _data(rng, shape)
    x[1, 0, 7, 20] = np.inf
    x[0, 1, 0, 3] = -np.inf
    d = rng.standard_normal((N, K, P, Q)).astype(np.float32)
    with np.errstate(invalid="ignore"):  # inf * 0 in the reference's padded sums
        rdw, rdb = ref.conv2d_backward_weight(d, x, (R, S), st, pd, dl, G)
    for variant in VARIANTS:
        dw, db = dev.out(w.shape), dev.out((K,))
        dev.k.conv2d_backward_weight(dw, db, dev.put(d), dev.put(x), *_args(shape), variant)
        got = dev.get(dw, w.shape)
        np.testing.assert_array_equal(np.isfinite(got), np.isfinite(rdw), err_msg=f"variant {variant}")
        assert_close(got, rdw, for_sum(N * P * Q), f"variant {variant}")
        assert_close(dev.get(db, (K,)), rdb, for_sum(N * P * Q), f"variant {variant} dbias")


def test_conv2d_huge_padding_tiny_output(dev):
    # Padding and dilation far larger than the image (accepted: the output is tiny) must not
    # make k1 build a padded copy of the image: k1 agrees with k0's direct loops.
    for shape in [(1, 32, 2, 2, 16, 1, 1, (1 << 20, 1 << 20), ((1 << 20) - 1, (1 << 20) - 1), (1, 1), 1),
                  (1, 1, 2, 2, 1, 2, 2, (1, 1), (1 << 20, 1 << 20), ((1 << 21) - 1, (1 << 21) - 1), 1)]:
        N, C, H, W, K, R, S, *_ = shape
        P, Q = _out_hw(shape)
        rng = np.random.default_rng(0)
        x, w, b = _data(rng, shape)
        d = rng.standard_normal((N, K, P, Q)).astype(np.float32)
        res = []
        for variant in (0, 1):
            out, dx, dw = dev.out((N, K, P, Q)), dev.out((N, C, H, W)), dev.out(w.shape)
            dev.k.conv2d_forward(out, dev.put(x), dev.put(w), dev.put(b), *_args(shape), variant)
            dev.k.conv2d_backward_data(dx, dev.put(d), dev.put(w), *_args(shape), variant)
            dev.k.conv2d_backward_weight(dw, None, dev.put(d), dev.put(x), *_args(shape), variant)
            res.append([dev.get(out, (N, K, P, Q)), dev.get(dx, (N, C, H, W)), dev.get(dw, w.shape)])
        for a, b_ in zip(*res):
            assert_close(a, b_, for_sum(C * R * S))
