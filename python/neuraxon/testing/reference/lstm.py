"""Reference LSTM: one cell step and a whole layer over time, forward and backward.

Layouts as the kernels (PyTorch's): x (B, I) or (T, B, I); h, c (B, H); gates i, f, g, o
along 4H; w_ih (4H, I), w_hh (4H, H); b_ih, b_hh (4H) or None. The saved `gates` are the
activated gates (sigmoid i, f, o; tanh g), `cells` the c_t of every step.
"""

from __future__ import annotations

import numpy as np

__all__ = ["lstm_cell_forward", "lstm_cell_backward", "lstm_layer_forward", "lstm_layer_backward"]


def _f64(x):
    return None if x is None else np.asarray(x, np.float64)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def lstm_cell_forward(x, h, c, w_ih, w_hh, b_ih=None, b_hh=None):
    """Returns (h_out (B, H), c_out (B, H), gates (B, 4H) activated)."""
    x, h, c, w_ih, w_hh, b_ih, b_hh = map(_f64, (x, h, c, w_ih, w_hh, b_ih, b_hh))
    H = w_hh.shape[1]
    pre = x @ w_ih.T + h @ w_hh.T
    if b_ih is not None:
        pre = pre + b_ih
    if b_hh is not None:
        pre = pre + b_hh
    i, f = _sigmoid(pre[:, :H]), _sigmoid(pre[:, H : 2 * H])
    g, o = np.tanh(pre[:, 2 * H : 3 * H]), _sigmoid(pre[:, 3 * H :])
    c_out = f * c + i * g
    h_out = o * np.tanh(c_out)
    return h_out, c_out, np.concatenate([i, f, g, o], axis=1)


def _cell_dgates(dh, dc, gates, c, c_out):
    """Pre-activation gate gradients (B, 4H) and dc_prev (B, H)."""
    H = c.shape[1]
    i, f, g, o = (gates[:, k * H : (k + 1) * H] for k in range(4))
    tc = np.tanh(c_out)
    dct = dc + dh * o * (1 - tc**2)
    dgates = np.concatenate(
        [dct * g * i * (1 - i), dct * c * f * (1 - f), dct * i * (1 - g**2), dh * tc * o * (1 - o)], axis=1
    )
    return dgates, dct * f


def lstm_cell_backward(dh_out, dc_out, gates, x, h, c, c_out, w_ih, w_hh):
    """dh_out/dc_out may be None (zeros). Returns dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh."""
    gates, x, h, c, c_out, w_ih, w_hh = map(_f64, (gates, x, h, c, c_out, w_ih, w_hh))
    dh_out = np.zeros_like(c) if dh_out is None else _f64(dh_out)
    dc_out = np.zeros_like(c) if dc_out is None else _f64(dc_out)
    dg, dc = _cell_dgates(dh_out, dc_out, gates, c, c_out)
    db = dg.sum(axis=0)
    return dg @ w_ih, dg @ w_hh, dc, dg.T @ x, dg.T @ h, db, db.copy()


def lstm_layer_forward(x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None):
    """x (T, B, I); h0, c0 (B, H) or None (zeros). Returns out (T, B, H), h_n, c_n,
    gates (T, B, 4H), cells (T, B, H)."""
    x = _f64(x)
    T, B = x.shape[:2]
    H = np.asarray(w_hh).shape[1]
    h = np.zeros((B, H)) if h0 is None else _f64(h0)
    c = np.zeros((B, H)) if c0 is None else _f64(c0)
    out, gates, cells = np.zeros((T, B, H)), np.zeros((T, B, 4 * H)), np.zeros((T, B, H))
    for t in range(T):
        h, c, gates[t] = lstm_cell_forward(x[t], h, c, w_ih, w_hh, b_ih, b_hh)
        out[t], cells[t] = h, c
    return out, h, c, gates, cells


def lstm_layer_backward(dout, dh_n, dc_n, gates, cells, out, x, h0, c0, w_ih, w_hh):
    """BPTT. dh_n/dc_n/h0/c0 may be None (zeros). Returns dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh."""
    dout, gates, cells, out, x, w_ih, w_hh = map(_f64, (dout, gates, cells, out, x, w_ih, w_hh))
    T, B, H = dout.shape
    h0 = np.zeros((B, H)) if h0 is None else _f64(h0)
    c0 = np.zeros((B, H)) if c0 is None else _f64(c0)
    dh = np.zeros((B, H)) if dh_n is None else _f64(dh_n).copy()
    dc = np.zeros((B, H)) if dc_n is None else _f64(dc_n).copy()
    dx = np.zeros(x.shape)
    dw_ih, dw_hh, db = np.zeros(w_ih.shape), np.zeros(w_hh.shape), np.zeros(4 * H)
    for t in range(T - 1, -1, -1):
        h_prev = out[t - 1] if t > 0 else h0
        c_prev = cells[t - 1] if t > 0 else c0
        dxt, dh, dc, dwi, dwh, dbt, _ = lstm_cell_backward(
            dout[t] + dh, dc, gates[t], x[t], h_prev, c_prev, cells[t], w_ih, w_hh
        )
        dx[t] = dxt
        dw_ih += dwi
        dw_hh += dwh
        db += dbt
    return dx, dh, dc, dw_ih, dw_hh, db, db.copy()
