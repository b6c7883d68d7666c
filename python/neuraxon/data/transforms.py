"""Per-sample data augmentation (torchvision.transforms-shaped), seeded, on arrays, tensors
and PIL images.

A transform is called on one sample: a NumPy array or a neuraxon Tensor of shape (H, W) or
(C, H, W) (channels first, as the datasets give them), or a PIL image (whose pixels are
(H, W[, C]), as PIL stores them: the transforms work on its width and height, never across
its channels). It returns the same kind it was given (a tensor comes back as a tensor on the
same device, computed on the host; a PIL image as a PIL image of the same mode and palette,
as torchvision's geometric transforms do) with the same shape and dtype. ``ToTensor`` (PIL or
an (H, W, C) array -> float32 (C, H, W) in [0, 1]) and ``PILToTensor`` turn images into
tensors; ``Normalize`` and ``GaussianNoise`` take arrays or tensors only (as torchvision,
they refuse PIL images: apply ``ToTensor`` first). Random transforms draw from their own ``numpy.random.Generator``, seeded by
``seed`` (``None``: a fresh OS-seeded generator), so an augmentation pipeline is repeatable;
``Compose(..., seed=s)`` reseeds every member from one seed.

Geometric transforms (rotation, scaling, translation, affine) resample with bilinear
interpolation around the image centre; pixels that come from outside the image take
``fill`` (default 0). Where torchvision differs (e.g. it samples the angle from a
``torch`` generator, and its RandomCrop takes (H, W) outputs smaller than the input) the
docstring says so.
"""

from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Sequence
from typing import Callable

import numpy as np

from ..creation import from_numpy, tensor

__all__ = [
    "CenterCrop",
    "Compose",
    "GaussianNoise",
    "Lambda",
    "Normalize",
    "PILToTensor",
    "RandomAffine",
    "RandomCrop",
    "RandomHorizontalFlip",
    "RandomResizedCrop",
    "RandomRotation",
    "RandomScale",
    "RandomTranslation",
    "RandomVerticalFlip",
    "Resize",
    "ToTensor",
    "affine_sample",
]


# ---- array <-> tensor plumbing ------------------------------------------------------------------


def _is_pil(x) -> bool:
    """Whether x is a PIL image (PIL is never imported here: an image can only exist once
    its module has been)."""
    mod = sys.modules.get("PIL.Image")
    return mod is not None and isinstance(x, mod.Image)


def _pil_to_array(img) -> tuple[np.ndarray, Callable]:
    """A PIL image as its (C, H, W) pixel array (uint8 for L/RGB/RGBA/P/..., int32 for "I",
    float32 for "F", bool for "1") and the function that makes an image of the same mode
    (and palette) from such an array, rounding and clipping values that resampling made
    fractional."""
    from PIL import Image

    a = np.asarray(img)
    hwc = a if a.ndim == 3 else a[:, :, None]
    mode, palette = img.mode, img.getpalette() if img.mode in ("P", "PA") else None

    def back(y: np.ndarray):
        y = np.moveaxis(np.asarray(y), 0, -1)
        if y.dtype != a.dtype:
            if a.dtype == np.bool_:
                y = y > 0.5
            elif a.dtype.kind in "iu":
                info = np.iinfo(a.dtype)
                y = np.clip(np.rint(y), info.min, info.max)
            y = y.astype(a.dtype)
        y = np.ascontiguousarray(y if a.ndim == 3 else y[:, :, 0])
        if mode == "1":
            return Image.fromarray(y)
        out = Image.frombytes(mode, (y.shape[1], y.shape[0]), y.tobytes())
        if palette is not None:
            out.putpalette(palette)
        return out

    return np.moveaxis(hwc, -1, 0), back


def _no_pil(x, what: str) -> None:
    if _is_pil(x):
        raise TypeError(f"{what} takes an array or a tensor, not a PIL image (apply ToTensor() first), as torchvision")


