"""Recurrent layers: RNNCell/RNN (tanh, relu), LSTMCell/LSTM, GRUCell/GRU.

Parameters and their names as torch: weight_ih_l{k}{_reverse} (G*H, I or D*H),
weight_hh_l{k}{_reverse} (G*H, H), bias_ih_l{k}, bias_hh_l{k} (G*H), G = 1 (RNN), 4 (LSTM,
gates i, f, g, o), 3 (GRU, gates r, z, n); all initialised U(-1/sqrt(H), 1/sqrt(H)).
Input (T, B, I) or batch_first (B, T, I) or unbatched (T, I). LSTM runs each layer and
direction with the fused ``functional.lstm_layer`` kernel; RNN and GRU are composed of a
GEMM for the whole input projection plus per-step tensor ops.
"""

from __future__ import annotations

import math

from .. import functional as F
from ..creation import empty, zeros
from ..tensor_functions import cat, stack
from . import init
from ._util import float_only
from .module import Module, Parameter


def _flip_time(x):
    """x (T, ...) reversed along the first axis (one strided-copy kernel)."""
    return x if x.shape[0] <= 1 else x.flip(0)


class RNNBase(Module):
    """The shared base of RNN, LSTM and GRU: ``num_layers`` stacked layers, optionally bidirectional
    and batch-first, with dropout between layers; weights ``weight_ih_l{k}[_reverse]``,
    ``weight_hh_l{k}[_reverse]`` (and biases) named and shaped as torch's, so state_dicts move
    between the two. ``proj_size`` raises NotImplementedError. Use the subclasses."""

    _gates = 1

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device=None,
        dtype=None,
    ) -> None:
        float_only(dtype, "RNNBase")
        super().__init__()
        if not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1 or isinstance(dropout, bool):
            raise ValueError(
                "dropout should be a number in range [0, 1] representing the probability of an element being zeroed"
            )
        if not isinstance(hidden_size, int) or hidden_size <= 0:
            raise ValueError("hidden_size must be an integer greater than zero")
        if not isinstance(num_layers, int) or num_layers <= 0:
            raise ValueError("num_layers must be an integer greater than zero")
        if proj_size:
            raise NotImplementedError("proj_size is not supported by neuraxon")
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = 0
        D = 2 if bidirectional else 1
        G = self._gates * hidden_size
        self._flat_names: list[str] = []
        for layer in range(num_layers):
            for d in range(D):
                sfx = f"_l{layer}" + ("_reverse" if d == 1 else "")
                in_size = input_size if layer == 0 else hidden_size * D
                setattr(self, "weight_ih" + sfx, Parameter(empty((G, in_size), device=device)))
                setattr(self, "weight_hh" + sfx, Parameter(empty((G, hidden_size), device=device)))
                names = ["weight_ih" + sfx, "weight_hh" + sfx]
                if bias:
                    setattr(self, "bias_ih" + sfx, Parameter(empty((G,), device=device)))
                    setattr(self, "bias_hh" + sfx, Parameter(empty((G,), device=device)))
                    names += ["bias_ih" + sfx, "bias_hh" + sfx]
                self._flat_names += names
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for w in self.parameters():
            init.uniform_(w, -stdv, stdv)

    def _weights(self, layer: int, d: int):
        sfx = f"_l{layer}" + ("_reverse" if d == 1 else "")
        g = self._parameters
        return (g["weight_ih" + sfx], g["weight_hh" + sfx], g.get("bias_ih" + sfx), g.get("bias_hh" + sfx))

    @property
    def all_weights(self):
        return [
            [getattr(self, n) for n in self._flat_names[i : i + (4 if self.bias else 2)]]
            for i in range(0, len(self._flat_names), 4 if self.bias else 2)
        ]

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s

    # -- shared driver -------------------------------------------------------------------------
    def _prepare(self, input, hx):
        """(x (T, B, I), hx list or None, batched, D)."""
        nd = len(input.shape)
        if nd not in (2, 3):
            raise ValueError(f"{type(self).__name__}: Expected input to be 2D or 3D, got {nd}D instead")
        batched = nd == 3
        x = input
        if not batched:
            x = x.reshape((x.shape[0], 1, x.shape[1]))
        elif self.batch_first:
            x = x.transpose(0, 1)
        if x.shape[2] != self.input_size:
            raise RuntimeError(
                f"input.size(-1) must be equal to input_size. Expected {self.input_size}, got {x.shape[2]}"
            )
        return x, batched

    def _state_in(self, h, B: int, batched: bool, name: str = "hx"):
        D = 2 if self.bidirectional else 1
        want = (self.num_layers * D, B, self.hidden_size)
        if h is None:
            return None
        if not batched:
            if len(h.shape) != 2:
                raise RuntimeError(
                    f"For unbatched 2-D input, {name} should also be 2-D but got {len(h.shape)}-D tensor"
                )
            h = h.reshape((h.shape[0], 1, h.shape[1]))
        if tuple(h.shape) != want:
            raise RuntimeError(f"Expected hidden size {want}, got {tuple(h.shape)}")
        return h

    def _run_layers(self, x, h0, c0, step_dir):
        """Runs every layer/direction with step_dir(x, layer, d, h0, c0) -> (out, h_n, c_n)."""
        D = 2 if self.bidirectional else 1
        hs, cs = [], []
        for layer in range(self.num_layers):
            outs = []
            for d in range(D):
                i = layer * D + d
                h = None if h0 is None else h0[i]
                c = None if c0 is None else c0[i]
                xin = _flip_time(x) if d == 1 else x
                out, hn, cn = step_dir(xin, layer, d, h, c)
                outs.append(_flip_time(out) if d == 1 else out)
                hs.append(hn)
                cs.append(cn)
            x = outs[0] if D == 1 else cat(outs, 2)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        return x, stack(hs, 0), (stack(cs, 0) if cs and cs[0] is not None else None)

    def _finish(self, out, batched: bool):
        if not batched:
            return out.reshape((out.shape[0], out.shape[2]))
        if self.batch_first:
            return out.transpose(0, 1)
        return out

    def _squeeze_state(self, h, batched: bool):
        return h if batched else h.reshape((h.shape[0], h.shape[2]))


