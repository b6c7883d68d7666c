"""neuraxon.save_safetensors / neuraxon.load_safetensors: flat dicts of tensors in the
safetensors format (Hugging Face's; what ``safetensors.torch.save_file`` writes), read and
written here without the ``safetensors`` package.

The format: 8 bytes, the header's length N as a little-endian unsigned 64-bit integer; N bytes
of UTF-8 JSON, an object mapping each tensor name to {"dtype": "F32", "shape": [2, 3],
"data_offsets": [begin, end]} plus an optional "__metadata__" object of string to string (the
header may end in spaces); then the data buffer, every tensor's bytes little-endian in C order
at [begin, end) relative to the buffer's start. The tensors tile the buffer exactly: sorted by
offset, each begins where the previous one ends, the first at 0 and the last at the buffer's
end, and end - begin is the byte size of its dtype and shape.

Loading is implicit conversion (the rule of neuraxon.dtypes.dtype_of_data): F64, F32, F16,
BF16, F8_E4M3 and F8_E5M2 become float32; I64, I32, I16, I8, U64, U32, U16 and U8 become int64
(a U64 value past int64's range raises OverflowError); BOOL stays bool. A malformed file raises
ValueError("not a valid safetensors file: ...") before anything is allocated for its tensors:
the header must fit in the file (and in 100 MB, the reference limit), and the offsets must tile
the data exactly, so no tensor is read from outside the file and the bytes read equal the
file's size.

There is no loader for PyTorch's ``.pt``/``.bin`` files: they are pickles, and unpickling a
file can run arbitrary code. Convert them once with torch
(``safetensors.torch.save_file(torch.load(p, weights_only=True), "model.safetensors")``) and
load the .safetensors here.
"""

from __future__ import annotations

import io
import json
import math
import os
from typing import Any

import numpy as np

from ._files import atomic_write
from ._tensor_base import TensorBase
from .creation import from_numpy
from .device import device as _device

__all__ = ["save_safetensors", "load_safetensors"]

_MAX_HEADER = 100_000_000  # the reference implementation's limit

# safetensors dtype -> NumPy dtype of its bytes (little-endian); BF16 and F8 are decoded by hand
_LOAD = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2", "F8_E4M3": "u1", "F8_E5M2": "u1",
    "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
    "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "u1",
}  # fmt: skip
# dtypes of the format that neuraxon does not read (TypeError, not "malformed")
_UNSUPPORTED = ("F8_E8M0", "F6_E2M3", "F6_E3M2", "F4", "C64", "C128")
# NumPy (kind, itemsize) -> safetensors dtype when saving
_SAVE = {
    ("f", 8): "F64", ("f", 4): "F32", ("f", 2): "F16", ("i", 8): "I64", ("i", 4): "I32", ("i", 2): "I16",
    ("i", 1): "I8", ("u", 8): "U64", ("u", 4): "U32", ("u", 2): "U16", ("u", 1): "U8", ("b", 1): "BOOL",
}  # fmt: skip


def _fp8_table(exp_bits: int, man_bits: int, finite_only: bool) -> np.ndarray:
    """The 256 float32 values of an 8-bit float (sign, exp_bits, man_bits; IEEE-like bias).
    finite_only (E4M3FN): no infinities, only S.1111.111 is NaN; else (E5M2) the top exponent
    holds inf and NaN as in IEEE."""
    bias = (1 << (exp_bits - 1)) - 1
    out = np.empty(256, np.float32)
    for b in range(256):
        sign = -1.0 if b & 0x80 else 1.0
        e = (b >> man_bits) & ((1 << exp_bits) - 1)
        m = b & ((1 << man_bits) - 1)
        top = (1 << exp_bits) - 1
        if finite_only and e == top and m == (1 << man_bits) - 1:
            v = math.nan
        elif not finite_only and e == top:
            v = sign * math.inf if m == 0 else math.nan
        elif e == 0:
            v = sign * (m / (1 << man_bits)) * 2.0 ** (1 - bias)
        else:
            v = sign * (1 + m / (1 << man_bits)) * 2.0 ** (e - bias)
        out[b] = v
    return out


_FP8 = {}


def _decode(raw: np.ndarray, code: str) -> np.ndarray:
    """The bytes of one tensor (flat array of dtype _LOAD[code]) as an array neuraxon stores."""
    if code == "BF16":
        return (raw.astype(np.uint32) << 16).view(np.float32)
    if code in ("F8_E4M3", "F8_E5M2"):
        if code not in _FP8:
            _FP8[code] = _fp8_table(4, 3, True) if code == "F8_E4M3" else _fp8_table(5, 2, False)
        return _FP8[code][raw]
    if code == "BOOL":
        return raw != 0
    return raw


