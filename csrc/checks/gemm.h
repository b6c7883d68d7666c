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
  // Each operand must hold (batch-1)*stride + its matrix (stride 0 = broadcast).
  auto span = [&](int64_t stride, int64_t mat) { return batch == 0 ? 0 : (batch - 1) * stride + mat; };
  NX_CHECK(stride_c >= m * n || batch <= 1, K, ": stride_c ", stride_c, " < m*n = ", m * n,
           " would make batches overlap");
  need(a, span(stride_a, m * k), DType::F32, K, "a",
       cat("batch=", batch, ", stride=", stride_a, ", ", trans_a ? shp({k, m}) : shp({m, k})));
  need(b, span(stride_b, k * n), DType::F32, K, "b",
       cat("batch=", batch, ", stride=", stride_b, ", ", trans_b ? shp({n, k}) : shp({k, n})));
  need(c, span(stride_c, m * n), DType::F32, K, "c", cat("batch=", batch, ", stride=", stride_c, ", ", shp({m, n})));
  need_opt(bias, n, DType::F32, K, "bias", shp({n}));
}

inline void check_gemm_backward(const View& da, const View& db, const View& dbias, const View& dc,
                                const View& a, const View& b, int64_t m, int64_t n, int64_t k,
                                bool trans_a, bool trans_b, int64_t variant, int64_t max_variant) {
  const char* K = "gemm_backward";
  need_nonneg(K, {{"m", m}, {"n", n}, {"k", k}});
  need_variant(K, variant, max_variant);
  need(dc, m * n, DType::F32, K, "dc", shp({m, n}));
  need(a, m * k, DType::F32, K, "a", trans_a ? shp({k, m}) : shp({m, k}));
  need(b, k * n, DType::F32, K, "b", trans_b ? shp({n, k}) : shp({k, n}));
  need_opt(da, m * k, DType::F32, K, "da", trans_a ? shp({k, m}) : shp({m, k}));
  need_opt(db, k * n, DType::F32, K, "db", trans_b ? shp({n, k}) : shp({k, n}));
  need_opt(dbias, n, DType::F32, K, "dbias", shp({n}));
}

}  // namespace checks
}  // namespace nx
