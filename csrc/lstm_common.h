// lstm_common.h — the LSTM written once for both backends: the gate math of one hidden unit
// (NX_HD, called by the CPU's vectorised row loops and by the CUDA kernels) and the four
// kernels' composition around the recurrence (Lstm<P>, a template over a backend's primitives).
// csrc/cpu/lstm.cc and csrc/cuda/lstm.cu supply only what differs: their primitives, the
// pointwise passes over (B, H), and the recurrence loop itself.
//
// Layouts (PyTorch's): x (B, I) per step, (T, B, I) per layer; h, c (B, H); gates ordered
// i, f, g, o along the 4H axis; w_ih (4H, I), w_hh (4H, H); b_ih, b_hh (4H) or None.
// Saved for backward: gates (B, 4H) / (T, B, 4H) hold the ACTIVATED gates
// (sigmoid(i), sigmoid(f), tanh(g), sigmoid(o)); cells (T, B, H) hold c_t.
//
//   pre  = x @ w_ih^T + b_ih + h_{t-1} @ w_hh^T + b_hh          (B, 4H)
//   c_t  = f * c_{t-1} + i * g,   h_t = o * tanh(c_t)
//
// Backward (BPTT): per step the pointwise backward turns dh_t (dout[t] + the carry from step
// t+1) and dc_t into the pre-activation dgates[t] and dc_{t-1}; dh_{t-1} = dgates[t] @ w_hh.
// After the loop, one GEMM each over all steps: dx = dgates @ w_ih, dw_ih = dgates^T @ x,
// dw_hh = dgates[1:]^T @ out[:-1] (+ dgates[0]^T @ h0); bias gradients are column sums of
// dgates.
#pragma once

#include <algorithm>
#include <cstdint>

#include "checks/lstm.h"
#include "common.h"

namespace nx::lstm {

// ---- one hidden unit (M: the backend's sigmoid and tanh) ----------------------------------

// Forward: pre-activations in i, f, g, o, replaced by the activated gates; c_prev is read
// only when has_c (c_{t-1} = 0 otherwise); writes c_t and h_t.
template <class M>
NX_HD void unit_forward(float& i, float& f, float& g, float& o, bool has_c, float c_prev,
                        float& c, float& h) {
  i = M::sigmoid(i);
  f = M::sigmoid(f);
  g = M::tanh(g);
  o = M::sigmoid(o);
  c = has_c ? f * c_prev + i * g : i * g;
  h = o * M::tanh(c);
}

// Backward: activated gates, c_t, c_{t-1} (0 when absent), dh reaching h_t, dc reaching c_t
// from later steps (0 when absent) -> pre-activation gate gradients and dc_{t-1}.
template <class M>
NX_HD void unit_backward(float i, float f, float g, float o, float c_t, float c_prev, float dh,
                         float dc, float& di, float& df, float& dg, float& dout,
                         float& dc_prev) {
  const float tc = M::tanh(c_t);
  const float dct = dc + dh * o * (1.f - tc * tc);
  di = dct * g * i * (1.f - i);
  df = dct * c_prev * f * (1.f - f);
  dg = dct * i * (1.f - g * g);
  dout = dh * tc * o * (1.f - o);
  dc_prev = dct * f;
}

// ---- the kernels, composed over a backend's primitives P ----------------------------------
// Each checks its arguments (checks/lstm.h) first; Cpu::lstm_* and Cuda::lstm_* only call these.
// P supplies (all on its own memory and stream; pointers may be null where said):
//   Buffer(n, slot)     n floats of scratch (.f()); slot names the CPU's scratch arena
//   view(p, n)          a float32 View of n elements at p
//   mm(c, a, b, bias, m, n, k, ta, tb, beta)   C (m, n) = op(A) @ op(B) + bias[n] + beta*C
//   add(o, a, b, n), copy(dst, src, n), zero(p, n)
//   gemm_backward(...)  the backend's public gemm_backward kernel
//   cell_pointwise(g, c_prev, c_out, h_out, B, H)            unit_forward over (B, H)
//   cell_pointwise_backward(dg, dc_prev, dh, dc, gates, c_t, c_prev, B, H)
//   fuse_input(I, H)    whether recurrence_forward computes x_t @ w_ih^T itself
//   recurrence_forward(gates, out, cells, x, h0, c0, w_ih, w_hh, bias, T, B, I, H, fuse)
//   recurrence_backward(dg, dh_next, dc_next, dout, gates, cells, c0, w_hh, T, B, H)
//   weight_grad(dw, x1, g1, rows1, x2, g2, rows2, G, K)  dw (G, K) = g1^T x1 + g2^T x2
//                       (a term with rows = 0 is absent; none: zeros)
//   column_sums(o1, o2, d, rows, cols)                  either output may be null
template <class P>
struct Lstm {
  using Buffer = typename P::Buffer;
  // Scratch slots of the CPU arenas (gemm owns 0 and 1; the recurrence 4 to 7).
  static constexpr int kSlotGates = 2, kSlotCarry = 3;