def _bad(why: str, where: str) -> ValueError:
    return ValueError(f"not a valid safetensors file: {why} ({where})")


def _open(f):
    """(binary file object, close it after?, description for messages)."""
    if isinstance(f, (str, os.PathLike)):
        return open(os.fspath(f), "rb"), True, repr(os.fspath(f))
    if isinstance(f, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(f)), True, "the bytes given"
    if hasattr(f, "read") and hasattr(f, "seek"):
        return f, False, "the file object"
    raise TypeError(f"load_safetensors() takes a path, bytes or a seekable binary file, got {type(f).__name__}")


def _parse_header(fh, where: str) -> tuple[dict, int, int]:
    """(header object, where the data buffer starts, the buffer's length); ValueError for
    anything malformed."""
    start = fh.tell()
    end = fh.seek(0, os.SEEK_END)
    fh.seek(start)
    size = end - start
    head = fh.read(8)
    if len(head) < 8:
        raise _bad(f"{size} bytes, shorter than the 8-byte header length", where)
    n = int.from_bytes(head, "little")
    if n > _MAX_HEADER:
        raise _bad(f"header length {n} is past the limit of {_MAX_HEADER} bytes", where)
    if n > size - 8:
        raise _bad(f"header length {n} is past the end of the {size}-byte file", where)
    raw = fh.read(n)
    if len(raw) != n:
        raise _bad("the file ended inside the header", where)
    if not raw.startswith(b"{"):
        raise _bad("the header does not start with '{'", where)

    def pairs(kv):
        d = {}
        for k, v in kv:
            if k in d:
                raise _bad(f"the header names {k!r} twice", where)
            d[k] = v
        return d

    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=pairs)
    except UnicodeDecodeError as e:
        raise _bad(f"the header is not UTF-8 ({e.reason})", where) from None
    except json.JSONDecodeError as e:
        raise _bad(f"the header is not JSON ({e.msg} at {e.pos})", where) from None
    except RecursionError:
        raise _bad("the header nests too deeply", where) from None
    if not isinstance(header, dict):
        raise _bad("the header is not a JSON object", where)
    return header, start + 8 + n, size - 8 - n


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _entries(header: dict, buffer_len: int, where: str) -> tuple[list, dict]:
    """[(name, code, shape, begin, end)] sorted by offset, checked to tile the buffer; and the
    metadata."""
    meta = header.get("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise _bad("__metadata__ must map strings to strings", where)
    out = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= set(info):
            raise _bad(f"tensor {name!r} needs dtype, shape and data_offsets", where)
        code, shape, offs = info["dtype"], info["shape"], info["data_offsets"]
        if code in _UNSUPPORTED:
            raise TypeError(
                f"load_safetensors: tensor {name!r} is {code}, which neuraxon cannot read "
                "(it reads F64/F32/F16/BF16/F8_E4M3/F8_E5M2 as float32, integers as int64, BOOL)"
            )
        if code not in _LOAD:
            raise _bad(f"tensor {name!r} has unknown dtype {str(code)[:40]!r}", where)
        if not isinstance(shape, list) or not all(_is_int(s) and 0 <= s < 2**62 for s in shape):
            raise _bad(f"tensor {name!r}: shape {str(shape)[:80]} is not a list of sizes", where)
        if not (isinstance(offs, list) and len(offs) == 2 and all(_is_int(o) and o >= 0 for o in offs)):
            raise _bad(f"tensor {name!r}: data_offsets {str(offs)[:80]} is not [begin, end]", where)
        begin, end = offs
        nbytes = math.prod(shape) * np.dtype(_LOAD[code]).itemsize
        if end < begin or end - begin != nbytes:
            raise _bad(f"tensor {name!r}: data_offsets {offs} do not hold {code} {shape} ({nbytes} bytes)", where)
        out.append((name, code, tuple(shape), begin, end))
    out.sort(key=lambda e: (e[3], e[4]))
    pos = 0
    for name, _, _, begin, end in out:
        if begin != pos:
            what = "overlaps the tensor before it" if begin < pos else f"leaves bytes {pos}..{begin} unused"
            raise _bad(f"tensor {name!r} at {begin} {what}", where)
        pos = end
    if pos != buffer_len:
        if pos > buffer_len:
            raise _bad(f"the tensors need {pos} bytes of data, the file holds {buffer_len}", where)
        raise _bad(f"{buffer_len - pos} bytes after the last tensor belong to no tensor", where)
    return out, meta


def load_safetensors(f, device="cpu") -> dict[str, Any]:
    """The tensors of a .safetensors file (a path, bytes, or a seekable binary file) as a dict
    name -> neuraxon Tensor on ``device``, in the file's data order; ready for
    ``Module.load_state_dict`` (torch/Hugging Face weights load when the key names match).

    Dtypes convert as data does (float types -> float32, integer types -> int64, BOOL ->
    bool; see the module doc). A malformed file raises ValueError("not a valid safetensors
    file: ..."); a format dtype neuraxon cannot read (F4, F6, F8_E8M0, complex) TypeError."""
    dev = _device(device)
    fh, close, where = _open(f)
    try:
        header, data_start, buffer_len = _parse_header(fh, where)
        entries, _ = _entries(header, buffer_len, where)
        out: dict[str, Any] = {}
        for name, code, shape, begin, end in entries:
            buf = bytearray(end - begin)  # writeable: a float32/int64 tensor takes it without a copy
            fh.seek(data_start + begin)
            got = fh.readinto(buf) if end > begin else 0
            if got != end - begin:
                raise _bad(f"the file ended inside tensor {name!r}", where)
            arr = _decode(np.frombuffer(buf, dtype=_LOAD[code]), code).reshape(shape)
            t = from_numpy(arr)  # shares the buffer when it is float32/int64, else converts
            out[name] = t if dev.type == "cpu" else t.to(dev)
        return out
    finally:
        if close:
            fh.close()


def safetensors_metadata(f) -> dict[str, str]:
    """The "__metadata__" strings of a .safetensors file ({} when it has none); the file is
    validated as load_safetensors validates it, its tensors are not read."""
    fh, close, where = _open(f)
    try:
        header, _, buffer_len = _parse_header(fh, where)
        return dict(_entries(header, buffer_len, where)[1])
    finally:
        if close:
            fh.close()


def _host_array(name: str, v) -> tuple[str, np.ndarray]:
    """(safetensors dtype, C-contiguous little-endian host array) of one value to save."""
    if isinstance(v, TensorBase):
        a = v.device.to_numpy(v._data, v.shape, v.dtype)
    elif isinstance(v, np.ndarray):
        a = v
    else:
        raise TypeError(f"save_safetensors: {name!r} is a {type(v).__name__}; values must be tensors or NumPy arrays")
    code = _SAVE.get((a.dtype.kind, a.dtype.itemsize))
    if code is None:
        raise TypeError(f"save_safetensors: {name!r} has dtype {a.dtype}, which safetensors cannot hold here")
    # np.asarray(order="C") keeps a 0-d array 0-d (ascontiguousarray would make it 1-d)
    return code, np.asarray(a, dtype=a.dtype.newbyteorder("<") if a.dtype.itemsize > 1 else a.dtype, order="C")


def save_safetensors(tensors: dict, f, metadata: dict | None = None) -> None:
    """Write a flat dict name -> tensor (neuraxon tensors on any device, or NumPy arrays) to
    ``f`` (a path, written atomically through a temporary file, or a binary file object) in
    the safetensors format; ``metadata`` is an optional dict of strings stored as
    "__metadata__". The data is laid out as the reference writer does (larger items first,
    then by name; header padded with spaces to 8 bytes), so torch's
    ``safetensors.torch.load_file`` reads it."""
    if not isinstance(tensors, dict):
        raise TypeError(f"save_safetensors() takes a dict of tensors, got {type(tensors).__name__}")
    if metadata is not None and (
        not isinstance(metadata, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())
    ):
        raise TypeError("save_safetensors: metadata must be a dict of str to str")
    arrays, codes = {}, {}
    for name, v in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"save_safetensors: keys must be strings, got {name!r}")
        if name == "__metadata__":
            raise ValueError("save_safetensors: '__metadata__' is reserved for the metadata")
        codes[name], arrays[name] = _host_array(name, v)
    order = sorted(arrays, key=lambda k: (-arrays[k].dtype.itemsize, k))
    header: dict[str, Any] = {}
    if metadata:
        header["__metadata__"] = dict(metadata)
    pos = 0
    for k in order:
        a = arrays[k]
        header[k] = {"dtype": codes[k], "shape": list(a.shape), "data_offsets": [pos, pos + a.nbytes]}
        pos += a.nbytes
    raw = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    raw += b" " * (-(8 + len(raw)) % 8)

    def write(fh):
        fh.write(len(raw).to_bytes(8, "little"))
        fh.write(raw)
        for k in order:
            if arrays[k].nbytes:
                fh.write(arrays[k].reshape(-1).view(np.uint8).data)

    if not isinstance(f, (str, os.PathLike)):
        write(f)
        return
    atomic_write(os.fspath(f), write)
