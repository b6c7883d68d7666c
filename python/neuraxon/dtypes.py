"""The three tensor dtypes (float32, int64, bool) and how Python/NumPy types map onto them.

Two rules, as JAX without x64: an explicit request for a dtype (``dtype=`` arguments,
``.to()``, ``.type()``, ``.double()``) goes through ``get_dtype`` and a dtype neuraxon does
not store raises TypeError; data given without a dtype goes through ``dtype_of_data``
(float64 -> float32, any integer type -> int64), the documented default."""

from __future__ import annotations

import builtins

import numpy as np


class dtype:
    """A tensor element type: .name, .itemsize, .numpy (NumPy dtype), .code (nx::DType)."""

    __slots__ = ("name", "itemsize", "numpy", "code", "is_floating_point")

    def __init__(self, name: str, np_dtype, code: int, is_float: bool):
        self.name = name
        self.numpy = np.dtype(np_dtype)
        self.itemsize = self.numpy.itemsize
        self.code = code
        self.is_floating_point = is_float

    def __repr__(self) -> str:
        return f"neuraxon.{self.name}"

    def __reduce__(self):
        return (get_dtype, (self.name,))


float32 = dtype("float32", np.float32, 0, True)
int64 = dtype("int64", np.int64, 1, False)
bool_ = dtype("bool", np.bool_, 2, False)

_BY_CODE = {0: float32, 1: int64, 2: bool_}
_ALIASES = {
    "float32": float32,
    "float": float32,
    "int64": int64,
    "long": int64,
    "int": int64,  # neuraxon.int is int64 (its one integer type)
    "bool": bool_,
    builtins.float: float32,
    builtins.int: int64,
    builtins.bool: bool_,
}


_SUPPORTED = "neuraxon stores float32, int64 and bool only"


def _unsupported(name: str, hint: str = "") -> TypeError:
    return TypeError(f"unsupported dtype {name}: {_SUPPORTED}{hint}")


def _hint(kind: str) -> str:
    if kind and kind in "fc":
        return " (ask for float32, e.g. .float(), or keep the data in NumPy)"
    if kind and kind in "iu":
        return " (ask for int64, e.g. .long(), or keep the data in NumPy)"
    return ""


def _torch_dtype_name(x) -> str | None:
    """'float32' for torch.float32 (any object whose class is torch.dtype), else None;
    torch itself is never imported here."""
    cls = type(x)
    if cls.__name__ == "dtype" and cls.__module__.split(".")[0] == "torch":
        return str(x).rpartition(".")[2]
    return None


_DTYPE_WORDS = ("float", "int", "bool", "half", "double", "complex", "short", "long", "byte", "char")


def is_dtype_like(x) -> bool:
    """Whether ``x`` names a dtype (rather than a device): a neuraxon dtype, a type, a NumPy
    dtype, a torch dtype, or a string that NumPy reads as a dtype or that names one ("bfloat16",
    "half", ...); other strings ("cpu", "cuda:0", "mps") are devices."""
    if isinstance(x, (dtype, type, np.dtype)) or _torch_dtype_name(x) is not None:
        return True
    if not isinstance(x, str) or x.split(":")[0] in ("cpu", "cuda"):
        return False
    if x in _ALIASES or any(w in x.lower() for w in _DTYPE_WORDS):
        return True
    try:
        np.dtype(x)
    except (TypeError, ValueError):
        return False
    return True


def get_dtype(x) -> dtype:
    """The neuraxon dtype that an EXPLICIT request names: a neuraxon dtype, a name ("float32",
    "float", "int64", "long", "int", "bool"), the Python types float/int/bool (neuraxon's
    default float and integer types, as in JAX without x64), a NumPy dtype or type, or a torch
    dtype.

    A dtype that neuraxon does not store (float64, float16, bfloat16, int32, uint8, ...)
    raises TypeError naming it: an explicit request is never silently narrowed or widened.
    Data is another matter: see ``dtype_of_data``.
    """
    if isinstance(x, dtype):
        return x
    if x is None:
        raise TypeError(f"a dtype is needed, got None ({_SUPPORTED})")
    if (isinstance(x, str) or isinstance(x, type)) and x in _ALIASES:
        return _ALIASES[x]
    tname = _torch_dtype_name(x)
    if tname is not None:
        if tname in _ALIASES:
            return _ALIASES[tname]
        x = tname
    try:
        nd = np.dtype(x)
    except (TypeError, ValueError):
        name = x if isinstance(x, str) else repr(x)
        kind = "f" if "float" in name.lower() else "i" if "int" in name.lower() else ""
        raise _unsupported(name, _hint(kind)) from None
    for d in (float32, int64, bool_):
        if nd == d.numpy:
            return d
    raise _unsupported(nd.name, _hint(nd.kind))


def dtype_of_data(nd) -> dtype:
    """The dtype that data of NumPy dtype ``nd`` becomes when no dtype is asked for (in
    tensor(), as_tensor(), from_numpy(), from_dlpack(), load_safetensors(), ...): any NumPy
    float (float16, float32, float64) becomes float32, any integer type (int8..int64,
    uint8..uint64) int64, bool stays bool. Integers widen losslessly (uint64 values past
    int64's range raise OverflowError where the data is converted); float64 narrows to
    neuraxon's one float type, as JAX does without x64. Complex, string and object data
    raise TypeError."""
    nd = np.dtype(nd)
    if nd.kind == "f":
        return float32
    if nd.kind in "iu":
        return int64
    if nd.kind == "b":
        return bool_
    raise _unsupported(nd.name, " (complex, string and object data have no neuraxon dtype)" if nd.kind else "")


def from_code(code: int) -> dtype:
    return _BY_CODE[code]


def promote(a: dtype, b: dtype) -> dtype:
    """PyTorch's promotion among our three dtypes: float32 > int64 > bool."""
    if a is b:
        return a
    if a is float32 or b is float32:
        return float32
    return int64
