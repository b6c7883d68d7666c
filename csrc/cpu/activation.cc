// activation.cc (cpu) — TEMPORARY STUBS, replaced by the real kernels.
#include "backend.h"

namespace nx {

void Cpu::activation_forward(View, View, int64_t, int64_t, float) {
  throw std::runtime_error("activation_forward is not implemented on cpu yet");
}
void Cpu::activation_backward(View, View, View, int64_t, int64_t, float) {
  throw std::runtime_error("activation_backward is not implemented on cpu yet");
}
}  // namespace nx
