// philox.h — the counter-based Philox-4x32-10 generator (Salmon et al., "Parallel random
// numbers: as easy as 1, 2, 3", SC'11), header-only, compiled both as C++ (csrc/cpu) and
// as CUDA device code (csrc/cuda), so that one seed gives the same stream on every backend.
//
// Stream mapping (kernel_api.inc, "random"): element i of a call with (seed, offset) uses
//   block   b   = offset + i / 4                      (uint64; offset counts 4-word blocks)
//   counter     = (lo32(b), hi32(b), 0, 0)            (= (b, 0, 0, 0) for b < 2^32)
//   key         = (lo32(seed), hi32(seed))
//   word        = philox4x32_10(counter, key)[i % 4]
// so a caller that draws n elements advances offset by ceil(n / 4) for the next call.
//
//   uniform:  u = (word >> 8) * 2^-24                 in [0, 1), exact in float32
//   normal:   Box-Muller on the word pairs (w0, w1) and (w2, w3) of each block:
//               u1 = ((w_{2j} >> 8) + 1) * 2^-24      in (0, 1]   (never log(0))
//               u2 = (w_{2j+1} >> 8) * 2^-24          in [0, 1)
//               r = sqrt(-2 log u1),  theta = float(2*pi) * u2   (float32 product)
//             element 4b + 2j     gets r * cos(theta)
//             element 4b + 2j + 1 gets r * sin(theta)
//             i.e. within a block: [r0 cos t0, r0 sin t0, r1 cos t1, r1 sin t1].
//   The uniform bits are identical on every backend; normals agree to the accuracy of the
//   backend's logf/sqrtf/sinf/cosf (a few ulp).
//
// Known-answer vectors (Random123 kat_vectors, philox4x32 10 rounds), checked by
// tests/test_random.py through the NumPy twin:
//   ctr 0,0,0,0 key 0,0 -> 6627e8d5 e169c58d bc57ac4c 9b00dbd8
#pragma once

#include <cstdint>
#ifndef __CUDACC__
#include <cmath>
#endif

#include "common.h"

namespace nx::philox {

// Multipliers and Weyl key increments of Philox-4x32 (Random123's defaults).
constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;

struct U4 {
  uint32_t x, y, z, w;
};

NX_HD void mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  uint64_t p = uint64_t(a) * uint64_t(b);  // exact: 32x32 -> 64 bits
  hi = uint32_t(p >> 32);
  lo = uint32_t(p);
}

// One round: (c0, c1, c2, c3) -> (hi(M1*c2) ^ c1 ^ k0, lo(M1*c2), hi(M0*c0) ^ c3 ^ k1, lo(M0*c0)).
NX_HD U4 one_round(U4 c, uint32_t k0, uint32_t k1) {
  uint32_t hi0, lo0, hi1, lo1;
  mulhilo(kM0, c.x, hi0, lo0);
  mulhilo(kM1, c.z, hi1, lo1);
  return U4{hi1 ^ c.y ^ k0, lo1, hi0 ^ c.w ^ k1, lo0};
}

// Philox-4x32 with 10 rounds; round r uses key + r * (W0, W1).
NX_HD U4 philox4x32_10(U4 ctr, uint32_t k0, uint32_t k1) {
#ifdef __CUDACC__
#pragma unroll
#endif
  for (int r = 0; r < 10; ++r) {
    ctr = one_round(ctr, k0, k1);
    k0 += kW0;
    k1 += kW1;
  }
  return ctr;
}

// The four words of block b = offset + i/4 (see the mapping above).
NX_HD U4 block(uint64_t seed, uint64_t b) {
  return philox4x32_10(U4{uint32_t(b), uint32_t(b >> 32), 0u, 0u}, uint32_t(seed),
                       uint32_t(seed >> 32));
}

NX_HD uint32_t word(const U4& v, int k) {
  return k == 0 ? v.x : k == 1 ? v.y : k == 2 ? v.z : v.w;
}

// 24 random bits -> [0, 1); exact in float32.
NX_HD float uniform(uint32_t w) { return float(w >> 8) * 5.9604644775390625e-8f; /* 2^-24 */ }

// 24 random bits -> (0, 1]: the Box-Muller radius input, never 0.
NX_HD float uniform_open0(uint32_t w) {
  return float((w >> 8) + 1u) * 5.9604644775390625e-8f;  // 2^-24
}

// Box-Muller on one word pair: z0 = r cos(theta) (even element), z1 = r sin(theta) (odd).
NX_HD void box_muller(uint32_t wa, uint32_t wb, float& z0, float& z1) {
  const float two_pi = 6.2831853071795864769f;
  const float theta = two_pi * uniform(wb);
#ifdef __CUDACC__
  const float r = sqrtf(-2.0f * logf(uniform_open0(wa)));
  z0 = r * cosf(theta);
  z1 = r * sinf(theta);
#else
  const float r = std::sqrt(-2.0f * std::log(uniform_open0(wa)));
  z0 = r * std::cos(theta);
  z1 = r * std::sin(theta);
#endif
}

}  // namespace nx::philox
