// gemm_avx2.cc — gemm_k1_packed for AVX2 (compiled with -mavx2 -mfma):
// 6 x 16 micro-tile = 12 ymm accumulators + 2 for B + 1 broadcast (16 registers).
#define NX_VL 8
#define NX_MR 6
#define NX_NV 2
#define NX_GEMM_FN gemm_packed_avx2
#define NX_PREPACKED_FN prepacked_gemm_avx2
#define NX_DIRECT_FN gemm_direct_avx2
// Packed B in blocks of 1024 columns (a 1 MiB KC x NC block), not 2048: 128x4096x4096 81-91
// -> 97-98 GFLOPS (0.80-0.84 -> 0.91-0.92 of OpenBLAS Haswell), squares unchanged (1 thread,
// alternating, 2 runs). The in-place (direct B) products keep 2048: 1024 lost up to 20% there.
#define NX_NC_PACKED 1024
#include "gemm_kernel.inc"