def _to_array(x) -> tuple[np.ndarray, Callable]:
    """(array (C, H, W) float or original dtype, function that restores the input's kind and shape)."""
    if _is_pil(x):
        return _pil_to_array(x)
    if isinstance(x, np.ndarray):
        a, back = x, (lambda y: y)
    else:  # a neuraxon Tensor (or anything with .numpy())
        t = x.detach() if hasattr(x, "detach") else x
        t = t.cpu() if hasattr(t, "cpu") else t
        a = np.asarray(t.numpy() if hasattr(t, "numpy") else t)
        dev = getattr(x, "device", None)

        def back(y, _dev=dev):
            out = tensor(np.ascontiguousarray(y))
            return out.to(_dev) if _dev is not None else out

    if a.ndim == 2:
        return a[None], (lambda y, b=back: b(y[0]))
    if a.ndim != 3:
        raise ValueError(f"transforms take one sample of shape (H, W) or (C, H, W), got {a.shape}")
    return a, back


def _rng(seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


class _Random:
    """Base of the random transforms: owns a seeded generator."""

    def __init__(self, seed=None) -> None:
        self.rng = _rng(seed)

    def reseed(self, seed) -> None:
        self.rng = _rng(seed)


def _pair(v, name: str, center: float) -> tuple[float, float]:
    """A scalar r -> (center - r, center + r); a pair -> itself (checked ordered)."""
    if isinstance(v, numbers.Number):
        if v < 0:
            raise ValueError(f"{name} must be >= 0 when a single number, got {v}")
        return center - float(v), center + float(v)
    lo, hi = (float(u) for u in v)
    if lo > hi:
        raise ValueError(f"{name} range must be (min, max), got {v}")
    return lo, hi


# ---- geometric resampling -------------------------------------------------------------------------


def affine_sample(
    img: np.ndarray, angle: float = 0.0, scale: float = 1.0, shift: tuple[float, float] = (0.0, 0.0), fill: float = 0.0
) -> np.ndarray:
    """Rotate by ``angle`` degrees (counter-clockwise), scale by ``scale``, then shift by
    (dy, dx) pixels, about the image centre, with bilinear interpolation.

    img: (C, H, W). Each output pixel p maps back to the source q = A^-1 (p - c - shift) + c.
    """
    if scale <= 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    c_, h, w = img.shape
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    yy, xx = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
    y0, x0 = yy - cy - shift[0], xx - cx - shift[1]
    th = math.radians(angle)
    cos, sin = math.cos(th) / scale, math.sin(th) / scale
    # inverse of a counter-clockwise rotation (image y axis points down)
    sx = cos * x0 - sin * y0 + cx
    sy = sin * x0 + cos * y0 + cy
    fx, fy = np.floor(sx), np.floor(sy)
    ax, ay = sx - fx, sy - fy
    fx, fy = fx.astype(np.int64), fy.astype(np.int64)
    src = img.astype(np.float64, copy=False)
    out = np.zeros((c_, h, w), dtype=np.float64)
    for dy, wy in ((0, 1 - ay), (1, ay)):
        for dx, wx in ((0, 1 - ax), (1, ax)):
            iy, ix = fy + dy, fx + dx
            ok = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)
            vals = np.where(ok[None], src[:, np.clip(iy, 0, h - 1), np.clip(ix, 0, w - 1)], fill)
            out += vals * (wy * wx)[None]
    return out.astype(img.dtype if img.dtype.kind == "f" else np.float32)


# ---- the transforms ---------------------------------------------------------------------------------


class Compose:
    """Apply transforms in order. ``seed`` (optional) reseeds every random member from one seed."""

    def __init__(self, transforms: Sequence[Callable], seed=None) -> None:
        self.transforms = list(transforms)
        if seed is not None:
            ss = np.random.SeedSequence(seed)
            for t, s in zip(self.transforms, ss.spawn(len(self.transforms))):
                if isinstance(t, _Random):
                    t.reseed(np.random.default_rng(s))

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self) -> str:
        return "Compose(" + ", ".join(repr(t) for t in self.transforms) + ")"


class Lambda:
    """Wrap a function of one sample."""

    def __init__(self, fn: Callable) -> None:
        self.fn = fn

    def __call__(self, x):
        return self.fn(x)


class RandomHorizontalFlip(_Random):
    """Mirror left-right with probability ``p``."""

    def __init__(self, p: float = 0.5, seed=None) -> None:
        super().__init__(seed)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p}")
        self.p = p

    def __call__(self, x):
        a, back = _to_array(x)
        return back(np.ascontiguousarray(a[..., ::-1])) if self.rng.random() < self.p else x


