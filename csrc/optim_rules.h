// optim_rules.h — the per-element update rules of the fused optimizer steps, written once for
// both backends: csrc/cpu/optim.cc runs a rule over its threads' chunks, csrc/cuda/optim.cu
// over a grid-stride loop; neither has formulas of its own.
//
// Formulas: torch.optim's single-tensor ("foreach=False") implementations, operation for
// operation in float32. Scalars that torch computes in Python (bias corrections, Adagrad's
// clr) are computed here on the host in double and rounded once to float, as torch does when
// it passes them to a float32 kernel. `step` counts from 1 (the value after torch's increment).
// Each rule is a small struct of those scalars, built once per call by make_*_rule; its
// apply<FLAGS...>(i, ...) updates element i of param and of every state buffer. Flags that
// guard a store are template arguments, so the CPU loops have no conditional stores (which
// would keep GCC from vectorising them) and absent buffers (null) are never touched.
#pragma once

#include <cmath>
#include <cstdint>

#include "common.h"

namespace nx::optim {

// torch.lerp(self, end, w) for float: the form it picks depends on w (stable at both ends).
NX_HD float lerp(float self, float end, float w) {
  return w < 0.5f ? self + w * (end - self) : end - (end - self) * (1.f - w);
}

// The gradient as every rule first sees it: negated when maximizing, plus weight_decay*param.
NX_HD float grad_in(float g, float p, float wd, bool maximize) {
  g = maximize ? -g : g;
  return wd != 0.f ? g + wd * p : g;
}

// SGD: buf = grad (first step) or momentum*buf + (1-dampening)*grad; nesterov: g = grad +
// momentum*buf, else g = buf; param -= lr*g.
struct SgdRule {
  float lr, momentum, keep, wd;
  bool nesterov, maximize, first;
  template <bool MOMENTUM>
  NX_HD void apply(int64_t i, float* p, float* buf, const float* gr) const {
    float g = grad_in(gr[i], p[i], wd, maximize);
    if constexpr (MOMENTUM) {
      const float b = first ? g : buf[i] * momentum + keep * g;
      buf[i] = b;
      g = nesterov ? g + momentum * b : b;
    }
    p[i] = p[i] - lr * g;
  }
};
inline SgdRule make_sgd_rule(float lr, float momentum, float dampening, float wd, bool nesterov,
                             bool maximize, bool first) {
  return {lr, momentum, 1.f - dampening, wd, nesterov, maximize, first};
}

// Adagrad: state_sum += g*g; param -= clr * g / (sqrt(state_sum) + eps),
// clr = lr / (1 + (step-1)*lr_decay).
struct AdagradRule {
  float clr, wd, eps;
  bool maximize;
  NX_HD void apply(int64_t i, float* p, float* ss, const float* gr) const {
    const float g = grad_in(gr[i], p[i], wd, maximize);
    const float s = ss[i] + g * g;
    ss[i] = s;
    p[i] = p[i] + (-clr) * g / (std::sqrt(s) + eps);
  }
};
inline AdagradRule make_adagrad_rule(float lr, float lr_decay, float wd, float eps, int64_t step,
                                     bool maximize) {
  return {float(double(lr) / (1.0 + double(step - 1) * double(lr_decay))), wd, eps, maximize};
}

// Adadelta: square_avg = rho*sa + (1-rho)*g^2; delta = sqrt(acc_delta + eps) /
// sqrt(sa + eps) * g; acc_delta = rho*ad + (1-rho)*delta^2; param -= lr*delta.
struct AdadeltaRule {
  float lr, rho, one_m_rho, eps, wd;
  bool maximize;
  NX_HD void apply(int64_t i, float* p, float* sa, float* ad, const float* gr) const {
    const float g = grad_in(gr[i], p[i], wd, maximize);
    const float s = sa[i] * rho + one_m_rho * g * g;
    sa[i] = s;
    const float delta = std::sqrt(ad[i] + eps) / std::sqrt(s + eps) * g;
    ad[i] = ad[i] * rho + one_m_rho * delta * delta;
    p[i] = p[i] - lr * delta;
  }
};
inline AdadeltaRule make_adadelta_rule(float lr, float rho, float eps, float wd, bool maximize) {
  return {lr, rho, 1.f - rho, eps, wd, maximize};
}

// RMSprop: square_avg = alpha*sa + (1-alpha)*g^2; centered: grad_avg = lerp(grad_avg, g,
// 1-alpha), avg = sqrt(sa - grad_avg^2) + eps, else sqrt(sa) + eps; momentum > 0: buf =
// momentum*buf + g/avg, param -= lr*buf; else param -= lr*g/avg.
struct RmspropRule {
  float lr, alpha, one_m_alpha, eps, wd, momentum;
  bool maximize;
  template <bool CENTERED, bool MOMENTUM>
  NX_HD void apply(int64_t i, float* p, float* sa, float* buf, float* ga, const float* gr) const {
    const float g = grad_in(gr[i], p[i], wd, maximize);
    const float s = sa[i] * alpha + one_m_alpha * g * g;
    sa[i] = s;
    float avg;
    if constexpr (CENTERED) {
      const float m = lerp(ga[i], g, one_m_alpha);
      ga[i] = m;
      avg = std::sqrt(s + (-1.f) * m * m) + eps;
    } else {
      avg = std::sqrt(s) + eps;
    }
    if constexpr (MOMENTUM) {
      const float b = buf[i] * momentum + g / avg;
      buf[i] = b;
      p[i] = p[i] - lr * b;
    } else {
      p[i] = p[i] + (-lr) * g / avg;
    }
  }
};
inline RmspropRule make_rmsprop_rule(float lr, float alpha, float eps, float wd, float momentum,
                                     bool maximize) {
  return {lr, alpha, 1.f - alpha, eps, wd, momentum, maximize};
}

// Adam: m = lerp(m, g, 1-beta1); v = beta2*v + (1-beta2)*g^2; amsgrad: vmax = max(vmax, v);
// denom = sqrt(v or vmax) / sqrt(1-beta2^step) + eps; param -= lr/(1-beta1^step) * m/denom.
// Weight decay: decoupled (AdamW) param *= 1 - lr*wd first; else g += wd*param.
struct AdamRule {
  float beta2, eps, wd, step_size, bc2_sqrt, decay, w1, w2;
  bool decoupled, maximize;
  template <bool AMSGRAD>
  NX_HD void apply(int64_t i, float* p, float* m, float* v, float* vmax, const float* gr) const {
    float g = maximize ? -gr[i] : gr[i];
    float pv = p[i];
    if (wd != 0.f) {
      if (decoupled) pv = pv * decay;
      else g = g + wd * pv;
    }
    const float mi = lerp(m[i], g, w1);
    const float vi = v[i] * beta2 + w2 * g * g;
    m[i] = mi;
    v[i] = vi;
    float vv = vi;
    if constexpr (AMSGRAD) {
      vv = vmax[i] > vi || vmax[i] != vmax[i] ? vmax[i] : vi;  // torch.maximum (NaN propagates)
      vmax[i] = vv;
    }
    const float denom = std::sqrt(vv) / bc2_sqrt + eps;
    p[i] = pv + (-step_size) * mi / denom;
  }
};
inline AdamRule make_adam_rule(float lr, float beta1, float beta2, float eps, float wd,
                               int64_t step, bool decoupled, bool maximize) {
  const double bc1 = 1.0 - std::pow(double(beta1), double(step));
  const double bc2 = 1.0 - std::pow(double(beta2), double(step));
  return {beta2,
          eps,
          wd,
          float(double(lr) / bc1),
          float(std::sqrt(bc2)),
          float(1.0 - double(lr) * double(wd)),
          1.f - beta1,
          1.f - beta2,
          decoupled,
          maximize};
}

}  // namespace nx::optim
