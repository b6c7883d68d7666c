// checks/random.h — argument validation of the random kernels, shared by both backends
// (the rule for csrc/checks/ is at the top of checks/pool2d.h).
#pragma once

#include <string>
#include <vector>

#include "../common.h"

namespace nx {
namespace checks {

inline void check_random_uniform(const View& out, int64_t n, float low, float high,
                                 uint64_t /*seed*/, uint64_t /*offset*/) {
  const char* K = "random_uniform";
  need_nonneg(K, {{"n", n}});
  NX_CHECK(low <= high, K, ": expected low <= high, got low=", low, ", high=", high);
  need(out, n, DType::F32, K, "out", shp({n}));
}

inline void check_random_normal(const View& out, int64_t n, float /*mean*/, float std,
                                uint64_t /*seed*/, uint64_t /*offset*/) {
  const char* K = "random_normal";
  need_nonneg(K, {{"n", n}});
  NX_CHECK(std >= 0.f, K, ": expected std >= 0, got std=", std);
  need(out, n, DType::F32, K, "out", shp({n}));
}

}  // namespace checks
}  // namespace nx
