"""neuraxon.data.transforms: shapes, determinism under a seed, exact geometry on known images."""

import numpy as np
import pytest
from neuraxon.data import transforms as T


def _img(c=1, h=7, w=9, seed=0):
    return np.random.default_rng(seed).random((c, h, w)).astype(np.float32)


RANDOM = [
    lambda s: T.RandomHorizontalFlip(seed=s),
    lambda s: T.RandomVerticalFlip(seed=s),
    lambda s: T.RandomRotation(30, seed=s),
    lambda s: T.RandomScale((0.8, 1.2), seed=s),
    lambda s: T.RandomTranslation(2, seed=s),
    lambda s: T.RandomAffine(15, translate=(0.1, 0.1), scale=(0.9, 1.1), seed=s),
    lambda s: T.GaussianNoise(0.1, seed=s),
]


@pytest.mark.parametrize("make", RANDOM)
@pytest.mark.parametrize("shape", [(1, 7, 9), (3, 5, 5), (1, 1, 1), (2, 28, 28)])
def test_shape_dtype_and_seeded(make, shape):
    x = _img(*shape)
    a = [make(3)(x) for _ in range(2)]
    crop = [T.RandomCrop(shape[1:], padding=2, seed=3)(x) for _ in range(2)]
    np.testing.assert_array_equal(crop[0], crop[1])
    assert crop[0].shape == x.shape
    assert a[0].shape == x.shape and a[0].dtype == x.dtype
    np.testing.assert_array_equal(a[0], a[1])  # same seed, same draw
    assert np.all(np.isfinite(a[0]))


def test_2d_input_keeps_shape():
    x = _img()[0]
    assert T.RandomRotation(10, seed=0)(x).shape == x.shape
    assert T.RandomCrop(5, seed=0)(x).shape == (5, 5)


def test_flips_exact():
    x = _img()
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0)(x), x[:, :, ::-1])
    np.testing.assert_array_equal(T.RandomVerticalFlip(p=1.0)(x), x[:, ::-1, :])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=0.0)(x), x)


def test_rotation_90_matches_rot90_and_identity():
    x = _img(1, 9, 9)
    np.testing.assert_allclose(T.affine_sample(x, 90.0), np.rot90(x, 1, axes=(1, 2)), atol=1e-5)
    np.testing.assert_allclose(T.affine_sample(x, 0.0), x, atol=1e-6)
    np.testing.assert_allclose(T.RandomRotation((0, 0), seed=0)(x), x, atol=1e-6)


def test_translation_and_scale_exact():
    x = _img(1, 6, 6)
    y = T.affine_sample(x, shift=(1.0, 2.0))
    np.testing.assert_allclose(y[:, 1:, 2:], x[:, :-1, :-2], atol=1e-6)
    assert np.all(y[:, 0, :] == 0) and np.all(y[:, :, :2] == 0)
    s = T.RandomTranslation((1, 2), seed=0)
    for _ in range(10):
        out = s(x)
        assert out.shape == x.shape
    c = np.zeros((1, 5, 5), np.float32)
    c[0, 2, 2] = 1.0
    np.testing.assert_allclose(T.affine_sample(c, scale=2.0)[0, 2, 2], 1.0)  # centre fixed under zoom


def test_crop_padding_fill_and_noise_stats():
    x = np.ones((1, 4, 4), np.float32)
    crops = [T.RandomCrop(4, padding=2, fill=0.0, seed=s)(x) for s in range(20)]
    assert any(c.sum() < 16 for c in crops) and all(c.max() == 1 for c in crops)
    z = np.zeros((1, 200, 200), np.float32)
    n = T.GaussianNoise(0.5, seed=1)(z)
    assert abs(n.mean()) < 0.02 and abs(n.std() - 0.5) < 0.02
    assert T.GaussianNoise(1.0, clip=(0, 1), seed=1)(z).min() >= 0


def test_compose_seed_and_normalize():
    make = lambda: T.Compose([T.RandomRotation(20), T.GaussianNoise(0.1), T.Normalize([0.5], [0.25])], seed=7)
    x = _img()
    np.testing.assert_array_equal(make()(x), make()(x))
    np.testing.assert_allclose(T.Normalize(0.5, 0.25)(x), (x - 0.5) / 0.25, rtol=1e-6)
    assert not np.array_equal(make()(x), T.Compose(make().transforms, seed=8)(x))