class RandomVerticalFlip(RandomHorizontalFlip):
    """Mirror top-bottom with probability ``p``."""

    def __call__(self, x):
        a, back = _to_array(x)
        return back(np.ascontiguousarray(a[..., ::-1, :])) if self.rng.random() < self.p else x


class RandomAffine(_Random):
    """Random rotation (degrees), scale and translation (fractions of H, W), bilinear.

    degrees: r or (min, max); translate: (fy, fx) max fractions, or None; scale: (min, max) or None.
    """

    def __init__(self, degrees=0.0, translate=None, scale=None, fill: float = 0.0, seed=None) -> None:
        super().__init__(seed)
        self.degrees = _pair(degrees, "degrees", 0.0)
        if translate is not None:
            translate = (float(translate[0]), float(translate[1]))
            if not all(0.0 <= t <= 1.0 for t in translate):
                raise ValueError(f"translate fractions must be in [0, 1], got {translate}")
        self.translate = translate
        if scale is not None:
            scale = (float(scale[0]), float(scale[1]))
            if not 0 < scale[0] <= scale[1]:
                raise ValueError(f"scale must be (min, max) with 0 < min <= max, got {scale}")
        self.scale = scale
        self.fill = fill

    def params(self, h: int, w: int) -> tuple[float, float, tuple[float, float]]:
        angle = float(self.rng.uniform(*self.degrees))
        s = float(self.rng.uniform(*self.scale)) if self.scale else 1.0
        if self.translate:
            dy = float(np.round(self.rng.uniform(-1, 1) * self.translate[0] * h))
            dx = float(np.round(self.rng.uniform(-1, 1) * self.translate[1] * w))
        else:
            dy = dx = 0.0
        return angle, s, (dy, dx)

    def __call__(self, x):
        a, back = _to_array(x)
        angle, s, shift = self.params(a.shape[1], a.shape[2])
        return back(affine_sample(a, angle, s, shift, self.fill))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(degrees={self.degrees}, translate={self.translate}, scale={self.scale})"


class RandomRotation(RandomAffine):
    """Rotate by an angle drawn uniformly from ``degrees`` (r -> (-r, r))."""

    def __init__(self, degrees, fill: float = 0.0, seed=None) -> None:
        super().__init__(degrees=degrees, fill=fill, seed=seed)


class RandomScale(RandomAffine):
    """Zoom about the centre by a factor drawn from ``scale`` = (min, max)."""

    def __init__(self, scale=(0.9, 1.1), fill: float = 0.0, seed=None) -> None:
        super().__init__(scale=scale, fill=fill, seed=seed)


class RandomTranslation(_Random):
    """Shift by whole pixels, at most ``max_shift`` (int, or (dy, dx)) each way; uncovered pixels = fill."""

    def __init__(self, max_shift=2, fill: float = 0.0, seed=None) -> None:
        super().__init__(seed)
        my, mx = (max_shift, max_shift) if isinstance(max_shift, numbers.Number) else max_shift
        if my < 0 or mx < 0:
            raise ValueError(f"max_shift must be >= 0, got {max_shift}")
        self.max_shift = (int(my), int(mx))
        self.fill = fill

    def __call__(self, x):
        a, back = _to_array(x)
        dy = int(self.rng.integers(-self.max_shift[0], self.max_shift[0] + 1))
        dx = int(self.rng.integers(-self.max_shift[1], self.max_shift[1] + 1))
        return back(_shift(a, dy, dx, self.fill))


def _shift(a: np.ndarray, dy: int, dx: int, fill: float) -> np.ndarray:
    _, h, w = a.shape
    out = np.full_like(a, fill)
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    if abs(dy) < h and abs(dx) < w:
        out[:, yd, xd] = a[:, ys, xs]
    return out


