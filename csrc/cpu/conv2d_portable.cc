// conv2d_portable.cc — conv2d's backward_weight dot-product micro-kernel for baseline
// x86-64 / any CPU (SSE2-width vectors; see conv2d_kernel.inc): 3 x 4 tile = 12 xmm
// accumulators + 3 rows of a + 1 row of b (16 registers). Direct forward row kernel
// tiles: up to 2 x 5 or 1 x 7.
#define NX_VL 4
#define NX_DR 3
#define NX_DC 4
#define NX_DT 5
#define NX_FK 4
#define NX_FV 3
#define NX_KERNELS_FN conv2d_kernels_portable
#include "conv2d_kernel.inc"
