// lstm.cu (cuda) — LSTM cell and whole-layer forward/backward on top of the tiled GEMM of
// gemm.cu; formulas, checks and edge cases as csrc/cpu/lstm.cc.
//
// Layouts (PyTorch's): x (B, I) per step, (T, B, I) per layer; h, c (B, H); gates ordered
// i, f, g, o along 4H; w_ih (4H, I), w_hh (4H, H); b_ih, b_hh (4H) or None. Saved: gates
// (B, 4H) / (T, B, 4H) hold the ACTIVATED gates; cells (T, B, H) hold c_t.
//   pre = x @ w_ih^T + b_ih + h_{t-1} @ w_hh^T + b_hh;  c_t = f*c_{t-1} + i*g;  h_t = o*tanh(c_t)
//
// One variant. Per layer forward: ONE GEMM for all T input projections (biases in its
// epilogue), then per step a GEMM h_{t-1} @ w_hh^T accumulated (beta = 1) into the step's
// gates and the fused pointwise kernel. Backward (BPTT): per step the fused pointwise
// backward writes the pre-activation dgates[t] and the dc carry, and one GEMM gives
// dh_{t-1} = dgates[t] @ w_hh; after the loop one GEMM each for dx, dw_ih, dw_hh, and the
// bias gradients are deterministic column sums of dgates (sum_middle).
// Pointwise kernels: thread -> one (b, j) of (B, H), grid-stride; it reads/writes the four
// gate values of that unit (4 coalesced streams, H apart).
#include <algorithm>

#include "../checks/lstm.h"
#include "check.cuh"
#include "ops.cuh"

namespace nx {
namespace cuda {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ float sigm(float x) { return 1.f / (1.f + expf(-x)); }

// g (B, 4H): pre-activations in, activated gates out. c_prev may be null (zeros).
__global__ void cell_fwd_kernel(float* g, const float* c_prev, float* c_out, float* h_out,
                                int64_t B, int64_t H) {
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < B * H;
       t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = udiv(t, H), j = t - b * H;
    float* gi = g + b * 4 * H;  // [i | f | g | o]
    const float i = sigm(gi[j]), f = sigm(gi[H + j]), gv = tanhf(gi[2 * H + j]),
                o = sigm(gi[3 * H + j]);
    const float c = (c_prev ? f * c_prev[t] : 0.f) + i * gv;
    gi[j] = i; gi[H + j] = f; gi[2 * H + j] = gv; gi[3 * H + j] = o;
    c_out[t] = c;
    h_out[t] = o * tanhf(c);
  }
}

// dh = dh_a + dh_b (either may be null = 0); dc (may be null) reaches c_t from later steps;
// writes dgates (B, 4H) pre-activation and dc_prev (may alias dc; may be null).
__global__ void cell_bwd_kernel(float* dgates, float* dc_prev, const float* dh_a, const float* dh_b,
                                const float* dc, const float* gates, const float* c_t,
                                const float* c_prev, int64_t B, int64_t H) {
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < B * H;
       t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = udiv(t, H), j = t - b * H;
    const float* g = gates + b * 4 * H;
    float* d = dgates + b * 4 * H;
    const float i = g[j], f = g[H + j], gv = g[2 * H + j], o = g[3 * H + j];
    const float tc = tanhf(c_t[t]);
    float dhj = 0.f;
    if (dh_a && dh_b) dhj = dh_a[t] + dh_b[t];
    else if (dh_a) dhj = dh_a[t];
    else if (dh_b) dhj = dh_b[t];
    const float dct = (dc ? dc[t] : 0.f) + dhj * o * (1.f - tc * tc);
    const float cp = c_prev ? c_prev[t] : 0.f;
    d[j] = dct * gv * i * (1.f - i);
    d[H + j] = dct * cp * f * (1.f - f);
    d[2 * H + j] = dct * i * (1.f - gv * gv);
    d[3 * H + j] = dhj * tc * o * (1.f - o);
    if (dc_prev) dc_prev[t] = dct * f;
  }
}

__global__ void add_kernel(float* o, const float* a, const float* b, int64_t n) {
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < n;
       t += int64_t(gridDim.x) * blockDim.x)
    o[t] = a[t] + b[t];
}