class RandomCrop(_Random):
    """Pad by ``padding`` (fill value) then crop a random ``size`` window (int or (h, w)).

    The classic "pad 2-4 pixels and crop back to the original size" augmentation.
    """

    def __init__(self, size, padding: int = 0, fill: float = 0.0, seed=None) -> None:
        super().__init__(seed)
        self.size = (int(size), int(size)) if isinstance(size, numbers.Number) else (int(size[0]), int(size[1]))
        if min(self.size) <= 0 or padding < 0:
            raise ValueError(f"RandomCrop needs size > 0 and padding >= 0, got size={size}, padding={padding}")
        self.padding = int(padding)
        self.fill = fill

    def __call__(self, x):
        a, back = _to_array(x)
        p = self.padding
        if p:
            a = np.pad(a, ((0, 0), (p, p), (p, p)), constant_values=self.fill)
        th, tw = self.size
        h, w = a.shape[1:]
        if th > h or tw > w:
            raise ValueError(f"crop size {self.size} is larger than the (padded) image {(h, w)}")
        i = int(self.rng.integers(0, h - th + 1))
        j = int(self.rng.integers(0, w - tw + 1))
        return back(np.ascontiguousarray(a[:, i : i + th, j : j + tw]))


class GaussianNoise(_Random):
    """Add N(mean, std^2) noise to every pixel (optionally clipped to ``clip`` = (lo, hi))."""

    def __init__(self, std: float = 0.1, mean: float = 0.0, clip=None, seed=None) -> None:
        super().__init__(seed)
        if std < 0:
            raise ValueError(f"std must be >= 0, got {std}")
        self.std, self.mean, self.clip = float(std), float(mean), clip

    def __call__(self, x):
        _no_pil(x, "GaussianNoise")
        a, back = _to_array(x)
        y = a + self.rng.normal(self.mean, self.std, size=a.shape).astype(
            a.dtype if a.dtype.kind == "f" else np.float32
        )
        if self.clip is not None:
            y = np.clip(y, self.clip[0], self.clip[1])
        return back(y)


class Normalize:
    """(x - mean[c]) / std[c] per channel."""

    def __init__(self, mean, std) -> None:
        self.mean = np.atleast_1d(np.asarray(mean, np.float32))
        self.std = np.atleast_1d(np.asarray(std, np.float32))
        if np.any(self.std == 0):
            raise ValueError("std must be non-zero")

    def __call__(self, x):
        _no_pil(x, "Normalize")
        a, back = _to_array(x)
        return back(((a - self.mean[:, None, None]) / self.std[:, None, None]).astype(np.float32))


# ---- images to tensors ----------------------------------------------------------------------------


def _hwc_to_chw(a: np.ndarray) -> np.ndarray:
    hwc = a if a.ndim == 3 else a[:, :, None]
    return np.ascontiguousarray(np.moveaxis(hwc, -1, 0))


class ToTensor:
    """A PIL image or an (H, W[, C]) NumPy array -> a (C, H, W) tensor, as torchvision's
    ToTensor: uint8 data (modes L, RGB, RGBA, P, ...; mode "1" counts as 0/255) becomes
    float32 in [0, 1] (x / 255 in float32, the same bits as torchvision); other data keeps
    its values, converted as neuraxon.tensor converts data (float64 -> float32, int32 (PIL
    mode "I") -> int64). Note the layout: an array here is (H, W, C), as PIL and torchvision's
    ToTensor have it, while the other transforms take (C, H, W) arrays."""

    def __call__(self, pic):
        if _is_pil(pic):
            a = np.array(pic)
            if pic.mode == "1":
                a = a.astype(np.uint8) * np.uint8(255)
        elif isinstance(pic, np.ndarray):
            if pic.ndim not in (2, 3):
                raise ValueError(f"pic should be 2/3 dimensional. Got {pic.ndim} dimensions.")
            a = pic
        else:
            raise TypeError(f"pic should be PIL Image or ndarray. Got {type(pic)}")
        chw = _hwc_to_chw(a)
        if chw.dtype == np.uint8:
            return from_numpy(chw.astype(np.float32) / np.float32(255))
        return from_numpy(chw)

    def __repr__(self) -> str:
        return "ToTensor()"


