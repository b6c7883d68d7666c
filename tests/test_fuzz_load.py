"""Fuzzing neuraxon.load (hypothesis): whatever the bytes, load either returns a valid result
or raises ValueError saying "not a valid neuraxon checkpoint" (serialization.py's contract for
a damaged, truncated or foreign file), and never allocates past the bound serialization.py
enforces (measured with tracemalloc, which sees NumPy's array allocations, and a maxrss check).

Inputs: random bytes (bare, or behind a zip / .npy magic), bare .npy files with arbitrary
headers, valid checkpoints of random nested structures (which must round-trip exactly), and
mutations of them: bit flips, truncation, overwritten/inserted/deleted byte ranges, zip
members swapped/dropped/duplicated/renamed, .npy headers declaring inflated shapes or other
dtypes, zip size fields patched to huge values, random JSON structure entries, and deflate
bombs (in an array member, in the structure entry, and many members read many times); from
a file object or a path, with map_location "cpu" (and "cuda" where available).

Budget: every property runs NEURAXON_FUZZ_EXAMPLES examples (default 30: ~230 examples,
~3 s on 2 cores; the bombs build ~40 MiB once). Derandomized (a fixed seed per test, no
database); a longer local run (300: ~2100 examples, ~13 s):

    NEURAXON_FUZZ_EXAMPLES=300 python -m pytest -q tests/test_fuzz_load.py --hypothesis-show-statistics

NEURAXON_FUZZ_SEED=<int> explores another random sequence. Every bug found is kept as a plain
regression test at the end (test_regression_*).
"""

from __future__ import annotations

import io
import json
import math
import os
import resource
import struct
import tempfile
import tracemalloc
import warnings
import zipfile
import zlib

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given  # noqa: E402
from fuzzing import fuzz_settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import neuraxon as nx  # noqa: E402
from neuraxon import serialization  # noqa: E402

EXAMPLES, fuzz = fuzz_settings(30)


INVALID = "not a valid neuraxon checkpoint"
# serialization.py: array data may take at most max(floor, expansion x the stored bytes)
FLOOR = serialization._EXPANSION_FLOOR
EXPANSION = serialization._MAX_EXPANSION
SLACK = 4 << 20  # the interpreter's own allocations during a load (JSON, zip directory, ...)


def memory_bound(data: bytes) -> int:
    """The most a load of `data` may allocate: the array data bound (twice: a member read
    and its conversion for a tensor) plus slack."""
    return 2 * max(FLOOR, EXPANSION * len(data)) + SLACK


# ---- the checking load -----------------------------------------------------------------------


def _assert_valid(obj, depth=0):
    """A loaded result is made only of what save can write."""
    assert depth < 2000
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return
    if isinstance(obj, nx.Tensor):
        assert obj.dtype in (nx.float32, nx.int64, nx.bool), obj.dtype
        arr = obj.detach().numpy()
        assert arr.shape == tuple(obj.shape) and arr.size == obj.numel()
        return
    if isinstance(obj, np.ndarray):
        assert not obj.dtype.hasobject
        return
    if isinstance(obj, (list, tuple)):
        for v in obj:
            _assert_valid(v, depth + 1)
        return
    if isinstance(obj, dict):
        for k, v in obj.items():
            assert k is None or isinstance(k, (str, int, float, bool)), type(k)
            _assert_valid(v, depth + 1)
        return
    raise AssertionError(f"load returned an object of type {type(obj).__name__}")


def checked_load(data: bytes, how: str = "bytesio"):
    """nx.load(data): the result (validated) or None when it raised the documented
    ValueError; fails on any other exception and on allocating past memory_bound(data)."""
    if how == "path":
        fd, path = tempfile.mkstemp(suffix=".npz")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        src = path
    else:
        src = io.BytesIO(data)
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        try:
            obj = nx.load(src, map_location={"map": "cpu", "cuda": "cuda"}.get(how))
        except ValueError as e:
            assert INVALID in str(e), f"ValueError without the documented message: {e}"
            obj = None
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        if how == "path":
            os.unlink(src)
    assert peak <= memory_bound(data), f"load of {len(data)} bytes allocated {peak} bytes (bound {memory_bound(data)})"
    if obj is not None:
        _assert_valid(obj)
    return obj


