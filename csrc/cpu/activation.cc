// activation.cc (cpu) — elementwise activations and their gradients.
//
// Layout: inp/out, dout/dinp are flat float32 arrays of n elements (any shape, flattened);
// out may alias inp and dinp may alias dout (in-place use).
// act codes: nx::Act (common.h); param: leaky_relu negative slope, elu alpha, softplus
// beta (linear where beta*x > 20, as PyTorch), gelu 0 = exact (erf), 1 = tanh approximation
// (any non-zero param selects tanh, as gemm's epilogue). ACT_NONE is the identity.
// The forward formulas are cpu::act_apply (act.h), the same ones gemm's fused epilogue
// uses, so Linear+activation fused or not gives the same numbers.
//
// Gradients (dinp = dout * act'(x), from the input x; NaN behaviour as PyTorch):
//   relu        x <= 0 ? 0 : dout                  (NaN x passes dout through)
//   leaky_relu  x > 0 ? dout : dout * slope
//   sigmoid     dout * s * (1 - s),  s = sigmoid(x)
//   tanh        dout * (1 - t^2),    t = tanh(x)
//   softplus    beta*x > 20 ? dout : dout * z / (z + 1),  z = exp(beta*x)
//   elu         x <= 0 ? dout * alpha * exp(x) : dout
//   gelu (erf)  dout * (Phi(x) + x * phi(x))
//   gelu (tanh) dout * (0.5 (1 + t) + 0.5 x (1 - t^2) k0 (1 + 3 k1 x^2)),
//               t = tanh(k0 (x + k1 x^3)), k0 = sqrt(2/pi), k1 = 0.044715
//   step        no gradient: ValueError
//
// Variants: one (k0): a plain loop instantiated per activation (the switch is hoisted out
// of the loop). relu, leaky_relu, sigmoid, tanh and gelu(tanh) vectorise both ways (exp/tanh
// from vmath.h, a few ulp from libm); softplus, elu forward and gelu(erf) call libm's
// log1p/expm1/erf per element; every other gradient vectorises.
// Thread mapping: [0, n) split into contiguous chunks, one per OpenMP thread.
#include <algorithm>
#include <cmath>

#include "act.h"
#include "backend.h"
#include "vmath.h"

