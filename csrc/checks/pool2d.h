// checks/pool2d.h — argument validation of the pool2d kernels, shared by both backends.
//
// The rule for csrc/checks/: each kernel's argument checks (sizes, dtypes, element counts,
// hyperparameter ranges) live ONCE, in csrc/checks/<stem>.h, as one inline
// nx::checks::check_<kernel>(same parameters as the prototype in kernel_api.inc) that throws
// the CPU's messages (the ones the tests match) and returns the derived sizes the kernels
// need. csrc/cpu/<stem>.cc and csrc/cuda/<stem>.cu call it first thing and keep no copy.
// Headers are header-only plain C++17 (host code for g++ and nvcc); they include only
// ../common.h and the standard library.
#pragma once

#include <algorithm>
#include <string>

#include "../common.h"

namespace nx {
namespace checks {

constexpr int64_t kPoolMaxSize = int64_t(1) << 40;

inline int64_t pool_mul_checked(const char* kernel, int64_t a, int64_t b) {
  int64_t r;
  NX_CHECK(!__builtin_mul_overflow(a, b, &r), kernel, ": size product ", a, " * ", b,
           " overflows int64");
  return r;
}

inline void pool_check_sizes(const char* kn, std::initializer_list<std::pair<const char*, int64_t>> sizes) {
  need_nonneg(kn, sizes);
  for (auto& s : sizes)
    NX_CHECK(s.second <= kPoolMaxSize, kn, ": ", s.first, "=", s.second, " is too large");
}

// Geometry of a max/avg pooling call (plain data: the CUDA kernels take it by value).
struct PoolShape {
  int64_t N, C, H, W, R, S, sh, sw, ph, pw, dh, dw, P, Q, HW, PQ, planes;
};

// The checks shared by max and avg pooling; returns the geometry with P, Q.
inline PoolShape pool_check(const char* kn, int64_t N, int64_t C, int64_t H, int64_t W, int64_t R,
                            int64_t S, int64_t sh, int64_t sw, int64_t ph, int64_t pw, int64_t dh,
                            int64_t dw, bool ceil_mode) {
  pool_check_sizes(kn, {{"N", N}, {"C", C}, {"H", H}, {"W", W}, {"pad_h", ph}, {"pad_w", pw},
                        {"R", R}, {"S", S}, {"stride_h", sh}, {"stride_w", sw}, {"dil_h", dh}, {"dil_w", dw}});
  need_pos(kn, {{"H", H}, {"W", W}, {"R", R}, {"S", S}, {"stride_h", sh}, {"stride_w", sw},
                {"dil_h", dh}, {"dil_w", dw}});
  NX_CHECK(ph <= R / 2 && pw <= S / 2, kn, ": padding (", ph, ", ", pw,
           ") must be at most half the kernel size (", R, ", ", S, ")");
  pool_mul_checked(kn, dh, R - 1);
  pool_mul_checked(kn, dw, S - 1);
  PoolShape s{N, C, H, W, R, S, sh, sw, ph, pw, dh, dw, 0, 0, 0, 0, 0};
  s.P = window_out(H, R, sh, ph, dh, ceil_mode);
  s.Q = window_out(W, S, sw, pw, dw, ceil_mode);
  NX_CHECK(s.P > 0 && s.Q > 0, kn, ": input ", shp({N, C, H, W}), " with kernel (", R, ", ", S,
           "), stride (", sh, ", ", sw, "), padding (", ph, ", ", pw, "), dilation (", dh, ", ",
           dw, ") gives an empty output (", s.P, ", ", s.Q, ")");
  s.HW = pool_mul_checked(kn, H, W);
  s.PQ = pool_mul_checked(kn, s.P, s.Q);
  s.planes = pool_mul_checked(kn, N, C);
  pool_mul_checked(kn, s.planes, std::max(s.HW, s.PQ));
  return s;
}

// Sizes of the plane-wise kernels: planes = N*C, in-plane (H*W) and other-plane element counts.
struct PlaneSizes {
  int64_t planes, HW, other;  // other: P*Q (max backward, adaptive) or OH*OW (unpool)
};

inline PlaneSizes plane_products(const char* kn, int64_t N, int64_t C, int64_t H, int64_t W,
                                 int64_t P, int64_t Q) {
  PlaneSizes z{pool_mul_checked(kn, N, C), pool_mul_checked(kn, H, W), pool_mul_checked(kn, P, Q)};
  pool_mul_checked(kn, z.planes, std::max(z.HW, z.other));
  return z;
}

inline PoolShape check_maxpool2d_forward(const View& out, const View& indices, const View& inp,
                                         int64_t N, int64_t C, int64_t H, int64_t W, int64_t R,
                                         int64_t S, int64_t stride_h, int64_t stride_w,
                                         int64_t pad_h, int64_t pad_w, int64_t dil_h,
                                         int64_t dil_w, bool ceil_mode) {
  const char* kn = "maxpool2d_forward";
  PoolShape s = pool_check(kn, N, C, H, W, R, S, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, ceil_mode);
  const std::string os = shp({N, C, s.P, s.Q});
  need(inp, s.planes * s.HW, DType::F32, kn, "inp", shp({N, C, H, W}));
  need(out, s.planes * s.PQ, DType::F32, kn, "out", os);
  need(indices, s.planes * s.PQ, DType::I64, kn, "indices", os);
  return s;
}

// Returns planes, HW = H*W, other = P*Q.
inline PlaneSizes check_maxpool2d_backward(const View& dinp, const View& dout, const View& indices,
                                           int64_t N, int64_t C, int64_t H, int64_t W, int64_t P,
                                           int64_t Q) {
  const char* kn = "maxpool2d_backward";
  pool_check_sizes(kn, {{"N", N}, {"C", C}, {"H", H}, {"W", W}, {"P", P}, {"Q", Q}});
  const PlaneSizes z = plane_products(kn, N, C, H, W, P, Q);
  need(dout, z.planes * z.other, DType::F32, kn, "dout", shp({N, C, P, Q}));
  need(indices, z.planes * z.other, DType::I64, kn, "indices", shp({N, C, P, Q}));
  need(dinp, z.planes * z.HW, DType::F32, kn, "dinp", shp({N, C, H, W}));
  return z;
}

inline PoolShape check_avgpool2d_forward(const View& out, const View& inp, int64_t N, int64_t C,
                                         int64_t H, int64_t W, int64_t R, int64_t S,
                                         int64_t stride_h, int64_t stride_w, int64_t pad_h,
                                         int64_t pad_w, bool ceil_mode, bool count_include_pad,
                                         int64_t divisor_override) {
  (void)count_include_pad;
  const char* kn = "avgpool2d_forward";
  PoolShape s = pool_check(kn, N, C, H, W, R, S, stride_h, stride_w, pad_h, pad_w, 1, 1, ceil_mode);
  NX_CHECK(divisor_override >= 0, kn, ": divisor_override=", divisor_override, " must be > 0 (or 0 for none)");
  need(inp, s.planes * s.HW, DType::F32, kn, "inp", shp({N, C, H, W}));
  need(out, s.planes * s.PQ, DType::F32, kn, "out", shp({N, C, s.P, s.Q}));
  return s;
}

inline PoolShape check_avgpool2d_backward(const View& dinp, const View& dout, int64_t N, int64_t C,
                                          int64_t H, int64_t W, int64_t R, int64_t S,
                                          int64_t stride_h, int64_t stride_w, int64_t pad_h,
                                          int64_t pad_w, bool ceil_mode, bool count_include_pad,
                                          int64_t divisor_override) {
  (void)count_include_pad;
  const char* kn = "avgpool2d_backward";
  PoolShape s = pool_check(kn, N, C, H, W, R, S, stride_h, stride_w, pad_h, pad_w, 1, 1, ceil_mode);
  NX_CHECK(divisor_override >= 0, kn, ": divisor_override=", divisor_override, " must be > 0 (or 0 for none)");
  need(dout, s.planes * s.PQ, DType::F32, kn, "dout", shp({N, C, s.P, s.Q}));
  need(dinp, s.planes * s.HW, DType::F32, kn, "dinp", shp({N, C, H, W}));
  return s;
}

// Returns planes, HW = H*W, other = P*Q.
inline PlaneSizes check_adaptive_avgpool2d_forward(const View& out, const View& inp, int64_t N,
                                                   int64_t C, int64_t H, int64_t W, int64_t P,
                                                   int64_t Q) {
  const char* kn = "adaptive_avgpool2d_forward";
  pool_check_sizes(kn, {{"N", N}, {"C", C}, {"H", H}, {"W", W}, {"P", P}, {"Q", Q}});
  need_pos(kn, {{"H", H}, {"W", W}});
  const PlaneSizes z = plane_products(kn, N, C, H, W, P, Q);
  need(inp, z.planes * z.HW, DType::F32, kn, "inp", shp({N, C, H, W}));
  need(out, z.planes * z.other, DType::F32, kn, "out", shp({N, C, P, Q}));
  return z;
}

// Returns planes, HW = H*W, other = P*Q.
inline PlaneSizes check_adaptive_avgpool2d_backward(const View& dinp, const View& dout, int64_t N,
                                                    int64_t C, int64_t H, int64_t W, int64_t P,
                                                    int64_t Q) {
  const char* kn = "adaptive_avgpool2d_backward";
  pool_check_sizes(kn, {{"N", N}, {"C", C}, {"H", H}, {"W", W}, {"P", P}, {"Q", Q}});
  need_pos(kn, {{"H", H}, {"W", W}});
  const PlaneSizes z = plane_products(kn, N, C, H, W, P, Q);
  need(dout, z.planes * z.other, DType::F32, kn, "dout", shp({N, C, P, Q}));
  need(dinp, z.planes * z.HW, DType::F32, kn, "dinp", shp({N, C, H, W}));
  return z;
}

// Returns planes, HW = H*W, other = OH*OW.
inline PlaneSizes check_maxunpool2d_forward(const View& out, const View& inp, const View& indices,
                                            int64_t N, int64_t C, int64_t H, int64_t W, int64_t OH,
                                            int64_t OW) {
  const char* kn = "maxunpool2d_forward";
  pool_check_sizes(kn, {{"N", N}, {"C", C}, {"H", H}, {"W", W}, {"OH", OH}, {"OW", OW}});
  const PlaneSizes z = plane_products(kn, N, C, H, W, OH, OW);
  need(inp, z.planes * z.HW, DType::F32, kn, "inp", shp({N, C, H, W}));
  need(indices, z.planes * z.HW, DType::I64, kn, "indices", shp({N, C, H, W}));
  need(out, z.planes * z.other, DType::F32, kn, "out", shp({N, C, OH, OW}));
  return z;
}

// Returns planes, HW = H*W, other = OH*OW.
inline PlaneSizes check_maxunpool2d_backward(const View& dinp, const View& dout, const View& indices,
                                             int64_t N, int64_t C, int64_t H, int64_t W, int64_t OH,
                                             int64_t OW) {
  const char* kn = "maxunpool2d_backward";
  pool_check_sizes(kn, {{"N", N}, {"C", C}, {"H", H}, {"W", W}, {"OH", OH}, {"OW", OW}});
  const PlaneSizes z = plane_products(kn, N, C, H, W, OH, OW);
  need(dout, z.planes * z.other, DType::F32, kn, "dout", shp({N, C, OH, OW}));
  need(indices, z.planes * z.HW, DType::I64, kn, "indices", shp({N, C, H, W}));
  need(dinp, z.planes * z.HW, DType::F32, kn, "dinp", shp({N, C, H, W}));
  return z;
}

}  // namespace checks
}  // namespace nx