def _zeros(B: int, H: int, like):
    return zeros((B, H), device=like.device)


def _proj_all(x, w_ih, b_ih):
    """x (T, B, I) @ w_ih.T + b_ih for every step in one GEMM -> (T, B, G)."""
    T, B, n_in = x.shape
    return F.linear(x.reshape((T * B, n_in)), w_ih, b_ih).reshape((T, B, w_ih.shape[0]))


class RNN(RNNBase):
    """Elman RNN: h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), act tanh or relu.
    Returns (output (T, B, D*H), h_n (L*D, B, H))."""

    _gates = 1

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device=None,
        dtype=None,
    ) -> None:
        float_only(dtype, "RNN")
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        self.nonlinearity = nonlinearity
        super().__init__(
            "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            device=device,
        )

    def forward(self, input, hx=None):
        x, batched = self._prepare(input, hx)
        T, B = x.shape[0], x.shape[1]
        h0 = self._state_in(hx, B, batched)
        act = F.tanh if self.nonlinearity == "tanh" else F.relu

        def run(xin, layer, d, h, c):
            w_ih, w_hh, b_ih, b_hh = self._weights(layer, d)
            h = _zeros(B, self.hidden_size, xin) if h is None else h
            proj = _proj_all(xin, w_ih, b_ih)
            outs = []
            for t in range(T):
                h = act(proj[t] + F.linear(h, w_hh, b_hh))
                outs.append(h)
            out = stack(outs, 0) if outs else zeros((0, B, self.hidden_size), device=xin.device)
            return out, h, None

        out, hn, _ = self._run_layers(x, h0, None, run)
        return self._finish(out, batched), self._squeeze_state(hn, batched)


class LSTM(RNNBase):
    """LSTM (gates i, f, g, o): returns (output (T, B, D*H), (h_n, c_n) (L*D, B, H)).
    Each layer and direction is one call of the fused lstm_layer kernel."""

    _gates = 4

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device=None,
        dtype=None,
    ) -> None:
        float_only(dtype, "LSTM")
        super().__init__(
            "LSTM",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            proj_size,
            device=device,
        )

    def forward(self, input, hx=None):
        x, batched = self._prepare(input, hx)
        B = x.shape[1]
        h0 = c0 = None
        if hx is not None:
            h0 = self._state_in(hx[0], B, batched, "h_0")
            c0 = self._state_in(hx[1], B, batched, "c_0")

        def run(xin, layer, d, h, c):
            w_ih, w_hh, b_ih, b_hh = self._weights(layer, d)
            if h is None:
                h = _zeros(B, self.hidden_size, xin)
            if c is None:
                c = _zeros(B, self.hidden_size, xin)
            return F.lstm_layer(xin, h, c, w_ih, w_hh, b_ih, b_hh)

        out, hn, cn = self._run_layers(x, h0, c0, run)
        return self._finish(out, batched), (self._squeeze_state(hn, batched), self._squeeze_state(cn, batched))


