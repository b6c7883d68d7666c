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
// math is fused into one pass per step, rows of B in parallel.
//  * layer forward: ONE GEMM for the input projection of all T steps ((T*B, I) x (I, 4H),
//    both biases folded into its epilogue), then per step one GEMM h_{t-1} @ w_hh^T
//    accumulated (beta = 1) into that step's gates, then the fused nonlinearity.
//  * layer backward (BPTT): per step the fused pointwise backward writes dgates[t] (pre-
//    activation gradients, (T, B, 4H) scratch) and dc_{t-1}, and one GEMM gives
//    dh_{t-1} = dgates[t] @ w_hh. After the loop: dx = dgates @ w_ih (one GEMM), dw_ih =
//    dgates^T @ x (one GEMM), dw_hh = dgates[1:]^T @ out[:-1] (+ dgates[0]^T @ h0), and the
//    bias gradients are column sums of dgates.
// Scratch slots (cpu::scratch): 2 = dgates / combined bias, 3 = dh/dc carries. gemm owns 0, 1.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "backend.h"

namespace nx {
namespace {

inline float sigmoidf(float x) { return 1.f / (1.f + std::exp(-x)); }

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

// Fused gate nonlinearity and cell update for one step; rows of B in parallel, one thread
// per contiguous chunk of rows. g (B, 4H) holds pre-activations in, activated gates out.
void cell_pointwise(float* g, const float* c_prev, float* c_out, float* h_out, int64_t B,
                    int64_t H) {
  cpu::parallel_for(B, 40 * H, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      float* gi = g + b * 4 * H;  // [i | f | g | o], each H
      float* gf = gi + H;
      float* gg = gi + 2 * H;
      float* go = gi + 3 * H;
      const float* cp = c_prev ? c_prev + b * H : nullptr;
      float* co = c_out + b * H;
      float* ho = h_out + b * H;
      for (int64_t j = 0; j < H; ++j) {
        const float i = sigmoidf(gi[j]), f = sigmoidf(gf[j]), gv = std::tanh(gg[j]),
                    o = sigmoidf(go[j]);
        const float c = (cp ? f * cp[j] : 0.f) + i * gv;
        gi[j] = i, gf[j] = f, gg[j] = gv, go[j] = o;
        co[j] = c;
        ho[j] = o * std::tanh(c);
      }
    }
  });
}

