// dropout.cc (cpu) — inverted dropout whose mask is never stored: forward and backward
// regenerate it from (seed, offset) with the Philox stream of random_uniform
// (csrc/philox.h), so CPU and CUDA drop the same elements for the same seed.
//
// Layout: inp/out, dout/dinp flat float32 arrays of n elements.
// Element i is kept when u_i >= p, u_i = uniform word i % 4 of block offset + i / 4; its
// multiplier is m_i = kept ? 1/(1-p) : 0, and out = inp * m, dinp = dout * m. As in
// PyTorch, the multiplier is applied by multiplication, so a NaN/inf in a dropped position
// stays NaN (0 * x); p == 1 drops everything (m = 0), p == 0 keeps everything (m = 1).
// p outside [0, 1] (or NaN) raises ValueError.
//
// Variants: one (k0): a loop over 4-element Philox blocks.
// Thread mapping: blocks [0, ceil(n/4)) in contiguous ranges, one per OpenMP thread.
#include <algorithm>

#include "../philox.h"
#include "../checks/dropout.h"
#include "backend.h"

namespace nx {
namespace {

// o[i] = x[i] * m_i over [0, n); o may alias x (in-place dropout).
void apply_mask(float* o, const float* x, int64_t n, float p, uint64_t seed,
                uint64_t offset) {
  const float scale = p < 1.f ? 1.f / (1.f - p) : 0.f;
  const int64_t nb = n / 4 + (n % 4 != 0);
  cpu::parallel_for(nb, 40, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const philox::U4 v = philox::block(seed, offset + uint64_t(b));
      const int64_t i = 4 * b, cnt = std::min<int64_t>(4, n - i);
      for (int k = 0; k < cnt; ++k) {
        const float m = philox::uniform(philox::word(v, k)) >= p ? scale : 0.f;
        o[i + k] = x[i + k] * m;
      }
    }
  });
}

}  // namespace

void Cpu::dropout_forward(View out, View inp, int64_t n, float p, uint64_t seed,
                          uint64_t offset) {
  checks::check_dropout_forward(out, inp, n, p, seed, offset);
  apply_mask(out.f(), inp.f(), n, p, seed, offset);
}

void Cpu::dropout_backward(View dinp, View dout, int64_t n, float p, uint64_t seed,
                           uint64_t offset) {
  checks::check_dropout_backward(dinp, dout, n, p, seed, offset);
  apply_mask(dinp.f(), dout.f(), n, p, seed, offset);
}

}  // namespace nx
