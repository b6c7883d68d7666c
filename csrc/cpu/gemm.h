// gemm.h (cpu) — the arguments of one single-batch product, shared by gemm.cc and the
// ISA-specific packed kernels (gemm_avx512.cc, gemm_avx2.cc, gemm_portable.cc), and the
// epilogue (bias + activation) they all apply.
#pragma once

#include <cmath>
#include <cstdint>

#include "../common.h"

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

// One activation value; the same formulas as activation.cc's forward.
inline float act_apply(int64_t act, float x, float p) {
  switch (act) {
    case ACT_NONE: return x;
    case ACT_RELU: return x > 0.f ? x : (x == x ? 0.f : x);
    case ACT_LEAKY_RELU: return x > 0.f ? x : x * p;
    case ACT_SIGMOID: return 1.f / (1.f + std::exp(-x));
    case ACT_TANH: return std::tanh(x);
    case ACT_SOFTPLUS: {  // p = beta; linear above beta*x > 20 as PyTorch
      float bx = x * p;
      return bx > 20.f ? x : std::log1p(std::exp(bx)) / p;
    }
    case ACT_ELU: return x > 0.f ? x : p * std::expm1(x);
    case ACT_GELU:
      if (p != 0.f) {
        const float k0 = 0.7978845608028654f, k1 = 0.044715f;
        return 0.5f * x * (1.f + std::tanh(k0 * (x + k1 * x * x * x)));
      }
      return 0.5f * x * (1.f + std::erf(x * 0.7071067811865476f));
    case ACT_STEP: return x > 0.f ? 1.f : 0.f;
  }
  return x;
}

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

}  // namespace nx::cpu
