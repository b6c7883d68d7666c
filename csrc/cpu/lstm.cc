// lstm.cc (cpu) — LSTM cell and whole-layer forward/backward on top of our packed GEMM.
//
// Layouts (PyTorch's): x (B, I) per step, (T, B, I) per layer; h, c (B, H); gates ordered
// i, f, g, o along the 4H axis; w_ih (4H, I), w_hh (4H, H); b_ih, b_hh (4H) or None.
// Saved for backward: gates (B, 4H) / (T, B, 4H) hold the ACTIVATED gates
// (sigmoid(i), sigmoid(f), tanh(g), sigmoid(o)); cells (T, B, H) hold c_t.
//
//   pre  = x @ w_ih^T + b_ih + h_{t-1} @ w_hh^T + b_hh          (B, 4H)
//   c_t  = f * c_{t-1} + i * g,   h_t = o * tanh(c_t)
//
// One variant (no `variant` argument): the products go through Cpu::gemm_forward /
// gemm_backward (the packed per-ISA GEMM for anything but tiny sizes); the pointwise gate
// math is fused into one pass per step, rows of B in parallel, with branch-free exp/sigmoid/
// tanh (Cephes polynomials, ~1-2 ulp) so those loops vectorise.
//  * layer forward: ONE GEMM for the input projection of all T steps ((T*B, I) x (I, 4H),
//    both biases folded into its epilogue), then per step one GEMM h_{t-1} @ w_hh^T
//    accumulated (beta = 1) into that step's gates, then the fused nonlinearity.
//  * layer backward (BPTT): per step the fused pointwise backward writes dgates[t] (pre-
//    activation gradients, (T, B, 4H) scratch) and dc_{t-1}, and one GEMM gives
//    dh_{t-1} = dgates[t] @ w_hh. After the loop: dx = dgates @ w_ih (one GEMM), dw_ih =
//    dgates^T @ x (one GEMM), dw_hh = dgates[1:]^T @ out[:-1] (+ dgates[0]^T @ h0), and the
//    bias gradients are column sums of dgates.
// Scratch slots (cpu::scratch): 2 = dgates / combined bias, 3 = dh/dc carries, 4 = a zero row.
// gemm owns 0, 1.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "../checks/lstm.h"
#include "backend.h"

