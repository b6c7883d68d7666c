// activation.cu (cuda) — elementwise activations and their gradients; formulas, NaN
// behaviour and argument checks as csrc/cpu/activation.cc (act_fwd / act_dgrad in
// check.cuh; gemm's fused epilogue uses the same act_fwd). sigmoid/tanh backward read the
// forward's result when it is given, as the CPU backend.
// Layout: flat float32 arrays of n elements; out may alias inp, dinp may alias dout.
// Variants: one. Thread mapping: thread -> 4 consecutive elements (one float4) when the
// pointers are 16-byte aligned, else one element; grid-stride over the array. The
// activation code is a template parameter, so each kernel is a branch-free loop.
#include "../checks/activation.h"
#include "check.cuh"

namespace nx {
namespace cuda {
namespace {

constexpr int kThreads = 256;


template <int64_t A>
__global__ void act_fwd_kernel(float* out, const float* inp, int64_t n, float p, bool vec) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t t0 = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (vec) {
    const int64_t n4 = n / 4;
    for (int64_t t = t0; t < n4; t += stride) {
      float4 x = reinterpret_cast<const float4*>(inp)[t];
      x.x = act_fwd(A, x.x, p); x.y = act_fwd(A, x.y, p);
      x.z = act_fwd(A, x.z, p); x.w = act_fwd(A, x.w, p);
      reinterpret_cast<float4*>(out)[t] = x;
    }
    for (int64_t t = n4 * 4 + t0; t < n; t += stride) out[t] = act_fwd(A, inp[t], p);
  } else {
    for (int64_t t = t0; t < n; t += stride) out[t] = act_fwd(A, inp[t], p);
  }
}

// The gradient of one element: from the input x (act_dgrad), or, when FROM_OUT (sigmoid and
// tanh only), from the forward's result y: dy*y*(1-y), dy*(1-y*y).
template <int64_t A, bool FROM_OUT>
__device__ __forceinline__ float grad1(float v, float dy, float p) {
  if constexpr (FROM_OUT) return A == ACT_SIGMOID ? dy * (v * (1.f - v)) : dy * (1.f - v * v);
  return act_dgrad(A, v, dy, p);
}

// inp: x, or y when FROM_OUT.
template <int64_t A, bool FROM_OUT>
__global__ void act_bwd_kernel(float* dinp, const float* dout, const float* inp, int64_t n,
                               float p, bool vec) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t t0 = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (vec) {
    const int64_t n4 = n / 4;
    for (int64_t t = t0; t < n4; t += stride) {
      const float4 x = reinterpret_cast<const float4*>(inp)[t];
      float4 g = reinterpret_cast<const float4*>(dout)[t];
      g.x = grad1<A, FROM_OUT>(x.x, g.x, p); g.y = grad1<A, FROM_OUT>(x.y, g.y, p);
      g.z = grad1<A, FROM_OUT>(x.z, g.z, p); g.w = grad1<A, FROM_OUT>(x.w, g.w, p);
      reinterpret_cast<float4*>(dinp)[t] = g;
    }
    for (int64_t t = n4 * 4 + t0; t < n; t += stride) dinp[t] = grad1<A, FROM_OUT>(inp[t], dout[t], p);
  } else {
    for (int64_t t = t0; t < n; t += stride) dinp[t] = grad1<A, FROM_OUT>(inp[t], dout[t], p);
  }
}

template <int64_t A>
void fwd(float* o, const float* x, int64_t n, float p) {
  const bool vec = aligned16(o) && aligned16(x);
  NX_LAUNCH(grid_1d(vec ? (n + 3) / 4 : n, kThreads), kThreads, act_fwd_kernel<A>)(o, x, n, p, vec);
  NX_CUDA_LAUNCH();
}
template <int64_t A, bool FROM_OUT = false>
void bwd(float* dx, const float* dy, const float* x, int64_t n, float p) {
  const bool vec = aligned16(dx) && aligned16(dy) && aligned16(x);
  NX_LAUNCH(grid_1d(vec ? (n + 3) / 4 : n, kThreads), kThreads, act_bwd_kernel<A, FROM_OUT>)(dx, dy, x, n, p, vec);
  NX_CUDA_LAUNCH();
}

}  // namespace
}  // namespace cuda

void Cuda::activation_forward(View out, View inp, int64_t n, int64_t act, float param) {
  checks::check_activation_forward(out, inp, n, act, param);
  if (n == 0) return;
  using namespace cuda;
  float* o = out.f();
  const float* x = inp.f();
  switch (act) {
    case ACT_NONE: return fwd<ACT_NONE>(o, x, n, param);
    case ACT_RELU: return fwd<ACT_RELU>(o, x, n, param);
    case ACT_LEAKY_RELU: return fwd<ACT_LEAKY_RELU>(o, x, n, param);
    case ACT_SIGMOID: return fwd<ACT_SIGMOID>(o, x, n, param);
    case ACT_TANH: return fwd<ACT_TANH>(o, x, n, param);
    case ACT_SOFTPLUS: return fwd<ACT_SOFTPLUS>(o, x, n, param);
    case ACT_ELU: return fwd<ACT_ELU>(o, x, n, param);
    case ACT_GELU: return fwd<ACT_GELU>(o, x, n, param);
    case ACT_STEP: return fwd<ACT_STEP>(o, x, n, param);
  }
}

void Cuda::activation_backward(View dinp, View dout, View inp, View out, int64_t n, int64_t act,
                               float param) {
  checks::check_activation_backward(dinp, dout, inp, out, n, act, param);
  if (n == 0) return;
  using namespace cuda;
  float* dx = dinp.f();
  const float* dy = dout.f();
  if (checks::activation_backward_uses_out(out, act)) {
    if (act == ACT_SIGMOID) return bwd<ACT_SIGMOID, true>(dx, dy, out.f(), n, param);
    return bwd<ACT_TANH, true>(dx, dy, out.f(), n, param);
  }
  const float* x = inp.f();
  switch (act) {
    case ACT_NONE: return bwd<ACT_NONE>(dx, dy, x, n, param);
    case ACT_RELU: return bwd<ACT_RELU>(dx, dy, x, n, param);
    case ACT_LEAKY_RELU: return bwd<ACT_LEAKY_RELU>(dx, dy, x, n, param);
    case ACT_SIGMOID: return bwd<ACT_SIGMOID>(dx, dy, x, n, param);
    case ACT_TANH: return bwd<ACT_TANH>(dx, dy, x, n, param);
    case ACT_SOFTPLUS: return bwd<ACT_SOFTPLUS>(dx, dy, x, n, param);
    case ACT_ELU: return bwd<ACT_ELU>(dx, dy, x, n, param);
    case ACT_GELU: return bwd<ACT_GELU>(dx, dy, x, n, param);
  }
}

}  // namespace nx