namespace nx {
namespace {

constexpr float kSqrt2OverPi = 0.7978845608028654f;   // sqrt(2/pi), gelu tanh form
constexpr float kGeluCubic = 0.044715f;               // gelu tanh form's cubic coefficient
constexpr float kInvSqrt2 = 0.7071067811865476f;      // 1/sqrt(2): Phi(x) = (1+erf(x/sqrt2))/2
constexpr float kInvSqrt2Pi = 0.3989422804014327f;    // 1/sqrt(2 pi): the normal pdf's scale

// dout * act'(x) for one element; formulas as in the header. exp/tanh are cpu::vexp/vtanh
// (vmath.h, a few ulp, vectorisable) and piecewise cases blend() both computed arms, so the
// loops over sigmoid/tanh/softplus/elu/gelu(tanh) vectorise; gelu(erf) calls libm's erf.
inline float act_grad(int64_t act, float x, float dy, float p) {
  switch (act) {
    case ACT_NONE: return dy;
    case ACT_RELU: return x <= 0.f ? 0.f : dy;
    case ACT_LEAKY_RELU: return x > 0.f ? dy : dy * p;
    case ACT_SIGMOID: {
      const float s = cpu::vsigmoid(x);
      return dy * s * (1.f - s);
    }
    case ACT_TANH: {
      const float t = cpu::vtanh(x);
      return dy * (1.f - t * t);
    }
    case ACT_SOFTPLUS: {
      const float bx = x * p;
      const float z = cpu::vexp(bx);  // inf/inf = NaN above bx ~ 89: blended away
      return cpu::blend(bx > 20.f, dy, dy * z / (z + 1.f));
    }
    case ACT_ELU:  // exp(x) may overflow for large x: that arm is blended away
      return cpu::blend(x <= 0.f, dy * p * cpu::vexp(x), dy);
    case ACT_GELU:
      if (p != 0.f) {
        const float x2 = x * x;
        const float t = cpu::vtanh(kSqrt2OverPi * (x + kGeluCubic * x2 * x));
        const float left = 0.5f * (1.f + t);
        const float right = 0.5f * x * (1.f - t * t) * kSqrt2OverPi * (1.f + 3.f * kGeluCubic * x2);
        return dy * (left + right);
      } else {
        const float cdf = 0.5f * (1.f + std::erf(x * kInvSqrt2));
        const float pdf = kInvSqrt2Pi * cpu::vexp(-0.5f * x * x);
        return dy * (cdf + x * pdf);
      }
  }
  return dy;  // unreachable: codes are checked before the loops
}

// Rough cost per element (flops) for parallel_for's "worth threading" decision.
inline int64_t act_cost(int64_t act) {
  return (act == ACT_NONE || act == ACT_RELU || act == ACT_LEAKY_RELU || act == ACT_STEP) ? 1 : 20;
}

// The loops run in functions taking p and the pointers by value: loaded once into
// registers (not re-read through the lambda object, which a store to o might alias), they let
// the compiler if-convert and vectorise the piecewise-linear activations.
// leaky_relu is written branch-free (forward max(x,0) + slope*min(x,0), backward dout times a
// selected factor): the compiler (trapping math) keeps a multiply inside its branch, which
// would stay scalar. The values are exactly those of act_apply / act_grad.
template <int64_t A>
void forward_range(float* o, const float* x, int64_t i0, int64_t i1, float p) {
  if constexpr (A == ACT_LEAKY_RELU) {
    for (int64_t i = i0; i < i1; ++i) {
      const float v = x[i];
      o[i] = std::max(v, 0.f) + p * std::min(v, 0.f);  // one term is exactly 0 (NaN stays NaN)
    }
  } else {
    for (int64_t i = i0; i < i1; ++i) o[i] = cpu::act_apply(A, x[i], p);
  }
}

template <int64_t A>
void backward_range(float* dx, const float* dy, const float* x, int64_t i0, int64_t i1, float p) {
  if constexpr (A == ACT_GELU) {  // hoist the erf/tanh choice out of the loop
    if (p != 0.f)
      for (int64_t i = i0; i < i1; ++i) dx[i] = act_grad(A, x[i], dy[i], 1.f);
    else
      for (int64_t i = i0; i < i1; ++i) dx[i] = act_grad(A, x[i], dy[i], 0.f);
  } else if constexpr (A == ACT_LEAKY_RELU) {
    for (int64_t i = i0; i < i1; ++i) {
      const float k = x[i] > 0.f ? 1.f : p;
      dx[i] = dy[i] * k;
    }
  } else {
    for (int64_t i = i0; i < i1; ++i) dx[i] = act_grad(A, x[i], dy[i], p);
  }
}

template <int64_t A>
void forward_loop(float* o, const float* x, int64_t n, float p) {
  cpu::parallel_for(n, act_cost(A), [=](int64_t i0, int64_t i1) { forward_range<A>(o, x, i0, i1, p); });
}

template <int64_t A>
void backward_loop(float* dx, const float* dy, const float* x, int64_t n, float p) {
  cpu::parallel_for(n, act_cost(A), [=](int64_t i0, int64_t i1) { backward_range<A>(dx, dy, x, i0, i1, p); });
}

}  // namespace

void Cpu::activation_forward(View out, View inp, int64_t n, int64_t act, float param) {
  const char* K = "activation_forward";
  need_nonneg(K, {{"n", n}});
  NX_CHECK(act >= 0 && act < ACT_COUNT, K, ": unknown activation code ", act);
  need(out, n, DType::F32, K, "out", shp({n}));
  need(inp, n, DType::F32, K, "inp", shp({n}));
  float* o = out.f();
  const float* x = inp.f();
  switch (act) {
    case ACT_NONE: return forward_loop<ACT_NONE>(o, x, n, param);
    case ACT_RELU: return forward_loop<ACT_RELU>(o, x, n, param);
    case ACT_LEAKY_RELU: return forward_loop<ACT_LEAKY_RELU>(o, x, n, param);
    case ACT_SIGMOID: return forward_loop<ACT_SIGMOID>(o, x, n, param);
    case ACT_TANH: return forward_loop<ACT_TANH>(o, x, n, param);
    case ACT_SOFTPLUS: return forward_loop<ACT_SOFTPLUS>(o, x, n, param);
    case ACT_ELU: return forward_loop<ACT_ELU>(o, x, n, param);
    case ACT_GELU: return forward_loop<ACT_GELU>(o, x, n, param);
    case ACT_STEP: return forward_loop<ACT_STEP>(o, x, n, param);
  }
}

void Cpu::activation_backward(View dinp, View dout, View inp, int64_t n, int64_t act,
                              float param) {
  const char* K = "activation_backward";
  need_nonneg(K, {{"n", n}});
  NX_CHECK(act >= 0 && act < ACT_COUNT, K, ": unknown activation code ", act);
  NX_CHECK(act != ACT_STEP, K, ": step has no gradient (its derivative is 0 almost everywhere "
           "and undefined at 0)");
  need(dinp, n, DType::F32, K, "dinp", shp({n}));
  need(dout, n, DType::F32, K, "dout", shp({n}));
  need(inp, n, DType::F32, K, "inp", shp({n}));
  float* dx = dinp.f();
  const float* dy = dout.f();
  const float* x = inp.f();
  switch (act) {
    case ACT_NONE: return backward_loop<ACT_NONE>(dx, dy, x, n, param);
    case ACT_RELU: return backward_loop<ACT_RELU>(dx, dy, x, n, param);
    case ACT_LEAKY_RELU: return backward_loop<ACT_LEAKY_RELU>(dx, dy, x, n, param);
    case ACT_SIGMOID: return backward_loop<ACT_SIGMOID>(dx, dy, x, n, param);
    case ACT_TANH: return backward_loop<ACT_TANH>(dx, dy, x, n, param);
    case ACT_SOFTPLUS: return backward_loop<ACT_SOFTPLUS>(dx, dy, x, n, param);
    case ACT_ELU: return backward_loop<ACT_ELU>(dx, dy, x, n, param);
    case ACT_GELU: return backward_loop<ACT_GELU>(dx, dy, x, n, param);
  }
}

}  // namespace nx