namespace nx {
namespace {

// Gate nonlinearities without libm calls, so the compiler vectorises the fused loops (libm's
// scalar expf/tanhf made the pointwise pass cost several times the GEMMs). Every select is
// on integers (bit patterns): with GCC's default -ftrapping-math, a float compare feeding a
// select keeps the loop from being if-converted and vectorised.
inline int32_t f2b(float f) { int32_t b; std::memcpy(&b, &f, sizeof(b)); return b; }
inline float b2f(int32_t b) { float f; std::memcpy(&f, &b, sizeof(f)); return f; }
// a where cond else b, as mask arithmetic: a ternary lets GCC sink the computation of the
// unused operand into a branch, which (float ops may trap) blocks vectorisation.
inline int32_t pick(bool cond, int32_t a, int32_t b) {
  const int32_t m = -int32_t(cond);
  return (a & m) | (b & ~m);
}

// exp: Cephes' expf. x = n*ln2 + r with |r| <= ln2/2 (ln2 split in two for an exact
// reduction), e^r by a degree-7 polynomial, 2^n put in the exponent bits; ~1 ulp (max rel.
// error 1.3e-7 measured over [-30, 30]). n is read from the bits of t + 1.5*2^23 (the
// round-to-nearest trick), so no float->int conversion. n > 127 (x > ~88.38) gives +inf,
// n < -126 (x < ~-87.68) gives 0, NaN passes through.
inline float exp_fast(float x) {
  const float t = x * 1.44269504088896341f;                      // x / ln2
  const float sh = t + 12582912.f;                               // 1.5 * 2^23 + round(t)
  const float n = sh - 12582912.f;
  const int32_t ni = int32_t(uint32_t(f2b(sh)) - 0x4B400000u);   // round(t) as an integer
  float r = x - n * 0.693359375f;                                // ln2 = 0.693359375 - 2.12194440e-4
  r = r + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.f;
  const int32_t nc = ni < -126 ? -126 : (ni > 127 ? 127 : ni);
  int32_t yb = f2b(p * b2f((nc + 127) << 23));
  yb = pick(ni > 127, 0x7f800000, pick(ni < -126, 0, yb));
  const int32_t xb = f2b(x);
  return b2f(pick((xb & 0x7fffffff) > 0x7f800000, xb, yb));  // NaN in, NaN out
}
inline float sigmoidf(float x) { return 1.f / (1.f + exp_fast(-x)); }
// tanh: Cephes' tanhf. |x| < 0.625: odd polynomial (no cancellation near 0); else
// 1 - 2/(e^{2|x|} + 1) with the sign of x; ~2 ulp. NaN: the second branch, NaN.
inline float tanh_fast(float x) {
  const int32_t xb = f2b(x);
  const int32_t ab = xb & 0x7fffffff;
  const float ax = b2f(ab);
  const float z = x * x;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const float small = p * z * x + x;
  const float big = 1.f - 2.f / (exp_fast(2.f * ax) + 1.f);       // >= 0
  const int32_t bigb = f2b(big) | (xb & int32_t(0x80000000u));    // sign of x
  return b2f(pick(ab < 0x3f200000, f2b(small), bigb));            // 0x3f200000 = 0.625f
}

View fview(float* p, int64_t n) {
  View v;
  v.data = p;
  v.numel = n;
  v.dtype = DType::F32;
  return v;
}
View fview(const float* p, int64_t n) { return fview(const_cast<float*>(p), n); }

// C (m, n) = op(A) @ op(B) + bias + beta*C: A (m, k), or stored (k, m) when trans_a; B (k, n),
// or stored (n, k) when trans_b. Goes through the public GEMM so it picks the best variant
// and ISA path.
void mm(float* c, const float* a, const float* b, const float* bias, int64_t m, int64_t n,
        int64_t k, bool trans_a, bool trans_b, float beta) {
  if (m == 0 || n == 0) return;
  Cpu::gemm_forward(fview(c, m * n), fview(a, m * k), fview(b, k * n),
                    bias ? fview(bias, n) : View{}, 1, m, n, k, trans_a, trans_b, 0, 0, 0, 1.f,
                    beta, ACT_NONE, 0.f, -1);
}

// One row of the fused forward: activates the four gate blocks in place and updates the cell.
// Separate restrict-qualified blocks (they never overlap) and no per-element branch, so the
// loop vectorises; HAS_C = false is c_{t-1} = 0.
template <bool HAS_C>
void cell_row(float* __restrict gi, float* __restrict gf, float* __restrict gg,
              float* __restrict go, const float* __restrict cp, float* __restrict co,
              float* __restrict ho, int64_t H) {
#pragma omp simd
  for (int64_t j = 0; j < H; ++j) {
    const float i = sigmoidf(gi[j]), f = sigmoidf(gf[j]), gv = tanh_fast(gg[j]),
                o = sigmoidf(go[j]);
    const float c = HAS_C ? f * cp[j] + i * gv : i * gv;
    gi[j] = i;
    gf[j] = f;
    gg[j] = gv;
    go[j] = o;
    co[j] = c;
    ho[j] = o * tanh_fast(c);
  }
}

// Fused gate nonlinearity and cell update for one step; rows of B in parallel, one thread
// per contiguous chunk of rows. g (B, 4H) holds pre-activations in, activated gates out.
void cell_pointwise(float* g, const float* c_prev, float* c_out, float* h_out, int64_t B,
                    int64_t H) {
  cpu::parallel_for(B, 40 * H, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      float* gi = g + b * 4 * H;  // [i | f | g | o], each H
      if (c_prev)
        cell_row<true>(gi, gi + H, gi + 2 * H, gi + 3 * H, c_prev + b * H, c_out + b * H,
                       h_out + b * H, H);
      else
        cell_row<false>(gi, gi + H, gi + 2 * H, gi + 3 * H, nullptr, c_out + b * H,
                        h_out + b * H, H);
    }
  });
}