def test_bad_arguments():
    with pytest.raises(ValueError):
        T.RandomHorizontalFlip(p=1.5)
    with pytest.raises(ValueError):
        T.RandomRotation(-3)
    with pytest.raises(ValueError):
        T.RandomScale((1.2, 0.8))
    with pytest.raises(ValueError):
        T.RandomCrop(0)
    with pytest.raises(ValueError):
        T.RandomCrop(10)(_img())
    with pytest.raises(ValueError):
        T.GaussianNoise(-1.0)
    with pytest.raises(ValueError):
        T.RandomRotation(10)(np.zeros((1, 1, 2, 2), np.float32))
    with pytest.raises(ValueError):
        T.Normalize(0.0, 0.0)


def test_tensor_in_tensor_out():
    nx = pytest.importorskip("neuraxon")
    if not hasattr(nx, "tensor"):
        pytest.skip("neuraxon.tensor not available yet in this build")
    x = _img()
    t = nx.tensor(x)
    out = T.RandomHorizontalFlip(p=1.0)(t)
    assert isinstance(out, nx.Tensor)
    np.testing.assert_array_equal(out.numpy(), x[:, :, ::-1])


# ---- PIL images, ToTensor, PILToTensor, CenterCrop, Resize (issue 15) ------------------------------


def _pil(mode="RGB", h=5, w=7, seed=0):
    Image = pytest.importorskip("PIL.Image")
    a = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    return Image.fromarray(a).convert(mode)


def test_flips_of_a_pil_image_flip_its_width_not_its_channels():
    Image = pytest.importorskip("PIL.Image")
    img = _pil()
    a = np.asarray(img)
    out = T.RandomHorizontalFlip(p=1.0)(img)
    assert isinstance(out, Image.Image) and out.mode == "RGB" and out.size == img.size
    np.testing.assert_array_equal(np.asarray(out), a[:, ::-1])  # it used to give a[:, :, ::-1], BGR
    np.testing.assert_array_equal(np.asarray(out), np.asarray(img.transpose(Image.FLIP_LEFT_RIGHT)))
    out = T.RandomVerticalFlip(p=1.0)(img)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(img.transpose(Image.FLIP_TOP_BOTTOM)))
    assert T.RandomHorizontalFlip(p=0.0)(img) is img
    for mode in ("L", "RGBA", "LA", "I", "F", "1", "P", "CMYK"):
        m = _pil(mode)
        out = T.RandomHorizontalFlip(p=1.0)(m)
        assert out.mode == mode and out.size == m.size, mode
        np.testing.assert_array_equal(np.asarray(out), np.asarray(m.transpose(Image.FLIP_LEFT_RIGHT)))
        if mode == "P":
            assert out.getpalette() == m.getpalette()


def test_geometric_transforms_keep_a_pil_image():
    Image = pytest.importorskip("PIL.Image")
    img = _pil(h=9, w=11)
    a = np.asarray(img)
    crop = T.RandomCrop((4, 6), seed=0)(img)
    assert isinstance(crop, Image.Image) and crop.size == (6, 4) and crop.mode == "RGB"
    # the crop is a window of the image (same seed, same window as the CHW array path)
    win = T.RandomCrop((4, 6), seed=0)(np.moveaxis(a, -1, 0))
    np.testing.assert_array_equal(np.asarray(crop), np.moveaxis(win, 0, -1))
    padded = T.RandomCrop(11, padding=2, fill=0, seed=1)(img)
    assert padded.size == (11, 11)
    for t in (T.RandomRotation(20, seed=0), T.RandomAffine(10, translate=(0.1, 0.1), seed=0), T.RandomScale(seed=0),
              T.RandomTranslation(2, seed=0)):  # fmt: skip
        out = t(img)
        assert isinstance(out, Image.Image) and out.mode == "RGB" and out.size == img.size
    same = T.RandomRotation((0, 0), seed=0)(img)
    np.testing.assert_array_equal(np.asarray(same), a)  # resampled in float, rounded back to uint8
    with pytest.raises(TypeError, match="ToTensor"):
        T.Normalize(0.5, 0.5)(img)
    with pytest.raises(TypeError, match="ToTensor"):
        T.GaussianNoise(0.1)(img)


