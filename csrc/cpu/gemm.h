// gemm.h (cpu) — the arguments of one single-batch product, shared by gemm.cc and the
// ISA-specific packed kernels (gemm_avx512.cc, gemm_avx2.cc, gemm_portable.cc), and the
// epilogue (bias + activation) they all apply.
#pragma once

#include <cmath>
#include <cstdint>

#include "../common.h"
#include "act.h"
#include "backend.h"

namespace nx::cpu {

// C (m, n) row-major, ldc = n. A element (i, p) of op(A) is a[i*as_i + p*as_p]; likewise B
// element (p, j) is b[p*bs_p + j*bs_j]. This covers both transposes without copies.
struct GemmArgs {
  float* c;
  const float* a;
  const float* b;
  const float* bias;  // (n) or nullptr
  int64_t m, n, k;
  int64_t as_i, as_p, bs_p, bs_j;
  float alpha, beta;
  int64_t act;
  float act_param;
};

// act_apply (one activation value, shared with activation.cc) lives in act.h.

// Bias and activation over rows [0, rows) x cols [0, cols) of a tile at c (stride ldc);
// bias points at the tile's first column.
inline void gemm_epilogue(float* c, int64_t ldc, int64_t rows, int64_t cols, const float* bias,
                          int64_t act, float p) {
  if (!bias && act == ACT_NONE) return;
  for (int64_t i = 0; i < rows; ++i) {
    float* row = c + i * ldc;
    if (bias)
      for (int64_t j = 0; j < cols; ++j) row[j] += bias[j];
    if (act == ACT_RELU) {
      for (int64_t j = 0; j < cols; ++j) row[j] = row[j] > 0.f ? row[j] : (row[j] == row[j] ? 0.f : row[j]);
    } else if (act != ACT_NONE) {
      for (int64_t j = 0; j < cols; ++j) row[j] = act_apply(act, row[j], p);
    }
  }
}

void gemm_packed_avx512(const GemmArgs& g);
void gemm_packed_avx2(const GemmArgs& g);
void gemm_packed_portable(const GemmArgs& g);
// Variant gemm_k2_direct (small products; serial): gemm_kernel.inc.
void gemm_direct_avx512(const GemmArgs& g);
void gemm_direct_avx2(const GemmArgs& g);
void gemm_direct_portable(const GemmArgs& g);
// The two of the ISA path in use now: kGemmPacked.get()(g), kGemmDirect.get()(g).
inline const PerIsa<void (*)(const GemmArgs&)> kGemmPacked{gemm_packed_portable, gemm_packed_avx2,
                                                           gemm_packed_avx512};
inline const PerIsa<void (*)(const GemmArgs&)> kGemmDirect{gemm_direct_portable, gemm_direct_avx2,
                                                           gemm_direct_avx512};

// B packed once, used by many products (the LSTM's recurrent weight: one pack per layer
// call instead of one per time step). Layout for an ISA with NR-wide panels and `panels`
// panels in all: op(B) (k, panels*NR) cut into KC-row blocks; the block starting at row p0
// at dst + p0*panels*NR, its panel t at + t*kc*NR, row p of that panel at + p*NR; columns
// past the data are zero. Both functions run on the calling thread only (no OpenMP inside):
// the caller splits the panels between its threads.
struct PrepackedGemm {
  int64_t nr;  // columns per panel
  // Pack op(B)[:, j0:j0+nc] (all g.k rows; g.a, g.m, alpha unused) into panels
  // [panel0, panel0 + ceil(nc/NR)) of a layout of `panels` panels.
  void (*pack_b)(float* dst, const GemmArgs& g, int64_t j0, int64_t nc, int64_t panel0,
                 int64_t panels);
  // C (g.m, np*NR; row stride ldc) = g.alpha*op(A) (g.m, g.k) @ packed panels
  // [panel0, panel0+np) (+ C when accumulate). A from g.a/as_i/as_p; g.b, g.c unused.
  // Packs A into this thread's gemm scratch (slot 1).
  void (*run)(float* c, int64_t ldc, const GemmArgs& g, const float* bp, int64_t panel0,
              int64_t np, int64_t panels, bool accumulate);
};
PrepackedGemm prepacked_gemm();  // for the ISA path in use now (gemm.cc)
PrepackedGemm prepacked_gemm_avx512();
PrepackedGemm prepacked_gemm_avx2();
PrepackedGemm prepacked_gemm_portable();

}  // namespace nx::cpu
