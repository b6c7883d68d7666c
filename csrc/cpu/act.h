// act.h (cpu) — one activation value, act_apply(act, x, param): the forward formulas shared
// by activation_forward (activation.cc) and gemm's fused bias+activation epilogue (gemm.h),
// so Linear+activation fused or not gives the same numbers (bit-identical within one ISA
// path; the -mavx2/-mavx512f gemm TUs may contract to FMA: a few ulp). static inline for
// the reason given in vmath.h.
//
// act codes: nx::Act (common.h); param: leaky_relu slope, softplus beta (linear where
// beta*x > 20, as PyTorch), elu alpha, gelu 0 = exact (erf), else the tanh approximation.
// Written so that a loop over one code vectorises: the transcendental ones use vmath.h's
// exp/tanh/expm1/log1p/normal-CDF (a few ulp; the CDF to 3e-7 absolute, like PyTorch's
// vectorised erf) and piecewise forms blend both computed arms. NaN propagates, except
// step (0).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "../common.h"
#include "vmath.h"

namespace nx::cpu {

static inline float act_apply(int64_t act, float x, float p) {
  switch (act) {
    case ACT_NONE: return x;
    case ACT_RELU: return x > 0.f ? x : (x == x ? 0.f : x);
    case ACT_LEAKY_RELU: return std::max(x, 0.f) + p * std::min(x, 0.f);  // = x > 0 ? x : x*p
    case ACT_SIGMOID: return vsigmoid(x);
    case ACT_TANH: return vtanh(x);
    case ACT_SOFTPLUS: {  // p = beta; linear above beta*x > 20 as PyTorch
      const float bx = x * p;
      return blend(bx > 20.f, x, vlog1p(vexp(bx)) / p);  // exp overflow above: blended away
    }
    case ACT_ELU: return blend(x > 0.f, x, p * vexpm1(x));  // exp overflow for x > 0: blended away
    case ACT_GELU:
      if (p != 0.f) {
        // 0.5 x (1 + tanh(z)) = x sig(2z): no cancellation where tanh(z) is near -1.
        const float k0 = 0.7978845608028654f, k1 = 0.044715f;  // sqrt(2/pi), cubic coefficient
        return x * vsigmoid(2.f * k0 * (x + k1 * x * x * x));
      }
      return x * vnormcdf(x);  // x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))
    case ACT_STEP: return x > 0.f ? 1.f : 0.f;
  }
  return x;
}

}  // namespace nx::cpu