  // Both biases as one (4H) vector for a GEMM epilogue, in `tmp` when both are given.
  static const float* combined_bias(const View& b_ih, const View& b_hh, int64_t H, Buffer& tmp) {
    if (b_ih.data && b_hh.data) {
      P::add(tmp.f(), b_ih.f(), b_hh.f(), 4 * H);
      return tmp.f();
    }
    return b_ih.data ? b_ih.f() : (b_hh.data ? b_hh.f() : nullptr);
  }

  static void cell_forward(View h_out, View c_out, View gates, View x, View h, View c, View w_ih,
                           View w_hh, View b_ih, View b_hh, int64_t B, int64_t I, int64_t H) {
    checks::check_lstm_cell_forward(h_out, c_out, gates, x, h, c, w_ih, w_hh, b_ih, b_hh, B, I, H);
    if (B == 0 || H == 0) return;
    Buffer bias(4 * H, kSlotGates);
    P::mm(gates.f(), x.f(), w_ih.f(), combined_bias(b_ih, b_hh, H, bias), B, 4 * H, I, false,
          true, 0.f);
    P::mm(gates.f(), h.f(), w_hh.f(), nullptr, B, 4 * H, H, false, true, 1.f);
    P::cell_pointwise(gates.f(), c.f(), c_out.f(), h_out.f(), B, H);
  }

  static void cell_backward(View dx, View dh, View dc, View dw_ih, View dw_hh, View db_ih,
                            View db_hh, View dh_out, View dc_out, View gates, View x, View h,
                            View c, View c_out, View w_ih, View w_hh, int64_t B, int64_t I,
                            int64_t H) {
    checks::check_lstm_cell_backward(dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh, dh_out, dc_out, gates,
                                     x, h, c, c_out, w_ih, w_hh, B, I, H);
    Buffer dg(B * 4 * H, kSlotGates);  // (B, 4H)
    if (B * H > 0)
      P::cell_pointwise_backward(dg.f(), dc.f(), dh_out.f(), dc_out.f(), gates.f(), c_out.f(),
                                 c.f(), B, H);
    // x side: gates = x (B, I) @ w_ih^T -> dx (B, I), dw_ih (4H, I), db_ih; h side likewise.
    const View dgv = P::view(dg.f(), B * 4 * H);
    P::gemm_backward(dx, dw_ih, db_ih, dgv, x, w_ih, B, 4 * H, I, false, true, -1);
    P::gemm_backward(dh, dw_hh, db_hh, dgv, h, w_hh, B, 4 * H, H, false, true, -1);
  }

