// gemm.cc (cpu) — C = act(alpha*op(A)@op(B) + beta*C + bias), batched, and its backward.
// Layouts: row-major; A (m, k) or (k, m) when trans_a; B (k, n) or (n, k) when trans_b.
//
// Variants:
//   gemm_k0_loop    i-p-j triple loop, inner j loop vectorised by the compiler, rows in
//                   parallel; no packing (cheap for tiny products, the reference path)
//   gemm_k1_packed  BLIS-style packing + register-blocked micro-kernel per ISA
//                   (gemm_kernel.inc: AVX-512 12x32, AVX2 6x16, portable 4x8); row-major
//                   B is read in place when the product is small (m <= 256, k*n <= 1M, m*k*n <= 64M);
//                   n <= 16 with m >= 4n computes C^T = op(B)^T op(A)^T so that m, not n,
//                   runs along the vector side of the tile, then transposes into C
//   gemm_k2_direct  small products: the same micro-kernels reading A in place (strided
//                   broadcasts) and row-major B in place; packs only a ragged last panel
//                   or a transposed B; serial, no k blocking (gemm_kernel.inc); the
//                   n <= 16 rule of k1 applies too; with several threads, products of
//                   >= 2^18 multiply-adds run as row blocks of C, one per thread
// variant -1 picks k0 when m*n*k < 64 (one call's fixed cost), k2 up to m*n*k = 2^21,
// else k1 (kSmallMnk below: measured crossover).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "../checks/gemm.h"
#include "backend.h"
#include "gemm.h"

namespace nx {
namespace {

using cpu::GemmArgs;

void gemm_loop(const GemmArgs& g) {
  cpu::parallel_for(g.m, g.n * g.k * 2, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      float* crow = g.c + i * g.n;
      if (g.beta == 0.f) std::fill(crow, crow + g.n, 0.f);
      else if (g.beta != 1.f) for (int64_t j = 0; j < g.n; ++j) crow[j] *= g.beta;
      for (int64_t p = 0; p < g.k; ++p) {
        const float av = g.alpha * g.a[i * g.as_i + p * g.as_p];
        const float* brow = g.b + p * g.bs_p;
        if (g.bs_j == 1) {
          for (int64_t j = 0; j < g.n; ++j) crow[j] += av * brow[j];
        } else {
          for (int64_t j = 0; j < g.n; ++j) crow[j] += av * brow[j * g.bs_j];
        }
      }
      cpu::gemm_epilogue(crow, g.n, 1, g.n, g.bias, g.act, g.act_param);
    }
  });
}

void gemm_packed(const GemmArgs& g) { cpu::kGemmPacked.get()(g); }
void gemm_direct(const GemmArgs& g) { cpu::kGemmDirect.get()(g); }

// k2 itself is serial. With several threads, a product of at least kSplitMnk multiply-adds
// is cut into row blocks of C (multiples of 12 rows: whole micro-tiles on every ISA), one per
// thread: NumPy/OpenBLAS threads 64^3-128^3 products, which left serial k2 at 0.82-0.95x
// of it at 2 threads. Inside an outer parallel region (conv2d's run_team sets one thread)
// num_threads() is 1 and the product stays serial.
constexpr double kSplitMnk = double(1 << 18);
void gemm_direct_rows(const GemmArgs& g) {
  const int64_t blocks = std::min<int64_t>(cpu::num_threads(), (g.m + 11) / 12);
  if (blocks <= 1 || double(g.m) * g.n * g.k < kSplitMnk) return gemm_direct(g);
  cpu::parallel_for(blocks, int64_t(1) << 20, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t i0 = std::min(g.m, (g.m * t / blocks + 6) / 12 * 12);
      const int64_t i1 = t + 1 == blocks ? g.m : std::min(g.m, (g.m * (t + 1) / blocks + 6) / 12 * 12);
      if (i1 <= i0) continue;
      GemmArgs p = g;
      p.c = g.c + i0 * g.n;
      p.a = g.a + i0 * g.as_i;
      p.m = i1 - i0;
      gemm_direct(p);
    }
  });
}

// k1 or k2 by variant (1 or 2).
void gemm_tiled(const GemmArgs& g, int64_t variant) {
  if (variant == 2) gemm_direct_rows(g);
  else gemm_packed(g);
}

// Small n (the 10-class output layer: 128x256 @ 256x10): the micro-tile's vector side runs
// along n, so n = 10 fills 10/32 of every AVX-512 tile (measured 19 GFLOPS, OpenBLAS 65).
// C^T (n, m) = op(B)^T @ op(A)^T puts m on the vector side instead: the packed kernel writes
// T = C^T into a per-thread buffer, then one pass applies beta, the transpose, bias and the
// activation. Same operands, no copies of A or B (only their strides swap).
constexpr int64_t kSmallN = 16;
void gemm_small_n(const GemmArgs& g, int64_t variant) {
  static thread_local std::vector<float> buf;
  const int64_t m = g.m, n = g.n;
  if (buf.size() < size_t(m * n)) buf.resize(size_t(m * n));
  float* t = buf.data();
  // op(B)^T (n, k): element (j, p) = b[p*bs_p + j*bs_j]; op(A)^T (k, m): (p, i) = a[i*as_i + p*as_p].
  GemmArgs gt{t, g.b, g.a, nullptr, n, m, g.k, g.bs_j, g.bs_p, g.as_p, g.as_i,
              g.alpha, 0.f, ACT_NONE, 0.f};
  gemm_tiled(gt, variant);
  for (int64_t i = 0; i < m; ++i) {
    float* crow = g.c + i * n;
    for (int64_t j = 0; j < n; ++j)
      crow[j] = g.beta == 0.f ? t[j * m + i] : g.beta * crow[j] + t[j * m + i];
  }
  cpu::gemm_epilogue(g.c, n, m, n, g.bias, g.act, g.act_param);
}

