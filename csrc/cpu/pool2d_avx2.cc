// pool2d_avx2.cc (cpu) — the AVX2 pooling row kernels of pool2d_rows.h (compiled with
// -mavx2 -mfma, CMakeLists.txt gives *_avx2.cc files those flags); pool2d.cc calls them when
// cpu::isa() is avx2.
//
// Thread-to-data mapping: called by one thread for one output row of one (n, c) plane; one
// ymm lane = one output column q, blocks of 8 columns, the last one overlapping its
// neighbour when the width is not a multiple of 8 (for_blocks; rows narrower than 8 are
// left to the caller's scalar loop). Per block and per tap the 8 tap values x[h, q*sw - pw + t*dw] are
//   stride 1: one load;
//   stride 2: a load of 8 and a masked load of the next 7 (vmaskmovps never faults, so the
//             block may end at the end of the buffer), vshufps picking the even elements of
//             each 128-bit half and vpermpd putting the halves in order.
// Max: the same update rule and int32 tap offsets as the AVX-512 kernels (see
// pool2d_avx512.cc), with blends instead of mask registers. Avg: taps summed in the scalar
// order, then one division.
#include <immintrin.h>

#include <limits>

#include "pool2d_rows.h"

namespace nx {
namespace cpu {
namespace pool_avx2 {
namespace {

template <int SW>
inline __m256 load_taps(const float* x) {
  if (SW == 1) return _mm256_loadu_ps(x);
  const __m256i first7 = _mm256_setr_epi32(-1, -1, -1, -1, -1, -1, -1, 0);
  const __m256 lo = _mm256_loadu_ps(x);                 // x[0..8)
  const __m256 hi = _mm256_maskload_ps(x + 8, first7);  // x[8..15), x[15] not read
  // [lo0 lo2 hi0 hi2 | lo4 lo6 hi4 hi6] -> 64-bit pairs (0, 2, 1, 3) -> lo0 lo2 lo4 lo6 hi0 hi2 hi4 hi6
  const __m256 s = _mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(s), _MM_SHUFFLE(3, 1, 2, 0)));
}

// Runs block(qb) over the full blocks of 8 columns of [q0, q1), then, when the row has at
// least 8 columns, once more over its last 8 (overlapping the previous block: those columns
// are recomputed with the same values), so no column is left to the caller's scalar loop
// (its compare-and-branch per tap mispredicts on random data: the 4 leftover columns of a
// 28-wide row took as long as the other 24). Returns the columns done.
template <class Block>
inline int64_t for_blocks(const PoolRow& r, const Block& block) {
  const int64_t width = r.q1 - r.q0;
  if (width < 8) return 0;
  for (int64_t qb = r.q0; qb + 8 <= r.q1; qb += 8) block(qb);
  if (width % 8) block(r.q1 - 8);
  return width;
}

template <int SW>
int64_t max_row_sw(const PoolRow& r) {
  const __m256i lane_q = _mm256_setr_epi32(0, SW, 2 * SW, 3 * SW, 4 * SW, 5 * SW, 6 * SW, 7 * SW);
  const __m256 neg_inf = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  const auto block = [&](int64_t qb) {
    __m256 best = neg_inf;
    __m256 arg = _mm256_castsi256_ps(_mm256_set1_epi32(int32_t(r.h_first * r.W - r.pw)));
    for (int64_t i = 0; i < r.nh; ++i) {
      const int64_t h = r.h_first + i * r.dh;
      const float* row = r.plane + h * r.W + qb * SW - r.pw;
      for (int64_t t = 0; t < r.S; ++t) {
        const __m256 v = load_taps<SW>(row + t * r.dw);
        const __m256 take = _mm256_or_ps(_mm256_cmp_ps(v, best, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
        best = _mm256_blendv_ps(best, v, take);
        arg = _mm256_blendv_ps(arg, _mm256_castsi256_ps(_mm256_set1_epi32(int32_t(h * r.W - r.pw + t * r.dw))), take);
      }
    }
    _mm256_storeu_ps(r.orow + qb, best);
    const __m256i idx = _mm256_add_epi32(_mm256_castps_si256(arg), _mm256_add_epi32(lane_q, _mm256_set1_epi32(int32_t(qb * SW))));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(r.irow + qb), _mm256_cvtepi32_epi64(_mm256_castsi256_si128(idx)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(r.irow + qb + 4), _mm256_cvtepi32_epi64(_mm256_extracti128_si256(idx, 1)));
  };
  return for_blocks(r, block);
}

template <int SW>
int64_t avg_row_sw(const PoolRow& r, float divisor) {
  const __m256 div = _mm256_set1_ps(divisor);
  const auto block = [&](int64_t qb) {
    __m256 sum = _mm256_setzero_ps();
    for (int64_t i = 0; i < r.nh; ++i) {
      const float* row = r.plane + (r.h_first + i * r.dh) * r.W + qb * SW - r.pw;
      for (int64_t t = 0; t < r.S; ++t) sum = _mm256_add_ps(sum, load_taps<SW>(row + t * r.dw));
    }
    _mm256_storeu_ps(r.orow + qb, _mm256_div_ps(sum, div));
  };
  return for_blocks(r, block);
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

}  // namespace pool_avx2
}  // namespace cpu
}  // namespace nx
