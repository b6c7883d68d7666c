// pool2d_avx512.cc (cpu) — the AVX-512 pooling row kernels of pool2d_rows.h (compiled with
// -mavx512f/dq/bw/vl, CMakeLists.txt gives *_avx512.cc files those flags); pool2d.cc calls
// them when cpu::isa() is avx512.
//
// Thread-to-data mapping: called by one thread for one output row of one (n, c) plane; one
// zmm lane = one output column q, 16 columns per block, the last block masked (no scalar
// tail). Per block and per tap (h, t) the 16 tap values x[h, q*sw - pw + t*dw] are
//   stride 1: one (masked) load;
//   stride 2: two (masked) loads of the 31 spanned floats and one vpermt2ps picking the
//             even elements (the deinterleave of a stride-2 row).
// Masked loads never touch a float outside the taps, so a block at the end of the buffer
// cannot fault. Max: running max `best` and, per lane, the int32 offset h*W - pw + t*dw of
// the tap that set it (a tap's offset is the same for every lane, so one broadcast); the
// update takes v when v > best or v is NaN (exactly the scalar rule: first max wins, NaN
// wins, a later NaN replaces an earlier one). index = offset + q*sw, widened to int64 at the
// store. Avg: the taps summed in the scalar loop's order (rows outer, taps inner), so the
// sums are bit-identical to it, then one division.
// GCC 12's avx512fintrin.h builds _mm512_extracti64x4_epi64 / _mm512_cvtepi32_epi64 on an
// _mm256_undefined_si256() that -Wmaybe-uninitialized then reports at every inlined use (a
// header false positive): silenced for this file only.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <cmath>
#include <limits>

#include "pool2d_rows.h"

namespace nx {
namespace cpu {
namespace pool_avx512 {
namespace {

inline __mmask16 first_bits(int64_t n) {
  return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1u);
}

// Lanes l < n of x[0], x[SW], x[2*SW], ... (SW = 1 or 2); mlo/mhi: the masks of the
// spanned floats in [0, 16) and [16, 32) (see block_masks).
template <int SW>
inline __m512 load_taps(const float* x, __mmask16 mlo, __mmask16 mhi) {
  if (SW == 1) return _mm512_maskz_loadu_ps(mlo, x);
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512 lo = _mm512_maskz_loadu_ps(mlo, x);
  const __m512 hi = _mm512_maskz_loadu_ps(mhi, x + 16);
  return _mm512_permutex2var_ps(lo, even, hi);
}

// n output lanes span SW*(n-1) + 1 input floats.
template <int SW>
inline void block_masks(int64_t n, __mmask16& mlo, __mmask16& mhi) {
  const int64_t e = SW * (n - 1) + 1;
  mlo = first_bits(e);
  mhi = first_bits(e - 16);
}

template <int SW>
int64_t max_row_sw(const PoolRow& r) {
  const __m512i lane_q = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                            _mm512_set1_epi32(SW));
  const __m512 neg_inf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  for (int64_t qb = r.q0; qb < r.q1; qb += 16) {
    const int64_t n = r.q1 - qb < 16 ? r.q1 - qb : 16;
    const __mmask16 m = first_bits(n);
    __mmask16 mlo, mhi;
    block_masks<SW>(n, mlo, mhi);
    __m512 best = neg_inf;
    // all -inf window: the index of its first tap (h_first, t = 0)
    __m512i arg = _mm512_set1_epi32(int32_t(r.h_first * r.W - r.pw));
    for (int64_t i = 0; i < r.nh; ++i) {
      const int64_t h = r.h_first + i * r.dh;
      const float* row = r.plane + h * r.W + qb * SW - r.pw;  // tap t = 0 of column qb
      for (int64_t t = 0; t < r.S; ++t) {
        const __m512 v = load_taps<SW>(row + t * r.dw, mlo, mhi);
        const __mmask16 take = _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
        best = _mm512_mask_mov_ps(best, take, v);
        arg = _mm512_mask_mov_epi32(arg, take, _mm512_set1_epi32(int32_t(h * r.W - r.pw + t * r.dw)));
      }
    }
    _mm512_mask_storeu_ps(r.orow + qb, m, best);
    // index = h*W - pw + t*dw + q*SW (< H*W < 2^31), then int64
    const __m512i idx = _mm512_add_epi32(arg, _mm512_add_epi32(lane_q, _mm512_set1_epi32(int32_t(qb * SW))));
    _mm512_mask_storeu_epi64(r.irow + qb, __mmask8(m & 0xFF), _mm512_cvtepi32_epi64(_mm512_castsi512_si256(idx)));
    _mm512_mask_storeu_epi64(r.irow + qb + 8, __mmask8(m >> 8), _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(idx, 1)));
  }
  return r.q1 - r.q0;
}

template <int SW>
int64_t avg_row_sw(const PoolRow& r, float divisor) {
  const __m512 div = _mm512_set1_ps(divisor);
  for (int64_t qb = r.q0; qb < r.q1; qb += 16) {
    const int64_t n = r.q1 - qb < 16 ? r.q1 - qb : 16;
    __mmask16 mlo, mhi;
    block_masks<SW>(n, mlo, mhi);
    __m512 sum = _mm512_setzero_ps();
    for (int64_t i = 0; i < r.nh; ++i) {
      const float* row = r.plane + (r.h_first + i * r.dh) * r.W + qb * SW - r.pw;
      for (int64_t t = 0; t < r.S; ++t) sum = _mm512_add_ps(sum, load_taps<SW>(row + t * r.dw, mlo, mhi));
    }
    _mm512_mask_storeu_ps(r.orow + qb, first_bits(n), _mm512_div_ps(sum, div));
  }
  return r.q1 - r.q0;
}

}  // namespace

int64_t max_row(const PoolRow& r) {
  if (r.sw == 1) return max_row_sw<1>(r);
  if (r.sw == 2) return max_row_sw<2>(r);
  return 0;
}

int64_t avg_row(const PoolRow& r, float divisor) {
  if (r.sw == 1) return avg_row_sw<1>(r, divisor);
  if (r.sw == 2) return avg_row_sw<2>(r, divisor);
  return 0;
}

}  // namespace pool_avx512
}  // namespace cpu
}  // namespace nx