constexpr double kTinyMnk = 64.0;
constexpr double kSmallMnk = double(1 << 21);
void gemm_one(const GemmArgs& g, int64_t variant) {
  if (g.m == 0 || g.n == 0) return;
  if (g.k == 0) {  // C = beta*C (+ epilogue): no product terms
    for (int64_t i = 0; i < g.m; ++i) {
      float* crow = g.c + i * g.n;
      for (int64_t j = 0; j < g.n; ++j) crow[j] = g.beta == 0.f ? 0.f : crow[j] * g.beta;
    }
    cpu::gemm_epilogue(g.c, g.n, g.m, g.n, g.bias, g.act, g.act_param);
    return;
  }
  if (variant == -1) {
    const double mnk = double(g.m) * g.n * g.k;
    variant = mnk < kTinyMnk ? 0 : (mnk <= kSmallMnk ? 2 : 1);
  }
  if (variant == 0) return gemm_loop(g);
  // k2 runs a narrow n directly, one vector per row, no transposes (128x10x256, 1T, thread
  // CPU time, same run: k2 15.2 us, k1 through C^T 18.8 us, NumPy 11.6 us)
  if (variant == 1 && g.n <= kSmallN && g.m >= 4 * g.n) return gemm_small_n(g, variant);
  gemm_tiled(g, variant);
}

}  // namespace

namespace cpu {
PrepackedGemm prepacked_gemm() {
  static const cpu::PerIsa<PrepackedGemm> k{prepacked_gemm_portable(), prepacked_gemm_avx2(), prepacked_gemm_avx512()};
  return k.get();
}
}  // namespace cpu

void Cpu::gemm_forward(View c, View a, View b, View bias, int64_t batch, int64_t m, int64_t n,
                       int64_t k, bool trans_a, bool trans_b, int64_t stride_a,
                       int64_t stride_b, int64_t stride_c, float alpha, float beta,
                       int64_t act, float act_param, int64_t variant) {
  checks::check_gemm_forward(c, a, b, bias, batch, m, n, k, trans_a, trans_b, stride_a, stride_b,
                             stride_c, alpha, beta, act, act_param, variant, 2);
  for (int64_t t = 0; t < batch; ++t) {
    GemmArgs g{c.f() + t * stride_c, a.f() + t * stride_a, b.f() + t * stride_b, bias.f(),
               m, n, k,
               trans_a ? 1 : k, trans_a ? m : 1,   // A (m,k): [i*k + p]; A^T stored (k,m): [p*m + i]
               trans_b ? 1 : n, trans_b ? k : 1,   // B (k,n): [p*n + j]; B^T stored (n,k): [j*k + p]
               alpha, beta, act, act_param};
    gemm_one(g, variant);
  }
}

void Cpu::gemm_backward(View da, View db, View dbias, View dc, View a, View b, int64_t m,
                        int64_t n, int64_t k, bool trans_a, bool trans_b, int64_t variant) {
  checks::check_gemm_backward(da, db, dbias, dc, a, b, m, n, k, trans_a, trans_b, variant, 2);
  // Element accessors as in gemm_forward: A(i,p) = a[i*as_i + p*as_p], B(p,j) = b[p*bs_p + j*bs_j].
  const int64_t as_i = trans_a ? 1 : k, as_p = trans_a ? m : 1;
  const int64_t bs_p = trans_b ? 1 : n, bs_j = trans_b ? k : 1;
  if (da.data && m * k > 0) {
    // dA(i,p) = sum_j dC(i,j) B(p,j). Stored A(i,p) at i*as_i + p*as_p: if !trans_a, dA is
    // (m,k) = dC @ B^T; if trans_a, dA^T (k,m) = B @ dC^T... both as one product into da.
    if (!trans_a) {
      GemmArgs g{da.f(), dc.f(), b.f(), nullptr, m, k, n, n, 1, bs_j, bs_p, 1.f, 0.f, ACT_NONE, 0.f};
      gemm_one(g, variant);  // (m,n) @ (n,k): B^T(j,p) = b[j*bs_j + p*bs_p]
    } else {
      GemmArgs g{da.f(), b.f(), dc.f(), nullptr, k, m, n, bs_p, bs_j, 1, n, 1.f, 0.f, ACT_NONE, 0.f};
      gemm_one(g, variant);  // (k,n) @ (n,m): B(p,j) rows, dC^T(j,i) = dc[i*n + j]
    }
  }
  if (db.data && k * n > 0) {
    // dB(p,j) = sum_i A(i,p) dC(i,j).
    if (!trans_b) {
      GemmArgs g{db.f(), a.f(), dc.f(), nullptr, k, n, m, as_p, as_i, n, 1, 1.f, 0.f, ACT_NONE, 0.f};
      gemm_one(g, variant);  // (k,m) @ (m,n): A^T(p,i) = a[p*as_p + i*as_i]
    } else {
      GemmArgs g{db.f(), dc.f(), a.f(), nullptr, n, k, m, 1, n, as_i, as_p, 1.f, 0.f, ACT_NONE, 0.f};
      gemm_one(g, variant);  // (n,m) @ (m,k): dC^T(j,i) = dc[i*n + j], A(i,p)
    }
  }
  if (dbias.data && n > 0) {
    float* o = dbias.f();
    std::fill(o, o + n, 0.f);
    for (int64_t i = 0; i < m; ++i) {
      const float* row = dc.f() + i * n;
      for (int64_t j = 0; j < n; ++j) o[j] += row[j];
    }
  }
}

}  // namespace nx
