// gemm_avx2.cc — gemm_k1_packed for AVX2 (compiled with -mavx2 -mfma):
// 6 x 16 micro-tile = 12 ymm accumulators + 2 for B + 1 broadcast (16 registers).
#define NX_VL 8
#define NX_MR 6
#define NX_NV 2
#define NX_GEMM_FN gemm_packed_avx2
#define NX_PREPACKED_FN prepacked_gemm_avx2
#define NX_DIRECT_FN gemm_direct_avx2
#include "gemm_kernel.inc"
