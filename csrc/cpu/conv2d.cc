// conv2d.cc (cpu) — TEMPORARY STUBS, replaced by the real kernels.
#include "backend.h"

namespace nx {

void Cpu::conv2d_forward(View, View, View, View, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t) {
  throw std::runtime_error("conv2d_forward is not implemented on cpu yet");
}
void Cpu::conv2d_backward_data(View, View, View, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t) {
  throw std::runtime_error("conv2d_backward_data is not implemented on cpu yet");
}
void Cpu::conv2d_backward_weight(View, View, View, View, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t) {
  throw std::runtime_error("conv2d_backward_weight is not implemented on cpu yet");
}
}  // namespace nx