class PILToTensor:
    """A PIL image -> its pixels as a (C, H, W) tensor without scaling, as torchvision's
    PILToTensor (uint8 becomes int64, neuraxon's integer type; mode "1" gives bool)."""

    def __call__(self, pic):
        if not _is_pil(pic):
            raise TypeError(f"pic should be PIL Image. Got {type(pic)}")
        return from_numpy(_hwc_to_chw(np.array(pic)))

    def __repr__(self) -> str:
        return "PILToTensor()"


# ---- crops and resizing -------------------------------------------------------------------------


def _size2(size, what: str) -> tuple[int, int]:
    """An int or a 1- or 2-sequence as (h, w), checked positive."""
    if isinstance(size, numbers.Integral):
        h = w = int(size)
    elif isinstance(size, Sequence) and len(size) in (1, 2):
        h, w = int(size[0]), int(size[-1])
    else:
        raise ValueError(f"{what}: size must be an int or a sequence of one or two ints, got {size!r}")
    if h <= 0 or w <= 0:
        raise ValueError(f"{what}: size must be positive, got {size!r}")
    return h, w


class CenterCrop:
    """Crop the centre ``size`` (int or (h, w)) window, as torchvision: the top-left corner
    is (round((H - h) / 2), round((W - w) / 2)) with Python's round; an image smaller than
    the window is first padded with zeros on each side (the extra pixel, if odd, at the
    bottom/right)."""

    def __init__(self, size) -> None:
        self.size = _size2(size, "CenterCrop")

    def __call__(self, x):
        a, back = _to_array(x)
        th, tw = self.size
        _, h, w = a.shape
        if th > h or tw > w:
            ph, pw = max(th - h, 0), max(tw - w, 0)
            a = np.pad(a, ((0, 0), (ph // 2, (ph + 1) // 2), (pw // 2, (pw + 1) // 2)))
            _, h, w = a.shape
        i, j = int(round((h - th) / 2.0)), int(round((w - tw) / 2.0))
        return back(np.ascontiguousarray(a[:, i : i + th, j : j + tw]))

    def __repr__(self) -> str:
        return f"CenterCrop(size={self.size})"


def _resample_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights of an antialiased bilinear (triangle filter) resampling, PIL's
    algorithm: output pixel i is centred at (i + 0.5) * scale in the input; when shrinking
    the filter widens by the scale (so every input pixel contributes); weights cut by the
    border are renormalised."""
    scale = n_in / n_out
    fscale = max(scale, 1.0)
    support = fscale  # the triangle's support (1) widened by the scale
    w = np.zeros((n_out, n_in), np.float64)
    for i in range(n_out):
        center = (i + 0.5) * scale
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), n_in)
        xs = np.arange(lo, hi, dtype=np.float64)
        k = np.clip(1.0 - np.abs((xs - center + 0.5) / fscale), 0.0, None)
        total = k.sum()
        w[i, lo:hi] = k / total if total else 0.0
    return w


class Resize:
    """Resize to ``size``: an (h, w) pair, or an int that the smaller edge becomes (the other
    keeps the aspect ratio, truncated, as torchvision; ``max_size`` caps the longer edge).
    Bilinear with antialiasing, as torchvision's default: a PIL image is resized by PIL
    (``Image.BILINEAR``, exactly torchvision's result); an array or tensor by the same
    triangle-filter algorithm in float64 (integer data is rounded and clipped back to its
    dtype, so a uint8 array may differ from PIL's fixed-point result by 1)."""

    def __init__(self, size, interpolation: str = "bilinear", max_size: int | None = None, antialias: bool = True):
        if interpolation not in ("bilinear", "BILINEAR"):
            raise ValueError(f"Resize: only bilinear interpolation is implemented, got {interpolation!r}")
        if not antialias:
            raise ValueError("Resize: only antialias=True (torchvision's default) is implemented")
        if isinstance(size, numbers.Integral) or (isinstance(size, Sequence) and len(size) == 1):
            self.size, self.short = _size2(size, "Resize")[0], True
        else:
            self.size, self.short = _size2(size, "Resize"), False
            if max_size is not None:
                raise ValueError("Resize: max_size is only allowed when size is one int (the smaller edge)")
        if max_size is not None and max_size <= self.size:
            raise ValueError(f"Resize: max_size = {max_size} must be larger than the requested size {self.size}")
        self.max_size = max_size

    def output_size(self, h: int, w: int) -> tuple[int, int]:
        if not self.short:
            return self.size
        short, long = (w, h) if w <= h else (h, w)
        new_short, new_long = self.size, int(self.size * long / short)
        if self.max_size is not None and new_long > self.max_size:
            new_short, new_long = int(self.max_size * new_short / new_long), self.max_size
        return (new_long, new_short) if w <= h else (new_short, new_long)

    def __call__(self, x):
        if _is_pil(x):
            from PIL import Image

            oh, ow = self.output_size(x.height, x.width)
            return x if (oh, ow) == (x.height, x.width) else x.resize((ow, oh), Image.BILINEAR)
        a, back = _to_array(x)
        _, h, w = a.shape
        oh, ow = self.output_size(h, w)
        if (oh, ow) == (h, w):
            return x
        y = np.einsum("oh,chw,pw->cop", _resample_weights(h, oh), a.astype(np.float64), _resample_weights(w, ow))
        if a.dtype.kind in "iu":
            info = np.iinfo(a.dtype)
            y = np.clip(np.rint(y), info.min, info.max)
        return back(y.astype(a.dtype if a.dtype.kind in "fiu" else np.float32))

    def __repr__(self) -> str:
        return f"Resize(size={self.size}, interpolation=bilinear, max_size={self.max_size}, antialias=True)"


class RandomResizedCrop(_Random):
    """Crop a random window and resize it to ``size`` (int or (h, w)), as torchvision's
    RandomResizedCrop (the Inception-style augmentation): the window covers a fraction of
    the image's area drawn uniformly from ``scale`` and has an aspect ratio (width / height)
    drawn log-uniformly from ``ratio``; after 10 draws that do not fit in the image, the
    largest centred window whose ratio is within ``ratio``. The resize is ``Resize``'s
    (bilinear, antialiased; PIL images by PIL). ``params(h, w)`` gives the next window as
    (top, left, height, width); the draws come from this transform's generator, not torch's."""

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3.0 / 4.0, 4.0 / 3.0), seed=None) -> None:
        super().__init__(seed)
        self.size = _size2(size, "RandomResizedCrop")
        scale, ratio = tuple(float(v) for v in scale), tuple(float(v) for v in ratio)
        if len(scale) != 2 or len(ratio) != 2 or not 0 < scale[0] <= scale[1] or not 0 < ratio[0] <= ratio[1]:
            raise ValueError(
                f"RandomResizedCrop: scale and ratio must be increasing positive pairs, got scale={scale}, ratio={ratio}"
            )
        self.scale, self.ratio = scale, ratio
        self._resize = Resize(self.size)

    def params(self, height: int, width: int) -> tuple[int, int, int, int]:
        area = height * width
        log_lo, log_hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        for _ in range(10):
            target = area * self.rng.uniform(self.scale[0], self.scale[1])
            aspect = math.exp(self.rng.uniform(log_lo, log_hi))
            w = int(round(math.sqrt(target * aspect)))
            h = int(round(math.sqrt(target / aspect)))
            if 0 < w <= width and 0 < h <= height:
                i = int(self.rng.integers(0, height - h + 1))
                j = int(self.rng.integers(0, width - w + 1))
                return i, j, h, w
        in_ratio = width / height
        if in_ratio < self.ratio[0]:
            w, h = width, int(round(width / self.ratio[0]))
        elif in_ratio > self.ratio[1]:
            h, w = height, int(round(height * self.ratio[1]))
        else:
            h, w = height, width
        return (height - h) // 2, (width - w) // 2, h, w

    def __call__(self, x):
        if _is_pil(x):
            from PIL import Image

            i, j, h, w = self.params(x.height, x.width)
            return x.crop((j, i, j + w, i + h)).resize((self.size[1], self.size[0]), Image.BILINEAR)
        a, back = _to_array(x)
        i, j, h, w = self.params(a.shape[1], a.shape[2])
        crop = np.ascontiguousarray(a[:, i : i + h, j : j + w])
        return back(self._resize(crop))

    def __repr__(self) -> str:
        return f"RandomResizedCrop(size={self.size}, scale={self.scale}, ratio={self.ratio})"