def test_to_tensor_as_torchvision():
    import neuraxon as nx

    img = _pil()
    a = np.asarray(img)
    t = T.ToTensor()(img)
    assert isinstance(t, nx.Tensor) and t.dtype is nx.float32 and t.shape == (3, 5, 7)
    want = np.moveaxis(a, -1, 0).astype(np.float32) / np.float32(255)
    np.testing.assert_array_equal(t.numpy(), want)  # x / 255 in float32: torchvision's exact bits
    assert float(t.min()) >= 0.0 and float(t.max()) <= 1.0
    np.testing.assert_array_equal(T.ToTensor()(a).numpy(), want)  # an (H, W, C) uint8 array alike
    g = T.ToTensor()(_pil("L"))
    assert g.shape == (1, 5, 7)
    assert T.ToTensor()(_pil("1")).numpy().max() == 1.0  # mode "1" counts as 0/255
    i = T.ToTensor()(_pil("I"))
    assert i.dtype is nx.int64 and i.numpy().max() > 1  # not uint8: values kept, as torchvision
    f = np.random.default_rng(0).random((4, 6, 2))  # float64 (H, W, C): values kept, float32
    tf = T.ToTensor()(f)
    assert tf.dtype is nx.float32 and tf.shape == (2, 4, 6)
    np.testing.assert_allclose(tf.numpy(), np.moveaxis(f, -1, 0), rtol=1e-7)
    assert T.ToTensor()(np.zeros((4, 6), np.uint8)).shape == (1, 4, 6)
    with pytest.raises(TypeError, match="PIL Image or ndarray"):
        T.ToTensor()(nx.zeros(3, 4, 4))
    with pytest.raises(ValueError, match="2/3 dimensional"):
        T.ToTensor()(np.zeros((1, 2, 3, 4), np.uint8))


def test_pil_to_tensor_keeps_the_values():
    import neuraxon as nx

    img = _pil()
    t = T.PILToTensor()(img)
    assert t.dtype is nx.int64 and t.shape == (3, 5, 7)
    np.testing.assert_array_equal(t.numpy(), np.moveaxis(np.asarray(img), -1, 0))
    assert T.PILToTensor()(_pil("1")).dtype is nx.bool
    # nx.tensor(img) is the (H, W, C) pixel array, uint8 -> int64 (the data rule)
    assert nx.tensor(img).shape == (5, 7, 3) and nx.tensor(img).dtype is nx.int64
    with pytest.raises(TypeError, match="PIL Image"):
        T.PILToTensor()(np.zeros((2, 2), np.uint8))
    # the usual pipeline: PIL -> flip -> crop -> tensor -> normalize
    pipe = T.Compose([T.RandomHorizontalFlip(p=1.0), T.CenterCrop(3), T.ToTensor(), T.Normalize([0.5] * 3, [0.5] * 3)])
    out = pipe(img)
    want = np.moveaxis(np.asarray(img)[1:4, 2:5][:, ::-1], -1, 0).astype(np.float32) / np.float32(255)
    np.testing.assert_allclose(out.numpy(), (want - 0.5) / 0.5, rtol=1e-6)


def test_center_crop_as_torchvision():
    x = np.arange(2 * 6 * 7, dtype=np.float32).reshape(2, 6, 7)
    np.testing.assert_array_equal(T.CenterCrop(3)(x), x[:, 2:5, 2:5])  # round(1.5) = 2, round(2.0) = 2
    np.testing.assert_array_equal(T.CenterCrop((4, 5))(x), x[:, 1:5, 1:6])
    big = T.CenterCrop((9, 8))(x)  # padded with zeros: 1 row on top, 2 below; 0 left, 1 right
    assert big.shape == (2, 9, 8)
    np.testing.assert_array_equal(big[:, 1:7, 0:7], x)
    assert big[:, 0].sum() == 0 and big[:, 7:].sum() == 0 and big[:, :, 7].sum() == 0
    img = _pil(h=6, w=7)
    out = T.CenterCrop(3)(img)
    assert out.size == (3, 3)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(img)[2:5, 2:5])
    with pytest.raises(ValueError):
        T.CenterCrop(0)


def test_resize_matches_pil_and_torch():
    rng = np.random.default_rng(0)
    Image = pytest.importorskip("PIL.Image")
    a = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    img = Image.fromarray(a)
    for size in [(10, 13), (80, 90), (37, 20), 17, [17]]:
        r = T.Resize(size)(img)
        assert isinstance(r, Image.Image)
        np.testing.assert_array_equal(np.asarray(r), np.asarray(img.resize(r.size, Image.BILINEAR)))
        ra = T.Resize(size)(np.moveaxis(a, -1, 0))  # the array path: PIL's algorithm in float64
        assert ra.dtype == np.uint8 and ra.shape == (3, r.size[1], r.size[0])
        assert np.abs(np.moveaxis(ra, 0, -1).astype(int) - np.asarray(r).astype(int)).max() <= 1
    assert T.Resize(17)(img).size == (24, 17)  # the smaller edge becomes 17, 53 * 17 / 37 truncated
    assert T.Resize(17, max_size=20)(img).size == (20, 14)
    f = rng.random((37, 53)).astype(np.float32)  # PIL mode F: float, no rounding
    for size in [(10, 13), (80, 90)]:
        want = np.asarray(Image.fromarray(f, mode="F").resize(size[::-1], Image.BILINEAR))
        np.testing.assert_allclose(T.Resize(size)(f), want, atol=1e-6)
    with pytest.raises(ValueError):
        T.Resize((2, 2), interpolation="nearest")


