// optim.cu (cuda) — fused optimizer steps, in place: SGD (momentum, dampening, Nesterov),
// Adagrad, Adadelta, RMSprop (momentum, centered), Adam / AdamW (amsgrad).
// Formulas: ../optim_rules.h (shared with csrc/cpu/optim.cc; host-side scalars computed there
// in double and rounded once); checks as the CPU's.
// Layout: param, grad and every state buffer are flat float32 arrays of n elements.
// Variants: one each. Thread mapping: thread -> 4 consecutive elements (float4 loads/stores of
// every array, the rule on each; step_kernel), grid-stride; every element's update is
// independent, so there are no races and no reductions.
#include "../checks/optim.h"
#include "../optim_rules.h"
#include "check.cuh"

namespace nx {
namespace cuda {
namespace {

constexpr int kThreads = 256;

// The arrays of one step: param and state buffers first, grad (read-only) last; absent
// state (null) is neither read nor written.
template <int N>
struct Arrays {
  float* p[N];
};

// Thread -> 4 consecutive elements when every array is 16-byte aligned (vec): each present
// array loaded as a float4 into registers, the rule applied to the 4 register copies, the
// written arrays (all but grad) stored back as float4s; the n % 4 tail (or everything, when
// not vec) element by element in place. Memory-bound: 4x fewer load/store instructions.
template <int N, class Fn>
__global__ void step_kernel(Fn fn, Arrays<N> a, int64_t n, bool vec) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t t0 = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  const int64_t n4 = vec ? n / 4 : 0;
  for (int64_t v = t0; v < n4; v += stride) {
    float r[N][4];
    float* lp[N];
#pragma unroll
    for (int k = 0; k < N; ++k) {
      if (a.p[k]) {
        const float4 x = reinterpret_cast<const float4*>(a.p[k])[v];
        r[k][0] = x.x, r[k][1] = x.y, r[k][2] = x.z, r[k][3] = x.w;
      }
      lp[k] = r[k];
    }
#pragma unroll
    for (int j = 0; j < 4; ++j) fn(j, lp);
#pragma unroll
    for (int k = 0; k + 1 < N; ++k)
      if (a.p[k]) reinterpret_cast<float4*>(a.p[k])[v] = make_float4(r[k][0], r[k][1], r[k][2], r[k][3]);
  }
  for (int64_t i = n4 * 4 + t0; i < n; i += stride) fn(i, a.p);
}

template <int N, class Fn>
void launch_step(const Fn& fn, Arrays<N> a, int64_t n) {
  bool vec = true;
  for (float* q : a.p) vec = vec && aligned16(q);
  NX_LAUNCH(grid_1d(vec ? (n + 3) / 4 : n, kThreads), kThreads, step_kernel<N, Fn>)(fn, a, n, vec);
  NX_CUDA_LAUNCH();
}

// The rules as the kernel calls them: element i of arrays p (param, state..., grad).
template <bool MOMENTUM>
struct Sgd {
  optim::SgdRule r;
  __device__ void operator()(int64_t i, float* const* p) const { r.apply<MOMENTUM>(i, p[0], p[1], p[2]); }
};
struct Adagrad {
  optim::AdagradRule r;
  __device__ void operator()(int64_t i, float* const* p) const { r.apply(i, p[0], p[1], p[2]); }
};
struct Adadelta {
  optim::AdadeltaRule r;
  __device__ void operator()(int64_t i, float* const* p) const { r.apply(i, p[0], p[1], p[2], p[3]); }
};
template <bool CENTERED, bool MOMENTUM>
struct Rmsprop {
  optim::RmspropRule r;
  __device__ void operator()(int64_t i, float* const* p) const {
    r.apply<CENTERED, MOMENTUM>(i, p[0], p[1], p[2], p[3], p[4]);
  }
};
template <bool AMSGRAD>
struct Adam {
  optim::AdamRule r;
  __device__ void operator()(int64_t i, float* const* p) const {
    r.apply<AMSGRAD>(i, p[0], p[1], p[2], p[3], p[4]);
  }
};

float* mut(const float* p) { return const_cast<float*>(p); }  // grad: read, never written

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
  const Arrays<3> a{{param.f(), momentum_buf.f(), mut(grad.f())}};
  if (momentum != 0.f) launch_step(Sgd<true>{r}, a, n);
  else launch_step(Sgd<false>{r}, Arrays<3>{{param.f(), nullptr, mut(grad.f())}}, n);
}

void Cuda::adagrad_step(View param, View state_sum, View grad, int64_t n, float lr,
                        float lr_decay, float weight_decay, float eps, int64_t step,
                        bool maximize) {
  checks::check_adagrad_step(param, state_sum, grad, n, lr, lr_decay, weight_decay, eps, step,
                             maximize);
  if (n == 0) return;
  const auto r = optim::make_adagrad_rule(lr, lr_decay, weight_decay, eps, step, maximize);
  launch_step(Adagrad{r}, Arrays<3>{{param.f(), state_sum.f(), mut(grad.f())}}, n);
}

void Cuda::adadelta_step(View param, View square_avg, View acc_delta, View grad, int64_t n,
                         float lr, float rho, float eps, float weight_decay, bool maximize) {
  checks::check_adadelta_step(param, square_avg, acc_delta, grad, n, lr, rho, eps, weight_decay,
                              maximize);
  if (n == 0) return;
  const auto r = optim::make_adadelta_rule(lr, rho, eps, weight_decay, maximize);
  launch_step(Adadelta{r}, Arrays<4>{{param.f(), square_avg.f(), acc_delta.f(), mut(grad.f())}}, n);
}

void Cuda::rmsprop_step(View param, View square_avg, View momentum_buf, View grad_avg,
                        View grad, int64_t n, float lr, float alpha, float eps,
                        float weight_decay, float momentum, bool centered, bool maximize) {
  checks::check_rmsprop_step(param, square_avg, momentum_buf, grad_avg, grad, n, lr, alpha, eps,
                             weight_decay, momentum, centered, maximize);
  if (n == 0) return;
  const auto r = optim::make_rmsprop_rule(lr, alpha, eps, weight_decay, momentum, maximize);
  const bool mom = momentum > 0.f;
  const Arrays<5> a{{param.f(), square_avg.f(), mom ? momentum_buf.f() : nullptr,
                     centered ? grad_avg.f() : nullptr, mut(grad.f())}};
  if (centered && mom) launch_step(Rmsprop<true, true>{r}, a, n);
  else if (centered) launch_step(Rmsprop<true, false>{r}, a, n);
  else if (mom) launch_step(Rmsprop<false, true>{r}, a, n);
  else launch_step(Rmsprop<false, false>{r}, a, n);
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
  const Arrays<5> a{{param.f(), exp_avg.f(), exp_avg_sq.f(), amsgrad ? max_exp_avg_sq.f() : nullptr,
                     mut(grad.f())}};
  if (amsgrad) launch_step(Adam<true>{r}, a, n);
  else launch_step(Adam<false>{r}, a, n);
}

}  // namespace nx
