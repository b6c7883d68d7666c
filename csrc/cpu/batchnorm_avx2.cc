// batchnorm_avx2.cc (cpu) — the batchnorm loops of batchnorm_kernel.inc compiled for
// AVX2 (-mavx2 -mfma) (CMakeLists.txt gives *_avx2.cc files those flags);
// chosen at run time by batchnorm.cc when cpu::isa() is avx2. Thread mapping: see batchnorm.cc.
#define NX_BN_NS bn_avx2
#include "batchnorm_kernel.inc"