def test_resize_matches_torch_antialiased_bilinear():
    torch = pytest.importorskip("torch")
    import neuraxon as nx

    x = np.random.default_rng(1).random((2, 37, 53)).astype(np.float32)
    for size in [(10, 13), (80, 90), (37, 20), (5, 100)]:
        want = torch.nn.functional.interpolate(
            torch.from_numpy(x)[None], size=size, mode="bilinear", antialias=True, align_corners=False
        )[0].numpy()
        out = T.Resize(size)(nx.tensor(x))
        assert isinstance(out, nx.Tensor) and out.shape == (2,) + size
        np.testing.assert_allclose(out.numpy(), want, atol=1e-5)


def test_random_resized_crop_windows():
    t = T.RandomResizedCrop(8, scale=(0.2, 0.9), ratio=(0.5, 2.0), seed=3)
    h, w = 40, 60
    for _ in range(300):
        i, j, ch, cw = t.params(h, w)
        assert 0 <= i and i + ch <= h and 0 <= j and j + cw <= w and ch > 0 and cw > 0
        # the drawn area and ratio, up to the rounding of the sides to whole pixels
        assert 0.2 * h * w * 0.9 <= ch * cw <= 0.9 * h * w * 1.1
        assert 0.5 * 0.85 <= cw / ch <= 2.0 / 0.85
    a, b = T.RandomResizedCrop(8, seed=11), T.RandomResizedCrop(8, seed=11)
    assert [a.params(h, w) for _ in range(20)] == [b.params(h, w) for _ in range(20)]
    # no window of ratio 5 fits in 10 draws: the widest centred window of that ratio
    assert T.RandomResizedCrop(8, scale=(0.5, 1.0), ratio=(5.0, 5.0), seed=0).params(h, w) == (14, 0, 12, 60)
    assert T.RandomResizedCrop(8, scale=(0.5, 1.0), ratio=(0.1, 0.1), seed=0).params(h, w) == (0, 28, 40, 4)
    assert T.RandomResizedCrop(8, scale=(3.0, 4.0), ratio=(1.0, 2.0), seed=0).params(h, w) == (0, 0, 40, 60)


def test_random_resized_crop_images():
    Image = pytest.importorskip("PIL.Image")
    x = np.random.default_rng(2).random((3, 40, 60)).astype(np.float32)
    whole = T.RandomResizedCrop((10, 12), scale=(1.0, 1.0), ratio=(1.5, 1.5), seed=0)
    np.testing.assert_array_equal(whole(x), T.Resize((10, 12))(x))  # the whole image, resized
    t = T.RandomResizedCrop((10, 12), seed=5)
    out = t(x)
    i, j, ch, cw = T.RandomResizedCrop((10, 12), seed=5).params(40, 60)
    assert out.shape == (3, 10, 12) and out.dtype == np.float32
    np.testing.assert_array_equal(out, T.Resize((10, 12))(np.ascontiguousarray(x[:, i : i + ch, j : j + cw])))
    img = _pil("RGB", 40, 60)
    out = T.RandomResizedCrop((10, 12), seed=5)(img)
    assert isinstance(out, Image.Image) and out.mode == "RGB" and out.size == (12, 10)
    want = img.crop((j, i, j + cw, i + ch)).resize((12, 10), Image.BILINEAR)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(want))
    import neuraxon as nx

    o = T.RandomResizedCrop(7, seed=1)(nx.tensor(x))
    assert isinstance(o, nx.Tensor) and o.shape == (3, 7, 7)
    for bad in [dict(scale=(0.9, 0.1)), dict(ratio=(0.0, 1.0)), dict(scale=(0.1,))]:
        with pytest.raises(ValueError):
            T.RandomResizedCrop(8, **bad)
    with pytest.raises(ValueError):
        T.RandomResizedCrop(0)
