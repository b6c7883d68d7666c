// dropout.cu (cuda) — inverted dropout whose mask is regenerated, never stored: element i
// is kept when philox::uniform(word i of block offset + i/4) >= p and then scaled by
// 1/(1-p) (p == 1 drops everything). Same stream as random_uniform and as the CPU, so both
// backends drop the same elements for one (seed, offset). out may alias inp.
// Thread mapping: thread -> one Philox block (4 consecutive elements), grid-stride.
#include "../philox.h"
#include "../checks/dropout.h"
#include "check.cuh"

namespace nx {
namespace cuda {
namespace {

constexpr int kThreads = 256;

__global__ void mask_kernel(float* o, const float* x, int64_t n, float p, float scale,
                            uint64_t seed, uint64_t offset) {
  const int64_t nb = (n + 3) / 4;
  for (int64_t b = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; b < nb;
       b += int64_t(gridDim.x) * blockDim.x) {
    const philox::U4 v = philox::block(seed, offset + uint64_t(b));
    const int64_t i = 4 * b, cnt = n - i < 4 ? n - i : 4;
    for (int k = 0; k < cnt; ++k) {
      const float m = philox::uniform(philox::word(v, k)) >= p ? scale : 0.f;
      o[i + k] = x[i + k] * m;
    }
  }
}

void apply_mask(float* o, const float* x, int64_t n, float p, uint64_t seed,
                uint64_t offset) {
  if (n == 0) return;
  const float scale = p < 1.f ? 1.f / (1.f - p) : 0.f;
  NX_LAUNCH(grid_1d((n + 3) / 4, kThreads), kThreads, mask_kernel)(o, x, n, p, scale, seed, offset);
  NX_CUDA_LAUNCH();
}

}  // namespace
}  // namespace cuda

void Cuda::dropout_forward(View out, View inp, int64_t n, float p, uint64_t seed,
                           uint64_t offset) {
  checks::check_dropout_forward(out, inp, n, p, seed, offset);
  cuda::apply_mask(out.f(), inp.f(), n, p, seed, offset);
}

void Cuda::dropout_backward(View dinp, View dout, int64_t n, float p, uint64_t seed,
                            uint64_t offset) {
  checks::check_dropout_backward(dinp, dout, n, p, seed, offset);
  cuda::apply_mask(dinp.f(), dout.f(), n, p, seed, offset);
}

}  // namespace nx
