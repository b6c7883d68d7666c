// checks/gemm.h — argument validation of the gemm kernels, shared by both backends
// (the rule for csrc/checks/ is at the top of checks/pool2d.h).
#pragma once

#include <string>
#include <vector>

#include "../common.h"

namespace nx {
namespace checks {

// The variant range is the one backend-specific check: each backend passes its highest
// variant (CPU 1, CUDA 2); the message lists {-1, 0, ..., max_variant}.
inline void need_variant(const char* K, int64_t variant, int64_t max_variant) {
  if (variant >= -1 && variant <= max_variant) return;
  std::string set = "{-1";
  for (int64_t v = 0; v <= max_variant; ++v) set += ", " + std::to_string(v);
  throw std::invalid_argument(cat(K, ": variant ", variant, " not in ", set, "}"));
}

// need()/need_opt() with the expected-shape text built only when the check fails: the
// success path must not format strings (ostringstream + locale lookups were ~2 us of the
// 3.5 us a 1x1x1 gemm_forward call took from Python; a 64^3 product's kernel takes ~5 us).
template <class Shape>
inline void need_lazy(const View& v, int64_t numel, DType dt, const char* K, const char* arg,
                      Shape&& shape) {
  if ((v.data != nullptr || numel == 0) && v.dtype == dt && v.numel == numel) return;
  need(v, numel, dt, K, arg, shape());
}
template <class Shape>
inline void need_opt_lazy(const View& v, int64_t numel, DType dt, const char* K, const char* arg,
                          Shape&& shape) {
  if (v.data == nullptr && v.numel == 0) return;
  need_lazy(v, numel, dt, K, arg, shape);
}

inline void check_gemm_forward(const View& c, const View& a, const View& b, const View& bias,
                               int64_t batch, int64_t m, int64_t n, int64_t k, bool trans_a,
                               bool trans_b, int64_t stride_a, int64_t stride_b, int64_t stride_c,
                               float /*alpha*/, float /*beta*/, int64_t act, float /*act_param*/,
                               int64_t variant, int64_t max_variant) {
  const char* K = "gemm_forward";
  need_nonneg(K, {{"batch", batch}, {"m", m}, {"n", n}, {"k", k},
                  {"stride_a", stride_a}, {"stride_b", stride_b}, {"stride_c", stride_c}});
  need_variant(K, variant, max_variant);
  NX_CHECK(act >= 0 && act < ACT_COUNT && act != ACT_STEP, K, ": bad activation code ", act);
  // Each operand must hold (batch-1)*stride + its matrix (stride 0 = broadcast); every
  // product and sum is overflow-checked (crafted sizes must not wrap to a "valid" count).
  const int64_t mn = size_product(K, {m, n}), mk = size_product(K, {m, k}), kn = size_product(K, {k, n});
  auto span = [&](int64_t stride, int64_t mat) {
    if (batch == 0) return int64_t(0);
    int64_t r = size_product(K, {batch - 1, stride});
    NX_CHECK(!__builtin_add_overflow(r, mat, &r), K, ": (batch-1)*stride + matrix size overflows int64");
    return r;
  };
  NX_CHECK(stride_c >= mn || batch <= 1, K, ": stride_c ", stride_c, " < m*n = ", mn,
           " would make batches overlap");
  need_lazy(a, span(stride_a, mk), DType::F32, K, "a", [&] {
    return cat("batch=", batch, ", stride=", stride_a, ", ", trans_a ? shp({k, m}) : shp({m, k}));
  });
  need_lazy(b, span(stride_b, kn), DType::F32, K, "b", [&] {
    return cat("batch=", batch, ", stride=", stride_b, ", ", trans_b ? shp({n, k}) : shp({k, n}));
  });
  need_lazy(c, span(stride_c, mn), DType::F32, K, "c",
            [&] { return cat("batch=", batch, ", stride=", stride_c, ", ", shp({m, n})); });
  need_opt_lazy(bias, n, DType::F32, K, "bias", [&] { return shp({n}); });
}

inline void check_gemm_backward(const View& da, const View& db, const View& dbias, const View& dc,
                                const View& a, const View& b, int64_t m, int64_t n, int64_t k,
                                bool trans_a, bool trans_b, int64_t variant, int64_t max_variant) {
  const char* K = "gemm_backward";
  need_nonneg(K, {{"m", m}, {"n", n}, {"k", k}});
  need_variant(K, variant, max_variant);
  const int64_t mn = size_product(K, {m, n}), mk = size_product(K, {m, k}), kn = size_product(K, {k, n});
  const auto a_shape = [&] { return trans_a ? shp({k, m}) : shp({m, k}); };
  const auto b_shape = [&] { return trans_b ? shp({n, k}) : shp({k, n}); };
  need_lazy(dc, mn, DType::F32, K, "dc", [&] { return shp({m, n}); });
  need_lazy(a, mk, DType::F32, K, "a", a_shape);
  need_lazy(b, kn, DType::F32, K, "b", b_shape);
  need_opt_lazy(da, mk, DType::F32, K, "da", a_shape);
  need_opt_lazy(db, kn, DType::F32, K, "db", b_shape);
  need_opt_lazy(dbias, n, DType::F32, K, "dbias", [&] { return shp({n}); });
}

}  // namespace checks
}  // namespace nx
