// random.cu (cuda) — random_uniform / random_normal from the counter-based Philox-4x32-10
// of csrc/philox.h, the same header the CPU compiles, so one (seed, offset) gives
// bit-identical uniforms on both backends (normals agree to libm accuracy).
// Stream mapping (philox.h): element i uses block offset + i/4, word i % 4.
// Thread mapping: thread -> one 4-element Philox block (4 outputs), grid-stride over blocks;
// the last block may be partial (n % 4 elements).
#include "../philox.h"
#include "../checks/random.h"
#include "check.cuh"

namespace nx {
namespace cuda {
namespace {

constexpr int kThreads = 256;

__global__ void uniform_kernel(float* out, int64_t n, float low, float span, uint64_t seed,
                               uint64_t offset) {
  const int64_t nb = (n + 3) / 4;
  for (int64_t b = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; b < nb;
       b += int64_t(gridDim.x) * blockDim.x) {
    const philox::U4 v = philox::block(seed, offset + uint64_t(b));
    const int64_t i = 4 * b, cnt = n - i < 4 ? n - i : 4;
    for (int k = 0; k < cnt; ++k) out[i + k] = low + span * philox::uniform(philox::word(v, k));
  }
}

__global__ void normal_kernel(float* out, int64_t n, float mean, float std, uint64_t seed,
                              uint64_t offset) {
  const int64_t nb = (n + 3) / 4;
  for (int64_t b = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; b < nb;
       b += int64_t(gridDim.x) * blockDim.x) {
    const philox::U4 v = philox::block(seed, offset + uint64_t(b));
    float z[4];
    philox::box_muller(v.x, v.y, z[0], z[1]);
    philox::box_muller(v.z, v.w, z[2], z[3]);
    const int64_t i = 4 * b, cnt = n - i < 4 ? n - i : 4;
    for (int k = 0; k < cnt; ++k) out[i + k] = mean + std * z[k];
  }
}

}  // namespace
}  // namespace cuda

void Cuda::random_uniform(View out, int64_t n, float low, float high, uint64_t seed,
                          uint64_t offset) {
  checks::check_random_uniform(out, n, low, high, seed, offset);
  if (n == 0) return;
  NX_LAUNCH(cuda::grid_1d((n + 3) / 4, cuda::kThreads), cuda::kThreads, cuda::uniform_kernel)(
      out.f(), n, low, high - low, seed, offset);
  NX_CUDA_LAUNCH();
}

void Cuda::random_normal(View out, int64_t n, float mean, float std, uint64_t seed,
                         uint64_t offset) {
  checks::check_random_normal(out, n, mean, std, seed, offset);
  if (n == 0) return;
  NX_LAUNCH(cuda::grid_1d((n + 3) / 4, cuda::kThreads), cuda::kThreads, cuda::normal_kernel)(
      out.f(), n, mean, std, seed, offset);
  NX_CUDA_LAUNCH();
}

}  // namespace nx