// Pointwise backward of one step: from dh (B, H) (gradient reaching h_t), dc (B, H)
// (reaching c_t from later steps, may be null = 0), activated gates (B, 4H), c_t and c_{t-1}
// (null = 0) -> dgates (B, 4H) pre-activation and dc_prev (B, H) (may alias dc).
// Rows of B in parallel.
void cell_pointwise_backward(float* dgates, float* dc_prev, const float* dh, const float* dc,
                             const float* gates, const float* c_t, const float* c_prev,
                             int64_t B, int64_t H) {
  cpu::parallel_for(B, 30 * H, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const float* g = gates + b * 4 * H;
      float* d = dgates + b * 4 * H;
      for (int64_t j = 0; j < H; ++j) {
        const float i = g[j], f = g[H + j], gv = g[2 * H + j], o = g[3 * H + j];
        const float tc = std::tanh(c_t[b * H + j]);
        const float dhj = dh ? dh[b * H + j] : 0.f;
        const float dct = (dc ? dc[b * H + j] : 0.f) + dhj * o * (1.f - tc * tc);
        const float cp = c_prev ? c_prev[b * H + j] : 0.f;
        d[j] = dct * gv * i * (1.f - i);
        d[H + j] = dct * cp * f * (1.f - f);
        d[2 * H + j] = dct * i * (1.f - gv * gv);
        d[3 * H + j] = dhj * tc * o * (1.f - o);
        if (dc_prev) dc_prev[b * H + j] = dct * f;
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

void check_weights(const char* K, const View& w_ih, const View& w_hh, const View& b_ih,
                   const View& b_hh, int64_t I, int64_t H) {
  need(w_ih, 4 * H * I, DType::F32, K, "w_ih", shp({4 * H, I}));
  need(w_hh, 4 * H * H, DType::F32, K, "w_hh", shp({4 * H, H}));
  need_opt(b_ih, 4 * H, DType::F32, K, "b_ih", shp({4 * H}));
  need_opt(b_hh, 4 * H, DType::F32, K, "b_hh", shp({4 * H}));
}

void check_sizes(const char* K, int64_t T, int64_t B, int64_t I, int64_t H) {
  need_nonneg(K, {{"T", T}, {"B", B}, {"I", I}, {"H", H}});
  // 64-bit products below must not overflow: every extent fits comfortably under 2^62.
  const double lim = 4.0e18;
  NX_CHECK(double(T) * B * 4 * H < lim && double(T) * B * I < lim && 4.0 * H * (I + H) < lim, K,
           ": sizes T=", T, ", B=", B, ", I=", I, ", H=", H, " are too large");
}

}  // namespace

void Cpu::lstm_cell_forward(View h_out, View c_out, View gates, View x, View h, View c,
                            View w_ih, View w_hh, View b_ih, View b_hh, int64_t B, int64_t I,
                            int64_t H) {
  const char* K = "lstm_cell_forward";
  check_sizes(K, 1, B, I, H);
  need(h_out, B * H, DType::F32, K, "h_out", shp({B, H}));
  need(c_out, B * H, DType::F32, K, "c_out", shp({B, H}));
  need(gates, B * 4 * H, DType::F32, K, "gates", shp({B, 4 * H}));
  need(x, B * I, DType::F32, K, "x", shp({B, I}));
  need(h, B * H, DType::F32, K, "h", shp({B, H}));
  need(c, B * H, DType::F32, K, "c", shp({B, H}));
  check_weights(K, w_ih, w_hh, b_ih, b_hh, I, H);
  if (B == 0 || H == 0) return;
  mm(gates.f(), x.f(), w_ih.f(), combined_bias(b_ih, b_hh, H), B, 4 * H, I, false, true, 0.f);
  mm(gates.f(), h.f(), w_hh.f(), nullptr, B, 4 * H, H, false, true, 1.f);
  cell_pointwise(gates.f(), c.f(), c_out.f(), h_out.f(), B, H);
}

void Cpu::lstm_cell_backward(View dx, View dh, View dc, View dw_ih, View dw_hh, View db_ih,
                             View db_hh, View dh_out, View dc_out, View gates, View x, View h,
                             View c, View c_out, View w_ih, View w_hh, int64_t B, int64_t I,
                             int64_t H) {
  const char* K = "lstm_cell_backward";
  check_sizes(K, 1, B, I, H);
  need_opt(dx, B * I, DType::F32, K, "dx", shp({B, I}));
  need_opt(dh, B * H, DType::F32, K, "dh", shp({B, H}));
  need_opt(dc, B * H, DType::F32, K, "dc", shp({B, H}));
  need_opt(dw_ih, 4 * H * I, DType::F32, K, "dw_ih", shp({4 * H, I}));
  need_opt(dw_hh, 4 * H * H, DType::F32, K, "dw_hh", shp({4 * H, H}));
  need_opt(db_ih, 4 * H, DType::F32, K, "db_ih", shp({4 * H}));
  need_opt(db_hh, 4 * H, DType::F32, K, "db_hh", shp({4 * H}));
  need_opt(dh_out, B * H, DType::F32, K, "dh_out", shp({B, H}));
  need_opt(dc_out, B * H, DType::F32, K, "dc_out", shp({B, H}));
  need(gates, B * 4 * H, DType::F32, K, "gates", shp({B, 4 * H}));
  need(x, B * I, DType::F32, K, "x", shp({B, I}));
  need(h, B * H, DType::F32, K, "h", shp({B, H}));
  need(c, B * H, DType::F32, K, "c", shp({B, H}));
  need(c_out, B * H, DType::F32, K, "c_out", shp({B, H}));
  check_weights(K, w_ih, w_hh, View{}, View{}, I, H);
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
  const char* K = "lstm_layer_forward";
  check_sizes(K, T, B, I, H);
  const int64_t BH = B * H, G = 4 * H;
  need(out, T * BH, DType::F32, K, "out", shp({T, B, H}));
  need(h_n, BH, DType::F32, K, "h_n", shp({B, H}));
  need(c_n, BH, DType::F32, K, "c_n", shp({B, H}));
  need(gates, T * B * G, DType::F32, K, "gates", shp({T, B, G}));
  need(cells, T * BH, DType::F32, K, "cells", shp({T, B, H}));
  need(x, T * B * I, DType::F32, K, "x", shp({T, B, I}));
  need_opt(h0, BH, DType::F32, K, "h0", shp({B, H}));
  need_opt(c0, BH, DType::F32, K, "c0", shp({B, H}));
  check_weights(K, w_ih, w_hh, b_ih, b_hh, I, H);
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
  const char* K = "lstm_layer_backward";
  check_sizes(K, T, B, I, H);
  const int64_t BH = B * H, G = 4 * H;
  need_opt(dx, T * B * I, DType::F32, K, "dx", shp({T, B, I}));
  need_opt(dh0, BH, DType::F32, K, "dh0", shp({B, H}));
  need_opt(dc0, BH, DType::F32, K, "dc0", shp({B, H}));
  need_opt(dw_ih, G * I, DType::F32, K, "dw_ih", shp({G, I}));
  need_opt(dw_hh, G * H, DType::F32, K, "dw_hh", shp({G, H}));
  need_opt(db_ih, G, DType::F32, K, "db_ih", shp({G}));
  need_opt(db_hh, G, DType::F32, K, "db_hh", shp({G}));
  need(dout, T * BH, DType::F32, K, "dout", shp({T, B, H}));
  need_opt(dh_n, BH, DType::F32, K, "dh_n", shp({B, H}));
  need_opt(dc_n, BH, DType::F32, K, "dc_n", shp({B, H}));
  need(gates, T * B * G, DType::F32, K, "gates", shp({T, B, G}));
  need(cells, T * BH, DType::F32, K, "cells", shp({T, B, H}));
  need(out, T * BH, DType::F32, K, "out", shp({T, B, H}));
  need(x, T * B * I, DType::F32, K, "x", shp({T, B, I}));
  need_opt(h0, BH, DType::F32, K, "h0", shp({B, H}));
  need_opt(c0, BH, DType::F32, K, "c0", shp({B, H}));
  check_weights(K, w_ih, w_hh, View{}, View{}, I, H);

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
