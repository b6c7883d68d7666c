"""neuraxon: a readable deep-learning framework whose every hot loop is its own kernel.

PyTorch-shaped: `neuraxon.tensor`, `zeros`, `randn`, ..., `Tensor` with autograd,
`neuraxon.functional` (re-exported as `neuraxon.nn.functional`), `no_grad`, `manual_seed`.
"""

__version__ = "0.1.0"

from . import _ext, cuda  # noqa: E402,F401
from .dtypes import bool_ as bool  # noqa: E402,A001,F401
from .dtypes import dtype, float32, get_dtype, int64  # noqa: E402,F401
from .dtypes import float32 as float  # noqa: E402,A001,F401
from .dtypes import int64 as long  # noqa: E402
from .device import Device, device  # noqa: E402,F401
# tensor.py first: importing the submodule neuraxon.tensor binds the package attribute
# `tensor` to it, which `from .creation import tensor` below then rebinds to the function.
from .tensor import Tensor  # noqa: E402,F401,I001
from .creation import arange, as_tensor, empty, empty_like, eye, from_dlpack, from_numpy, full, full_like, linspace, logspace, ones, ones_like, rand, rand_like, randint, randint_like, randn, randn_like, randperm, tensor, zeros, zeros_like  # noqa: E402,F401
from .tensor_functions import broadcast_shapes, broadcast_tensors, cat, chunk, concat, concatenate, is_tensor, matmul, maximum, minimum, nonzero, split, stack, where  # noqa: E402,F401
from .tensor_functions import addmm, argwhere, bernoulli, bucketize, meshgrid, multinomial, normal, searchsorted, take_along_dim  # noqa: E402,F401
from .tensor_functions import atleast_1d, atleast_2d, broadcast_to, column_stack, einsum, hstack, tensordot, vstack  # noqa: E402,F401


import numbers  # noqa: E402


def set_num_threads(n) -> None:
    """Threads of the CPU kernels (OpenMP), as torch.set_num_threads."""
    import builtins

    if not isinstance(n, numbers.Integral) or builtins.int(n) <= 0:
        raise ValueError(f"set_num_threads: expected a positive number of threads, got {n!r}")
    _ext.cpu.set_num_threads(builtins.int(n))


def get_num_threads() -> "builtins.int":  # noqa: F821
    """The number of threads the CPU kernels use (see set_num_threads)."""
    return _ext.cpu.num_threads()


from . import autograd, random  # noqa: E402,F401
from .autograd import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled  # noqa: E402,F401
from .random import get_rng_state, initial_seed, manual_seed, seed, set_rng_state  # noqa: E402,F401
from .random import Generator  # noqa: E402,F401
from . import functional  # noqa: E402,F401

int = long  # noqa: A001  (neuraxon.int is int64: one integer dtype)

# functions that mirror Tensor methods (neuraxon.exp(x) == x.exp(), ...)
_METHODS = (
    "exp log sqrt rsqrt abs sin cos sigmoid tanh relu reciprocal square sign log1p expm1 clamp clip sum mean "
    "var std prod max min amax amin argmax argmin norm logsumexp all any reshape flatten squeeze unsqueeze "
    "permute transpose t narrow unbind index_select gather masked_fill softmax log_softmax neg pow mul add sub "
    "div eq ne lt le gt ge allclose equal numel count_nonzero clone detach flip isnan isinf isfinite nan_to_num "
    "square sort argsort topk cumsum mm bmm "
    "swapdims movedim moveaxis select tile roll triu tril diagonal diag outer masked_select take index_add scatter "
    "scatter_add repeat_interleave tensor_split kthvalue diff lerp isclose log2 log10 exp2 tan floor ceil round trunc "
    "frac floor_divide remainder fmod nansum nanmean median logical_and logical_or logical_xor logical_not "
    "bitwise_and bitwise_or bitwise_xor bitwise_not sgn true_divide unique"
).split()


def _method_fn(name):
    def fn(x, *args, **kwargs):
        return getattr(x, name)(*args, **kwargs)

    fn.__name__ = name
    fn.__doc__ = f"neuraxon.{name}(x, ...) == x.{name}(...)"
    return fn


for _n in _METHODS:
    if hasattr(Tensor, _n) and _n not in globals():
        globals()[_n] = _method_fn(_n)
del _n


def numel(x) -> "builtins.int":  # noqa: F821
    """The number of elements of a tensor."""
    return x.numel()


def is_floating_point(x) -> "builtins.bool":  # noqa: F821
    """True when the tensor's dtype is a floating-point type (float32)."""
    return x.is_floating_point()


# checkpoints (engineer "nn"): neuraxon.save / neuraxon.load, .npz + JSON structure, never pickle
from .serialization import load, save  # noqa: E402,F401
# safetensors files (flat dicts of tensors; torch/Hugging Face weights), written and read here
from ._safetensors import load_safetensors, safetensors_metadata, save_safetensors  # noqa: E402,F401


def __getattr__(name):
    """`neuraxon.nn`, `neuraxon.optim`, `neuraxon.data`, `neuraxon.distributed` load on first use (as torch.nn does
    after `import torch`), so `import neuraxon` stays light."""
    if name in ("nn", "optim", "data", "testing", "distributed"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'neuraxon' has no attribute {name!r}")
