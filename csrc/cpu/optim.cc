// optim.cc (cpu) — fused optimizer steps, in place: SGD (momentum, dampening, Nesterov),
// Adagrad, Adadelta, RMSprop (momentum, centered), Adam / AdamW (amsgrad).
//
// Layout: param, grad and every state buffer are flat float32 arrays of n elements.
// Formulas: torch.optim's single-tensor ("foreach=False") implementations, operation for
// operation in float32; scalars that torch computes in Python (bias corrections, Adagrad's
// clr) are computed here in double and rounded once, as torch does when it passes them to
// a float32 kernel. `step` counts from 1 (the value after torch's increment).
// One implementation each (no variants). Threads: the n elements, one contiguous chunk per
// thread; each element's update is independent.
#include <cmath>
#include <type_traits>

#include "../checks/optim.h"
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

// Calls f(std::true_type{}) or f(std::false_type{}): a flag that guards a store becomes a
// compile-time constant (if constexpr), so the loop has no conditional stores, which would
// keep GCC from vectorising it.
template <class F>
void with_flag(bool flag, F&& f) {
  if (flag) f(std::true_type{});
  else f(std::false_type{});
}

// torch.lerp(self, end, w) for float: the form it picks depends on w (stable at both ends).
inline float lerp(float self, float end, float w) {
  return w < 0.5f ? self + w * (end - self) : end - (end - self) * (1.f - w);
}

}  // namespace

// buf = grad (first step) or momentum*buf + (1-dampening)*grad; nesterov: g = grad +
// momentum*buf, else g = buf; param -= lr*g. grad is negated first when maximize and gets
// weight_decay*param added.
void Cpu::sgd_step(View param, View momentum_buf, View grad, int64_t n, float lr, float momentum,
                   float dampening, float weight_decay, bool nesterov, bool maximize,
                   bool first_step) {
  checks::check_sgd_step(param, momentum_buf, grad, n, lr, momentum, dampening, weight_decay,
                         nesterov, maximize, first_step);
  float* p = param.f();
  float* buf = momentum_buf.f();
  const float* gr = grad.f();
  const float keep = 1.f - dampening;
  with_flag(momentum != 0.f, [&](auto has_momentum) {
    each(n, 6, [=](int64_t i) {
      float g = maximize ? -gr[i] : gr[i];
      if (weight_decay != 0.f) g = g + weight_decay * p[i];
      if constexpr (decltype(has_momentum)::value) {
        const float b = first_step ? g : buf[i] * momentum + keep * g;
        buf[i] = b;
        g = nesterov ? g + momentum * b : b;
      }
      p[i] = p[i] - lr * g;
    });
  });
}

// state_sum += g*g; param -= clr * g / (sqrt(state_sum) + eps), clr = lr / (1 + (step-1)*lr_decay).
void Cpu::adagrad_step(View param, View state_sum, View grad, int64_t n, float lr, float lr_decay,
                       float weight_decay, float eps, int64_t step, bool maximize) {
  checks::check_adagrad_step(param, state_sum, grad, n, lr, lr_decay, weight_decay, eps, step,
                             maximize);
  float* p = param.f();
  float* ss = state_sum.f();
  const float* gr = grad.f();
  const float clr = float(double(lr) / (1.0 + double(step - 1) * double(lr_decay)));
  each(n, 10, [=](int64_t i) {
    float g = maximize ? -gr[i] : gr[i];
    if (weight_decay != 0.f) g = g + weight_decay * p[i];
    const float s = ss[i] + g * g;
    ss[i] = s;
    p[i] = p[i] + (-clr) * g / (std::sqrt(s) + eps);
  });
}

// square_avg = rho*sa + (1-rho)*g^2; delta = sqrt(acc_delta + eps) / sqrt(sa + eps) * g;
// acc_delta = rho*ad + (1-rho)*delta^2; param -= lr*delta.
void Cpu::adadelta_step(View param, View square_avg, View acc_delta, View grad, int64_t n,
                        float lr, float rho, float eps, float weight_decay, bool maximize) {
  checks::check_adadelta_step(param, square_avg, acc_delta, grad, n, lr, rho, eps, weight_decay,
                              maximize);
  float* p = param.f();
  float* sa = square_avg.f();
  float* ad = acc_delta.f();
  const float* gr = grad.f();
  const float one_m_rho = 1.f - rho;
  each(n, 20, [=](int64_t i) {
    float g = maximize ? -gr[i] : gr[i];
    if (weight_decay != 0.f) g = g + weight_decay * p[i];
    const float s = sa[i] * rho + one_m_rho * g * g;
    sa[i] = s;
    const float stdv = std::sqrt(s + eps);
    const float delta = std::sqrt(ad[i] + eps) / stdv * g;
    ad[i] = ad[i] * rho + one_m_rho * delta * delta;
    p[i] = p[i] - lr * delta;
  });
}

