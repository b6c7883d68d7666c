// random.cc (cpu) — random_uniform and random_normal from the counter-based Philox-4x32-10
// generator (csrc/philox.h, shared with the CUDA backend, so a (seed, offset) pair gives
// the same bits on every device).
//
// Layout: out is a flat float32 array of n elements. Element i comes from word i % 4 of
// Philox block offset + i / 4 (philox.h documents the exact mapping, the uniform and the
// Box-Muller transform). A caller drawing n elements advances offset by ceil(n / 4).
//
// Variants: one (k0): a loop over 4-element blocks.
// Thread mapping: blocks [0, ceil(n/4)) split into contiguous ranges, one per OpenMP
// thread (cpu::parallel_for); a block is computed once and writes its <= 4 elements, so
// the result does not depend on the thread count.
#include <algorithm>

#include "../philox.h"
#include "../checks/random.h"
#include "backend.h"

namespace nx {
namespace {

// body(i, words, count): elements [i, i + count) of the stream, count <= 4.
template <class F>
void for_blocks(int64_t n, uint64_t seed, uint64_t offset, int64_t cost, F&& body) {
  const int64_t nb = n / 4 + (n % 4 != 0);
  cpu::parallel_for(nb, cost, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const philox::U4 v = philox::block(seed, offset + uint64_t(b));
      const int64_t i = 4 * b;
      body(i, v, std::min<int64_t>(4, n - i));
    }
  });
}

}  // namespace

void Cpu::random_uniform(View out, int64_t n, float low, float high, uint64_t seed,
                         uint64_t offset) {
  checks::check_random_uniform(out, n, low, high, seed, offset);
  float* o = out.f();
  const float span = high - low;
  for_blocks(n, seed, offset, 40, [&](int64_t i, const philox::U4& v, int64_t cnt) {
    if (cnt == 4) {
      o[i + 0] = low + span * philox::uniform(v.x);
      o[i + 1] = low + span * philox::uniform(v.y);
      o[i + 2] = low + span * philox::uniform(v.z);
      o[i + 3] = low + span * philox::uniform(v.w);
    } else {
      for (int k = 0; k < cnt; ++k) o[i + k] = low + span * philox::uniform(philox::word(v, k));
    }
  });
}

void Cpu::random_normal(View out, int64_t n, float mean, float std, uint64_t seed,
                        uint64_t offset) {
  checks::check_random_normal(out, n, mean, std, seed, offset);
  float* o = out.f();
  for_blocks(n, seed, offset, 120, [&](int64_t i, const philox::U4& v, int64_t cnt) {
    float z[4];
    philox::box_muller(v.x, v.y, z[0], z[1]);
    philox::box_muller(v.z, v.w, z[2], z[3]);
    for (int k = 0; k < cnt; ++k) o[i + k] = mean + std * z[k];
  });
}

}  // namespace nx
