// checks/index.h — argument validation of the gather/scatter_add kernels, shared by both
// backends (the rule for csrc/checks/ is at the top of checks/pool2d.h). The index VALUES are
// checked by each backend while it normalises them (they live in the backend's memory).
#pragma once

#include <algorithm>

#include "../common.h"

namespace nx {
namespace checks {

inline void index_check_sizes(const char* K, int64_t outer, int64_t size, int64_t m, int64_t inner) {
  need_nonneg(K, {{"outer", outer}, {"size", size}, {"m", m}, {"inner", inner}});
  int64_t p;
  NX_CHECK(!__builtin_mul_overflow(outer, std::max(size, m), &p) && !__builtin_mul_overflow(p, inner, &p),
           K, ": sizes overflow int64");
}

inline void check_gather(const View& out, const View& inp, const View& index, int64_t outer,
                         int64_t size, int64_t m, int64_t inner) {
  const char* K = "gather";
  index_check_sizes(K, outer, size, m, inner);
  need(inp, outer * size * inner, inp.dtype, K, "inp", shp({outer, size, inner}));
  need(out, outer * m * inner, inp.dtype, K, "out", shp({outer, m, inner}));
  need(index, m, DType::I64, K, "index", shp({m}));
}

inline void check_scatter_add(const View& out, const View& src, const View& index, int64_t outer,
                              int64_t size, int64_t m, int64_t inner) {
  const char* K = "scatter_add";
  index_check_sizes(K, outer, size, m, inner);
  if (out.dtype != DType::F32 && out.dtype != DType::I64)
    throw TypeError(cat(K, ": out has dtype ", dtype_name(out.dtype), ", expected float32 or int64"));
  need(out, outer * size * inner, out.dtype, K, "out", shp({outer, size, inner}));
  need(src, outer * m * inner, out.dtype, K, "src", shp({outer, m, inner}));
  need(index, m, DType::I64, K, "index", shp({m}));
}

}  // namespace checks
}  // namespace nx
