"""LSTM cell and whole-layer Functions over the lstm kernels (gates i, f, g, o)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import _array
from ..autograd import Function
from ..dtypes import float32
from ..ops._args import _need_float, _opt

if TYPE_CHECKING:
    from ..tensor import Tensor


class _LSTMCell(Function):
    @staticmethod
    def forward(ctx, x, h, c, w_ih, w_hh, b_ih, b_hh):
        B, I = x.shape
        H = h.shape[1]
        dev = x.device
        h_out = _array.empty((B, H), float32, dev)
        c_out = _array.empty((B, H), float32, dev)
        gates = _array.empty((B, 4 * H), float32, dev)
        _array.run(
            "lstm_cell_forward",
            dev,
            h_out._data,
            c_out._data,
            gates._data,
            x._data,
            h._data,
            c._data,
            w_ih._data,
            w_hh._data,
            _opt(b_ih),
            _opt(b_hh),
            B,
            I,
            H,
        )
        ctx.save_for_backward(x, h, c, w_ih, w_hh, gates, c_out)
        ctx.p = (B, I, H)
        return h_out, c_out

    @staticmethod
    def backward(ctx, dh_out, dc_out):
        x, h, c, w_ih, w_hh, gates, c_out = ctx.saved_tensors
        B, I, H = ctx.p
        need = ctx.needs_input_grad
        dev = x.device
        shapes = [x.shape, h.shape, c.shape, w_ih.shape, w_hh.shape, (4 * H,), (4 * H,)]
        outs = [_array.empty(s, float32, dev) if n else None for s, n in zip(shapes, need)]
        _array.run(
            "lstm_cell_backward",
            dev,
            *[_opt(o) for o in outs],
            dh_out._data,
            dc_out._data,
            gates._data,
            x._data,
            h._data,
            c._data,
            c_out._data,
            w_ih._data,
            w_hh._data,
            B,
            I,
            H,
        )
        return tuple(outs)


def _lstm_check(x, w_ih, w_hh, b_ih, b_hh, I, H):
    if w_ih.shape != (4 * H, I) or w_hh.shape != (4 * H, H):
        raise RuntimeError(
            f"lstm: weight_ih {w_ih.shape} must be (4H, I) = {(4 * H, I)} and weight_hh {w_hh.shape} "
            f"must be (4H, H) = {(4 * H, H)} (input shape {x.shape})"
        )
    for name, b in (("bias_ih", b_ih), ("bias_hh", b_hh)):
        if b is not None and b.shape != (4 * H,):
            raise RuntimeError(f"lstm: {name} of shape {b.shape} must be ({4 * H},)")


def lstm_cell(input: Tensor, hx, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None, b_hh: Tensor | None = None):
    """One LSTM step: input (B, I) or (I,), hx = (h, c) each (B, H) or None (zeros);
    weights (4H, I), (4H, H), biases (4H) or None; gates i, f, g, o. Returns (h', c')."""
    _need_float("lstm_cell", input, w_ih, w_hh, b_ih, b_hh)
    unbatched = input.ndim == 1
    x = input.reshape(1, -1) if unbatched else input
    B, I = x.shape
    H = w_hh.shape[1] if w_hh.ndim == 2 else 0
    _lstm_check(x, w_ih, w_hh, b_ih, b_hh, I, H)
    if hx is None:
        h = _array.zeros((B, H), float32, x.device)
        c = _array.zeros((B, H), float32, x.device)
    else:
        h, c = hx
        h = h.reshape(1, -1) if h.ndim == 1 else h
        c = c.reshape(1, -1) if c.ndim == 1 else c
    if h.shape != (B, H) or c.shape != (B, H):
        raise RuntimeError(f"lstm_cell: h {h.shape} and c {c.shape} must be ({B}, {H})")
    _array.check_same_device(x, h, c, w_ih, w_hh, b_ih, b_hh)
    h2, c2 = _LSTMCell.apply(x, h, c, w_ih, w_hh, b_ih, b_hh)
    if unbatched:
        return h2.reshape(H), c2.reshape(H)
    return h2, c2


class _LSTMLayer(Function):
    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh):
        T, B, I = x.shape
        H = w_hh.shape[1]
        dev = x.device
        out = _array.empty((T, B, H), float32, dev)
        h_n = _array.empty((B, H), float32, dev)
        c_n = _array.empty((B, H), float32, dev)
        gates = _array.empty((T, B, 4 * H), float32, dev)
        cells = _array.empty((T, B, H), float32, dev)
        _array.run(
            "lstm_layer_forward",
            dev,
            out._data,
            h_n._data,
            c_n._data,
            gates._data,
            cells._data,
            x._data,
            _opt(h0),
            _opt(c0),
            w_ih._data,
            w_hh._data,
            _opt(b_ih),
            _opt(b_hh),
            T,
            B,
            I,
            H,
        )
        ctx.save_for_backward(x, h0, c0, w_ih, w_hh, gates, cells, out)
        ctx.p = (T, B, I, H, b_ih is not None, b_hh is not None)
        return out, h_n, c_n

    @staticmethod
    def backward(ctx, dout, dh_n, dc_n):
        x, h0, c0, w_ih, w_hh, gates, cells, out = ctx.saved_tensors
        T, B, I, H, has_bi, has_bh = ctx.p
        need = ctx.needs_input_grad
        dev = x.device
        shapes = [x.shape, (B, H), (B, H), w_ih.shape, w_hh.shape, (4 * H,), (4 * H,)]
        present = [True, h0 is not None, c0 is not None, True, True, has_bi, has_bh]
        outs = [_array.empty(s, float32, dev) if n and p else None for s, n, p in zip(shapes, need, present)]
        _array.run(
            "lstm_layer_backward",
            dev,
            *[_opt(o) for o in outs],
            dout._data,
            dh_n._data,
            dc_n._data,
            gates._data,
            cells._data,
            out._data,
            x._data,
            _opt(h0),
            _opt(c0),
            w_ih._data,
            w_hh._data,
            T,
            B,
            I,
            H,
        )
        return tuple(outs)


def lstm_layer(
    input: Tensor,
    h0: Tensor | None,
    c0: Tensor | None,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Tensor | None = None,
    b_hh: Tensor | None = None,
):
    """A whole LSTM layer over time: input (T, B, I), h0, c0 (B, H) or None (zeros).
    Returns (out (T, B, H), h_n (B, H), c_n (B, H)); one kernel call each way."""
    _need_float("lstm_layer", input, h0, c0, w_ih, w_hh, b_ih, b_hh)
    if input.ndim != 3:
        raise RuntimeError(f"lstm_layer: input must be (T, B, I), got shape {input.shape}")
    T, B, I = input.shape
    H = w_hh.shape[1] if w_hh.ndim == 2 else 0
    _lstm_check(input, w_ih, w_hh, b_ih, b_hh, I, H)
    for name, t in (("h0", h0), ("c0", c0)):
        if t is not None and t.shape != (B, H):
            raise RuntimeError(f"lstm_layer: {name} of shape {t.shape} must be ({B}, {H})")
    _array.check_same_device(input, h0, c0, w_ih, w_hh, b_ih, b_hh)
    return _LSTMLayer.apply(input, h0, c0, w_ih, w_hh, b_ih, b_hh)
