// conv2d_avx512.cc — conv2d's backward_weight dot-product micro-kernel for AVX-512
// (compiled with -mavx512f -mfma; see conv2d_kernel.inc): 4 x 6 tile = 24 zmm accumulators
// + 4 rows of a + 1 row of b in flight (29 of 32 registers). Also the direct forward row
// kernel: tiles of up to 2 x 12 (channel vectors x pixels) or 1 x 14 accumulators.
#define NX_VL 16
#define NX_DR 4
#define NX_DC 6
#define NX_DT 12
#define NX_FK 6
#define NX_FV 4
#define NX_KERNELS_FN conv2d_kernels_avx512
#include "conv2d_kernel.inc"
