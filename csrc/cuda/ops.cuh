// ops.cuh — internal building blocks one .cu file offers the others (plain C++ interface):
//   gemm()        the batched GEMM launcher of gemm.cu, with general element strides so
//                 transposes and sub-matrices need no copies, a per-column and a per-row
//                 bias, and the activation epilogue (conv2d and lstm call it);
//   sum_middle()  deterministic float sum over the middle axis of (outer, red, inner)
//                 (reduce.cu; bias gradients use it instead of atomics);
//   fill_f32()    out[0:n) = v on the stream (elementwise.cu).
#pragma once

#include <cstdint>

namespace nx::cuda {

// C[b] (m, n) = act(alpha * op(A)[b] @ op(B)[b] + beta * C[b] + bias_col[j] + bias_row[i]).
// op(A) element (i, p) is a[b*stride_a + i*as_i + p*as_p]; op(B) element (p, j) is
// b[b*stride_b + p*bs_p + j*bs_j]; C element (i, j) is c[b*stride_c + i*ldc + j].
// beta == 0 never reads C. Either bias may be null.
struct GemmDesc {
  float* c = nullptr;
  const float* a = nullptr;
  const float* b = nullptr;
  const float* bias_col = nullptr;  // (n)
  const float* bias_row = nullptr;  // (m)
  int64_t batch = 1, m = 0, n = 0, k = 0;
  int64_t as_i = 0, as_p = 0, bs_p = 0, bs_j = 0, ldc = 0;
  int64_t stride_a = 0, stride_b = 0, stride_c = 0;
  float alpha = 1.f, beta = 0.f;
  int64_t act = 0;
  float act_param = 0.f;
  // Split-K (set by gemm(), not by callers): blocks z = b*splits + s sum p in
  // [s*k_chunk, (s+1)*k_chunk) into slab z of a workspace that a second kernel adds up.
  int64_t splits = 1, k_chunk = 0;
};
// variant: -1 best, 0 gemm_k0_naive, 1 gemm_k1_tiled, 2 gemm_k2_tiled64, 3 split-K (see gemm.cu).
void gemm(const GemmDesc& g, int64_t variant = -1);

// Row-major helpers for the common cases: C (m, n) = op(A) @ op(B) with A stored (m, k) or
// (k, m) when ta, B stored (k, n) or (n, k) when tb, C with row stride n.
GemmDesc gemm_desc(float* c, const float* a, const float* b, int64_t m, int64_t n, int64_t k,
                   bool ta, bool tb, float alpha = 1.f, float beta = 0.f);

void sum_middle(float* out, const float* in, int64_t outer, int64_t red, int64_t inner);
void fill_f32(float* out, int64_t n, float v);

}  // namespace nx::cuda
