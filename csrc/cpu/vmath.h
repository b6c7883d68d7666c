// vmath.h (cpu) — branch-free float exp / tanh / sigmoid that the compiler can vectorise
// (libm's expf/tanhf are opaque calls, so loops over them stay scalar). Used where a few
// ulp do not matter and throughput does: softmax / log_softmax / cross-entropy and the
// activation gradients. Forward activations keep libm (cpu::act_apply, gemm.h) so that
// the fused gemm epilogue and activation_forward give identical numbers.
//
// Written without ?: on floats: under the default -ftrapping-math GCC turns them into
// branches (sinking a computation into the arm that uses it, or threading a clamped constant
// through the code after it) and will not if-convert them back, which leaves the loop scalar.
// Selects are bit operations instead (blend(), sign transfer); checked with -fopt-info-vec.
//
// Accuracy (measured over [-90, 90] in steps of 1e-4 against double): vexp <= 1 ulp where
// exp(x) is a normal float (subnormal results below -87.34 are approximate; 0 below ~-104;
// +inf above 88.72); vtanh <= 2 ulp; vsigmoid <= 3 ulp; NaN propagates.
//
// Internal linkage (static inline): this header is also compiled into the -mavx512f/-mavx2
// gemm TUs (through gemm.h -> act.h); a shared inline definition could let the linker hand
// an AVX-512 copy to code running on a CPU without it.
#pragma once

#include <cstdint>
#include <cstring>

namespace nx::cpu {

static inline float bits_to_float(uint32_t i) {
  float f;
  std::memcpy(&f, &i, sizeof f);  // a bit cast the vectoriser understands
  return f;
}
static inline uint32_t float_bits(float f) {
  uint32_t i;
  std::memcpy(&i, &f, sizeof i);
  return i;
}

// c ? a : b with both operands already computed, as bit operations (see the header).
static inline float blend(bool c, float a, float b) {
  const uint32_t m = 0u - uint32_t(c);
  return bits_to_float((float_bits(a) & m) | (float_bits(b) & ~m));
}

// exp(x): x = n ln2 + r with |r| <= ln2/2 (Cody-Waite split of ln2), exp(r) by the degree-6
// polynomial of Cephes' expf, 2^n assembled in exponent fields as 2^n1 * 2^n2 (n1 = floor(n/2))
// so that every n in the clamped range gives two normal factors.
static inline float vexp(float x) {
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

// tanh(x): the odd polynomial of Cephes' tanhf for |x| < 0.625, else
// sign(x) * (1 - 2 / (exp(2|x|) + 1)); both computed, one blended in.
static inline float vtanh(float x) {
  const uint32_t sign = float_bits(x) & 0x80000000u;
  const float a = bits_to_float(float_bits(x) & 0x7FFFFFFFu);
  const float s = x * x;
  const float small = ((((-5.70498872745e-3f * s + 2.06390887954e-2f) * s - 5.37397155531e-2f) * s +
                        1.33314422036e-1f) * s - 3.33332819422e-1f) * s * x + x;
  const float large = bits_to_float(float_bits(1.f - 2.f / (vexp(2.f * a) + 1.f)) | sign);
  return blend(a < 0.625f, small, large);  // NaN: the comparison is false, large is NaN
}

// sigmoid(x) = 1 / (1 + exp(-x)).
static inline float vsigmoid(float x) { return 1.f / (1.f + vexp(-x)); }

}  // namespace nx::cpu
