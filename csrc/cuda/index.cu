// index.cu (cuda) — TEMPORARY STUBS, replaced by the real kernels.
#include "backend.h"

namespace nx {

void Cuda::gather(View, View, View, int64_t, int64_t, int64_t, int64_t) {
  throw std::runtime_error("gather is not implemented on cuda yet");
}
void Cuda::scatter_add(View, View, View, int64_t, int64_t, int64_t, int64_t) {
  throw std::runtime_error("scatter_add is not implemented on cuda yet");
}
}  // namespace nx
