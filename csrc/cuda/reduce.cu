// reduce.cu (cuda) — TEMPORARY STUBS, replaced by the real kernels.
#include "backend.h"

namespace nx {

void Cuda::reduce_forward(View, View, int64_t, int64_t, int64_t, int64_t) {
  throw std::runtime_error("reduce_forward is not implemented on cuda yet");
}
void Cuda::argreduce_forward(View, View, int64_t, int64_t, int64_t, int64_t) {
  throw std::runtime_error("argreduce_forward is not implemented on cuda yet");
}
}  // namespace nx
