// checks/activation.h — argument validation of the activation kernels, shared by both backends
// (the rule for csrc/checks/ is at the top of checks/pool2d.h).
#pragma once

#include <string>
#include <vector>

#include "../common.h"

namespace nx {
namespace checks {

inline void check_activation_forward(const View& out, const View& inp, int64_t n, int64_t act,
                                     float /*param*/) {
  const char* K = "activation_forward";
  need_nonneg(K, {{"n", n}});
  NX_CHECK(act >= 0 && act < ACT_COUNT, K, ": unknown activation code ", act);
  need(out, n, DType::F32, K, "out", shp({n}));
  need(inp, n, DType::F32, K, "inp", shp({n}));
}

// True when activation_backward computes from the forward's result rather than its input.
inline bool activation_backward_uses_out(const View& out, int64_t act) {
  return out.present() && (act == ACT_SIGMOID || act == ACT_TANH);
}

inline void check_activation_backward(const View& dinp, const View& dout, const View& inp,
                                      const View& out, int64_t n, int64_t act, float /*param*/) {
  const char* K = "activation_backward";
  need_nonneg(K, {{"n", n}});
  NX_CHECK(act >= 0 && act < ACT_COUNT, K, ": unknown activation code ", act);
  NX_CHECK(act != ACT_STEP, K, ": step has no gradient (its derivative is 0 almost everywhere "
           "and undefined at 0)");
  need(dinp, n, DType::F32, K, "dinp", shp({n}));
  need(dout, n, DType::F32, K, "dout", shp({n}));
  if (activation_backward_uses_out(out, act))
    need(out, n, DType::F32, K, "out", shp({n}));
  else
    need(inp, n, DType::F32, K, "inp", shp({n}));
}

}  // namespace checks
}  // namespace nx
