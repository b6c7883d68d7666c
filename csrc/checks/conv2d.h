// checks/conv2d.h — argument validation of the conv2d kernels, shared by both backends
// (the rule for csrc/checks/ is at the top of checks/pool2d.h).
#pragma once

#include <string>

#include "../common.h"

namespace nx {
namespace checks {

constexpr int64_t kConvMaxSize = int64_t(1) << 40;  // any single size/hyperparameter above is a bug

inline int64_t conv_mul_checked(const char* kernel, int64_t a, int64_t b) {
  int64_t r;
  NX_CHECK(!__builtin_mul_overflow(a, b, &r), kernel, ": size product ", a, " * ", b,
           " overflows int64");
  return r;
}

// Geometry of a conv2d call (plain data: the CUDA kernels take it by value).
struct ConvShape {
  int64_t N, C, H, W, K, R, S, sh, sw, ph, pw, dh, dw, G;
  int64_t P, Q, Cg, Kg, HW, PQ, CRS;  // CRS = Cg*R*S: rows of the column matrix
  int64_t variant;                    // resolved: -1 (auto) becomes 0 or 1
};

// The checks shared by the three kernels; shapes[0..2] get the input, weight and output
// shapes for the messages.
inline ConvShape conv_check(const char* kn, int64_t N, int64_t C, int64_t H, int64_t W, int64_t K,
                            int64_t R, int64_t S, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                            int64_t dh, int64_t dw, int64_t G, int64_t variant, std::string* shapes) {
  need_nonneg(kn, {{"N", N}, {"C", C}, {"H", H}, {"W", W}, {"K", K},
                   {"pad_h", ph}, {"pad_w", pw}});
  need_pos(kn, {{"R", R}, {"S", S}, {"stride_h", sh}, {"stride_w", sw}, {"dil_h", dh},
                {"dil_w", dw}, {"groups", G}});
  for (int64_t v : {N, C, H, W, K, R, S, sh, sw, ph, pw, dh, dw, G})
    NX_CHECK(v <= kConvMaxSize, kn, ": size or hyperparameter ", v, " is too large");
  NX_CHECK(variant >= -1 && variant <= 1, kn, ": variant ", variant, " not in {-1, 0, 1}");
  NX_CHECK(C % G == 0 && K % G == 0, kn, ": in channels C=", C, " and out channels K=", K,
           " must both be divisible by groups=", G);
  ConvShape s{N, C, H, W, K, R, S, sh, sw, ph, pw, dh, dw, G, 0, 0, 0, 0, 0, 0, 0, 0};
  s.Cg = C / G;
  s.Kg = K / G;
  conv_mul_checked(kn, dh, R - 1);
  conv_mul_checked(kn, dw, S - 1);
  s.P = window_out(H, R, sh, ph, dh);
  s.Q = window_out(W, S, sw, pw, dw);
  shapes[0] = shp({N, C, H, W});
  shapes[1] = shp({K, s.Cg, R, S});
  NX_CHECK(s.P > 0 && s.Q > 0, kn, ": input ", shapes[0], " with kernel (", R, ", ", S,
           "), stride (", sh, ", ", sw, "), padding (", ph, ", ", pw, "), dilation (", dh, ", ",
           dw, ") gives an empty output (", s.P, ", ", s.Q, ")");
  shapes[2] = shp({N, K, s.P, s.Q});
  s.HW = conv_mul_checked(kn, H, W);
  s.PQ = conv_mul_checked(kn, s.P, s.Q);
  s.CRS = conv_mul_checked(kn, conv_mul_checked(kn, s.Cg, R), S);
  conv_mul_checked(kn, conv_mul_checked(kn, N, C), s.HW);
  conv_mul_checked(kn, conv_mul_checked(kn, N, K), s.PQ);
  conv_mul_checked(kn, K, s.CRS);
  if (variant == -1) variant = (s.G > 1 && s.Kg < 4) ? 0 : 1;
  s.variant = variant;
  return s;
}

inline ConvShape check_conv2d_forward(const View& out, const View& inp, const View& weight,
                                      const View& bias, int64_t N, int64_t C, int64_t H, int64_t W,
                                      int64_t K, int64_t R, int64_t S, int64_t stride_h,
                                      int64_t stride_w, int64_t pad_h, int64_t pad_w, int64_t dil_h,
                                      int64_t dil_w, int64_t groups, int64_t variant) {
  const char* kn = "conv2d_forward";
  std::string sh[3];
  ConvShape s = conv_check(kn, N, C, H, W, K, R, S, stride_h, stride_w, pad_h, pad_w, dil_h,
                           dil_w, groups, variant, sh);
  need(inp, N * C * s.HW, DType::F32, kn, "inp", cat("(N, C, H, W) = ", sh[0]));
  need(weight, K * s.CRS, DType::F32, kn, "weight", cat("(K, C/groups, R, S) = ", sh[1]));
  need_opt(bias, K, DType::F32, kn, "bias", shp({K}));
  need(out, N * K * s.PQ, DType::F32, kn, "out", cat("(N, K, P, Q) = ", sh[2]));
  return s;
}

inline ConvShape check_conv2d_backward_data(const View& dinp, const View& dout, const View& weight,
                                            int64_t N, int64_t C, int64_t H, int64_t W, int64_t K,
                                            int64_t R, int64_t S, int64_t stride_h,
                                            int64_t stride_w, int64_t pad_h, int64_t pad_w,
                                            int64_t dil_h, int64_t dil_w, int64_t groups,
                                            int64_t variant) {
  const char* kn = "conv2d_backward_data";
  std::string sh[3];
  ConvShape s = conv_check(kn, N, C, H, W, K, R, S, stride_h, stride_w, pad_h, pad_w, dil_h,
                           dil_w, groups, variant, sh);
  need(dout, N * K * s.PQ, DType::F32, kn, "dout", cat("(N, K, P, Q) = ", sh[2]));
  need(weight, K * s.CRS, DType::F32, kn, "weight", cat("(K, C/groups, R, S) = ", sh[1]));
  need(dinp, N * C * s.HW, DType::F32, kn, "dinp", cat("(N, C, H, W) = ", sh[0]));
  return s;
}

inline ConvShape check_conv2d_backward_weight(const View& dweight, const View& dbias,
                                              const View& dout, const View& inp, int64_t N,
                                              int64_t C, int64_t H, int64_t W, int64_t K, int64_t R,
                                              int64_t S, int64_t stride_h, int64_t stride_w,
                                              int64_t pad_h, int64_t pad_w, int64_t dil_h,
                                              int64_t dil_w, int64_t groups, int64_t variant) {
  const char* kn = "conv2d_backward_weight";
  std::string sh[3];
  ConvShape s = conv_check(kn, N, C, H, W, K, R, S, stride_h, stride_w, pad_h, pad_w, dil_h,
                           dil_w, groups, variant, sh);
  need(dout, N * K * s.PQ, DType::F32, kn, "dout", cat("(N, K, P, Q) = ", sh[2]));
  need(inp, N * C * s.HW, DType::F32, kn, "inp", cat("(N, C, H, W) = ", sh[0]));
  need(dweight, K * s.CRS, DType::F32, kn, "dweight", cat("(K, C/groups, R, S) = ", sh[1]));
  need_opt(dbias, K, DType::F32, kn, "dbias", shp({K}));
  return s;
}

}  // namespace checks
}  // namespace nx