// One row of the fused backward (see cell_pointwise_backward); dc_prev may alias dc, so the
// two are not restrict: each element is read before it is written.
template <bool HAS_DC, bool HAS_CP, bool HAS_DCP>
void cell_row_backward(float* __restrict d, float* dc_prev, const float* __restrict dh,
                       const float* dc, const float* __restrict g,
                       const float* __restrict c_t, const float* __restrict c_prev, int64_t H) {
  float* __restrict di = d;
  float* __restrict df = d + H;
  float* __restrict dg = d + 2 * H;
  float* __restrict dout = d + 3 * H;
#pragma omp simd
  for (int64_t j = 0; j < H; ++j) {
    const float i = g[j], f = g[H + j], gv = g[2 * H + j], o = g[3 * H + j];
    const float tc = tanh_fast(c_t[j]);
    const float dhj = dh[j];
    const float dct = (HAS_DC ? dc[j] : 0.f) + dhj * o * (1.f - tc * tc);
    const float cp = HAS_CP ? c_prev[j] : 0.f;
    di[j] = dct * gv * i * (1.f - i);
    df[j] = dct * cp * f * (1.f - f);
    dg[j] = dct * i * (1.f - gv * gv);
    dout[j] = dhj * tc * o * (1.f - o);
    if (HAS_DCP) dc_prev[j] = dct * f;
  }
}

// Pointwise backward of one step: from dh (B, H) (gradient reaching h_t; null = 0), dc (B, H)
// (reaching c_t from later steps, null = 0), activated gates (B, 4H), c_t and c_{t-1}
// (null = 0) -> dgates (B, 4H) pre-activation and dc_prev (B, H) (may alias dc; null to skip).
// Rows of B in parallel, one contiguous chunk per thread.
void cell_pointwise_backward(float* dgates, float* dc_prev, const float* dh, const float* dc,
                             const float* gates, const float* c_t, const float* c_prev,
                             int64_t B, int64_t H) {
  float* zeros = nullptr;
  if (!dh) {  // a zero row to read instead (slot 4: not used by any caller of this helper)
    zeros = cpu::scratch(size_t(std::max<int64_t>(H, 1)), 4);
    std::fill(zeros, zeros + H, 0.f);
  }
  cpu::parallel_for(B, 30 * H, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      float* d = dgates + b * 4 * H;
      float* dcp = dc_prev ? dc_prev + b * H : nullptr;
      const float* dhb = dh ? dh + b * H : zeros;
      const float* dcb = dc ? dc + b * H : nullptr;
      const float* g = gates + b * 4 * H;
      const float* ct = c_t + b * H;
      const float* cpb = c_prev ? c_prev + b * H : nullptr;
      const int which = (dcb ? 4 : 0) | (cpb ? 2 : 0) | (dcp ? 1 : 0);
      switch (which) {
        case 7: cell_row_backward<true, true, true>(d, dcp, dhb, dcb, g, ct, cpb, H); break;
        case 6: cell_row_backward<true, true, false>(d, dcp, dhb, dcb, g, ct, cpb, H); break;
        case 5: cell_row_backward<true, false, true>(d, dcp, dhb, dcb, g, ct, cpb, H); break;
        case 4: cell_row_backward<true, false, false>(d, dcp, dhb, dcb, g, ct, cpb, H); break;
        case 3: cell_row_backward<false, true, true>(d, dcp, dhb, dcb, g, ct, cpb, H); break;
        case 2: cell_row_backward<false, true, false>(d, dcp, dhb, dcb, g, ct, cpb, H); break;
        case 1: cell_row_backward<false, false, true>(d, dcp, dhb, dcb, g, ct, cpb, H); break;
        default: cell_row_backward<false, false, false>(d, dcp, dhb, dcb, g, ct, cpb, H); break;
      }
    }
  });
}

// Both biases folded into one vector for the GEMM epilogue (null when neither is given).
const float* combined_bias(const View& b_ih, const View& b_hh, int64_t H) {
  if (b_ih.data && b_hh.data) {
    float* s = cpu::scratch(size_t(4 * H), 2);
    for (int64_t j = 0; j < 4 * H; ++j) s[j] = b_ih.f()[j] + b_hh.f()[j];
    return s;
  }
  return b_ih.data ? b_ih.f() : (b_hh.data ? b_hh.f() : nullptr);
}

