// conv2d_kernels.h (cpu) — the table of conv2d's per-ISA micro-kernels. conv2d_kernel.inc is
// compiled once per ISA (conv2d_avx512.cc, conv2d_avx2.cc, conv2d_portable.cc); each copy
// returns its table from conv2d_kernels_<isa>(), and conv2d_common.cc picks the table of cpu::isa().
// What each kernel computes is documented at its definition in conv2d_kernel.inc.
#pragma once

#include <cstdint>

namespace nx::cpu {

struct Conv2dKernels {
  int64_t vl;  // floats per vector
  int64_t fk;  // output channels per tile of the flat kernel
  // backward_weight's dot products: lanes[(i*ldl + j)*vl + p % vl] += a[i*lda + p] * b[j*ldb + p]
  void (*dot)(float* lanes, const float* a, int64_t lda, const float* b, int64_t ldb, int64_t m, int64_t n,
              int64_t len, int64_t ldl);
  // direct forward, one output row (channels across the lanes)
  void (*direct)(float* out, int64_t ldk, int64_t kcount, const float* w, int64_t wstride, const float* bias,
                 const float* x, const int64_t* offs, int64_t taps, int64_t Q, int64_t sw);
  // direct backward_weight over output rows [p0, p1) of one image
  void (*directw)(float* dw, int64_t wstride, int64_t kvecs, const float* dT, int64_t ldk, const float* x,
                  const int64_t* offs, int64_t taps, int64_t p0, int64_t p1, int64_t Q, int64_t rstride,
                  int64_t sw);
  // flat stride-1 kernel (pixels across the lanes over whole padded rows)
  void (*flat)(float* out, int64_t ldo, int64_t kcount, const float* w, const float* bias, const float* x,
               const int64_t* offs, int64_t taps, int64_t L);
};

Conv2dKernels conv2d_kernels_avx512();
Conv2dKernels conv2d_kernels_avx2();
Conv2dKernels conv2d_kernels_portable();

}  // namespace nx::cpu
