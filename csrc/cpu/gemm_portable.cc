// gemm_portable.cc — gemm_k1_packed for baseline x86-64 / any CPU (SSE2-width vectors):
// 4 x 8 micro-tile = 8 xmm accumulators + 2 for B + 1 broadcast.
#define NX_VL 4
#define NX_MR 4
#define NX_NV 2
#define NX_GEMM_FN gemm_packed_portable
#define NX_PREPACKED_FN prepacked_gemm_portable
#define NX_DIRECT_FN gemm_direct_portable
#include "gemm_kernel.inc"
