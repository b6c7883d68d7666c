// optim.cc (cpu) — fused optimizer steps, in place: SGD (momentum, dampening, Nesterov),
// Adagrad, Adadelta, RMSprop (momentum, centered), Adam / AdamW (amsgrad).
//
// Layout: param, grad and every state buffer are flat float32 arrays of n elements.
// Formulas: ../optim_rules.h (shared with csrc/cuda/optim.cu). One implementation each (no
// variants). Threads: the n elements, one contiguous chunk per thread; each element's update
// is independent.
#include <type_traits>

#include "../checks/optim.h"
#include "../optim_rules.h"
#include "backend.h"

namespace nx {
namespace {

// The update lambdas capture by value and each chunk runs a local copy, so the scalars and
// pointers live in registers: with captures by reference GCC must assume the stores to
// param alias them, and the loop neither vectorises nor hoists (measured 5-12x slower).
template <class F>
void each(int64_t n, int64_t cost, const F& f) {
  cpu::parallel_for(n, cost, [&f](int64_t b, int64_t e) {
    F local = f;
    for (int64_t i = b; i < e; ++i) local(i);
  });
}

// Calls f(std::true_type{}) or f(std::false_type{}): a runtime flag becomes the template
// argument of a rule's apply.
template <class F>
void with_flag(bool flag, F&& f) {
  if (flag) f(std::true_type{});
  else f(std::false_type{});
}

}  // namespace

void Cpu::sgd_step(View param, View momentum_buf, View grad, int64_t n, float lr, float momentum,
                   float dampening, float weight_decay, bool nesterov, bool maximize,
                   bool first_step) {
  checks::check_sgd_step(param, momentum_buf, grad, n, lr, momentum, dampening, weight_decay,
                         nesterov, maximize, first_step);
  const auto r = optim::make_sgd_rule(lr, momentum, dampening, weight_decay, nesterov, maximize,
                                      first_step);
  float *p = param.f(), *buf = momentum_buf.f();
  const float* g = grad.f();
  with_flag(momentum != 0.f, [&](auto mom) {
    each(n, 6, [=](int64_t i) { r.apply<decltype(mom)::value>(i, p, buf, g); });
  });
}

void Cpu::adagrad_step(View param, View state_sum, View grad, int64_t n, float lr, float lr_decay,
                       float weight_decay, float eps, int64_t step, bool maximize) {
  checks::check_adagrad_step(param, state_sum, grad, n, lr, lr_decay, weight_decay, eps, step,
                             maximize);
  const auto r = optim::make_adagrad_rule(lr, lr_decay, weight_decay, eps, step, maximize);
  float *p = param.f(), *ss = state_sum.f();
  const float* g = grad.f();
  each(n, 10, [=](int64_t i) { r.apply(i, p, ss, g); });
}

void Cpu::adadelta_step(View param, View square_avg, View acc_delta, View grad, int64_t n,
                        float lr, float rho, float eps, float weight_decay, bool maximize) {
  checks::check_adadelta_step(param, square_avg, acc_delta, grad, n, lr, rho, eps, weight_decay,
                              maximize);
  const auto r = optim::make_adadelta_rule(lr, rho, eps, weight_decay, maximize);
  float *p = param.f(), *sa = square_avg.f(), *ad = acc_delta.f();
  const float* g = grad.f();
  each(n, 20, [=](int64_t i) { r.apply(i, p, sa, ad, g); });
}

void Cpu::rmsprop_step(View param, View square_avg, View momentum_buf, View grad_avg, View grad,
                       int64_t n, float lr, float alpha, float eps, float weight_decay,
                       float momentum, bool centered, bool maximize) {
  checks::check_rmsprop_step(param, square_avg, momentum_buf, grad_avg, grad, n, lr, alpha, eps,
                             weight_decay, momentum, centered, maximize);
  const auto r = optim::make_rmsprop_rule(lr, alpha, eps, weight_decay, momentum, maximize);
  float *p = param.f(), *sa = square_avg.f(), *buf = momentum_buf.f(), *ga = grad_avg.f();
  const float* g = grad.f();
  with_flag(centered, [&](auto cen) {
    with_flag(momentum > 0.f, [&](auto mom) {
      each(n, 20, [=](int64_t i) {
        r.apply<decltype(cen)::value, decltype(mom)::value>(i, p, sa, buf, ga, g);
      });
    });
  });
}

void Cpu::adam_step(View param, View exp_avg, View exp_avg_sq, View max_exp_avg_sq, View grad,
                    int64_t n, float lr, float beta1, float beta2, float eps, float weight_decay,
                    int64_t step, bool amsgrad, bool decoupled, bool maximize) {
  checks::check_adam_step(param, exp_avg, exp_avg_sq, max_exp_avg_sq, grad, n, lr, beta1, beta2,
                          eps, weight_decay, step, amsgrad, decoupled, maximize);
  const auto r = optim::make_adam_rule(lr, beta1, beta2, eps, weight_decay, step, decoupled,
                                       maximize);
  float *p = param.f(), *m = exp_avg.f(), *v = exp_avg_sq.f(), *vmax = max_exp_avg_sq.f();
  const float* g = grad.f();
  with_flag(amsgrad, [&](auto ams) {
    each(n, 20, [=](int64_t i) { r.apply<decltype(ams)::value>(i, p, m, v, vmax, g); });
  });
}

}  // namespace nx
