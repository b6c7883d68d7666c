// batchnorm_avx512.cc (cpu) — the batchnorm loops of batchnorm_kernel.inc compiled for
// AVX-512 (-mavx512f -mavx512dq -mavx512bw -mavx512vl -mfma) (CMakeLists.txt gives *_avx512.cc files those flags);
// chosen at run time by batchnorm.cc when cpu::isa() is avx512. Thread mapping: see batchnorm.cc.
#define NX_BN_NS bn_avx512
#include "batchnorm_kernel.inc"
