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
truncated or foreign file raises ValueError saying so.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import zipfile
from typing import Any

import numpy as np

from . import cuda
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


def save(obj: Any, f) -> None:
    """Save (nested dicts/lists/tuples of) tensors, arrays, numbers and strings to ``f``
    (a path or a binary file object) as a .npz archive."""
    arrays: list[np.ndarray] = []
    root = _encode(obj, arrays)
    meta = json.dumps({"format": _MAGIC, "version": _VERSION, "root": root})
    entries = {f"a{i}": a for i, a in enumerate(arrays)}
    entries[_META] = np.array(meta)
    if isinstance(f, (str, os.PathLike)):
        _save_atomic(os.fspath(f), entries)
    else:
        np.savez(f, **entries)


def _save_atomic(path: str, entries: dict) -> None:
    """Write to a temporary file of its own in the target's folder, fsync it, rename it over
    the target, fsync the folder: readers see the old file or the new one, never a part, and
    concurrent writers to one path each rename a whole file (the last one wins). The
    temporary file is removed when writing fails."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:  # np.savez would append .npz to a bare path
            np.savez(fh, **entries)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # the rename itself durable (POSIX; not possible on every platform)
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def _bad(where, why: str) -> ValueError:
    return ValueError(f"neuraxon.load: {where} is not a valid neuraxon checkpoint ({why})")


# A member may expand to at most this many times its stored size (save stores members
# uncompressed, ratio 1) once past 16 MiB: a crafted deflated member cannot make load
# allocate gigabytes from a small file.
_MAX_EXPANSION = 64
_EXPANSION_FLOOR = 16 << 20


def _check_member_size(z, key: str, where) -> None:
    try:
        info = z.zip.getinfo(key + ".npy")
    except (KeyError, AttributeError):
        return  # missing members are reported when read
    if info.file_size > max(_EXPANSION_FLOOR, _MAX_EXPANSION * info.compress_size):
        raise _bad(where, f"array entry {key} would expand from {info.compress_size} to {info.file_size} bytes")


def _decode(node: Any, arrays, where, map_location) -> Any:
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
        _check_member_size(arrays, key, where)
        try:
            arr = arrays[key]
        except KeyError:
            raise _bad(where, f"array entry {key} is missing") from None
        except Exception as e:  # zlib/zip/format errors while reading the member
            raise _bad(where, f"array entry {key} cannot be read: {e}") from None
        if t == "ndarray":
            return arr
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
    available), or to ``map_location`` ("cpu"/"cuda") when given. Never unpickles, so
    torch's ``weights_only``/``mmap``/pickle arguments are accepted and change nothing."""
    if pickle_module is not None:
        raise ValueError("neuraxon.load never unpickles: pickle_module is not supported")
    where = repr(os.fspath(f)) if isinstance(f, (str, os.PathLike)) else "the file object"
    try:
        z = np.load(f, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise _bad(where, f"not a readable .npz archive: {e}") from None
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise _bad(where, "a bare .npy array, not an archive")
    with z:
        try:
            if _META not in z.files:
                raise _bad(where, f"no {_META} entry")
            meta = json.loads(str(z[_META][()]))
        except ValueError as e:
            if "not a valid neuraxon checkpoint" in str(e):
                raise
            raise _bad(where, f"structure entry unreadable: {e}") from None
        except Exception as e:
            raise _bad(where, f"structure entry unreadable: {e}") from None
        if not isinstance(meta, dict) or meta.get("format") != _MAGIC:
            raise _bad(where, "unknown format tag")
        if int(meta.get("version", 0)) > _VERSION:
            raise _bad(where, f"format version {meta.get('version')} is newer than this neuraxon ({_VERSION})")
        try:
            return _decode(meta.get("root"), z, where, map_location)
        except ValueError as e:
            if "not a valid neuraxon checkpoint" in str(e):
                raise
            raise _bad(where, f"malformed structure: {e}") from None
        except (KeyError, TypeError, OverflowError, IndexError, AttributeError, RuntimeError) as e:
            raise _bad(where, f"malformed structure: {type(e).__name__}: {e}") from None
