// index.cc (cpu) — TEMPORARY STUBS, replaced by the real kernels.
#include "backend.h"

namespace nx {

void Cpu::gather(View, View, View, int64_t, int64_t, int64_t, int64_t) {
  throw std::runtime_error("gather is not implemented on cpu yet");
}
void Cpu::scatter_add(View, View, View, int64_t, int64_t, int64_t, int64_t) {
  throw std::runtime_error("scatter_add is not implemented on cpu yet");
}
}  // namespace nx
