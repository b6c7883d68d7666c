// dropout.cc (cpu) — TEMPORARY STUBS, replaced by the real kernels.
#include "backend.h"

namespace nx {

void Cpu::dropout_forward(View, View, int64_t, float, uint64_t, uint64_t) {
  throw std::runtime_error("dropout_forward is not implemented on cpu yet");
}
void Cpu::dropout_backward(View, View, int64_t, float, uint64_t, uint64_t) {
  throw std::runtime_error("dropout_backward is not implemented on cpu yet");
}
}  // namespace nx
