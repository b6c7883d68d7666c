"""Linear, Identity, Flatten, Unflatten."""

from __future__ import annotations

import math

from .. import functional as F
from ..creation import empty
from . import init
from ._util import float_only
from .module import Module, Parameter


class Identity(Module):
    """Returns its input; accepts and ignores any constructor arguments."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__()

    def forward(self, input):
        return input


class Linear(Module):
    """y = x @ weight.T + bias; weight (out_features, in_features), bias (out_features).

    Init as torch: weight kaiming_uniform_(a=sqrt(5)) (U(+-1/sqrt(in))), bias U(+-1/sqrt(in)).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None) -> None:
        float_only(dtype, "Linear")
        super().__init__()
        if in_features < 0 or out_features < 0:
            raise ValueError(f"Linear: in_features={in_features} and out_features={out_features} must be >= 0")
        self.in_features = in_features
        self.out_features = out_features
        self.weight = Parameter(empty((out_features, in_features), device=device))
        if bias:
            self.bias = Parameter(empty((out_features,), device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Flatten(Module):
    """Flattens dims start_dim..end_dim (default 1..-1) into one."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input):
        shape = tuple(input.shape)
        nd = len(shape)
        if nd == 0:
            return input.reshape((1,))
        s = self.start_dim % nd
        e = self.end_dim % nd
        if s > e:
            raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
        mid = math.prod(shape[s : e + 1])
        return input.reshape(shape[:s] + (mid,) + shape[e + 1 :])

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Expands dim into unflattened_size (one entry may be -1)."""

    def __init__(self, dim: int, unflattened_size) -> None:
        super().__init__()
        self.dim = dim
        self.unflattened_size = tuple(unflattened_size)

    def forward(self, input):
        shape = tuple(input.shape)
        d = self.dim % len(shape)
        size = list(self.unflattened_size)
        if -1 in size:
            known = math.prod(s for s in size if s != -1)
            size[size.index(-1)] = shape[d] // known if known else 0
        if math.prod(size) != shape[d]:
            raise RuntimeError(
                f"unflatten: Provided sizes {self.unflattened_size} don't multiply up to the size of dim "
                f"{self.dim} ({shape[d]}) in the input tensor"
            )
        return input.reshape(shape[:d] + tuple(size) + shape[d + 1 :])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
