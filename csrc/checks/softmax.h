// checks/softmax.h — argument validation of the softmax kernels, shared by both backends
// (the rule for csrc/checks/ is at the top of checks/pool2d.h).
#pragma once

#include <string>
#include <vector>

#include "../common.h"

namespace nx {
namespace checks {

inline void check_softmax_forward(const View& out, const View& inp, int64_t rows, int64_t cols,
                                  bool /*log*/) {
  const char* K = "softmax_forward";
  need_nonneg(K, {{"rows", rows}, {"cols", cols}});
  const int64_t n = size_product(K, {rows, cols});
  need(out, n, DType::F32, K, "out", shp({rows, cols}));
  need(inp, n, DType::F32, K, "inp", shp({rows, cols}));
}

inline void check_softmax_backward(const View& dinp, const View& dout, const View& out,
                                   int64_t rows, int64_t cols, bool /*log*/) {
  const char* K = "softmax_backward";
  need_nonneg(K, {{"rows", rows}, {"cols", cols}});
  const int64_t n = size_product(K, {rows, cols});
  need(dinp, n, DType::F32, K, "dinp", shp({rows, cols}));
  need(dout, n, DType::F32, K, "dout", shp({rows, cols}));
  need(out, n, DType::F32, K, "out", shp({rows, cols}));
}

inline void check_cross_entropy_forward(const View& loss, const View& lse, const View& logits,
                                        const View& target, int64_t rows, int64_t cols,
                                        int64_t /*ignore_index*/) {
  const char* K = "cross_entropy_forward";
  need_nonneg(K, {{"rows", rows}, {"cols", cols}});
  need(loss, 1, DType::F32, K, "loss", "(1)");
  need(lse, rows, DType::F32, K, "lse", shp({rows}));
  need(logits, size_product(K, {rows, cols}), DType::F32, K, "logits", shp({rows, cols}));
  need(target, rows, DType::I64, K, "target", shp({rows}));
}

inline void check_cross_entropy_backward(const View& dlogits, const View& dloss,
                                         const View& logits, const View& lse, const View& target,
                                         int64_t rows, int64_t cols, int64_t /*ignore_index*/) {
  const char* K = "cross_entropy_backward";
  need_nonneg(K, {{"rows", rows}, {"cols", cols}});
  const int64_t n = size_product(K, {rows, cols});
  need(dlogits, n, DType::F32, K, "dlogits", shp({rows, cols}));
  need(dloss, 1, DType::F32, K, "dloss", "(1)");
  need(logits, n, DType::F32, K, "logits", shp({rows, cols}));
  need(lse, rows, DType::F32, K, "lse", shp({rows}));
  need(target, rows, DType::I64, K, "target", shp({rows}));
}

}  // namespace checks
}  // namespace nx
