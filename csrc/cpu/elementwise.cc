// elementwise.cc (cpu) — TEMPORARY STUBS, replaced by the real kernels.
#include "backend.h"

namespace nx {

void Cpu::fill(View, int64_t, double) {
  throw std::runtime_error("fill is not implemented on cpu yet");
}
void Cpu::cast(View, View, int64_t) {
  throw std::runtime_error("cast is not implemented on cpu yet");
}
void Cpu::copy_strided(View, View, std::vector<int64_t>, std::vector<int64_t>, int64_t, std::vector<int64_t>, int64_t) {
  throw std::runtime_error("copy_strided is not implemented on cpu yet");
}
void Cpu::binary_forward(View, View, View, std::vector<int64_t>, std::vector<int64_t>, std::vector<int64_t>, int64_t) {
  throw std::runtime_error("binary_forward is not implemented on cpu yet");
}
void Cpu::unary_forward(View, View, int64_t, int64_t, float, float) {
  throw std::runtime_error("unary_forward is not implemented on cpu yet");
}
void Cpu::unary_backward(View, View, View, View, int64_t, int64_t, float, float) {
  throw std::runtime_error("unary_backward is not implemented on cpu yet");
}
void Cpu::where_forward(View, View, View, View, int64_t) {
  throw std::runtime_error("where_forward is not implemented on cpu yet");
}
}  // namespace nx
