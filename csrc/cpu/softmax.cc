// softmax.cc (cpu) — TEMPORARY STUBS, replaced by the real kernels.
#include "backend.h"

namespace nx {

void Cpu::softmax_forward(View, View, int64_t, int64_t, bool) {
  throw std::runtime_error("softmax_forward is not implemented on cpu yet");
}
void Cpu::softmax_backward(View, View, View, int64_t, int64_t, bool) {
  throw std::runtime_error("softmax_backward is not implemented on cpu yet");
}
void Cpu::cross_entropy_forward(View, View, View, View, int64_t, int64_t, int64_t) {
  throw std::runtime_error("cross_entropy_forward is not implemented on cpu yet");
}
void Cpu::cross_entropy_backward(View, View, View, View, View, int64_t, int64_t, int64_t) {
  throw std::runtime_error("cross_entropy_backward is not implemented on cpu yet");
}
}  // namespace nx