// Column sums of d (rows, cols) into one or two outputs; columns in parallel, one thread
// per contiguous chunk of columns, rows summed in order (double accumulators).
void column_sums(float* o1, float* o2, const float* d, int64_t rows, int64_t cols) {
  if (!o1 && !o2) return;
  cpu::parallel_for(cols, rows, [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) {
      double s = 0.0;
      for (int64_t r = 0; r < rows; ++r) s += d[r * cols + j];
      if (o1) o1[j] = float(s);
      if (o2) o2[j] = float(s);
    }
  });
}

void zero(const View& v) {
  if (v.data && v.numel > 0) std::memset(v.data, 0, size_t(v.numel) * sizeof(float));
}

}  // namespace

void Cpu::lstm_cell_forward(View h_out, View c_out, View gates, View x, View h, View c,
                            View w_ih, View w_hh, View b_ih, View b_hh, int64_t B, int64_t I,
                            int64_t H) {
  checks::check_lstm_cell_forward(h_out, c_out, gates, x, h, c, w_ih, w_hh, b_ih, b_hh, B, I, H);
  if (B == 0 || H == 0) return;
  mm(gates.f(), x.f(), w_ih.f(), combined_bias(b_ih, b_hh, H), B, 4 * H, I, false, true, 0.f);
  mm(gates.f(), h.f(), w_hh.f(), nullptr, B, 4 * H, H, false, true, 1.f);
  cell_pointwise(gates.f(), c.f(), c_out.f(), h_out.f(), B, H);
}

void Cpu::lstm_cell_backward(View dx, View dh, View dc, View dw_ih, View dw_hh, View db_ih,
                             View db_hh, View dh_out, View dc_out, View gates, View x, View h,
                             View c, View c_out, View w_ih, View w_hh, int64_t B, int64_t I,
                             int64_t H) {
  checks::check_lstm_cell_backward(dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh, dh_out, dc_out, gates, x, h,
                                   c, c_out, w_ih, w_hh, B, I, H);
  float* dg = cpu::scratch(size_t(std::max<int64_t>(B * 4 * H, 1)), 2);  // (B, 4H)
  cell_pointwise_backward(dg, dc.f(), dh_out.f(), dc_out.f(), gates.f(), c_out.f(), c.f(), B, H);
  // x side: gates = x (B, I) @ w_ih^T -> dx (B, I), dw_ih (4H, I), db_ih; h side likewise.
  const View dgv = fview(dg, B * 4 * H);
  Cpu::gemm_backward(dx, dw_ih, db_ih, dgv, x, w_ih, B, 4 * H, I, false, true, -1);
  Cpu::gemm_backward(dh, dw_hh, db_hh, dgv, h, w_hh, B, 4 * H, H, false, true, -1);
}

void Cpu::lstm_layer_forward(View out, View h_n, View c_n, View gates, View cells, View x,
                             View h0, View c0, View w_ih, View w_hh, View b_ih, View b_hh,
                             int64_t T, int64_t B, int64_t I, int64_t H) {
  checks::check_lstm_layer_forward(out, h_n, c_n, gates, cells, x, h0, c0, w_ih, w_hh, b_ih, b_hh, T, B, I, H);
  const int64_t BH = B * H, G = 4 * H;
  if (BH == 0) return;
  // All T input projections at once: gates (T*B, 4H) = x (T*B, I) @ w_ih^T + b_ih + b_hh.
  mm(gates.f(), x.f(), w_ih.f(), combined_bias(b_ih, b_hh, H), T * B, G, I, false, true, 0.f);
  for (int64_t t = 0; t < T; ++t) {
    float* g = gates.f() + t * B * G;                                  // (B, 4H)
    const float* hp = t > 0 ? out.f() + (t - 1) * BH : h0.f();         // (B, H) or null
    const float* cp = t > 0 ? cells.f() + (t - 1) * BH : c0.f();       // (B, H) or null
    if (hp) mm(g, hp, w_hh.f(), nullptr, B, G, H, false, true, 1.f);
    cell_pointwise(g, cp, cells.f() + t * BH, out.f() + t * BH, B, H);
  }
  const float* hl = T > 0 ? out.f() + (T - 1) * BH : h0.f();
  const float* cl = T > 0 ? cells.f() + (T - 1) * BH : c0.f();
  if (hl) std::memcpy(h_n.f(), hl, size_t(BH) * sizeof(float)); else zero(h_n);
  if (cl) std::memcpy(c_n.f(), cl, size_t(BH) * sizeof(float)); else zero(c_n);
}

