// optim.cu (cuda) — fused optimizer steps, in place: SGD (momentum, dampening, Nesterov),
// Adagrad, Adadelta, RMSprop (momentum, centered), Adam / AdamW (amsgrad). Formulas,
// operation order and checks as csrc/cpu/optim.cc (torch.optim's single-tensor
// implementations in float32; Python-side scalars computed in double on the host and rounded
// once).
// Layout: param, grad and every state buffer are flat float32 arrays of n elements.
// Variants: one each. Thread mapping: thread -> one element i (all of its state), grid-stride;
// every element's update is independent, so there are no races and no reductions.
#include <cmath>

#include "../checks/optim.h"
#include "check.cuh"

namespace nx {
namespace cuda {
namespace {

constexpr int kThreads = 256;

#define NX_EACH(i, n)                                                            \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < (n); \
       i += int64_t(gridDim.x) * blockDim.x)

// torch.lerp for float: the form depends on w (stable at both ends).
__device__ __forceinline__ float lerp_t(float self, float end, float w) {
  return w < 0.5f ? self + w * (end - self) : end - (end - self) * (1.f - w);
}

__global__ void sgd_kernel(float* p, float* buf, const float* gr, int64_t n, float lr,
                           float momentum, float keep, float wd, bool nesterov, bool maximize,
                           bool first) {
  NX_EACH(i, n) {
    float g = maximize ? -gr[i] : gr[i];
    if (wd != 0.f) g = g + wd * p[i];
    if (momentum != 0.f) {
      const float b = first ? g : buf[i] * momentum + keep * g;
      buf[i] = b;
      g = nesterov ? g + momentum * b : b;
    }
    p[i] = p[i] - lr * g;
  }
}

__global__ void adagrad_kernel(float* p, float* ss, const float* gr, int64_t n, float clr,
                               float wd, float eps, bool maximize) {
  NX_EACH(i, n) {
    float g = maximize ? -gr[i] : gr[i];
    if (wd != 0.f) g = g + wd * p[i];
    const float s = ss[i] + g * g;
    ss[i] = s;
    p[i] = p[i] + (-clr) * g / (sqrtf(s) + eps);
  }
}

__global__ void adadelta_kernel(float* p, float* sa, float* ad, const float* gr, int64_t n,
                                float lr, float rho, float eps, float wd, bool maximize) {
  const float one_m_rho = 1.f - rho;
  NX_EACH(i, n) {
    float g = maximize ? -gr[i] : gr[i];
    if (wd != 0.f) g = g + wd * p[i];
    const float s = sa[i] * rho + one_m_rho * g * g;
    sa[i] = s;
    const float stdv = sqrtf(s + eps);
    const float delta = sqrtf(ad[i] + eps) / stdv * g;
    ad[i] = ad[i] * rho + one_m_rho * delta * delta;
    p[i] = p[i] - lr * delta;
  }
}

__global__ void rmsprop_kernel(float* p, float* sa, float* buf, float* ga, const float* gr,
                               int64_t n, float lr, float alpha, float eps, float wd,
                               float momentum, bool centered, bool maximize) {
  const float one_m_alpha = 1.f - alpha;
  NX_EACH(i, n) {
    float g = maximize ? -gr[i] : gr[i];
    if (wd != 0.f) g = g + wd * p[i];
    const float s = sa[i] * alpha + one_m_alpha * g * g;
    sa[i] = s;
    float avg;
    if (centered) {
      const float m = lerp_t(ga[i], g, one_m_alpha);
      ga[i] = m;
      avg = sqrtf(s + (-1.f) * m * m) + eps;
    } else {
      avg = sqrtf(s) + eps;
    }
    if (momentum > 0.f) {
      const float b = buf[i] * momentum + g / avg;
      buf[i] = b;
      p[i] = p[i] - lr * b;
    } else {
      p[i] = p[i] + (-lr) * g / avg;
    }
  }
}

__global__ void adam_kernel(float* p, float* m, float* v, float* vmax, const float* gr,
                            int64_t n, float beta2, float eps, float wd, float step_size,
                            float bc2_sqrt, float decay, float w1, float w2, bool amsgrad,
                            bool decoupled, bool maximize) {
  NX_EACH(i, n) {
    float g = maximize ? -gr[i] : gr[i];
    float pv = p[i];
    if (wd != 0.f) {
      if (decoupled) pv = pv * decay;
      else g = g + wd * pv;
    }
    const float mi = lerp_t(m[i], g, w1);
    const float vi = v[i] * beta2 + w2 * g * g;
    m[i] = mi;
    v[i] = vi;
    float vv = vi;
    if (amsgrad) {
      vv = vmax[i] > vi || vmax[i] != vmax[i] ? vmax[i] : vi;  // torch.maximum (NaN propagates)
      vmax[i] = vv;
    }
    const float denom = sqrtf(vv) / bc2_sqrt + eps;
    p[i] = pv + (-step_size) * mi / denom;
  }
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
  NX_LAUNCH(grid_1d(n, kThreads), kThreads, sgd_kernel)(
      param.f(), momentum_buf.f(), grad.f(), n, lr, momentum, 1.f - dampening, weight_decay,
      nesterov, maximize, first_step);
  NX_CUDA_LAUNCH();
}

void Cuda::adagrad_step(View param, View state_sum, View grad, int64_t n, float lr,
                        float lr_decay, float weight_decay, float eps, int64_t step,
                        bool maximize) {
  checks::check_adagrad_step(param, state_sum, grad, n, lr, lr_decay, weight_decay, eps, step,
                             maximize);
  if (n == 0) return;
  const float clr = float(double(lr) / (1.0 + double(step - 1) * double(lr_decay)));
  NX_LAUNCH(grid_1d(n, kThreads), kThreads, adagrad_kernel)(
      param.f(), state_sum.f(), grad.f(), n, clr, weight_decay, eps, maximize);
  NX_CUDA_LAUNCH();
}

void Cuda::adadelta_step(View param, View square_avg, View acc_delta, View grad, int64_t n,
                         float lr, float rho, float eps, float weight_decay, bool maximize) {
  checks::check_adadelta_step(param, square_avg, acc_delta, grad, n, lr, rho, eps, weight_decay,
                              maximize);
  if (n == 0) return;
  NX_LAUNCH(grid_1d(n, kThreads), kThreads, adadelta_kernel)(
      param.f(), square_avg.f(), acc_delta.f(), grad.f(), n, lr, rho, eps, weight_decay, maximize);
  NX_CUDA_LAUNCH();
}

void Cuda::rmsprop_step(View param, View square_avg, View momentum_buf, View grad_avg,
                        View grad, int64_t n, float lr, float alpha, float eps,
                        float weight_decay, float momentum, bool centered, bool maximize) {
  checks::check_rmsprop_step(param, square_avg, momentum_buf, grad_avg, grad, n, lr, alpha, eps,
                             weight_decay, momentum, centered, maximize);
  if (n == 0) return;
  NX_LAUNCH(grid_1d(n, kThreads), kThreads, rmsprop_kernel)(
      param.f(), square_avg.f(), momentum_buf.f(), grad_avg.f(), grad.f(), n, lr, alpha, eps,
      weight_decay, momentum, centered, maximize);
  NX_CUDA_LAUNCH();
}

void Cuda::adam_step(View param, View exp_avg, View exp_avg_sq, View max_exp_avg_sq, View grad,
                     int64_t n, float lr, float beta1, float beta2, float eps,
                     float weight_decay, int64_t step, bool amsgrad, bool decoupled,
                     bool maximize) {
  checks::check_adam_step(param, exp_avg, exp_avg_sq, max_exp_avg_sq, grad, n, lr, beta1, beta2,
                          eps, weight_decay, step, amsgrad, decoupled, maximize);
  if (n == 0) return;
  const double bc1 = 1.0 - std::pow(double(beta1), double(step));
  const double bc2 = 1.0 - std::pow(double(beta2), double(step));
  const float step_size = float(double(lr) / bc1);
  const float bc2_sqrt = float(std::sqrt(bc2));
  const float decay = float(1.0 - double(lr) * double(weight_decay));
  NX_LAUNCH(grid_1d(n, kThreads), kThreads, adam_kernel)(
      param.f(), exp_avg.f(), exp_avg_sq.f(), max_exp_avg_sq.f(), grad.f(), n, beta2, eps,
      weight_decay, step_size, bc2_sqrt, decay, 1.f - beta1, 1.f - beta2, amsgrad, decoupled,
      maximize);
  NX_CUDA_LAUNCH();
}

}  // namespace nx
