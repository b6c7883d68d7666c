// checks/batchnorm.h — argument validation of the batchnorm kernels, shared by both backends
// (the rule for csrc/checks/ is at the top of checks/pool2d.h).
#pragma once

#include <string>
#include <vector>

#include "../common.h"

namespace nx {
namespace checks {

inline void check_batchnorm_forward(const View& out, const View& save_mean,
                                    const View& save_invstd, const View& running_mean,
                                    const View& running_var, const View& inp, const View& gamma,
                                    const View& beta, int64_t N, int64_t C, int64_t HW,
                                    bool training, float /*momentum*/, float eps) {
  const char* K = "batchnorm_forward";
  need_nonneg(K, {{"N", N}, {"C", C}, {"HW", HW}});
  NX_CHECK(eps >= 0.f, K, ": eps=", eps, " must be >= 0");
  const int64_t M = size_product(K, {N, HW}), total = size_product(K, {N, C, HW});
  NX_CHECK(!(training && M == 1), K, ": Expected more than 1 value per channel when training, "
           "got input of shape (N=", N, ", C=", C, ", HW=", HW, ")");
  const std::string cs = shp({C}), xs = shp({N, C, HW});
  need(out, total, DType::F32, K, "out", xs);
  need(inp, total, DType::F32, K, "inp", xs);
  need_opt(save_mean, C, DType::F32, K, "save_mean", cs);
  need_opt(save_invstd, C, DType::F32, K, "save_invstd", cs);
  if (training) {
    need_opt(running_mean, C, DType::F32, K, "running_mean", cs);
    need_opt(running_var, C, DType::F32, K, "running_var", cs);
  } else {
    need(running_mean, C, DType::F32, K, "running_mean (required in eval mode)", cs);
    need(running_var, C, DType::F32, K, "running_var (required in eval mode)", cs);
  }
  need_opt(gamma, C, DType::F32, K, "gamma", cs);
  need_opt(beta, C, DType::F32, K, "beta", cs);
}

inline void check_batchnorm_backward(const View& dinp, const View& dgamma, const View& dbeta,
                                     const View& dout, const View& inp, const View& gamma,
                                     const View& save_mean, const View& save_invstd, int64_t N,
                                     int64_t C, int64_t HW, bool /*training*/) {
  const char* K = "batchnorm_backward";
  need_nonneg(K, {{"N", N}, {"C", C}, {"HW", HW}});
  const int64_t total = size_product(K, {N, C, HW});
  const std::string cs = shp({C}), xs = shp({N, C, HW});
  need_opt(dinp, total, DType::F32, K, "dinp", xs);
  need_opt(dgamma, C, DType::F32, K, "dgamma", cs);
  need_opt(dbeta, C, DType::F32, K, "dbeta", cs);
  need(dout, total, DType::F32, K, "dout", xs);
  need(inp, total, DType::F32, K, "inp", xs);
  need_opt(gamma, C, DType::F32, K, "gamma", cs);
  need(save_mean, C, DType::F32, K, "save_mean", cs);
  need(save_invstd, C, DType::F32, K, "save_invstd", cs);
}

}  // namespace checks
}  // namespace nx