// C (m, n) = op(A) @ op(B) (+ bias[n]) (+ beta*C), row-major as gemm_forward.
void mm(float* c, const float* a, const float* b, const float* bias, int64_t m, int64_t n,
        int64_t k, bool ta, bool tb, float beta) {
  if (m == 0 || n == 0) return;
  GemmDesc d = gemm_desc(c, a, b, m, n, k, ta, tb, 1.f, beta);
  d.bias_col = bias;
  gemm(d);
}

// Both biases folded into one (4H) vector in `tmp` (or one of them, or null).
const float* combined_bias(const View& b_ih, const View& b_hh, int64_t H, Scratch& tmp) {
  if (b_ih.data && b_hh.data) {
    NX_LAUNCH(grid_1d(4 * H, kThreads), kThreads, add_kernel)(tmp.f(), b_ih.f(), b_hh.f(), 4 * H);
    NX_CUDA_LAUNCH();
    return tmp.f();
  }
  return b_ih.data ? b_ih.f() : (b_hh.data ? b_hh.f() : nullptr);
}

void copy_d2d(float* dst, const float* src, int64_t n) {
  if (n > 0) NX_CUDA(cudaMemcpyAsync(dst, src, size_t(n) * sizeof(float), cudaMemcpyDeviceToDevice, stream()));
}
void zero(const View& v) {
  if (v.data && v.numel > 0) NX_CUDA(cudaMemsetAsync(v.data, 0, size_t(v.numel) * sizeof(float), stream()));
}

View fview(const float* p, int64_t n) {
  View v;
  v.data = const_cast<float*>(p);
  v.numel = n;
  v.dtype = DType::F32;
  v.on_cuda = true;
  return v;
}

}  // namespace
}  // namespace cuda

using namespace cuda;

void Cuda::lstm_cell_forward(View h_out, View c_out, View gates, View x, View h, View c,
                             View w_ih, View w_hh, View b_ih, View b_hh, int64_t B, int64_t I,
                             int64_t H) {
  checks::check_lstm_cell_forward(h_out, c_out, gates, x, h, c, w_ih, w_hh, b_ih, b_hh, B, I, H);
  if (B == 0 || H == 0) return;
  Scratch bias(sizeof(float) * size_t(4 * H));
  mm(gates.f(), x.f(), w_ih.f(), combined_bias(b_ih, b_hh, H, bias), B, 4 * H, I, false, true, 0.f);
  mm(gates.f(), h.f(), w_hh.f(), nullptr, B, 4 * H, H, false, true, 1.f);
  NX_LAUNCH(grid_1d(B * H, kThreads), kThreads, cell_fwd_kernel)(gates.f(), c.f(), c_out.f(), h_out.f(), B, H);
  NX_CUDA_LAUNCH();
}

void Cuda::lstm_cell_backward(View dx, View dh, View dc, View dw_ih, View dw_hh, View db_ih,
                              View db_hh, View dh_out, View dc_out, View gates, View x, View h,
                              View c, View c_out, View w_ih, View w_hh, int64_t B, int64_t I,
                              int64_t H) {
  checks::check_lstm_cell_backward(dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh, dh_out, dc_out, gates, x, h,
                                   c, c_out, w_ih, w_hh, B, I, H);
  Scratch dg(sizeof(float) * size_t(B * 4 * H));  // (B, 4H)
  if (B * H > 0) {
    NX_LAUNCH(grid_1d(B * H, kThreads), kThreads, cell_bwd_kernel)(
        dg.f(), dc.f(), dh_out.f(), nullptr, dc_out.f(), gates.f(), c_out.f(), c.f(), B, H);
    NX_CUDA_LAUNCH();
  }
  const View dgv = fview(dg.f(), B * 4 * H);
  Cuda::gemm_backward(dx, dw_ih, db_ih, dgv, x, w_ih, B, 4 * H, I, false, true, -1);
  Cuda::gemm_backward(dh, dw_hh, db_hh, dgv, h, w_hh, B, 4 * H, H, false, true, -1);
}

