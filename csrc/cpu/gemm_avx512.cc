// gemm_avx512.cc — gemm_k1_packed for AVX-512 (compiled with -mavx512f -mfma):
// 12 x 32 micro-tile = 24 zmm accumulators + 2 for B + 1 broadcast (32 registers).
#define NX_VL 16
#define NX_MR 12
#define NX_NV 2
#define NX_GEMM_FN gemm_packed_avx512
#define NX_PREPACKED_FN prepacked_gemm_avx512
#define NX_DIRECT_FN gemm_direct_avx512
#include "gemm_kernel.inc"
