"""Honest dtypes (issue 15): neuraxon stores float32, int64 and bool. An EXPLICIT request for
any other dtype raises TypeError naming it, wherever dtypes are parsed; data given without a
dtype follows the documented default (NumPy float16/64 -> float32, any integer -> int64)."""

from __future__ import annotations

import numpy as np
import pytest

import neuraxon as nx
from neuraxon import nn

UNSUPPORTED = ["float64", "float16", "bfloat16", "int32", "int16", "int8", "uint8", "complex64", "double", "half"]
UNSUPPORTED_NP = [np.float64, np.float16, np.int32, np.uint8, np.dtype("float64"), np.dtype(">f4"), np.complex128]


def _name(d) -> str:
    d = {"double": "float64", "half": "float16"}.get(d, d)
    return d if isinstance(d, str) else np.dtype(d).name


def _raises(d):
    return pytest.raises(TypeError, match=f"unsupported dtype {_name(d)}.*float32, int64 and bool")


@pytest.mark.parametrize("d", UNSUPPORTED + UNSUPPORTED_NP, ids=str)
def test_every_creation_function_refuses_an_unsupported_dtype(d):
    x = nx.ones(2, 3)
    calls = [
        lambda: nx.tensor([1.0, 2.0], dtype=d),
        lambda: nx.tensor(np.ones(2), dtype=d),
        lambda: nx.as_tensor(np.ones(2, np.float32), dtype=d),
        lambda: nx.as_tensor(x, dtype=d),
        lambda: nx.Tensor([1.0], dtype=d),
        lambda: nx.zeros(2, dtype=d),
        lambda: nx.ones(2, dtype=d),
        lambda: nx.empty(2, dtype=d),
        lambda: nx.full((2,), 1.0, dtype=d),
        lambda: nx.arange(3, dtype=d),
        lambda: nx.linspace(0, 1, 3, dtype=d),
        lambda: nx.eye(2, dtype=d),
        lambda: nx.rand(2, dtype=d),
        lambda: nx.randn(2, dtype=d),
        lambda: nx.randint(0, 3, (2,), dtype=d),
        lambda: nx.randperm(3, dtype=d),
        lambda: nx.zeros_like(x, dtype=d),
        lambda: nx.ones_like(x, dtype=d),
        lambda: nx.empty_like(x, dtype=d),
        lambda: nx.full_like(x, 2.0, dtype=d),
        lambda: nx.rand_like(x, dtype=d),
        lambda: nx.randn_like(x, dtype=d),
        lambda: x.new_tensor([1.0], dtype=d),
        lambda: x.new_zeros(2, dtype=d),
        lambda: x.new_ones(2, dtype=d),
        lambda: x.new_full((2,), 1.0, dtype=d),
        lambda: x.new_empty(2, dtype=d),
    ]
    for i, call in enumerate(calls):
        with _raises(d):
            call()
            pytest.fail(f"call {i} accepted dtype {d!r}")


@pytest.mark.parametrize("d", UNSUPPORTED + UNSUPPORTED_NP, ids=str)
def test_every_conversion_refuses_an_unsupported_dtype(d):
    x = nx.tensor([1.5, -2.0])
    for call in (
        lambda: x.to(d),
        lambda: x.to(dtype=d),
        lambda: x.to("cpu", d),
        lambda: x.to("cpu", dtype=d),
        lambda: x.type(d),
        lambda: x.view(d),
        lambda: x.sum(dtype=d),
        lambda: nn.Linear(2, 2).to(d),
        lambda: nn.Linear(2, 2).to(dtype=d),
    ):
        with _raises(d):
            call()


def test_named_conversions_raise_naming_the_dtype():
    x = nx.tensor([1.5, -2.0])
    for method, name in [("double", "float64"), ("half", "float16"), ("bfloat16", "bfloat16"),
                         ("short", "int16"), ("char", "int8"), ("byte", "uint8")]:  # fmt: skip
        with pytest.raises(TypeError, match=f"unsupported dtype {name}"):
            getattr(x, method)()
    m = nn.Linear(2, 2)
    for method, name in [("double", "float64"), ("half", "float16"), ("bfloat16", "bfloat16")]:
        with pytest.raises(TypeError, match=f"unsupported dtype {name}"):
            getattr(m, method)()
    assert m.weight.dtype is nx.float32
    with pytest.raises(TypeError, match="unsupported tensor type torch.DoubleTensor"):
        x.type("torch.DoubleTensor")
    assert x.type("torch.LongTensor").tolist() == [1, -2]
    assert x.type() == "neuraxon.FloatTensor"


