"""Conv2d and ConvTranspose2d (int, tuple, 'same' or 'valid' padding; Conv2d also takes
padding_mode 'reflect', 'replicate' and 'circular', applied by F.pad before an unpadded
convolution, as torch does; ConvTranspose2d only 'zeros')."""

from __future__ import annotations

import math

from .. import functional as F
from ..creation import empty
from . import init
from ._util import float_only, pair
from .module import Module, Parameter


class _ConvNd(Module):
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride,
        padding,
        dilation,
        transposed: bool,
        output_padding,
        groups: int,
        bias: bool,
        padding_mode: str,
        device=None,
    ) -> None:
        super().__init__()
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ValueError(
                f"padding_mode must be one of 'zeros', 'reflect', 'replicate' or 'circular', got {padding_mode!r}"
            )
        if transposed and padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for {type(self).__name__}')
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"Invalid padding string {padding!r}, should be one of {{'valid', 'same'}}")
            if padding == "same" and any(s != 1 for s in pair(stride)):
                raise ValueError("padding='same' is not supported for strided convolutions")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = pair(kernel_size)
        self.stride = pair(stride)
        self.padding = padding if isinstance(padding, str) else pair(padding)
        self.dilation = pair(dilation)
        self.transposed = transposed
        self.output_padding = pair(output_padding)
        self.groups = groups
        self.padding_mode = padding_mode
        if any(k <= 0 for k in self.kernel_size) or any(s <= 0 for s in self.stride):
            raise ValueError(f"kernel_size {self.kernel_size} and stride {self.stride} must be positive")
        if transposed:
            shape = (in_channels, out_channels // groups) + self.kernel_size
        else:
            shape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight = Parameter(empty(shape, device=device))
        if bias:
            self.bias = Parameter(empty((out_channels,), device=device))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding!r}" if isinstance(self.padding, str) else f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.output_padding != (0, 0):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class Conv2d(_ConvNd):
    """2-D convolution: input (N, C_in, H, W) -> (N, C_out, H_out, W_out);
    weight (C_out, C_in / groups, kH, kW), bias (C_out)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device=None,
        dtype=None,
    ) -> None:
        float_only(dtype, "Conv2d")
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            False,
            0,
            groups,
            bias,
            padding_mode,
            device,
        )

    def forward(self, input):
        pad = self.padding
        if pad == "valid":
            pad = (0, 0)
        elif pad == "same":
            totals = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
            lo = [t // 2 for t in totals]
            if any(t % 2 for t in totals):  # torch pads the extra row/column at the end
                mode = "constant" if self.padding_mode == "zeros" else self.padding_mode
                input = F.pad(input, (lo[1], totals[1] - lo[1], lo[0], totals[0] - lo[0]), mode=mode)
                pad = (0, 0)
            else:
                pad = tuple(lo)
        if self.padding_mode != "zeros" and any(pad):
            input = F.pad(input, (pad[1], pad[1], pad[0], pad[0]), mode=self.padding_mode)
            pad = (0, 0)
        return F.conv2d(input, self.weight, self.bias, self.stride, pad, self.dilation, self.groups)


class ConvTranspose2d(_ConvNd):
    """Transposed 2-D convolution: weight (C_in, C_out / groups, kH, kW);
    H_out = (H - 1) * stride - 2 * padding + dilation * (kH - 1) + output_padding + 1."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        output_padding=0,
        groups: int = 1,
        bias: bool = True,
        dilation=1,
        padding_mode: str = "zeros",
        device=None,
        dtype=None,
    ) -> None:
        float_only(dtype, "ConvTranspose2d")
        if isinstance(padding, str):
            raise ValueError("ConvTranspose2d does not support string padding")
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            True,
            output_padding,
            groups,
            bias,
            padding_mode,
            device,
        )

    def _output_padding(self, input, output_size) -> tuple:
        if output_size is None:
            return self.output_padding
        output_size = tuple(output_size)[-2:]
        hw = tuple(input.shape)[-2:]
        out = []
        for i in range(2):
            base = (hw[i] - 1) * self.stride[i] - 2 * self.padding[i] + self.dilation[i] * (self.kernel_size[i] - 1) + 1
            extra = output_size[i] - base
            if not 0 <= extra < max(self.stride[i], self.dilation[i]):
                raise ValueError(
                    f"requested an output size of {output_size}, but valid sizes range from "
                    f"{base} to {base + max(self.stride[i], self.dilation[i]) - 1} (dim {i})"
                )
            out.append(extra)
        return tuple(out)

    def forward(self, input, output_size=None):
        op = self._output_padding(input, output_size)
        return F.conv_transpose2d(
            input, self.weight, self.bias, self.stride, self.padding, op, self.groups, self.dilation
        )
