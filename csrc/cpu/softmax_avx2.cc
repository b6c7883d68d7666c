// softmax_avx2.cc (cpu) — the per-row loops of softmax_kernel.inc compiled for
// AVX2 + FMA (-mavx2 -mfma) (CMakeLists.txt gives *_avx2.cc files those flags); chosen at run
// time by softmax.cc when cpu::isa() is avx2. Thread mapping: see softmax.cc.
#define NX_SM_NS sm_avx2
#include "softmax_kernel.inc"
