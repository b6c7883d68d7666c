// random.cc (cpu) — TEMPORARY STUBS, replaced by the real kernels.
#include "backend.h"

namespace nx {

void Cpu::random_uniform(View, int64_t, float, float, uint64_t, uint64_t) {
  throw std::runtime_error("random_uniform is not implemented on cpu yet");
}
void Cpu::random_normal(View, int64_t, float, float, uint64_t, uint64_t) {
  throw std::runtime_error("random_normal is not implemented on cpu yet");
}
}  // namespace nx
