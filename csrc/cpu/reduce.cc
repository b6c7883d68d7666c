// reduce.cc (cpu) — TEMPORARY STUBS, replaced by the real kernels.
#include "backend.h"

namespace nx {

void Cpu::reduce_forward(View, View, int64_t, int64_t, int64_t, int64_t) {
  throw std::runtime_error("reduce_forward is not implemented on cpu yet");
}
void Cpu::argreduce_forward(View, View, int64_t, int64_t, int64_t, int64_t) {
  throw std::runtime_error("argreduce_forward is not implemented on cpu yet");
}
}  // namespace nx