def test_supported_spellings_still_work():
    x = nx.tensor([1.5, -2.0])
    for d in (nx.float32, "float32", "float", np.float32, np.dtype("float32"), "f4", float):
        assert nx.tensor([1], dtype=d).dtype is nx.float32
        assert x.to(d).dtype is nx.float32
    for d in (nx.int64, nx.long, nx.int, "int64", "long", "int", np.int64, int):
        assert nx.zeros(2, dtype=d).dtype is nx.int64
        assert x.to(d).tolist() == [1, -2]
    for d in (nx.bool, "bool", np.bool_, bool):
        assert nx.ones(2, dtype=d).dtype is nx.bool
    assert x.int().dtype is nx.int64  # neuraxon.int is int64, documented
    assert x.float().dtype is nx.float32 and x.long().dtype is nx.int64 and x.bool().dtype is nx.bool
    m = nn.Linear(2, 2).to("float32").to(dtype=np.float32).to("cpu")
    assert m.weight.dtype is nx.float32
    with pytest.raises(TypeError, match="floating point"):
        nn.Linear(2, 2).to(nx.int64)


def test_implicit_data_conversion_is_the_documented_default():
    # data without a dtype: float16/float64 -> float32, every integer type -> int64
    for src, want in [(np.float64, nx.float32), (np.float16, nx.float32), (np.int32, nx.int64),
                      (np.uint8, nx.int64), (np.int8, nx.int64), (np.uint32, nx.int64), (np.bool_, nx.bool)]:  # fmt: skip
        a = np.arange(3).astype(src)
        for make in (nx.tensor, nx.as_tensor, nx.from_numpy):
            t = make(a)
            assert t.dtype is want and t.tolist() == a.tolist()
    assert nx.tensor(np.array([1e-8], np.float64)).item() == pytest.approx(1e-8)
    with pytest.raises(TypeError, match="unsupported dtype complex128"):
        nx.tensor(np.ones(2, np.complex128))
    # indexing with an int32 array is data, not a request
    x = nx.arange(5)
    assert x[np.array([0, 3], np.int32)].tolist() == [0, 3]


def test_get_dtype_and_torch_dtypes():
    assert nx.get_dtype("float32") is nx.float32
    with pytest.raises(TypeError, match="unsupported dtype float64"):
        nx.get_dtype(np.float64)
    with pytest.raises(TypeError, match="dtype is needed"):
        nx.get_dtype(None)
    with pytest.raises(TypeError, match="unsupported dtype"):
        nx.get_dtype("not-a-dtype")
    torch = pytest.importorskip("torch")
    x = nx.tensor([1.5])
    assert x.to(torch.float32).dtype is nx.float32 and nx.zeros(1, dtype=torch.int64).dtype is nx.int64
    assert nx.ones(1, dtype=torch.bool).dtype is nx.bool
    for td, name in [(torch.float64, "float64"), (torch.int32, "int32"), (torch.bfloat16, "bfloat16")]:
        with pytest.raises(TypeError, match=f"unsupported dtype {name}"):
            x.to(td)


LAYERS = [
    lambda **k: nn.Linear(2, 3, **k),
    lambda **k: nn.Conv2d(1, 2, 3, **k),
    lambda **k: nn.ConvTranspose2d(1, 2, 3, **k),
    lambda **k: nn.BatchNorm1d(3, **k),
    lambda **k: nn.BatchNorm2d(3, **k),
    lambda **k: nn.LayerNorm(3, **k),
    lambda **k: nn.GroupNorm(1, 3, **k),
    lambda **k: nn.InstanceNorm2d(3, **k),
    lambda **k: nn.PReLU(**k),
    lambda **k: nn.Embedding(4, 2, **k),
    lambda **k: nn.RNN(2, 3, **k),
    lambda **k: nn.LSTM(2, 3, **k),
    lambda **k: nn.GRU(2, 3, **k),
    lambda **k: nn.RNNCell(2, 3, **k),
    lambda **k: nn.LSTMCell(2, 3, **k),
    lambda **k: nn.GRUCell(2, 3, **k),
]


@pytest.mark.parametrize("make", LAYERS)
def test_layer_constructors_do_not_ignore_dtype(make):
    # the dtype= argument of a layer was ignored: nn.Linear(2, 3, dtype=float64) gave float32
    for d in ("float64", np.float16, "bfloat16"):
        with _raises(d):
            make(dtype=d)
    with pytest.raises(TypeError, match="parameters are float32"):
        make(dtype=nx.int64)
    for d in (None, nx.float32, "float32", np.float32):
        m = make(dtype=d)
        assert all(p.dtype is nx.float32 for p in m.parameters())


def test_device_strings_are_not_read_as_dtypes():
    x = nx.ones(1)
    for d in ("mps", "meta", "xpu:0"):
        with pytest.raises(ValueError, match="unknown device"):
            x.to(d)
        with pytest.raises(ValueError, match="unknown device"):
            nn.Linear(1, 1).to(d)
    for d, name in (("f8", "float64"), ("i4", "int32"), ("bfloat16", "bfloat16"), ("cfloat", "cfloat")):
        with pytest.raises(TypeError, match=f"unsupported dtype {name}"):
            x.to(d)
    with pytest.raises(TypeError, match=r"unsupported dtype bool8x: neuraxon stores float32, int64 and bool only$"):
        x.to("bool8x")  # no float/int hint for a name that is neither
