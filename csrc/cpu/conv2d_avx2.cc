// conv2d_avx2.cc — conv2d's backward_weight dot-product micro-kernel for AVX2 (compiled
// with -mavx2 -mfma; see conv2d_kernel.inc): 3 x 4 tile = 12 ymm accumulators + 3 rows of
// a + 1 row of b (16 registers). Direct forward row kernel tiles: up to 2 x 5 or 1 x 7.
#define NX_VL 8
#define NX_DR 3
#define NX_DC 4
#define NX_DT 5
#define NX_FK 4
#define NX_FV 3
#define NX_KERNELS_FN conv2d_kernels_avx2
#include "conv2d_kernel.inc"
