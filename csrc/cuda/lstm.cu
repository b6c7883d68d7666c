// lstm.cu (cuda) — the LSTM cell and layer kernels on top of the tiled GEMM of gemm.cu. The
// formulas, layouts and the composition of each kernel are ../lstm_common.h (shared with
// csrc/cpu/lstm.cc); this file supplies the CUDA primitives (CudaLstm) and the recurrence:
// per step a GEMM h_{t-1} @ w_hh^T accumulated (beta = 1) into the step's gates (which hold
// the input projection of all T steps, one GEMM with the biases in its epilogue) and the
// fused pointwise kernel; backward, per step the fused pointwise backward (dgates[t] and the
// dc carry) and one GEMM dh_{t-1} = dgates[t] @ w_hh. Bias gradients are deterministic column
// sums of dgates (sum_middle).
// Pointwise kernels: thread -> one (b, j) of (B, H), grid-stride; it reads/writes the four
// gate values of that unit (4 coalesced streams, H apart).
#include <algorithm>

#include "../lstm_common.h"
#include "check.cuh"
#include "ops.cuh"

namespace nx {
namespace cuda {
namespace {

constexpr int kThreads = 256;

struct DevMath {
  static NX_HD float sigmoid(float x) { return 1.f / (1.f + expf(-x)); }
  static NX_HD float tanh(float x) { return tanhf(x); }
};

// g (B, 4H): pre-activations in, activated gates out. c_prev may be null (zeros).
__global__ void cell_fwd_kernel(float* g, const float* c_prev, float* c_out, float* h_out,
                                int64_t B, int64_t H) {
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < B * H;
       t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = udiv(t, H), j = t - b * H;
    float* gi = g + b * 4 * H;  // [i | f | g | o]
    lstm::unit_forward<DevMath>(gi[j], gi[H + j], gi[2 * H + j], gi[3 * H + j], c_prev != nullptr,
                                c_prev ? c_prev[t] : 0.f, c_out[t], h_out[t]);
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
    float dhj = 0.f;
    if (dh_a && dh_b) dhj = dh_a[t] + dh_b[t];
    else if (dh_a) dhj = dh_a[t];
    else if (dh_b) dhj = dh_b[t];
    float dcp;
    lstm::unit_backward<DevMath>(g[j], g[H + j], g[2 * H + j], g[3 * H + j], c_t[t],
                                 c_prev ? c_prev[t] : 0.f, dhj, dc ? dc[t] : 0.f, d[j], d[H + j],
                                 d[2 * H + j], d[3 * H + j], dcp);
    if (dc_prev) dc_prev[t] = dcp;
  }
}

__global__ void add_kernel(float* o, const float* a, const float* b, int64_t n) {
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < n;
       t += int64_t(gridDim.x) * blockDim.x)
    o[t] = a[t] + b[t];
}

// The CUDA primitives for lstm::Lstm (../lstm_common.h lists what each must do).
struct CudaLstm {
  struct Buffer : Scratch {
    Buffer(int64_t n, int) : Scratch(sizeof(float) * size_t(std::max<int64_t>(n, 1))) {}
  };
  static View view(const float* p, int64_t n) {
    View v;
    v.data = const_cast<float*>(p);
    v.numel = n;
    v.dtype = DType::F32;
    v.on_cuda = true;
    return v;
  }
  static void mm(float* c, const float* a, const float* b, const float* bias, int64_t m,
                 int64_t n, int64_t k, bool ta, bool tb, float beta) {
    if (m == 0 || n == 0) return;
    GemmDesc d = gemm_desc(c, a, b, m, n, k, ta, tb, 1.f, beta);
    d.bias_col = bias;
    gemm(d);
  }
  static void add(float* o, const float* a, const float* b, int64_t n) {
    NX_LAUNCH(grid_1d(n, kThreads), kThreads, add_kernel)(o, a, b, n);
    NX_CUDA_LAUNCH();
  }
  static void copy(float* dst, const float* src, int64_t n) {
    if (n > 0) NX_CUDA(cudaMemcpyAsync(dst, src, size_t(n) * sizeof(float), cudaMemcpyDeviceToDevice, stream()));
  }
  static void zero(float* p, int64_t n) {
    if (n > 0) NX_CUDA(cudaMemsetAsync(p, 0, size_t(n) * sizeof(float), stream()));
  }
  template <class... A>
  static void gemm_backward(A&&... a) { Cuda::gemm_backward(std::forward<A>(a)...); }
  static void cell_pointwise(float* g, const float* c_prev, float* c_out, float* h_out,
                             int64_t B, int64_t H) {
    NX_LAUNCH(grid_1d(B * H, kThreads), kThreads, cell_fwd_kernel)(g, c_prev, c_out, h_out, B, H);
    NX_CUDA_LAUNCH();
  }
  static void cell_pointwise_backward(float* dg, float* dc_prev, const float* dh, const float* dc,
                                      const float* gates, const float* c_t, const float* c_prev,
                                      int64_t B, int64_t H) {
    NX_LAUNCH(grid_1d(B * H, kThreads), kThreads, cell_bwd_kernel)(
        dg, dc_prev, dh, nullptr, dc, gates, c_t, c_prev, B, H);
    NX_CUDA_LAUNCH();
  }
  static bool fuse_input(int64_t, int64_t) { return false; }
  static void recurrence_forward(float* gates, float* out, float* cells, const float*,
                                 const float* h0, const float* c0, const float*,
                                 const float* w_hh, const float*, int64_t T, int64_t B,
                                 int64_t, int64_t H, bool) {
    const int64_t BH = B * H, G = 4 * H;
    for (int64_t t = 0; t < T; ++t) {
      float* g = gates + t * B * G;                             // (B, 4H)
      const float* hp = t > 0 ? out + (t - 1) * BH : h0;        // (B, H) or null
      const float* cp = t > 0 ? cells + (t - 1) * BH : c0;      // (B, H) or null
      if (hp) mm(g, hp, w_hh, nullptr, B, G, H, false, true, 1.f);
      cell_pointwise(g, cp, cells + t * BH, out + t * BH, B, H);
    }
  }
  static void recurrence_backward(float* dg, float* dh_next, float* dc_next, const float* dout,
                                  const float* gates, const float* cells, const float* c0,
                                  const float* w_hh, int64_t T, int64_t B, int64_t H) {
    const int64_t BH = B * H, G = 4 * H;
    for (int64_t t = T - 1; t >= 0; --t) {
      float* dgt = dg + t * B * G;
      NX_LAUNCH(grid_1d(BH, kThreads), kThreads, cell_bwd_kernel)(
          dgt, dc_next, dout + t * BH, dh_next, dc_next, gates + t * B * G, cells + t * BH,
          t > 0 ? cells + (t - 1) * BH : c0, B, H);
      NX_CUDA_LAUNCH();
      mm(dh_next, dgt, w_hh, nullptr, B, H, G, false, false, 0.f);  // dh_{t-1} = dg[t] @ w_hh
    }
  }
  static void weight_grad(float* dw, const float* x1, const float* g1, int64_t rows1,
                          const float* x2, const float* g2, int64_t rows2, int64_t G, int64_t K) {
    if (G == 0 || K == 0) return;
    if (rows1 == 0 && rows2 == 0) return zero(dw, G * K);
    if (rows1 > 0) mm(dw, g1, x1, nullptr, G, K, rows1, true, false, 0.f);
    if (rows2 > 0) mm(dw, g2, x2, nullptr, G, K, rows2, true, false, rows1 > 0 ? 1.f : 0.f);
  }
  // Deterministic column sums (sum_middle), written to the first output and copied to the other.
  static void column_sums(float* o1, float* o2, const float* d, int64_t rows, int64_t cols) {
    float* first = o1 ? o1 : o2;
    if (!first) return;
    sum_middle(first, d, 1, rows, cols);
    if (o1 && o2) copy(o2, o1, cols);
  }
};
using L = lstm::Lstm<CudaLstm>;

}  // namespace
}  // namespace cuda

