// checks/dropout.h — argument validation of the dropout kernels, shared by both backends
// (the rule for csrc/checks/ is at the top of checks/pool2d.h).
#pragma once

#include "../common.h"

namespace nx {
namespace checks {

inline void dropout_check_p(const char* K, float p) {
  NX_CHECK(p >= 0.f && p <= 1.f, K, ": dropout probability p=", p, " must be in [0, 1]");
}

inline void check_dropout_forward(const View& out, const View& inp, int64_t n, float p,
                                  uint64_t /*seed*/, uint64_t /*offset*/) {
  const char* K = "dropout_forward";
  need_nonneg(K, {{"n", n}});
  need(out, n, DType::F32, K, "out", shp({n}));
  need(inp, n, DType::F32, K, "inp", shp({n}));
  dropout_check_p(K, p);
}

inline void check_dropout_backward(const View& dinp, const View& dout, int64_t n, float p,
                                   uint64_t /*seed*/, uint64_t /*offset*/) {
  const char* K = "dropout_backward";
  need_nonneg(K, {{"n", n}});
  need(dinp, n, DType::F32, K, "dinp", shp({n}));
  need(dout, n, DType::F32, K, "dout", shp({n}));
  dropout_check_p(K, p);
}

}  // namespace checks
}  // namespace nx