# ---- valid checkpoints -----------------------------------------------------------------------

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)
_keys = st.one_of(st.text(max_size=6), st.integers(-5, 5), st.booleans(), st.none(),
                  st.floats(allow_nan=False, allow_infinity=False, width=32))


@st.composite
def _tensors(draw):
    dt = draw(st.sampled_from([np.float32, np.int64, np.bool_]))
    shape = tuple(draw(st.lists(st.integers(0, 4), max_size=3)))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    arr = np.asarray((rng.standard_normal(shape) * 10).astype(dt))  # 0-d stays an array
    return nx.tensor(arr, requires_grad=dt == np.float32 and draw(st.booleans()))


@st.composite
def _ndarrays(draw):
    dt = draw(st.sampled_from(["<f4", "<f8", "<i4", "<i8", "|u1", "|b1", "<f2", ">f4", "<c8", "<U3", "|S2"]))
    shape = tuple(draw(st.lists(st.integers(0, 4), max_size=3)))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    arr = np.asarray((rng.standard_normal(shape) * 10).astype(dt))  # 0-d stays an array
    if draw(st.booleans()) and arr.ndim >= 2:
        arr = np.asfortranarray(arr)
    return arr


objects = st.recursive(
    st.one_of(_scalars, _tensors(), _ndarrays()),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(_keys, inner, max_size=4),
    ),
    max_leaves=8,
)


def saved(obj) -> bytes:
    buf = io.BytesIO()
    nx.save(obj, buf)
    return buf.getvalue()


def _same(a, b):
    if isinstance(a, nx.Tensor):
        assert isinstance(b, nx.Tensor) and a.dtype == b.dtype and a.shape == b.shape
        assert a.requires_grad == b.requires_grad
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and len(a) == len(b)
        for (ka, va), (kb, vb) in zip(a.items(), b.items()):
            both_nan = isinstance(ka, float) and isinstance(kb, float) and math.isnan(ka) and math.isnan(kb)
            assert ka == kb or both_nan, (ka, kb)
            assert type(ka) is type(kb)
            _same(va, vb)
    elif isinstance(a, float) and math.isnan(a):
        assert isinstance(b, float) and math.isnan(b)
    else:
        assert a == b and type(a) is type(b), (a, b)


@fuzz
@given(obj=objects, how=st.sampled_from(["bytesio", "path"]))
def test_valid_checkpoints_round_trip(obj, how):
    data = saved(obj)
    back = checked_load(data, how)
    _same(obj, back)


# ---- random bytes and byte-level mutations ---------------------------------------------------

_MAGICS = [b"", b"PK\x03\x04", b"PK\x05\x06", b"\x93NUMPY\x01\x00", b"\x93NUMPY\x02\x00", b"\x80\x04"]


@fuzz
@given(prefix=st.sampled_from(_MAGICS), body=st.binary(max_size=4096))
def test_random_bytes(prefix, body):
    checked_load(prefix + body)


_HEADER_SHAPES = st.lists(st.sampled_from([0, 1, 3, 2**20, 2**31, 2**40]), max_size=3).map(tuple)
_HEADER_DESCRS = st.sampled_from(["<f4", "<f8", "|u1", "<U100", "|V1024", "|O", "<M8[s]"])


@fuzz
@given(shape=_HEADER_SHAPES, descr=_HEADER_DESCRS, order=st.booleans(), payload=st.binary(max_size=256),
       version=st.sampled_from([(1, 0), (2, 0)]))
def test_bare_npy_headers(shape, descr, order, payload, version):
    """A bare .npy whose header declares anything: refused, within the bound."""
    checked_load(npy_with_header({"descr": descr, "fortran_order": order, "shape": shape}, payload, version))


