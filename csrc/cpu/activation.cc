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
// Gradients (dinp = dout * act'(x), from the input x; NaN behaviour as PyTorch). sigmoid and
// tanh use the forward's result y instead when `out` is given: dout * y * (1 - y) and
// dout * (1 - y^2), as PyTorch's autograd does (a memory-bound loop, no exp/tanh):
//   relu        x <= 0 ? 0 : dout                  (NaN x passes dout through)
//   leaky_relu  x > 0 ? dout : dout * slope
//   sigmoid     dout * s * (1 - s),  s = sigmoid(x)
//   tanh        dout * (1 - t^2),    t = tanh(x)
//   softplus    beta*x > 20 ? dout : dout * z / (z + 1),  z = exp(beta*x)
//   elu         x <= 0 ? dout * alpha * exp(x) : dout
//   gelu (erf)  dout * (Phi(x) + x * phi(x))   (Phi: vmath.h's vnormcdf, |error| <= 3e-7)
//   gelu (tanh) dout * (0.5 (1 + t) + 0.5 x (1 - t^2) k0 (1 + 3 k1 x^2)),
//               t = tanh(k0 (x + k1 x^3)), k0 = sqrt(2/pi), k1 = 0.044715; computed as
//               0.5 (1 + t) = s, 1 - t^2 = 4 s (1 - s) with s = sigmoid(2 k0 (x + k1 x^3)),
//               which do not cancel where t is near -1 (the forward likewise: x s)
//   step        no gradient: ValueError
//
// Variants: one algorithm (k0): a plain loop instantiated per activation (the switch is
// hoisted out of the loop), in activation_kernel.inc, compiled per ISA path (portable here,
// activation_avx2.cc, activation_avx512.cc) and chosen at run time with cpu::isa(), so the
// compiler vectorises it at each width: every loop vectorises (exp/tanh/expm1/log1p/normal
// CDF from vmath.h, a few ulp from libm).
// Thread mapping: [0, n) split into contiguous chunks, one per OpenMP thread.
#include "../checks/activation.h"
#include "backend.h"

// The baseline (portable) instance of the loops; the AVX2 and AVX-512 instances live in
// activation_avx2.cc / activation_avx512.cc.
#define NX_ACT_NS act_portable
#include "activation_kernel.inc"
#undef NX_ACT_NS

namespace nx {
namespace cpu {
namespace act_avx2 {
void act_forward_range(int64_t act, float* o, const float* x, int64_t i0, int64_t i1, float p);
void act_backward_range(int64_t act, float* dx, const float* dy, const float* x, int64_t i0,
                        int64_t i1, float p);
void act_backward_out_range(int64_t act, float* dx, const float* dy, const float* y, int64_t i0,
                            int64_t i1);
}  // namespace act_avx2
namespace act_avx512 {
void act_forward_range(int64_t act, float* o, const float* x, int64_t i0, int64_t i1, float p);
void act_backward_range(int64_t act, float* dx, const float* dy, const float* x, int64_t i0,
                        int64_t i1, float p);
void act_backward_out_range(int64_t act, float* dx, const float* dy, const float* y, int64_t i0,
                            int64_t i1);
}  // namespace act_avx512
}  // namespace cpu

namespace {

// Rough cost per element (flops) for parallel_for's "worth threading" decision.
inline int64_t act_cost(int64_t act) {
  return (act == ACT_NONE || act == ACT_RELU || act == ACT_LEAKY_RELU || act == ACT_STEP) ? 1 : 20;
}

using FwdRange = void (*)(int64_t, float*, const float*, int64_t, int64_t, float);
using BwdRange = void (*)(int64_t, float*, const float*, const float*, int64_t, int64_t, float);

constexpr cpu::PerIsa<FwdRange> kForward{cpu::act_portable::act_forward_range, cpu::act_avx2::act_forward_range,
                                          cpu::act_avx512::act_forward_range};
constexpr cpu::PerIsa<BwdRange> kBackward{cpu::act_portable::act_backward_range,
                                          cpu::act_avx2::act_backward_range,
                                          cpu::act_avx512::act_backward_range};

using BwdOutRange = void (*)(int64_t, float*, const float*, const float*, int64_t, int64_t);

constexpr cpu::PerIsa<BwdOutRange> kBackwardOut{cpu::act_portable::act_backward_out_range,
                                                 cpu::act_avx2::act_backward_out_range,
                                                 cpu::act_avx512::act_backward_out_range};

}  // namespace

void Cpu::activation_forward(View out, View inp, int64_t n, int64_t act, float param) {
  checks::check_activation_forward(out, inp, n, act, param);
  float* o = out.f();
  const float* x = inp.f();
  const FwdRange f = kForward.get();
  cpu::parallel_for(n, act_cost(act), [=](int64_t i0, int64_t i1) { f(act, o, x, i0, i1, param); });
}

void Cpu::activation_backward(View dinp, View dout, View inp, View out, int64_t n, int64_t act,
                              float param) {
  checks::check_activation_backward(dinp, dout, inp, out, n, act, param);
  float* dx = dinp.f();
  const float* dy = dout.f();
  if (checks::activation_backward_uses_out(out, act)) {
    const float* y = out.f();
    const BwdOutRange f = kBackwardOut.get();
    cpu::parallel_for(n, 1, [=](int64_t i0, int64_t i1) { f(act, dx, dy, y, i0, i1); });
    return;
  }
  const float* x = inp.f();
  const BwdRange f = kBackward.get();
  cpu::parallel_for(n, act_cost(act), [=](int64_t i0, int64_t i1) { f(act, dx, dy, x, i0, i1, param); });
}

}  // namespace nx
