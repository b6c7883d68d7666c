"""safetensors files (issue 15): neuraxon.save_safetensors / load_safetensors implement the
format themselves. Round trips, the implicit dtype conversion on load, malformed files refused
with ValueError before any tensor is allocated, and cross-checks against the `safetensors`
package and torch (each skipped alone when its package is absent)."""

from __future__ import annotations

import io
import json
import struct

import numpy as np
import pytest

import neuraxon as nx
from neuraxon import nn


def _file(header: dict | bytes, data: bytes = b"", n: int | None = None) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if n is None else n) + raw + data


def _model():
    return nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 5))


def test_round_trip_every_dtype_and_shape(tmp_path, device):
    rng = np.random.default_rng(0)
    d = {
        "w": nx.tensor(rng.standard_normal((3, 4)).astype(np.float32), device=device),
        "idx": nx.tensor([-(2**62), 0, 2**62], device=device),
        "mask": nx.tensor([True, False, True], device=device),
        "scalar": nx.tensor(2.5, device=device),
        "empty": nx.zeros(0, 3, device=device),
        "big": nx.arange(70_000, device=device).float(),
    }
    p = tmp_path / "m.safetensors"
    nx.save_safetensors(d, p, metadata={"format": "pt", "note": "é"})
    raw = p.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    assert (8 + n) % 8 == 0  # data aligned as the reference writer aligns it
    header = json.loads(raw[8 : 8 + n])
    assert header["__metadata__"] == {"format": "pt", "note": "é"}
    assert header["idx"] == {"dtype": "I64", "shape": [3], "data_offsets": header["idx"]["data_offsets"]}
    assert header["mask"]["dtype"] == "BOOL" and header["scalar"]["shape"] == [] and header["empty"]["shape"] == [0, 3]
    for src in (p, str(p), raw, io.BytesIO(raw)):
        back = nx.load_safetensors(src, device=device)
        assert set(back) == set(d)
        for k, v in d.items():
            assert back[k].dtype is v.dtype and back[k].shape == v.shape and back[k].device == v.device
            assert back[k].tolist() == v.tolist()
    assert nx.safetensors_metadata(p) == {"format": "pt", "note": "é"}
    buf = io.BytesIO()
    nx.save_safetensors({"a": nx.ones(2)}, buf)
    assert nx.load_safetensors(buf.getvalue())["a"].tolist() == [1.0, 1.0]


def test_a_state_dict_round_trips_into_a_fresh_model(tmp_path):
    nx.manual_seed(0)
    m = _model()
    m.train()
    m(nx.randn(4, 1, 6, 6))  # batchnorm running statistics and num_batches_tracked change
    m.eval()
    p = tmp_path / "model.safetensors"
    nx.save_safetensors(m.state_dict(), p)
    nx.manual_seed(1)
    m2 = _model().eval()
    m2.load_state_dict(nx.load_safetensors(p))
    x = nx.randn(2, 1, 6, 6)
    assert m2(x).tolist() == m(x).tolist()


