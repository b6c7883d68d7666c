// random.cu (cuda) — TEMPORARY STUBS, replaced by the real kernels.
#include "backend.h"

namespace nx {

void Cuda::random_uniform(View, int64_t, float, float, uint64_t, uint64_t) {
  throw std::runtime_error("random_uniform is not implemented on cuda yet");
}
void Cuda::random_normal(View, int64_t, float, float, uint64_t, uint64_t) {
  throw std::runtime_error("random_normal is not implemented on cuda yet");
}
}  // namespace nx
