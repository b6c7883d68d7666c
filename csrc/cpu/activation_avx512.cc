// activation_avx512.cc (cpu) — the activation loops of activation_kernel.inc compiled for
// AVX-512 (-mavx512f -mavx512dq -mavx512bw -mavx512vl -mfma) (CMakeLists.txt gives *_avx512.cc files those flags); chosen at run
// time by activation.cc when cpu::isa() is avx512. Thread mapping: see activation.cc.
#define NX_ACT_NS act_avx512
#include "activation_kernel.inc"
