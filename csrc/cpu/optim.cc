// optim.cc (cpu) — TEMPORARY STUBS, replaced by the real kernels.
#include "backend.h"

namespace nx {

void Cpu::sgd_step(View, View, View, int64_t, float, float, float, float, bool, bool, bool) {
  throw std::runtime_error("sgd_step is not implemented on cpu yet");
}
void Cpu::adagrad_step(View, View, View, int64_t, float, float, float, float, int64_t, bool) {
  throw std::runtime_error("adagrad_step is not implemented on cpu yet");
}
void Cpu::adadelta_step(View, View, View, View, int64_t, float, float, float, float, bool) {
  throw std::runtime_error("adadelta_step is not implemented on cpu yet");
}
void Cpu::rmsprop_step(View, View, View, View, View, int64_t, float, float, float, float, float, bool, bool) {
  throw std::runtime_error("rmsprop_step is not implemented on cpu yet");
}
void Cpu::adam_step(View, View, View, View, View, int64_t, float, float, float, float, float, int64_t, bool, bool, bool) {
  throw std::runtime_error("adam_step is not implemented on cpu yet");
}
}  // namespace nx
