// checks/optim.h — argument validation of the optim kernels, shared by both backends
// (the rule for csrc/checks/ is at the top of checks/pool2d.h).
#pragma once

#include <string>
#include <vector>

#include "../common.h"

namespace nx {
namespace checks {

inline void check_sgd_step(const View& param, const View& momentum_buf, const View& grad,
                           int64_t n, float /*lr*/, float momentum, float dampening,
                           float /*weight_decay*/, bool nesterov, bool /*maximize*/,
                           bool /*first_step*/) {
  const char* K = "sgd_step";
  need_nonneg(K, {{"n", n}});
  need(param, n, DType::F32, K, "param", shp({n}));
  need(grad, n, DType::F32, K, "grad", shp({n}));
  if (momentum != 0.f) need(momentum_buf, n, DType::F32, K, "momentum_buf", shp({n}));
  else need_opt(momentum_buf, n, DType::F32, K, "momentum_buf", shp({n}));
  NX_CHECK(!nesterov || (momentum > 0.f && dampening == 0.f), K,
           ": Nesterov momentum requires a momentum and zero dampening");
}

inline void check_adagrad_step(const View& param, const View& state_sum, const View& grad,
                               int64_t n, float /*lr*/, float /*lr_decay*/, float /*weight_decay*/,
                               float /*eps*/, int64_t step, bool /*maximize*/) {
  const char* K = "adagrad_step";
  need_nonneg(K, {{"n", n}});
  NX_CHECK(step >= 1, K, ": step ", step, " must be >= 1 (the count after incrementing)");
  need(param, n, DType::F32, K, "param", shp({n}));
  need(state_sum, n, DType::F32, K, "state_sum", shp({n}));
  need(grad, n, DType::F32, K, "grad", shp({n}));
}

inline void check_adadelta_step(const View& param, const View& square_avg, const View& acc_delta,
                                const View& grad, int64_t n, float /*lr*/, float /*rho*/,
                                float /*eps*/, float /*weight_decay*/, bool /*maximize*/) {
  const char* K = "adadelta_step";
  need_nonneg(K, {{"n", n}});
  need(param, n, DType::F32, K, "param", shp({n}));
  need(square_avg, n, DType::F32, K, "square_avg", shp({n}));
  need(acc_delta, n, DType::F32, K, "acc_delta", shp({n}));
  need(grad, n, DType::F32, K, "grad", shp({n}));
}

inline void check_rmsprop_step(const View& param, const View& square_avg, const View& momentum_buf,
                               const View& grad_avg, const View& grad, int64_t n, float /*lr*/,
                               float /*alpha*/, float /*eps*/, float /*weight_decay*/,
                               float momentum, bool centered, bool /*maximize*/) {
  const char* K = "rmsprop_step";
  need_nonneg(K, {{"n", n}});
  need(param, n, DType::F32, K, "param", shp({n}));
  need(square_avg, n, DType::F32, K, "square_avg", shp({n}));
  if (momentum > 0.f) need(momentum_buf, n, DType::F32, K, "momentum_buf", shp({n}));
  else need_opt(momentum_buf, n, DType::F32, K, "momentum_buf", shp({n}));
  if (centered) need(grad_avg, n, DType::F32, K, "grad_avg", shp({n}));
  else need_opt(grad_avg, n, DType::F32, K, "grad_avg", shp({n}));
  need(grad, n, DType::F32, K, "grad", shp({n}));
}

inline void check_adam_step(const View& param, const View& exp_avg, const View& exp_avg_sq,
                            const View& max_exp_avg_sq, const View& grad, int64_t n, float /*lr*/,
                            float /*beta1*/, float /*beta2*/, float /*eps*/,
                            float /*weight_decay*/, int64_t step, bool amsgrad, bool /*decoupled*/,
                            bool /*maximize*/) {
  const char* K = "adam_step";
  need_nonneg(K, {{"n", n}});
  NX_CHECK(step >= 1, K, ": step ", step, " must be >= 1 (the count after incrementing)");
  need(param, n, DType::F32, K, "param", shp({n}));
  need(exp_avg, n, DType::F32, K, "exp_avg", shp({n}));
  need(exp_avg_sq, n, DType::F32, K, "exp_avg_sq", shp({n}));
  if (amsgrad) need(max_exp_avg_sq, n, DType::F32, K, "max_exp_avg_sq", shp({n}));
  else need_opt(max_exp_avg_sq, n, DType::F32, K, "max_exp_avg_sq", shp({n}));
  need(grad, n, DType::F32, K, "grad", shp({n}));
}

}  // namespace checks
}  // namespace nx