  static void layer_forward(View out, View h_n, View c_n, View gates, View cells, View x,
                            View h0, View c0, View w_ih, View w_hh, View b_ih, View b_hh,
                            int64_t T, int64_t B, int64_t I, int64_t H) {
    checks::check_lstm_layer_forward(out, h_n, c_n, gates, cells, x, h0, c0, w_ih, w_hh, b_ih,
                                     b_hh, T, B, I, H);
    const int64_t BH = B * H, G = 4 * H;
    if (BH == 0) return;
    Buffer bias_buf(G, kSlotGates);
    const float* bias = combined_bias(b_ih, b_hh, H, bias_buf);
    const bool fuse = P::fuse_input(I, H);
    // Unless the recurrence fuses it: all T input projections at once,
    // gates (T*B, 4H) = x (T*B, I) @ w_ih^T + b_ih + b_hh.
    if (!fuse) P::mm(gates.f(), x.f(), w_ih.f(), bias, T * B, G, I, false, true, 0.f);
    if (T > 0)
      P::recurrence_forward(gates.f(), out.f(), cells.f(), x.f(), h0.f(), c0.f(), w_ih.f(),
                            w_hh.f(), bias, T, B, I, H, fuse);
    const float* hl = T > 0 ? out.f() + (T - 1) * BH : h0.f();
    const float* cl = T > 0 ? cells.f() + (T - 1) * BH : c0.f();
    if (hl) P::copy(h_n.f(), hl, BH); else P::zero(h_n.f(), BH);
    if (cl) P::copy(c_n.f(), cl, BH); else P::zero(c_n.f(), BH);
  }

  static void layer_backward(View dx, View dh0, View dc0, View dw_ih, View dw_hh, View db_ih,
                             View db_hh, View dout, View dh_n, View dc_n, View gates, View cells,
                             View out, View x, View h0, View c0, View w_ih, View w_hh, int64_t T,
                             int64_t B, int64_t I, int64_t H) {
    checks::check_lstm_layer_backward(dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dout, dh_n, dc_n,
                                      gates, cells, out, x, h0, c0, w_ih, w_hh, T, B, I, H);
    const int64_t BH = B * H, G = 4 * H, TB = T * B;
    // Carries (B, H) each: dh reaching h_t from step t+1, dc reaching c_t from step t+1.
    Buffer carry(2 * BH, kSlotCarry);
    float* dh_next = carry.f();
    float* dc_next = carry.f() + BH;
    if (BH > 0) {
      if (dh_n.data) P::copy(dh_next, dh_n.f(), BH); else P::zero(dh_next, BH);
      if (dc_n.data) P::copy(dc_next, dc_n.f(), BH); else P::zero(dc_next, BH);
    }
    Buffer dgs(TB * G, kSlotGates);  // (T, B, 4H)
    const float* dg = dgs.f();
    if (BH > 0 && T > 0)
      P::recurrence_backward(dgs.f(), dh_next, dc_next, dout.f(), gates.f(), cells.f(), c0.f(),
                             w_hh.f(), T, B, H);
    if (dh0.data && BH > 0) P::copy(dh0.f(), dh_next, BH);
    if (dc0.data && BH > 0) P::copy(dc0.f(), dc_next, BH);

    if (dx.data) {  // dx (T*B, I) = dgates (T*B, 4H) @ w_ih (4H, I)
      if (G == 0) P::zero(dx.f(), dx.numel);
      else P::mm(dx.f(), dg, w_ih.f(), nullptr, TB, I, G, false, false, 0.f);
    }
    if (dw_ih.data) P::weight_grad(dw_ih.f(), x.f(), dg, TB, nullptr, nullptr, 0, G, I);
    if (dw_hh.data)  // h_{t-1} is out[t-1], and h0 (or zeros) at t = 0
      P::weight_grad(dw_hh.f(), out.f(), dg + B * G, T > 1 ? (T - 1) * B : 0, h0.f(), dg,
                     T > 0 && h0.data ? B : 0, G, H);
    if (G > 0) P::column_sums(db_ih.f(), db_hh.f(), dg, TB, G);
  }
};

}  // namespace nx::lstm