// square_avg = alpha*sa + (1-alpha)*g^2; centered: grad_avg = lerp(grad_avg, g, 1-alpha),
// avg = sqrt(sa - grad_avg^2) + eps, else sqrt(sa) + eps; momentum > 0: buf = momentum*buf
// + g/avg, param -= lr*buf; else param -= lr*g/avg.
void Cpu::rmsprop_step(View param, View square_avg, View momentum_buf, View grad_avg, View grad,
                       int64_t n, float lr, float alpha, float eps, float weight_decay,
                       float momentum, bool centered, bool maximize) {
  checks::check_rmsprop_step(param, square_avg, momentum_buf, grad_avg, grad, n, lr, alpha, eps,
                             weight_decay, momentum, centered, maximize);
  float* p = param.f();
  float* sa = square_avg.f();
  float* buf = momentum_buf.f();
  float* ga = grad_avg.f();
  const float* gr = grad.f();
  const float one_m_alpha = 1.f - alpha;
  with_flag(centered, [&](auto is_centered) {
    with_flag(momentum > 0.f, [&](auto has_momentum) {
      each(n, 20, [=](int64_t i) {
        float g = maximize ? -gr[i] : gr[i];
        if (weight_decay != 0.f) g = g + weight_decay * p[i];
        const float s = sa[i] * alpha + one_m_alpha * g * g;
        sa[i] = s;
        float avg;
        if constexpr (decltype(is_centered)::value) {
          const float m = lerp(ga[i], g, one_m_alpha);
          ga[i] = m;
          avg = std::sqrt(s + (-1.f) * m * m) + eps;
        } else {
          avg = std::sqrt(s) + eps;
        }
        if constexpr (decltype(has_momentum)::value) {
          const float b = buf[i] * momentum + g / avg;
          buf[i] = b;
          p[i] = p[i] - lr * b;
        } else {
          p[i] = p[i] + (-lr) * g / avg;
        }
      });
    });
  });
}

// Adam: m = lerp(m, g, 1-beta1); v = beta2*v + (1-beta2)*g^2; amsgrad: vmax = max(vmax, v);
// denom = sqrt(v or vmax) / sqrt(1-beta2^step) + eps; param -= lr/(1-beta1^step) * m/denom.
// Weight decay: decoupled (AdamW) param *= 1 - lr*wd first; else g += wd*param.
void Cpu::adam_step(View param, View exp_avg, View exp_avg_sq, View max_exp_avg_sq, View grad,
                    int64_t n, float lr, float beta1, float beta2, float eps, float weight_decay,
                    int64_t step, bool amsgrad, bool decoupled, bool maximize) {
  checks::check_adam_step(param, exp_avg, exp_avg_sq, max_exp_avg_sq, grad, n, lr, beta1, beta2,
                          eps, weight_decay, step, amsgrad, decoupled, maximize);
  float* p = param.f();
  float* m = exp_avg.f();
  float* v = exp_avg_sq.f();
  float* vmax = max_exp_avg_sq.f();
  const float* gr = grad.f();
  // Python-side scalars in torch (double), rounded once to float32 for the tensor ops.
  const double bc1 = 1.0 - std::pow(double(beta1), double(step));
  const double bc2 = 1.0 - std::pow(double(beta2), double(step));
  const float step_size = float(double(lr) / bc1);
  const float bc2_sqrt = float(std::sqrt(bc2));
  const float decay = float(1.0 - double(lr) * double(weight_decay));
  const float w1 = 1.f - beta1, w2 = 1.f - beta2;
  with_flag(amsgrad, [&](auto is_amsgrad) {
    each(n, 20, [=](int64_t i) {
      float g = maximize ? -gr[i] : gr[i];
      float pv = p[i];
      if (weight_decay != 0.f) {
        if (decoupled) pv = pv * decay;
        else g = g + weight_decay * pv;
      }
      const float mi = lerp(m[i], g, w1);
      const float vi = v[i] * beta2 + w2 * g * g;
      m[i] = mi;
      v[i] = vi;
      float vv = vi;
      if constexpr (decltype(is_amsgrad)::value) {
        vv = vmax[i] > vi || vmax[i] != vmax[i] ? vmax[i] : vi;  // torch.maximum (NaN propagates)
        vmax[i] = vv;
      }
      const float denom = std::sqrt(vv) / bc2_sqrt + eps;
      p[i] = pv + (-step_size) * mi / denom;
    });
  });
}

}  // namespace nx