@st.composite
def byte_mutations(draw, data: bytes):
    """A few byte-level edits of data: bit flips, overwrite, insert, delete, truncate."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "flip", "overwrite", "insert", "delete", "truncate"]))
        if not out:
            break
        pos = draw(st.integers(0, len(out) - 1))
        if kind == "flip":
            out[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "overwrite":
            chunk = draw(st.binary(min_size=1, max_size=16))
            out[pos:pos + len(chunk)] = chunk
        elif kind == "insert":
            out[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del out[pos:pos + draw(st.integers(1, 16))]
        else:
            del out[pos:]
    return bytes(out)


_HOWS = ["bytesio", "map", "path"] + (["cuda"] if nx.cuda.is_available() else [])  # map_location="cuda" too


@fuzz
@given(data=st.data(), obj=objects)
def test_mutated_bytes(data, obj):
    good = saved(obj)
    checked_load(data.draw(byte_mutations(good)), how=data.draw(st.sampled_from(_HOWS)))


# ---- structural mutations (the zip rebuilt so its CRCs are right) ----------------------------


def members_of(data: bytes) -> dict:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {i.filename: zf.read(i.filename) for i in zf.infolist()}


def build(members, compress=None) -> bytes:
    """A zip of (name, bytes) pairs (a list allows duplicate names); compress: a set of names
    to deflate."""
    buf = io.BytesIO()
    items = members.items() if isinstance(members, dict) else members
    with zipfile.ZipFile(buf, "w") as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names
        for name, payload in items:
            method = zipfile.ZIP_DEFLATED if compress and name in compress else zipfile.ZIP_STORED
            zf.writestr(zipfile.ZipInfo(name), payload, compress_type=method)
    return buf.getvalue()


def npy(arr, version=None) -> bytes:
    b = io.BytesIO()
    if version is None:
        np.save(b, arr, allow_pickle=False)
    else:
        np.lib.format.write_array(b, arr, version=version, allow_pickle=False)
    return b.getvalue()


def npy_with_header(header: dict, payload: bytes, version=(1, 0)) -> bytes:
    """A .npy file whose header says anything (shape, dtype descr, order) over any payload."""
    b = io.BytesIO()
    if version == (1, 0):
        np.lib.format.write_array_header_1_0(b, header)
    else:
        np.lib.format.write_array_header_2_0(b, header)
    return b.getvalue() + payload


def meta_npy(meta) -> bytes:
    return npy(np.array(meta if isinstance(meta, str) else json.dumps(meta)))


_json = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**66), 2**66), st.floats(), st.text(max_size=5)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=3), inner, max_size=4)),
    max_leaves=10,
)


@st.composite
def json_nodes(draw):
    """Structure nodes: mostly well-formed keys with wrong values, sometimes anything."""
    leaf = st.one_of(
        _json,
        st.fixed_dictionaries({"t": st.sampled_from(["tensor", "ndarray"]),
                               "i": st.one_of(st.integers(-3, 5), _json)},
                              optional={"device": st.one_of(st.sampled_from(["cpu", "cuda", "cuda:7", "tpu", ""]), _json),
                                        "requires_grad": _json}),
        st.fixed_dictionaries({"t": st.just("float"), "v": st.one_of(st.sampled_from(["nan", "inf", "-inf", "1e999", "x"]), _json)}),
    )
    return draw(st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.fixed_dictionaries({"t": st.sampled_from(["list", "tuple"]), "v": st.one_of(st.lists(inner, max_size=3), _json)}),
            st.fixed_dictionaries({"t": st.just("dict"), "k": st.one_of(st.lists(_json, max_size=3), _json),
                                   "v": st.one_of(st.lists(inner, max_size=3), _json)}),
        ),
        max_leaves=6,
    ))


@fuzz
@given(root=json_nodes(), version=st.one_of(st.just(1), _json), fmt=st.sampled_from(["neuraxon-npz", "neuraxon-npz", "x"]),
       extra=st.booleans())
def test_random_structure_entries(root, version, fmt, extra):
    meta = {"format": fmt, "root": root}
    if version is not None or extra:
        meta["version"] = version
    members = {"__neuraxon__.npy": meta_npy(meta), "a0.npy": npy(np.arange(6, dtype=np.float32)),
               "a1.npy": npy(np.array([True, False])), "a2.npy": npy(np.array(3, np.int64))}
    checked_load(build(members))


@st.composite
def structural_mutations(draw, obj):
    members = list(members_of(saved(obj)).items())
    compress = set()
    names = [n for n, _ in members]
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["swap", "drop", "dup", "rename", "junk", "header", "deflate", "meta_text"]))
        i = draw(st.integers(0, len(members) - 1)) if members else 0
        if kind == "swap" and len(members) >= 2:
            j = draw(st.integers(0, len(members) - 1))
            (ni, pi), (nj, pj) = members[i], members[j]
            members[i], members[j] = (ni, pj), (nj, pi)
        elif kind == "drop" and members:
            members.pop(i)
        elif kind == "dup" and members:
            members.append((draw(st.sampled_from(names + ["a9.npy"])), members[i][1]))
        elif kind == "rename" and members:
            members[i] = (draw(st.sampled_from(["a0", "a0.npy", "__neuraxon__.npy", "x/../a1.npy", "", "A0.NPY"])),
                          members[i][1])
        elif kind == "junk":
            members.append((draw(st.sampled_from(names + ["b.npy", "dir/"])), draw(st.binary(max_size=64))))
        elif kind == "header" and members:
            name = members[i][0]
            payload = members[i][1]
            try:  # where the data starts (read the header only: it may already be inflated)
                fh = io.BytesIO(payload)
                version = np.lib.format.read_magic(fh)
                read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                read_header(fh)
                body_at = fh.tell()
            except (ValueError, EOFError, OSError):  # not an .npy member (junk added before)
                continue
            shape = draw(st.sampled_from([(2**31,), (2**40,), (2**62,), (2**33, 2**33), (-1,), (7,), (0,), (1, 2**30),
                                          (3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3)]))
            descr = draw(st.sampled_from(["<f4", "<f8", "<i8", "|b1", ">f4", "<U100000", "|V1000000", "|O", "<c16",
                                          "<M8[s]", [("a", "<f4"), ("b", "<i8")]]))
            header = {"descr": descr, "fortran_order": draw(st.booleans()), "shape": shape}
            try:
                members[i] = (name, npy_with_header(header, payload[body_at:], (1, 0) if version == (1, 0) else (2, 0)))
            except (ValueError, TypeError):  # a header NumPy cannot even write
                continue
        elif kind == "deflate" and members:
            compress.add(members[i][0])
        elif kind == "meta_text":
            text = draw(st.one_of(st.text(max_size=40), st.sampled_from(["{}", "[]", "null", "1e999", '{"format": "neuraxon-npz"}',
                                                                          '{"format":"neuraxon-npz","version":1,"root":' + "[" * 5000 + "]" * 5000 + "}"])))
            members = [(n, p) for n, p in members if n != "__neuraxon__.npy"] + [("__neuraxon__.npy", meta_npy(text))]
    return build(members, compress)


@fuzz
@given(data=st.data(), obj=objects)
def test_structurally_mutated_checkpoints(data, obj):
    checked_load(data.draw(structural_mutations(obj)))


# ---- zip size fields patched -----------------------------------------------------------------

_SIZES = [0, 1, 0x7FFFFFFF, 0xFFFFFFFE, 0xFFFFFFFF, 2**20, 2**26]


@st.composite
def size_patches(draw, data: bytes):
    """Overwrite the compressed/uncompressed size fields of local (PK\\3\\4: offsets 18, 22)
    and central (PK\\1\\2: offsets 20, 24) headers."""
    out = bytearray(data)
    spots = []
    for sig, offs in ((b"PK\x03\x04", (18, 22)), (b"PK\x01\x02", (20, 24))):
        start = 0
        while (pos := out.find(sig, start)) >= 0:
            spots += [pos + o for o in offs]
            start = pos + 4
    for _ in range(draw(st.integers(1, 4))):
        if not spots:
            break
        at = draw(st.sampled_from(spots))
        out[at:at + 4] = struct.pack("<I", draw(st.sampled_from(_SIZES)))
    return bytes(out)


@fuzz
@given(data=st.data(), obj=objects)
def test_patched_zip_sizes(data, obj):
    checked_load(data.draw(size_patches(saved(obj))))


# ---- deflate bombs ---------------------------------------------------------------------------

_BOMB_CACHE: dict = {}


def deflated_zeros(n_bytes: int) -> tuple[bytes, int]:
    """(a deflated stream of an .npy of n_bytes zeros, its crc): built once per size."""
    if n_bytes not in _BOMB_CACHE:
        raw = npy(np.zeros(n_bytes // 4, np.float32))
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        _BOMB_CACHE[n_bytes] = (c.compress(raw) + c.flush(), zlib.crc32(raw), len(raw))
    return _BOMB_CACHE[n_bytes]


def bomb_zip(entries) -> bytes:
    """A zip assembled by hand (zipfile cannot store pre-compressed data): members given as
    (name, deflated bytes, crc, size) or (name, stored bytes)."""
    out = io.BytesIO()
    central = []
    for e in entries:
        if len(e) == 2:
            name, payload = e
            comp, crc, size, method = payload, zlib.crc32(payload), len(payload), 0
        else:
            name, comp, crc, size = e
            method = 8
        off = out.tell()
        nb = name.encode()
        out.write(struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, method, 0, 0, crc, len(comp), size, len(nb), 0))
        out.write(nb)
        out.write(comp)
        central.append(struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, method, 0, 0, crc, len(comp), size,
                                   len(nb), 0, 0, 0, 0, 0, off) + nb)
    cd_off = out.tell()
    for c in central:
        out.write(c)
    out.write(struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(central), len(central), out.tell() - cd_off, cd_off, 0))
    return out.getvalue()


_META_OK = meta_npy({"format": "neuraxon-npz", "version": 1, "root": {"t": "list", "v": [{"t": "tensor", "i": 0}]}})


@fuzz
@given(size_mib=st.sampled_from([1, 8, 24, 40]), where=st.sampled_from(["a0", "meta", "both", "many"]))
def test_deflate_bombs(size_mib, where):
    comp, crc, size = deflated_zeros(size_mib << 20)
    entries = []
    if where in ("a0", "both"):
        entries.append(("a0.npy", comp, crc, size))
    else:
        entries.append(("a0.npy", npy(np.zeros(3, np.float32))))
    if where in ("meta", "both"):
        entries.append(("__neuraxon__.npy", comp, crc, size))
    else:
        entries.append(("__neuraxon__.npy", _META_OK))
    if where == "many":  # many members, each under the per-member limit, referenced many times
        root = {"t": "list", "v": [{"t": "ndarray", "i": k % 6 + 1} for k in range(30)]}
        entries = [(f"a{k}.npy", comp, crc, size) for k in range(1, 7)]
        entries.append(("__neuraxon__.npy", meta_npy({"format": "neuraxon-npz", "version": 1, "root": root})))
    checked_load(bomb_zip(entries))


def test_maxrss_stays_bounded():
    """The whole battery of bombs and inflated headers, run without tracemalloc: the process's
    peak resident memory must not grow by more than a few bounds."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    comp, crc, size = deflated_zeros(40 << 20)
    cases = [
        bomb_zip([("a0.npy", comp, crc, size), ("__neuraxon__.npy", _META_OK)]),
        bomb_zip([("a0.npy", npy(np.zeros(3, np.float32))), ("__neuraxon__.npy", comp, crc, size)]),
        build({"__neuraxon__.npy": _META_OK,
               "a0.npy": npy_with_header({"descr": "<f4", "fortran_order": False, "shape": (2**28,)}, b"\0" * 64)}),
    ]
    for data in cases:
        try:
            nx.load(io.BytesIO(data))
        except ValueError as e:
            assert INVALID in str(e)
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    assert grown <= 2 * FLOOR + SLACK, f"peak RSS grew by {grown >> 20} MiB"


