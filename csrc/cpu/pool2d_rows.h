// pool2d_rows.h (cpu) — the vectorised pooling row kernels pool2d.cc calls, one set per ISA
// path (pool2d_avx512.cc, pool2d_avx2.cc; the portable path keeps the scalar loops of
// pool2d.cc). A call computes one output row p of one (n, c) plane for the output columns
// [q0, q1) whose taps all lie inside the image horizontally; rows of the window outside the
// image (padding) are simply absent from the tap-row list (h_first, nh, dh).
//
// Layouts: plane (H, W) float32; orow (Q) float32 and irow (Q) int64 are the output row p
// (indices flat h*W + w within the plane, as PyTorch's).
//
// Each function returns how many columns it did, always a prefix [q0, q0 + done): the
// caller finishes [q0 + done, q1) with its scalar loop. Only strides 1 and 2 vectorise
// (the others return 0); the max kernels need H*W < 2^31 (indices ride in int32 lanes).
#pragma once

#include <cstdint>

namespace nx {
namespace cpu {

struct PoolRow {
  const float* plane;  // (H, W)
  int64_t W;
  int64_t h_first, nh, dh;  // window rows inside the image: h_first + i*dh, i < nh (nh >= 1)
  int64_t S, sw, pw, dw;    // kernel width, stride, padding, dilation along w
  int64_t q0, q1;           // output columns to do; every tap column q*sw - pw + t*dw in [0, W)
  float* orow;              // output row (Q)
  int64_t* irow;            // max: index row (Q); avg: unused
};

#define NX_POOL_DECLARE(ns)                                                              \
  namespace ns {                                                                         \
  /* out = max over taps (first max in scan order; NaN wins, the last NaN's index). */   \
  int64_t max_row(const PoolRow& r);                                                     \
  /* out = (sum over taps) / divisor (summed in tap order: h outer, t inner). */         \
  int64_t avg_row(const PoolRow& r, float divisor);                                      \
  }
NX_POOL_DECLARE(pool_avx512)
NX_POOL_DECLARE(pool_avx2)
#undef NX_POOL_DECLARE

}  // namespace cpu
}  // namespace nx
