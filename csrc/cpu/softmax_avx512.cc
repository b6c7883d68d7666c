// softmax_avx512.cc (cpu) — the per-row loops of softmax_kernel.inc compiled for
// AVX-512 (-mavx512f -mavx512dq -mavx512bw -mavx512vl -mfma) (CMakeLists.txt gives *_avx512.cc files those flags); chosen at run
// time by softmax.cc when cpu::isa() is avx512. Thread mapping: see softmax.cc.
#define NX_SM_NS sm_avx512
#include "softmax_kernel.inc"
