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

inline void check_check_index(const View& index, int64_t n, int64_t lo, int64_t hi, int64_t dim) {
  const char* K = "check_index";
  need_nonneg(K, {{"n", n}, {"dim", dim}});
  NX_CHECK(lo <= hi, K, ": lo = ", lo, " > hi = ", hi);
  need(index, n, DType::I64, K, "index", shp({n}));
}

// The message both backends raise for a value outside [lo, hi).
inline std::string index_bounds_message(int64_t v, int64_t dim, int64_t hi) {
  return cat("index ", v, " is out of bounds for dimension ", dim, " with size ", hi);
}

}  // namespace checks
}  // namespace nx
