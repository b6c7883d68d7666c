// activation_avx2.cc (cpu) — the activation loops of activation_kernel.inc compiled for
// AVX2 + FMA (-mavx2 -mfma) (CMakeLists.txt gives *_avx2.cc files those flags); chosen at run
// time by activation.cc when cpu::isa() is avx2. Thread mapping: see activation.cc.
#define NX_ACT_NS act_avx2
#include "activation_kernel.inc"