void Cpu::lstm_layer_backward(View dx, View dh0, View dc0, View dw_ih, View dw_hh, View db_ih,
                              View db_hh, View dout, View dh_n, View dc_n, View gates,
                              View cells, View out, View x, View h0, View c0, View w_ih,
                              View w_hh, int64_t T, int64_t B, int64_t I, int64_t H) {
  checks::check_lstm_layer_backward(dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dout, dh_n, dc_n, gates, cells,
                                    out, x, h0, c0, w_ih, w_hh, T, B, I, H);
  const int64_t BH = B * H, G = 4 * H;

  // Carries (B, H) each: dh reaching h_t from step t+1, dc reaching c_t from step t+1.
  float* carry = cpu::scratch(size_t(std::max<int64_t>(3 * BH, 1)), 3);
  float* dh_next = carry;        // (B, H)
  float* dc_next = carry + BH;   // (B, H)
  float* dh_step = carry + 2 * BH;  // (B, H): dout[t] + dh_next
  if (dh_n.data) std::memcpy(dh_next, dh_n.f(), size_t(BH) * sizeof(float));
  else std::fill(dh_next, dh_next + BH, 0.f);
  if (dc_n.data) std::memcpy(dc_next, dc_n.f(), size_t(BH) * sizeof(float));
  else std::fill(dc_next, dc_next + BH, 0.f);
  float* dg = cpu::scratch(size_t(std::max<int64_t>(T * B * G, 1)), 2);  // (T, B, 4H)

  for (int64_t t = T - 1; t >= 0; --t) {
    const float* d_out = dout.f() + t * BH;
    for (int64_t e = 0; e < BH; ++e) dh_step[e] = d_out[e] + dh_next[e];
    const float* cp = t > 0 ? cells.f() + (t - 1) * BH : c0.f();
    float* dgt = dg + t * B * G;
    cell_pointwise_backward(dgt, dc_next, dh_step, dc_next, gates.f() + t * B * G,
                            cells.f() + t * BH, cp, B, H);
    // dh_{t-1} (B, H) = dgates[t] (B, 4H) @ w_hh (4H, H)
    if (BH > 0) mm(dh_next, dgt, w_hh.f(), nullptr, B, H, G, false, false, 0.f);
  }
  if (dh0.data && BH > 0) std::memcpy(dh0.f(), dh_next, size_t(BH) * sizeof(float));
  if (dc0.data && BH > 0) std::memcpy(dc0.f(), dc_next, size_t(BH) * sizeof(float));

  const int64_t TB = T * B;
  // dx (T*B, I) = dgates (T*B, 4H) @ w_ih (4H, I)
  if (dx.data) {
    if (G == 0) zero(dx);
    else mm(dx.f(), dg, w_ih.f(), nullptr, TB, I, G, false, false, 0.f);
  }
  // dw_ih (4H, I) = dgates^T (4H, T*B) @ x (T*B, I)
  if (dw_ih.data) {
    if (TB == 0) zero(dw_ih);
    else mm(dw_ih.f(), dg, x.f(), nullptr, G, I, TB, true, false, 0.f);
  }
  // dw_hh (4H, H) = dgates[1:]^T @ out[:-1] + dgates[0]^T @ h0 (h_{-1} = h0 or zeros).
  if (dw_hh.data) {
    zero(dw_hh);
    if (T > 1) mm(dw_hh.f(), dg + B * G, out.f(), nullptr, G, H, (T - 1) * B, true, false, 0.f);
    if (T > 0 && h0.data) mm(dw_hh.f(), dg, h0.f(), nullptr, G, H, B, true, false, 1.f);
  }
  column_sums(db_ih.f(), db_hh.f(), dg, TB, G);
}

}  // namespace nx
