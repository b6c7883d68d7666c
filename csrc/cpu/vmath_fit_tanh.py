"""Fits the rational tanh of vmath.h's vtanh: tanh(x) ~ x * P(x^2) / Q(x^2) on [0, 9], P and Q of
degree 4 in x^2, Q(0) = 1, by iteratively reweighted linear least squares on the relative error
(a Lawson-style reweighting pushes towards the minimax fit). Prints the coefficients, the fit's
relative error (float64) and the float32 evaluation's error in ulp on a dense grid.

    python csrc/cpu/vmath_fit_tanh.py
"""

import numpy as np

NP, NQ, X, ITERS = 5, 4, 9.0, 40


def fit():
    x = np.linspace(1e-4, X, 20000)
    t, s = np.tanh(x), x * x
    q_prev, w, best = np.ones_like(x), np.ones_like(x), None
    for it in range(ITERS):
        # linearised residual (x P(s) - t Q(s)) / (t Q_prev(s)), unknowns p0..p4, q1..q4
        a = np.hstack([x[:, None] * s[:, None] ** np.arange(NP), -(t[:, None] * s[:, None] ** np.arange(1, NQ + 1))])
        scale = w / (t * q_prev)
        coef, *_ = np.linalg.lstsq(a * scale[:, None], t * scale, rcond=None)
        p, q = coef[:NP], np.concatenate([[1.0], coef[NP:]])
        q_prev = np.polyval(q[::-1], s)
        r = (x * np.polyval(p[::-1], s) / q_prev - t) / t
        if best is None or np.abs(r).max() < best[0]:
            best = (np.abs(r).max(), p, q)
        if it > 5:
            w = w * np.abs(r) ** 0.5
            w /= w.max()
    return best


def f32_ulp(p, q):
    x = np.linspace(0, X, 2_000_001, dtype=np.float32)
    s = x * x
    pp, qq = np.full_like(s, p[-1]), np.full_like(s, q[-1])
    for c in p[-2::-1].astype(np.float32):
        pp = pp * s + c
    for c in q[-2::-1].astype(np.float32):
        qq = qq * s + c
    y, t = x * pp / qq, np.tanh(x.astype(np.float64))
    return (np.abs(y - t) / np.spacing(t.astype(np.float32))).max()


if __name__ == "__main__":
    err, p, q = fit()
    print("P:", ", ".join(f"{c:.17g}" for c in p))
    print("Q:", ", ".join(f"{c:.17g}" for c in q))
    print(f"relative error of the fit {err:.3g}; float32 evaluation <= {f32_ulp(p, q):.2f} ulp")