void Cuda::lstm_layer_forward(View out, View h_n, View c_n, View gates, View cells, View x,
                              View h0, View c0, View w_ih, View w_hh, View b_ih, View b_hh,
                              int64_t T, int64_t B, int64_t I, int64_t H) {
  checks::check_lstm_layer_forward(out, h_n, c_n, gates, cells, x, h0, c0, w_ih, w_hh, b_ih, b_hh, T, B, I, H);
  const int64_t BH = B * H, G = 4 * H;
  if (BH == 0) return;
  Scratch bias(sizeof(float) * size_t(G));
  mm(gates.f(), x.f(), w_ih.f(), combined_bias(b_ih, b_hh, H, bias), T * B, G, I, false, true, 0.f);
  for (int64_t t = 0; t < T; ++t) {
    float* g = gates.f() + t * B * G;                             // (B, 4H)
    const float* hp = t > 0 ? out.f() + (t - 1) * BH : h0.f();    // (B, H) or null
    const float* cp = t > 0 ? cells.f() + (t - 1) * BH : c0.f();  // (B, H) or null
    if (hp) mm(g, hp, w_hh.f(), nullptr, B, G, H, false, true, 1.f);
    NX_LAUNCH(grid_1d(BH, kThreads), kThreads, cell_fwd_kernel)(g, cp, cells.f() + t * BH, out.f() + t * BH, B, H);
    NX_CUDA_LAUNCH();
  }
  const float* hl = T > 0 ? out.f() + (T - 1) * BH : h0.f();
  const float* cl = T > 0 ? cells.f() + (T - 1) * BH : c0.f();
  if (hl) copy_d2d(h_n.f(), hl, BH); else zero(h_n);
  if (cl) copy_d2d(c_n.f(), cl, BH); else zero(c_n);
}

void Cuda::lstm_layer_backward(View dx, View dh0, View dc0, View dw_ih, View dw_hh, View db_ih,
                               View db_hh, View dout, View dh_n, View dc_n, View gates,
                               View cells, View out, View x, View h0, View c0, View w_ih,
                               View w_hh, int64_t T, int64_t B, int64_t I, int64_t H) {
  checks::check_lstm_layer_backward(dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dout, dh_n, dc_n, gates, cells,
                                    out, x, h0, c0, w_ih, w_hh, T, B, I, H);
  const int64_t BH = B * H, G = 4 * H;

  Scratch carry(sizeof(float) * size_t(2 * BH));  // dh_next (B, H), dc_next (B, H)
  float* dh_next = carry.f();
  float* dc_next = carry.f() + BH;
  if (dh_n.data) copy_d2d(dh_next, dh_n.f(), BH); else if (BH) fill_f32(dh_next, BH, 0.f);
  if (dc_n.data) copy_d2d(dc_next, dc_n.f(), BH); else if (BH) fill_f32(dc_next, BH, 0.f);
  Scratch dgs(sizeof(float) * size_t(T * B * G));  // (T, B, 4H)
  float* dg = dgs.f();

  for (int64_t t = T - 1; t >= 0; --t) {
    const float* cp = t > 0 ? cells.f() + (t - 1) * BH : c0.f();
    float* dgt = dg + t * B * G;
    if (BH > 0) {
      NX_LAUNCH(grid_1d(BH, kThreads), kThreads, cell_bwd_kernel)(
          dgt, dc_next, dout.f() + t * BH, dh_next, dc_next, gates.f() + t * B * G,
          cells.f() + t * BH, cp, B, H);
      NX_CUDA_LAUNCH();
      mm(dh_next, dgt, w_hh.f(), nullptr, B, H, G, false, false, 0.f);  // dh_{t-1} = dg[t] @ w_hh
    }
  }
  if (dh0.data && BH > 0) copy_d2d(dh0.f(), dh_next, BH);
  if (dc0.data && BH > 0) copy_d2d(dc0.f(), dc_next, BH);

  const int64_t TB = T * B;
  if (dx.data) {
    if (G == 0) zero(dx);
    else mm(dx.f(), dg, w_ih.f(), nullptr, TB, I, G, false, false, 0.f);
  }
  if (dw_ih.data) {
    if (TB == 0) zero(dw_ih);
    else mm(dw_ih.f(), dg, x.f(), nullptr, G, I, TB, true, false, 0.f);
  }
  if (dw_hh.data) {
    zero(dw_hh);
    if (T > 1) mm(dw_hh.f(), dg + B * G, out.f(), nullptr, G, H, (T - 1) * B, true, false, 0.f);
    if (T > 0 && h0.data) mm(dw_hh.f(), dg, h0.f(), nullptr, G, H, B, true, false, 1.f);
  }
  if (G > 0 && (db_ih.data || db_hh.data)) {
    float* first = db_ih.data ? db_ih.f() : db_hh.f();
    sum_middle(first, dg, 1, TB, G);
    if (db_ih.data && db_hh.data) copy_d2d(db_hh.f(), first, G);
  }
}

}  // namespace nx
