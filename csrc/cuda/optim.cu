// optim.cu (cuda) — fused optimizer steps, in place: SGD (momentum, dampening, Nesterov),
// Adagrad, Adadelta, RMSprop (momentum, centered), Adam / AdamW (amsgrad).
// Formulas: ../optim_rules.h (shared with csrc/cpu/optim.cc; host-side scalars computed there
// in double and rounded once); checks as the CPU's.
// Layout: param, grad and every state buffer are flat float32 arrays of n elements.
// Variants: one each. Thread mapping: thread -> one element i (all of its state), grid-stride;
// every element's update is independent, so there are no races and no reductions.
#include "../checks/optim.h"
#include "../optim_rules.h"
#include "check.cuh"

namespace nx {
namespace cuda {
namespace {

constexpr int kThreads = 256;

#define NX_EACH(i, n)                                                            \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); \
       i += int64_t(gridDim.x) * blockDim.x)

template <bool MOMENTUM>
__global__ void sgd_kernel(optim::SgdRule r, float* p, float* buf, const float* g, int64_t n) {
  NX_EACH(i, n) r.apply<MOMENTUM>(i, p, buf, g);
}

__global__ void adagrad_kernel(optim::AdagradRule r, float* p, float* ss, const float* g,
                               int64_t n) {
  NX_EACH(i, n) r.apply(i, p, ss, g);
}

__global__ void adadelta_kernel(optim::AdadeltaRule r, float* p, float* sa, float* ad,
                                const float* g, int64_t n) {
  NX_EACH(i, n) r.apply(i, p, sa, ad, g);
}

template <bool CENTERED, bool MOMENTUM>
__global__ void rmsprop_kernel(optim::RmspropRule r, float* p, float* sa, float* buf, float* ga,
                               const float* g, int64_t n) {
  NX_EACH(i, n) r.apply<CENTERED, MOMENTUM>(i, p, sa, buf, ga, g);
}

template <bool AMSGRAD>
__global__ void adam_kernel(optim::AdamRule r, float* p, float* m, float* v, float* vmax,
                            const float* g, int64_t n) {
  NX_EACH(i, n) r.apply<AMSGRAD>(i, p, m, v, vmax, g);
}

}  // namespace
}  // namespace cuda

using namespace cuda;

void Cuda::sgd_step(View param, View momentum_buf, View grad, int64_t n, float lr,
                    float momentum, float dampening, float weight_decay, bool nesterov,
                    bool maximize, bool first_step) {
  checks::check_sgd_step(param, momentum_buf, grad, n, lr, momentum, dampening, weight_decay,
                         nesterov, maximize, first_step);
  if (n == 0) return;
  const auto r = optim::make_sgd_rule(lr, momentum, dampening, weight_decay, nesterov, maximize,
                                      first_step);
  const auto kernel = momentum != 0.f ? sgd_kernel<true> : sgd_kernel<false>;
  NX_LAUNCH(grid_1d(n, kThreads), kThreads, kernel)(r, param.f(), momentum_buf.f(), grad.f(), n);
  NX_CUDA_LAUNCH();
}

void Cuda::adagrad_step(View param, View state_sum, View grad, int64_t n, float lr,
                        float lr_decay, float weight_decay, float eps, int64_t step,
                        bool maximize) {
  checks::check_adagrad_step(param, state_sum, grad, n, lr, lr_decay, weight_decay, eps, step,
                             maximize);
  if (n == 0) return;
  const auto r = optim::make_adagrad_rule(lr, lr_decay, weight_decay, eps, step, maximize);
  NX_LAUNCH(grid_1d(n, kThreads), kThreads, adagrad_kernel)(r, param.f(), state_sum.f(), grad.f(), n);
  NX_CUDA_LAUNCH();
}

void Cuda::adadelta_step(View param, View square_avg, View acc_delta, View grad, int64_t n,
                         float lr, float rho, float eps, float weight_decay, bool maximize) {
  checks::check_adadelta_step(param, square_avg, acc_delta, grad, n, lr, rho, eps, weight_decay,
                              maximize);
  if (n == 0) return;
  const auto r = optim::make_adadelta_rule(lr, rho, eps, weight_decay, maximize);
  NX_LAUNCH(grid_1d(n, kThreads), kThreads, adadelta_kernel)(
      r, param.f(), square_avg.f(), acc_delta.f(), grad.f(), n);
  NX_CUDA_LAUNCH();
}

void Cuda::rmsprop_step(View param, View square_avg, View momentum_buf, View grad_avg,
                        View grad, int64_t n, float lr, float alpha, float eps,
                        float weight_decay, float momentum, bool centered, bool maximize) {
  checks::check_rmsprop_step(param, square_avg, momentum_buf, grad_avg, grad, n, lr, alpha, eps,
                             weight_decay, momentum, centered, maximize);
  if (n == 0) return;
  const auto r = optim::make_rmsprop_rule(lr, alpha, eps, weight_decay, momentum, maximize);
  const bool mom = momentum > 0.f;
  const auto kernel = centered ? (mom ? rmsprop_kernel<true, true> : rmsprop_kernel<true, false>)
                               : (mom ? rmsprop_kernel<false, true> : rmsprop_kernel<false, false>);
  NX_LAUNCH(grid_1d(n, kThreads), kThreads, kernel)(
      r, param.f(), square_avg.f(), momentum_buf.f(), grad_avg.f(), grad.f(), n);
  NX_CUDA_LAUNCH();
}

void Cuda::adam_step(View param, View exp_avg, View exp_avg_sq, View max_exp_avg_sq, View grad,
                     int64_t n, float lr, float beta1, float beta2, float eps,
                     float weight_decay, int64_t step, bool amsgrad, bool decoupled,
                     bool maximize) {
  checks::check_adam_step(param, exp_avg, exp_avg_sq, max_exp_avg_sq, grad, n, lr, beta1, beta2,
                          eps, weight_decay, step, amsgrad, decoupled, maximize);
  if (n == 0) return;
  const auto r = optim::make_adam_rule(lr, beta1, beta2, eps, weight_decay, step, decoupled,
                                       maximize);
  const auto kernel = amsgrad ? adam_kernel<true> : adam_kernel<false>;
  NX_LAUNCH(grid_1d(n, kThreads), kThreads, kernel)(
      r, param.f(), exp_avg.f(), exp_avg_sq.f(), max_exp_avg_sq.f(), grad.f(), n);
  NX_CUDA_LAUNCH();
}

}  // namespace nx