def test_implicit_conversion_on_load():
    # the reference dtypes, written by hand: float types -> float32, integers -> int64
    vals = np.array([0, 1, 2, 100], np.float64)
    cases = [("F64", "<f8"), ("F32", "<f4"), ("F16", "<f2"), ("I64", "<i8"), ("I32", "<i4"), ("I16", "<i2"),
             ("I8", "i1"), ("U64", "<u8"), ("U32", "<u4"), ("U16", "<u2"), ("U8", "u1")]  # fmt: skip
    header, data = {}, b""
    for code, npdt in cases:
        b = vals.astype(npdt).tobytes()
        header[code] = {"dtype": code, "shape": [2, 2], "data_offsets": [len(data), len(data) + len(b)]}
        data += b
    bf16 = (np.array([1.5, -2.0, 0.0, 3.0e38], np.float32).view(np.uint32) >> 16).astype("<u2").tobytes()
    header["BF16"] = {"dtype": "BF16", "shape": [4], "data_offsets": [len(data), len(data) + 8]}
    data += bf16
    header["BOOL"] = {"dtype": "BOOL", "shape": [3], "data_offsets": [len(data), len(data) + 3]}
    data += bytes([0, 1, 2])  # any non-zero byte is True
    fp8 = bytes([0x00, 0x38, 0xB8, 0x7E, 0x7F, 0x01, 0x08])  # E4M3FN: 0, 1, -1, 448, NaN, 2^-9, 2^-6
    header["E4M3"] = {"dtype": "F8_E4M3", "shape": [7], "data_offsets": [len(data), len(data) + 7]}
    data += fp8
    fp8 = bytes([0x00, 0x3C, 0xBC, 0x7B, 0x7C, 0xFC, 0x7D, 0x01])  # E5M2: 0, 1, -1, 57344, inf, -inf, NaN, 2^-16
    header["E5M2"] = {"dtype": "F8_E5M2", "shape": [8], "data_offsets": [len(data), len(data) + 8]}
    data += fp8
    out = nx.load_safetensors(_file(header, data))
    for code, _ in cases:
        want = nx.float32 if code.startswith("F") else nx.int64
        assert out[code].dtype is want and out[code].tolist() == [[0, 1], [2, 100]], code
    assert out["BF16"].dtype is nx.float32 and out["BF16"].tolist()[:3] == [1.5, -2.0, 0.0]
    assert out["BOOL"].tolist() == [False, True, True]
    np.testing.assert_array_equal(out["E4M3"].numpy(), np.array([0, 1, -1, 448, np.nan, 2**-9, 2**-6], np.float32))
    np.testing.assert_array_equal(
        out["E5M2"].numpy(), np.array([0, 1, -1, 57344, np.inf, -np.inf, np.nan, 2**-16], np.float32)
    )
    big = _file({"u": {"dtype": "U64", "shape": [1], "data_offsets": [0, 8]}}, struct.pack("<Q", 2**64 - 1))
    with pytest.raises(OverflowError):
        nx.load_safetensors(big)
    with pytest.raises(TypeError, match="F4.*cannot read"):
        nx.load_safetensors(_file({"x": {"dtype": "F4", "shape": [2], "data_offsets": [0, 1]}}, b"\0"))


def _valid() -> tuple[dict, bytes]:
    h = {
        "__metadata__": {"k": "v"},
        "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        "b": {"dtype": "I64", "shape": [1], "data_offsets": [8, 16]},
    }
    return h, np.array([1, 2], "<f4").tobytes() + np.array([3], "<i8").tobytes()


def _with(**entries):
    h, data = _valid()
    for k, v in entries.items():
        if v is None:
            h.pop(k)
        else:
            h[k] = v
    return h, data


