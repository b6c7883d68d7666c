// vmath.h (cpu) — branch-free float exp / tanh / sigmoid that the compiler can vectorise
// (libm's expf/tanhf are opaque calls, so loops over them stay scalar). Used where a few
// ulp do not matter and throughput does: softmax / log_softmax / cross-entropy, the
// activations and their gradients (cpu::act_apply in act.h, shared by activation_forward and
// the fused gemm epilogue so both give the same numbers) and the LSTM cell.
//
// Written without ?: on floats: under the default -ftrapping-math GCC turns them into
// branches (sinking a computation into the arm that uses it, or threading a clamped constant
// through the code after it) and will not if-convert them back, which leaves the loop scalar.
// Selects are bit operations instead (blend(), sign transfer); checked with -fopt-info-vec.
//
// Accuracy (measured over [-90, 90] in steps of 1e-4 against double): vexp <= 1 ulp where
// exp(x) is a normal float (subnormal results below -87.34 are approximate; 0 below ~-104;
// +inf above 88.72); vtanh <= 7 ulp (a rational fit, see there); vsigmoid <= 3 ulp; vexpm1 <= 2 ulp; vlog1p <= 2 ulp
// (on [-0.99, 1e9]); vnormcdf absolute error <= 3e-7 (see there); NaN propagates.
//
// Internal linkage (static inline): this header is also compiled into the -mavx512f/-mavx2
// gemm TUs (through gemm.h -> act.h); a shared inline definition could let the linker hand
// an AVX-512 copy to code running on a CPU without it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

// Always inlined: lstm.cc compiles its loops per ISA with __attribute__((target)), and a call
// that was not inlined there would run the baseline (SSE2) copy.
#define NX_VMATH static inline __attribute__((always_inline))