# ---- regression tests: every bug the fuzzing found -------------------------------------------


def _peak_of_load(data: bytes):
    """(the exception load raised or None, tracemalloc's peak during it)."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        try:
            nx.load(io.BytesIO(data))
            err = None
        except Exception as e:  # noqa: BLE001
            err = e
        return err, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _meta(root, **extra):
    return meta_npy({"format": "neuraxon-npz", "version": 1, "root": root, **extra})


@pytest.mark.parametrize("version", ["", [1], {}, None, 1e999, float("nan"), True, 2**70])
def test_regression_a_version_of_the_wrong_type_is_reported(version):
    # int(meta["version"]) ran outside the error handling: TypeError/OverflowError escaped,
    # and ValueError came without the documented message
    data = build({"__neuraxon__.npy": meta_npy({"format": "neuraxon-npz", "version": version, "root": 1})})
    with pytest.raises(ValueError, match=INVALID):
        nx.load(io.BytesIO(data))


def test_regression_a_deflate_bomb_in_the_structure_entry_is_refused_before_reading():
    # only array members were size-checked: a 40 MiB structure entry deflated to 40 KiB was read whole
    comp, crc, size = deflated_zeros(40 << 20)
    data = bomb_zip([("a0.npy", npy(np.zeros(3, np.float32))), ("__neuraxon__.npy", comp, crc, size)])
    err, peak = _peak_of_load(data)
    assert isinstance(err, ValueError) and "would expand" in str(err), err
    assert peak < 4 << 20, peak


def test_regression_an_npy_header_declaring_more_data_than_the_member_holds_is_refused():
    # NumPy allocates the header's shape before reading a zip member: 1 GiB for 64 bytes
    a0 = npy_with_header({"descr": "<f4", "fortran_order": False, "shape": (2**28,)}, b"\0" * 64)
    data = build({"__neuraxon__.npy": _META_OK, "a0.npy": a0})
    err, peak = _peak_of_load(data)
    assert isinstance(err, ValueError) and INVALID in str(err) and "declares" in str(err), err
    assert peak < 4 << 20, peak


def test_regression_arrays_read_many_times_count_against_one_bound():
    # each member was bounded alone: 6 members of 8 MiB of deflated zeros (8 KiB each) read
    # 5 times apiece made 240 MiB from a 50 KiB file
    comp, crc, size = deflated_zeros(8 << 20)
    root = {"t": "list", "v": [{"t": "ndarray", "i": k % 6} for k in range(30)]}
    data = bomb_zip([(f"a{k}.npy", comp, crc, size) for k in range(6)] + [("__neuraxon__.npy", _meta(root))])
    err, peak = _peak_of_load(data)
    assert isinstance(err, ValueError) and INVALID in str(err), err
    assert peak < 3 * FLOOR, peak
    # a stored (uncompressed) member repeated past 64x the file is refused too
    root = {"t": "list", "v": [{"t": "tensor", "i": 0}] * 200}
    data = build({"__neuraxon__.npy": _meta(root), "a0.npy": npy(np.zeros(1 << 18, np.float32))})  # 1 MiB
    err, peak = _peak_of_load(data)
    assert isinstance(err, ValueError) and INVALID in str(err), err


def test_regression_a_lying_compressed_size_does_not_lift_the_expansion_limit():
    # the expansion limit trusted the zip's compressed size: claiming 2 GiB let 40 KiB expand to 40 MiB
    comp, crc, size = deflated_zeros(40 << 20)
    data = bytearray(bomb_zip([("a0.npy", comp, crc, size), ("__neuraxon__.npy", _META_OK)]))
    cd = data.find(b"PK\x01\x02")
    data[cd + 20:cd + 24] = struct.pack("<I", 0x7FFFFFFF)  # the central directory's compressed size of a0
    err, peak = _peak_of_load(bytes(data))
    assert isinstance(err, ValueError) and INVALID in str(err), err
    assert peak < 4 << 20, peak


def test_regression_a_member_that_is_not_npy_is_not_returned_as_an_array():
    # NumPy returns the raw bytes of a member without the .npy magic: load returned bytes
    data = build({"__neuraxon__.npy": _meta({"t": "ndarray", "i": 0}), "a0.npy": b"just some bytes"})
    with pytest.raises(ValueError, match=INVALID):
        nx.load(io.BytesIO(data))


@pytest.mark.parametrize("how", ["bytesio", "path"])
def test_regression_a_bare_npy_is_refused_before_numpy_reads_it(how, tmp_path):
    # np.load read a bare .npy whole (allocating the shape its header declares: 1 GiB for a
    # 64-byte file) before load refused it as "a bare .npy array, not an archive"
    data = npy_with_header({"descr": "<f4", "fortran_order": False, "shape": (2**28,)}, b"\0" * 64)
    if how == "path":
        path = tmp_path / "bare.npy"
        path.write_bytes(data)
        src = path
    else:
        src = io.BytesIO(data)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="bare .npy"):
            nx.load(src)
        assert tracemalloc.get_traced_memory()[1] < 4 << 20
    finally:
        tracemalloc.stop()