MALFORMED = [
    ("short", b"\x01\x00\x00", "shorter than the 8-byte"),
    ("header past the end", _file(b"{}", n=1000), "past the end"),
    ("header over the limit", _file(b"{}", n=2**40), "past the limit"),
    ("header over 2^63", _file(b"{}", n=2**64 - 1), "past the limit"),
    ("not an object start", _file(b' {"a":1}'), "does not start with"),
    ("not utf-8", _file(b'{"\xff":1}'), "not UTF-8"),
    ("not json", _file(b"{nope"), "not JSON"),
    ("not an object", _file(b"{}" * 1)[:8] + b"[]", None),
    ("duplicate key", _file(b'{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},'
                            b'"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}'), "twice"),  # fmt: skip
    ("metadata not strings", _file(*_with(__metadata__={"k": 1})), "__metadata__"),
    ("missing field", _file(*_with(a={"dtype": "F32", "shape": [2]})), "needs dtype"),
    ("unknown dtype", _file(*_with(a={"dtype": "F31", "shape": [2], "data_offsets": [0, 8]})), "unknown dtype"),
    ("negative size", _file(*_with(a={"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]})), "shape"),
    ("bool size", _file(*_with(a={"dtype": "F32", "shape": [True, 2], "data_offsets": [0, 8]})), "shape"),
    ("float size", _file(*_with(a={"dtype": "F32", "shape": [2.0], "data_offsets": [0, 8]})), "shape"),
    ("three offsets", _file(*_with(a={"dtype": "F32", "shape": [2], "data_offsets": [0, 8, 9]})), "data_offsets"),
    ("negative offset", _file(*_with(a={"dtype": "F32", "shape": [2], "data_offsets": [-8, 0]})), "data_offsets"),
    ("size mismatch", _file(*_with(a={"dtype": "F32", "shape": [3], "data_offsets": [0, 8]})), "do not hold"),
    ("reversed offsets", _file(*_with(a={"dtype": "F32", "shape": [0], "data_offsets": [8, 0]})), "do not hold"),
    ("overlap", _file(*_with(b={"dtype": "I64", "shape": [1], "data_offsets": [0, 8]})), "overlaps"),
    ("gap", _file(*_with(a={"dtype": "F32", "shape": [1], "data_offsets": [4, 8]})), "unused"),
    ("past the data", _file(*_with(b={"dtype": "I64", "shape": [2], "data_offsets": [8, 24]})), "the file holds"),
    ("trailing bytes", _file(*_with(b=None)), "belong to no tensor"),
    ("huge shape", _file(*_with(b={"dtype": "F64", "shape": [2**31, 2**31], "data_offsets": [8, 8 + 2**65]})),
     "the file holds"),  # fmt: skip
]


@pytest.mark.parametrize("name,raw,match", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_files_raise_value_error(tmp_path, name, raw, match):
    p = tmp_path / "bad.safetensors"
    p.write_bytes(raw)
    with pytest.raises(ValueError, match="^not a valid safetensors file: .*" + (match or "")) as info:
        nx.load_safetensors(p)
    assert str(p) in str(info.value)
    with pytest.raises(ValueError, match="^not a valid safetensors file"):
        nx.safetensors_metadata(p)


def test_a_truncated_file_and_random_damage_never_escape_value_error():
    h, data = _valid()
    good = _file(h, data)
    assert nx.load_safetensors(good)["b"].tolist() == [3]
    for cut in range(len(good)):
        with pytest.raises(ValueError, match="^not a valid safetensors file"):
            nx.load_safetensors(good[:cut])
    rng = np.random.default_rng(0)
    for _ in range(400):
        bad = bytearray(good)
        for i in rng.integers(0, len(bad), rng.integers(1, 4)):
            bad[i] = int(rng.integers(0, 256))
        try:
            nx.load_safetensors(bytes(bad))
        except ValueError as e:
            assert str(e).startswith("not a valid safetensors file")


def test_save_refuses_what_the_format_cannot_hold(tmp_path):
    with pytest.raises(TypeError, match="dict"):
        nx.save_safetensors([nx.ones(1)], tmp_path / "x.safetensors")
    with pytest.raises(TypeError, match="keys must be strings"):
        nx.save_safetensors({1: nx.ones(1)}, tmp_path / "x.safetensors")
    with pytest.raises(TypeError, match="values must be tensors"):
        nx.save_safetensors({"a": [1.0]}, tmp_path / "x.safetensors")
    with pytest.raises(ValueError, match="reserved"):
        nx.save_safetensors({"__metadata__": nx.ones(1)}, tmp_path / "x.safetensors")
    with pytest.raises(TypeError, match="metadata"):
        nx.save_safetensors({"a": nx.ones(1)}, tmp_path / "x.safetensors", metadata={"a": 1})
    with pytest.raises(TypeError, match="complex"):
        nx.save_safetensors({"a": np.ones(2, np.complex64)}, tmp_path / "x.safetensors")
    assert not list(tmp_path.iterdir())  # nothing written, no temporary file left
    # NumPy arrays keep their own dtype in the file (big-endian ones are written little-endian)
    arrs = {"f64": np.arange(3, dtype=">f8"), "u8": np.arange(3, dtype=np.uint8)}
    nx.save_safetensors(arrs, tmp_path / "n.safetensors")
    raw = (tmp_path / "n.safetensors").read_bytes()
    header = json.loads(raw[8 : 8 + struct.unpack("<Q", raw[:8])[0]])
    assert header["f64"]["dtype"] == "F64" and header["u8"]["dtype"] == "U8"
    back = nx.load_safetensors(tmp_path / "n.safetensors")
    assert back["f64"].tolist() == [0.0, 1.0, 2.0] and back["u8"].dtype is nx.int64


def test_the_safetensors_package_reads_ours_and_we_read_its(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    rng = np.random.default_rng(1)
    d = {"w": nx.tensor(rng.standard_normal((5, 3)).astype(np.float32)), "i": nx.arange(4), "m": nx.tensor([True]),
         "s": nx.tensor(1.5), "e": nx.zeros(2, 0)}  # fmt: skip
    nx.save_safetensors(d, tmp_path / "ours.safetensors", metadata={"format": "np"})
    got = st.load_file(str(tmp_path / "ours.safetensors"))
    for k, v in d.items():
        assert got[k].dtype == v.dtype.numpy and got[k].shape == v.shape
        np.testing.assert_array_equal(got[k], v.numpy())
    theirs = {"f64": rng.standard_normal((2, 3)), "f16": np.array([0.5, -1.0], np.float16),
              "i32": np.array([-5, 7], np.int32), "u8": np.array([0, 255], np.uint8), "b": np.array([True, False])}  # fmt: skip
    st.save_file(theirs, str(tmp_path / "theirs.safetensors"), metadata={"who": "safetensors"})
    back = nx.load_safetensors(tmp_path / "theirs.safetensors")
    assert back["f64"].dtype is nx.float32 and back["i32"].dtype is nx.int64 and back["b"].dtype is nx.bool
    for k, a in theirs.items():
        np.testing.assert_array_equal(back[k].numpy(), a.astype(back[k].dtype.numpy))
    assert nx.safetensors_metadata(tmp_path / "theirs.safetensors") == {"who": "safetensors"}


def test_torch_weights_load_into_the_same_model(tmp_path):
    torch = pytest.importorskip("torch")
    st = pytest.importorskip("safetensors.torch")
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3), torch.nn.BatchNorm2d(3), torch.nn.ReLU(), torch.nn.Flatten(),
                             torch.nn.Linear(3 * 4 * 4, 5))  # fmt: skip
    tm.train()
    tm(torch.randn(8, 1, 6, 6))
    tm.eval()
    st.save_file(tm.state_dict(), str(tmp_path / "torch.safetensors"))
    m = _model().eval()
    m.load_state_dict(nx.load_safetensors(tmp_path / "torch.safetensors"))  # strict: every key matches
    x = np.random.default_rng(2).standard_normal((2, 1, 6, 6)).astype(np.float32)
    with torch.no_grad():
        want = tm(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(m(nx.tensor(x)).detach().numpy(), want, rtol=1e-5, atol=1e-6)
    # torch reads what neuraxon writes
    nx.save_safetensors(m.state_dict(), tmp_path / "ours.safetensors")
    sd = st.load_file(str(tmp_path / "ours.safetensors"))
    assert sd["1.num_batches_tracked"].dtype == torch.int64
    tm2 = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3), torch.nn.BatchNorm2d(3), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(3 * 4 * 4, 5)).eval()  # fmt: skip
    tm2.load_state_dict(sd)
    with torch.no_grad():
        np.testing.assert_allclose(tm2(torch.from_numpy(x)).numpy(), want, rtol=1e-6, atol=1e-7)
    # torch's other dtypes convert as data does
    other = {"bf16": torch.tensor([1.5, -2.0, 3.0e38], dtype=torch.bfloat16), "f64": torch.tensor([0.1], dtype=torch.float64),
             "i32": torch.tensor([-3], dtype=torch.int32), "e4m3": torch.tensor([1.0, -448.0, 0.01], dtype=torch.float8_e4m3fn),
             "e5m2": torch.tensor([1.0, -57344.0, 1e-5, float("inf")], dtype=torch.float8_e5m2)}  # fmt: skip
    st.save_file(other, str(tmp_path / "other.safetensors"))
    back = nx.load_safetensors(tmp_path / "other.safetensors")
    for k, v in other.items():
        assert back[k].dtype is (nx.int64 if k == "i32" else nx.float32)
        np.testing.assert_array_equal(back[k].numpy(), v.to(torch.float32 if k != "i32" else torch.int64).numpy())


def test_save_and_load_choose_safetensors_by_extension(tmp_path):
    # neuraxon.save / neuraxon.load: ".safetensors" is that format (what torch and the
    # safetensors package read), any other name the npz archive of whole training states
    sd = {"w": nx.randn(3, 4), "b": nx.arange(5), "m": nx.tensor([True, False])}
    p = tmp_path / "model.safetensors"
    nx.save(sd, p)
    assert p.read_bytes()[8:9] == b"{"  # a safetensors header, not a zip
    back = nx.load(str(p))
    assert set(back) == set(sd)
    for k in sd:
        assert back[k].dtype is sd[k].dtype and back[k].tolist() == sd[k].tolist()
    q = tmp_path / "state.ckpt"
    nx.save({"step": 3, "sd": sd}, q)
    assert q.read_bytes()[:2] == b"PK" and nx.load(q)["step"] == 3