using namespace cuda;

void Cuda::lstm_cell_forward(View h_out, View c_out, View gates, View x, View h, View c,
                             View w_ih, View w_hh, View b_ih, View b_hh, int64_t B, int64_t I,
                             int64_t H) {
  L::cell_forward(h_out, c_out, gates, x, h, c, w_ih, w_hh, b_ih, b_hh, B, I, H);
}

void Cuda::lstm_cell_backward(View dx, View dh, View dc, View dw_ih, View dw_hh, View db_ih,
                              View db_hh, View dh_out, View dc_out, View gates, View x, View h,
                              View c, View c_out, View w_ih, View w_hh, int64_t B, int64_t I,
                              int64_t H) {
  L::cell_backward(dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh, dh_out, dc_out, gates, x, h, c, c_out,
                   w_ih, w_hh, B, I, H);
}

void Cuda::lstm_layer_forward(View out, View h_n, View c_n, View gates, View cells, View x,
                              View h0, View c0, View w_ih, View w_hh, View b_ih, View b_hh,
                              int64_t T, int64_t B, int64_t I, int64_t H) {
  L::layer_forward(out, h_n, c_n, gates, cells, x, h0, c0, w_ih, w_hh, b_ih, b_hh, T, B, I, H);
}

void Cuda::lstm_layer_backward(View dx, View dh0, View dc0, View dw_ih, View dw_hh, View db_ih,
                               View db_hh, View dout, View dh_n, View dc_n, View gates,
                               View cells, View out, View x, View h0, View c0, View w_ih,
                               View w_hh, int64_t T, int64_t B, int64_t I, int64_t H) {
  L::layer_backward(dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dout, dh_n, dc_n, gates, cells, out,
                    x, h0, c0, w_ih, w_hh, T, B, I, H);
}

}  // namespace nx