class GRU(RNNBase):
    """GRU (gates r, z, n): r = sig(Wir x + bir + Whr h + bhr), z likewise,
    n = tanh(Win x + bin + r * (Whn h + bhn)), h' = (1 - z) * n + z * h.
    Returns (output (T, B, D*H), h_n (L*D, B, H))."""

    _gates = 3

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device=None,
        dtype=None,
    ) -> None:
        float_only(dtype, "GRU")
        super().__init__(
            "GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, device=device
        )

    def forward(self, input, hx=None):
        x, batched = self._prepare(input, hx)
        T, B = x.shape[0], x.shape[1]
        h0 = self._state_in(hx, B, batched)
        H = self.hidden_size

        def run(xin, layer, d, h, c):
            w_ih, w_hh, b_ih, b_hh = self._weights(layer, d)
            h = _zeros(B, H, xin) if h is None else h
            proj = _proj_all(xin, w_ih, b_ih)
            outs = []
            for t in range(T):
                h = _gru_step(proj[t], h, w_hh, b_hh, H)
                outs.append(h)
            out = stack(outs, 0) if outs else zeros((0, B, H), device=xin.device)
            return out, h, None

        out, hn, _ = self._run_layers(x, h0, None, run)
        return self._finish(out, batched), self._squeeze_state(hn, batched)


def _gru_step(gi, h, w_hh, b_hh, H: int):
    """One GRU step from the input projection gi (B, 3H) and h (B, H)."""
    gh = F.linear(h, w_hh, b_hh)
    r = F.sigmoid(gi[:, :H] + gh[:, :H])
    z = F.sigmoid(gi[:, H : 2 * H] + gh[:, H : 2 * H])
    n = F.tanh(gi[:, 2 * H :] + r * gh[:, 2 * H :])
    return (1 - z) * n + z * h


# ---- cells -------------------------------------------------------------------------------------


class RNNCellBase(Module):
    _gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        G = self._gates * hidden_size
        self.weight_ih = Parameter(empty((G, input_size), device=device))
        self.weight_hh = Parameter(empty((G, hidden_size), device=device))
        if bias:
            self.bias_ih = Parameter(empty((G,), device=device))
            self.bias_hh = Parameter(empty((G,), device=device))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for w in self.parameters():
            init.uniform_(w, -stdv, stdv)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s

    def _batch(self, input, hx):
        nd = len(input.shape)
        if nd not in (1, 2):
            raise ValueError(f"{type(self).__name__}: Expected input to be 1D or 2D, got {nd}D instead")
        batched = nd == 2
        if not batched:
            input = input.reshape((1, input.shape[0]))
        if input.shape[1] != self.input_size:
            raise RuntimeError(f"input has inconsistent input_size: got {input.shape[1]} expected {self.input_size}")
        if hx is not None and not batched:
            hx = hx.reshape((1, hx.shape[0]))
        return input, hx, batched

    def _unbatch(self, h, batched: bool):
        return h if batched else h.reshape((h.shape[1],))


class RNNCell(RNNCellBase):
    """h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)."""

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh", device=None, dtype=None
    ) -> None:
        float_only(dtype, "RNNCell")
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity: {nonlinearity}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, device)

    def forward(self, input, hx=None):
        x, h, batched = self._batch(input, hx)
        if h is None:
            h = _zeros(x.shape[0], self.hidden_size, x)
        pre = F.linear(x, self.weight_ih, self.bias_ih) + F.linear(h, self.weight_hh, self.bias_hh)
        out = F.tanh(pre) if self.nonlinearity == "tanh" else F.relu(pre)
        return self._unbatch(out, batched)


class LSTMCell(RNNCellBase):
    """One LSTM step with the fused lstm_cell kernel: returns (h', c')."""

    _gates = 4

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None) -> None:
        float_only(dtype, "LSTMCell")
        super().__init__(input_size, hidden_size, bias, device)

    def forward(self, input, hx=None):
        x, _, batched = self._batch(input, None)
        if hx is None:
            h = _zeros(x.shape[0], self.hidden_size, x)
            c = _zeros(x.shape[0], self.hidden_size, x)
        else:
            h, c = hx
            if not batched:
                h = h.reshape((1, h.shape[0]))
                c = c.reshape((1, c.shape[0]))
        h2, c2 = F.lstm_cell(x, (h, c), self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
        return self._unbatch(h2, batched), self._unbatch(c2, batched)


class GRUCell(RNNCellBase):
    """One GRU step (gates r, z, n), composed of tensor ops."""

    _gates = 3

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None) -> None:
        float_only(dtype, "GRUCell")
        super().__init__(input_size, hidden_size, bias, device)

    def forward(self, input, hx=None):
        x, h, batched = self._batch(input, hx)
        if h is None:
            h = _zeros(x.shape[0], self.hidden_size, x)
        gi = F.linear(x, self.weight_ih, self.bias_ih)
        return self._unbatch(_gru_step(gi, h, self.weight_hh, self.bias_hh, self.hidden_size), batched)
