"""neuraxon.save / neuraxon.load: checkpoints as .npz with a JSON structure entry, never pickle.

Format: an uncompressed NumPy .npz archive. Entry ``__neuraxon__`` is a 0-d unicode array
holding JSON {"format": "neuraxon-npz", "version": 1, "root": <node>}; array data lives in
entries ``a0``, ``a1``, ... A node is a JSON scalar (null, bool, int, float incl. NaN/inf,
str) or one of
  {"t": "tensor",  "i": k, "device": "cpu", "requires_grad": false}   entry a<k>
  {"t": "ndarray", "i": k}                                             entry a<k>
  {"t": "list" | "tuple", "v": [node, ...]}
  {"t": "dict", "k": [key, ...], "v": [node, ...]}   keys: str, int, float, bool or null
Loading uses ``np.load(allow_pickle=False)``, so a file can never run code; a damaged,
truncated or foreign file raises ValueError saying so, and whatever its zip and .npy headers
claim, the array data load reads (and converts for tensors) stays within max(16 MiB, 64x the
file's size). tests/test_fuzz_load.py fuzzes both promises.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from typing import Any

import numpy as np

from . import cuda
from ._files import atomic_write
from ._safetensors import load_safetensors, save_safetensors
from .creation import tensor
from .tensor import Tensor

_MAGIC = "neuraxon-npz"
_VERSION = 1
_META = "__neuraxon__"


def _is_tensor(x) -> bool:
    return isinstance(x, Tensor)


def _encode(obj: Any, arrays: list[np.ndarray]) -> Any:
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, np.integer)) and not isinstance(obj, bool):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        if math.isfinite(f):
            return f
        return {"t": "float", "v": repr(f)}
    if isinstance(obj, np.bool_):
        return bool(obj)
    if _is_tensor(obj):
        arrays.append(np.array(obj.detach().numpy(), order="C"))  # keeps 0-d (ascontiguousarray would not)
        return {
            "t": "tensor",
            "i": len(arrays) - 1,
            "device": str(obj.device),
            "requires_grad": bool(obj.requires_grad),
        }
    if isinstance(obj, np.ndarray):
        if obj.dtype.hasobject:
            raise TypeError("neuraxon.save: object arrays cannot be saved (they would need pickle)")
        arrays.append(np.array(obj, order="C"))
        return {"t": "ndarray", "i": len(arrays) - 1}
    if isinstance(obj, (list, tuple)):
        return {"t": "tuple" if isinstance(obj, tuple) else "list", "v": [_encode(v, arrays) for v in obj]}
    if isinstance(obj, dict):
        keys = []
        for k in obj:
            if isinstance(k, (np.integer,)):
                k = int(k)
            if not (k is None or isinstance(k, (str, int, float, bool))):
                raise TypeError(f"neuraxon.save: dict key {k!r} of type {type(k).__name__} is not supported")
            keys.append(k)
        return {"t": "dict", "k": keys, "v": [_encode(v, arrays) for v in obj.values()]}
    raise TypeError(
        f"neuraxon.save: cannot save an object of type {type(obj).__name__}; supported: tensors, "
        "numpy arrays, numbers, strings, None, and lists/tuples/dicts of them"
    )


def _is_safetensors(f) -> bool:
    return isinstance(f, (str, os.PathLike)) and os.fspath(f).endswith(".safetensors")


def save(obj: Any, f) -> None:
    """Save (nested dicts/lists/tuples of) tensors, arrays, numbers and strings to ``f``
    (a path or a binary file object) as a .npz archive; a path ending in ``.safetensors``
    gets the safetensors format instead, for a flat dict of tensors (a state_dict), which
    torch and the safetensors package read (neuraxon.save_safetensors)."""
    if _is_safetensors(f):
        return save_safetensors(obj, f)
    arrays: list[np.ndarray] = []
    root = _encode(obj, arrays)
    meta = json.dumps({"format": _MAGIC, "version": _VERSION, "root": root})
    entries = {f"a{i}": a for i, a in enumerate(arrays)}
    entries[_META] = np.array(meta)
    if isinstance(f, (str, os.PathLike)):
        # np.savez would append .npz to a bare path, so it writes into the file object
        atomic_write(os.fspath(f), lambda fh: np.savez(fh, **entries))
    else:
        np.savez(f, **entries)


def _bad(where, why: str) -> ValueError:
    return ValueError(f"neuraxon.load: {where} is not a valid neuraxon checkpoint ({why})")


# A member may expand to at most this many times its stored size (save stores members
# uncompressed, ratio 1) once past 16 MiB, and all the array data load reads (every member,
# each time the structure names it, and its conversion for a tensor) may take at most this
# many times the file's size: a crafted file cannot make load allocate gigabytes from a
# small file, whatever its zip headers claim.
_MAX_EXPANSION = 64
_EXPANSION_FLOOR = 16 << 20


class _Reader:
    """Reads the members of an opened archive within the memory bound of its file size."""

    def __init__(self, z, where, file_size: int | None):
        self.z, self.where, self.file_size = z, where, file_size
        self.left = max(_EXPANSION_FLOOR, _MAX_EXPANSION * file_size) if file_size is not None else None

    def charge(self, nbytes: int, what: str) -> None:
        if self.left is None:
            return
        self.left -= int(nbytes)
        if self.left < 0:
            raise _bad(
                self.where,
                f"{what}: its arrays would take more than {max(_EXPANSION_FLOOR, _MAX_EXPANSION * self.file_size)} "
                f"bytes, past {_MAX_EXPANSION}x the file's {self.file_size}",
            )

    def check(self, key: str, kind: str = "array entry") -> None:
        """Refuse a member whose (decompressed) size or .npy header would allocate past the
        bounds, before NumPy allocates it."""
        try:
            info = self.z.zip.getinfo(key + ".npy")
        except (KeyError, AttributeError):
            return  # missing members are reported when read
        stored = info.compress_size
        if self.file_size is not None:
            stored = min(stored, self.file_size)  # a zip header may claim more than the file holds
        if info.file_size > max(_EXPANSION_FLOOR, _MAX_EXPANSION * stored):
            raise _bad(self.where, f"{kind} {key} would expand from {stored} to {info.file_size} bytes")
        try:  # NumPy allocates the shape its header declares before reading the data
            with self.z.zip.open(info) as fh:
                version = np.lib.format.read_magic(fh)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
                else:
                    shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
                header = fh.tell()
        except Exception:  # noqa: BLE001  (not an .npy member: NumPy reads it as raw bytes, file_size checked above)
            return
        if dtype.hasobject:
            return  # refused by allow_pickle=False before any allocation
        declared = math.prod(int(d) for d in shape) * dtype.itemsize
        if declared > info.file_size - header:
            held = info.file_size - header
            raise _bad(self.where, f"{kind} {key} declares {declared} bytes of data but holds {held}")

    def array(self, key: str, kind: str = "array entry") -> np.ndarray:
        self.check(key, kind)
        try:
            info = self.z.zip.getinfo(key + ".npy")
            self.charge(info.file_size, f"{kind} {key}")
        except (KeyError, AttributeError):
            pass
        try:
            arr = self.z[key]
        except KeyError:
            raise _bad(self.where, f"{kind} {key} is missing") from None
        except Exception as e:  # noqa: BLE001  (zlib/zip/format errors while reading the member)
            raise _bad(self.where, f"{kind} {key} cannot be read: {e}") from None
        if not isinstance(arr, np.ndarray):  # NumPy gives the raw bytes of a member that is not .npy
            raise _bad(self.where, f"{kind} {key} is not a .npy array")
        return arr


def _starts_like_npy(f) -> bool:
    """Whether the file starts with the .npy magic (peeked, the position kept): a bare array,
    which np.load would read whole (allocating what its header declares) before we refuse it."""
    try:
        if isinstance(f, (str, os.PathLike)):
            with open(f, "rb") as fh:
                head = fh.read(6)
        else:
            pos = f.tell()
            head = f.read(6)
            f.seek(pos)
    except (OSError, AttributeError, ValueError, TypeError):
        return False  # np.load reports it
    return bytes(head) == b"\x93NUMPY"


def _archive_size(f) -> int | None:
    """The size of the file (path or seekable binary file object, from its position), or None."""
    try:
        if isinstance(f, (str, os.PathLike)):
            return os.path.getsize(f)
        pos = f.tell()
        end = f.seek(0, os.SEEK_END)
        f.seek(pos)
        return max(int(end) - int(pos), 0)
    except (OSError, AttributeError, ValueError, TypeError):
        return None


def _decode(node: Any, arrays: _Reader, where, map_location) -> Any:
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if isinstance(node, list):  # not produced by save, but harmless
        return [_decode(v, arrays, where, map_location) for v in node]
    if not isinstance(node, dict) or "t" not in node:
        raise _bad(where, f"unexpected structure node {str(node)[:80]}")
    t = node["t"]
    if t == "float":
        return float(node["v"])
    if t in ("tensor", "ndarray"):
        key = f"a{int(node['i'])}"
        arr = arrays.array(key)
        if t == "ndarray":
            return arr
        arrays.charge(arr.size * 8, f"array entry {key}")  # tensor() converts (to at most 8 bytes an element)
        dev = map_location if map_location is not None else node.get("device", "cpu")
        if str(dev).startswith("cuda"):
            if not cuda.is_available():
                dev = "cpu" if map_location is None else dev
        out = tensor(arr, device=dev)
        if node.get("requires_grad"):
            out.requires_grad_(True)
        return out
    if t in ("list", "tuple"):
        vals = [_decode(v, arrays, where, map_location) for v in node["v"]]
        return tuple(vals) if t == "tuple" else vals
    if t == "dict":
        keys, vals = node["k"], node["v"]
        if len(keys) != len(vals):
            raise _bad(where, "dict node with mismatched keys and values")
        return {k: _decode(v, arrays, where, map_location) for k, v in zip(keys, vals)}
    raise _bad(where, f"unknown node type {t!r}")


def load(f, map_location=None, pickle_module=None, *, weights_only=None, mmap=None, **pickle_load_args) -> Any:
    """Load what ``save`` wrote. Tensors go back to their saved device (cpu when CUDA is not
    available), or to ``map_location`` ("cpu"/"cuda") when given. A path ending in
    ``.safetensors`` is read as one (a dict of tensors, on map_location or the cpu). Never unpickles, so
    torch's ``weights_only``/``mmap``/pickle arguments are accepted and change nothing."""
    if pickle_module is not None:
        raise ValueError("neuraxon.load never unpickles: pickle_module is not supported")
    if _is_safetensors(f):  # a flat dict of tensors (neuraxon.load_safetensors)
        return load_safetensors(f, device=map_location or "cpu")
    where = repr(os.fspath(f)) if isinstance(f, (str, os.PathLike)) else "the file object"
    size = _archive_size(f)
    if _starts_like_npy(f):
        raise _bad(where, "a bare .npy array, not an archive")
    try:
        z = np.load(f, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise _bad(where, f"not a readable .npz archive: {e}") from None
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise _bad(where, "a bare .npy array, not an archive")
    with z:
        reader = _Reader(z, where, size)
        try:
            if _META not in z.files:
                raise _bad(where, f"no {_META} entry")
            meta = json.loads(str(reader.array(_META, "structure entry")[()]))
        except ValueError as e:
            if "not a valid neuraxon checkpoint" in str(e):
                raise
            raise _bad(where, f"structure entry unreadable: {e}") from None
        except Exception as e:
            raise _bad(where, f"structure entry unreadable: {e}") from None
        if not isinstance(meta, dict) or meta.get("format") != _MAGIC:
            raise _bad(where, "unknown format tag")
        version = meta.get("version", 0)
        if not isinstance(version, int) or isinstance(version, bool):
            raise _bad(where, f"format version {str(version)[:40]!r} is not an integer")
        if version > _VERSION:
            raise _bad(where, f"format version {version} is newer than this neuraxon ({_VERSION})")
        try:
            return _decode(meta.get("root"), reader, where, map_location)
        except ValueError as e:
            if "not a valid neuraxon checkpoint" in str(e):
                raise
            raise _bad(where, f"malformed structure: {e}") from None
        except (KeyError, TypeError, OverflowError, IndexError, AttributeError, RuntimeError) as e:
            raise _bad(where, f"malformed structure: {type(e).__name__}: {e}") from None