namespace nx::cpu {

NX_VMATH float bits_to_float(uint32_t i) {
  float f;
  std::memcpy(&f, &i, sizeof f);  // a bit cast the vectoriser understands
  return f;
}
NX_VMATH uint32_t float_bits(float f) {
  uint32_t i;
  std::memcpy(&i, &f, sizeof i);
  return i;
}

// c ? a : b with both operands already computed, as bit operations (see the header).
NX_VMATH float blend(bool c, float a, float b) {
  const uint32_t m = 0u - uint32_t(c);
  return bits_to_float((float_bits(a) & m) | (float_bits(b) & ~m));
}

// exp(x): x = n ln2 + r with |r| <= ln2/2 (Cody-Waite split of ln2), exp(r) by the degree-6
// polynomial of Cephes' expf, 2^n assembled in exponent fields as 2^n1 * 2^n2 (n1 = floor(n/2))
// so that every n in the clamped range gives two normal factors.
NX_VMATH float vexp(float x) {
  // Clamp: above 89 the result overflows to +inf anyway (1.32 * 2^128); below -110 it
  // underflows to 0 (2^-159). The comparisons are false for NaN, which passes through.
  float xc = blend(x > 89.f, 89.f, x);
  xc = blend(xc < -110.f, -110.f, xc);
  // round(x / ln2) by the 1.5 * 2^23 trick: t's low mantissa bits hold n in two's complement.
  const float t = xc * 1.44269504088896341f + 12582912.f;
  const float fn = t - 12582912.f;
  const int32_t n = int32_t(float_bits(t) - 0x4B400000u);
  const float r = (xc - fn * 0.693359375f) - fn * -2.12194440e-4f;  // ln2 = 0.693359375 - 2.12e-4
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * r * r + r + 1.f;
  const int32_t n1 = n >> 1, n2 = n - n1;  // in [-80, 65] (arbitrary for NaN, where y is NaN)
  return y * bits_to_float(uint32_t(n1 + 127) << 23) * bits_to_float(uint32_t(n2 + 127) << 23);
}

// tanh(x) = x P(x^2) / Q(x^2) on [-9, 9], x clamped there first (tanh(9) rounds to 1 in
// float32): our own rational fit, P and Q of degree 4 in x^2 (csrc/cpu/vmath_fit_tanh.py:
// relative error 2e-8 in exact arithmetic, <= 6.3 ulp as evaluated in float32, worst near
// |x| ~ 7-9 where tanh is within 1e-6 of 1). One division and 9 FMAs, no exp: about twice
// the throughput of the exp form 1 - 2 / (exp(2|x|) + 1) it replaced (which needed a second,
// polynomial arm for small |x|). NaN propagates through min/max and the arithmetic.
NX_VMATH float vtanh(float x) {
  const float xc = std::max(std::min(x, 9.f), -9.f);
  const float s = xc * xc;
  const float p = (((1.3356961643691487e-08f * s + 2.0610750104412250e-05f) * s + 3.4956897636319929e-03f) * s +
                   1.3381111292500428e-01f) * s + 9.9999997947796859e-01f;
  const float q = (((7.7775021048258432e-07f * s + 3.2858008433270372e-04f) * s + 2.5877369109641644e-02f) * s +
                   4.6714426907922008e-01f) * s + 1.f;
  return xc * p / q;
}

// sigmoid(x) = 1 / (1 + exp(-x)).
NX_VMATH float vsigmoid(float x) { return 1.f / (1.f + vexp(-x)); }

// expm1(x) = exp(x) - 1: the Taylor series to x^8 for |x| < 0.5 (truncation < 6e-9
// relative, so small x keep full relative accuracy), else exp(x) - 1; blended.
NX_VMATH float vexpm1(float x) {
  float p = 1.f / 40320.f;
  p = p * x + 1.f / 5040.f;
  p = p * x + 1.f / 720.f;
  p = p * x + 1.f / 120.f;
  p = p * x + 1.f / 24.f;
  p = p * x + 1.f / 6.f;
  p = p * x + 0.5f;
  const float small = (p * x + 1.f) * x;
  const float a = bits_to_float(float_bits(x) & 0x7FFFFFFFu);
  return blend(a < 0.5f, small, vexp(x) - 1.f);
}

// log1p(z) for z > -1 (NaN propagates): u = 1 + z, log(u) by Cephes' logf (u = m 2^e with
// m in [sqrt(1/2), sqrt 2), a degree-8 polynomial in m - 1, e ln2 split in two parts), plus
// the rounding correction -((u - 1) - z) / u, which makes tiny z give z.
NX_VMATH float vlog1p(float z) {
  const float u = 1.f + z;
  const uint32_t ub = float_bits(u);
  int32_t e = int32_t(ub >> 23) - 126;                       // u = m * 2^e, m in [0.5, 1)
  float m = bits_to_float((ub & 0x007FFFFFu) | 0x3F000000u);
  const bool lo = m < 0.70710678118654752f;                  // move m into [sqrt(1/2), sqrt 2)
  e -= int32_t(lo);
  m = blend(lo, m + m, m) - 1.f;
  const float m2 = m * m;
  float p = 7.0376836292e-2f;
  p = p * m - 1.1514610310e-1f;
  p = p * m + 1.1676998740e-1f;
  p = p * m - 1.2420140846e-1f;
  p = p * m + 1.4249322787e-1f;
  p = p * m - 1.6668057665e-1f;
  p = p * m + 2.0000714765e-1f;
  p = p * m - 2.4999993993e-1f;
  p = p * m + 3.3333331174e-1f;
  const float fe = float(e);
  const float y = p * m * m2 + fe * -2.12194440e-4f - 0.5f * m2;
  const float logu = (m + y) + fe * 0.693359375f;
  return logu - ((u - 1.f) - z) / u;
}

// The standard normal CDF Phi(x) = (1 + erf(x / sqrt 2)) / 2 (gelu's exact form), from
// Abramowitz & Stegun 7.1.26: erfc(z) = t (a1 + t (a2 + ... + t a5)) exp(-z^2),
// t = 1 / (1 + 0.3275911 z), z = |x| / sqrt 2 >= 0 (the same approximation as PyTorch's
// vectorised CPU erf). Absolute error <= 3e-7 on Phi in float (measured), which x * Phi(x)
// turns into a relative error < 1e-6 near 0 (Phi ~ 1/2) and an absolute error < 1e-8 in the
// left tail (where libm's 1 + erf loses more to cancellation).
// vnormcdf_e takes e = exp(-z^2) = exp(-x^2 / 2) from the caller: gelu's gradient needs
// the same exponential for the density phi(x) = e / sqrt(2 pi), and computes it once.
NX_VMATH float vnormcdf_e(float x, float e) {
  const float z = bits_to_float(float_bits(x) & 0x7FFFFFFFu) * 0.7071067811865476f;
  const float t = 1.f / (1.f + 0.3275911f * z);
  float p = 1.061405429f;
  p = p * t - 1.453152027f;
  p = p * t + 1.421413741f;
  p = p * t - 0.284496736f;
  p = p * t + 0.254829592f;
  const float half_erfc = 0.5f * p * t * e;  // Phi(-|x|)
  return blend(x < 0.f, half_erfc, 1.f - half_erfc);  // NaN: 1 - NaN = NaN
}

NX_VMATH float vnormcdf(float x) {
  const float z = bits_to_float(float_bits(x) & 0x7FFFFFFFu) * 0.7071067811865476f;
  return vnormcdf_e(x, vexp(-z * z));
}

}  // namespace nx::cpu
