// checks/reduce.h — argument validation of the reduce kernels, shared by both backends
// (the rule for csrc/checks/ is at the top of checks/pool2d.h).
#pragma once

#include <string>
#include <vector>

#include "../common.h"

namespace nx {
namespace checks {

inline void reduce_check_sizes(const char* K, int64_t outer, int64_t red, int64_t inner) {
  need_nonneg(K, {{"outer", outer}, {"red", red}, {"inner", inner}});
  int64_t p;
  NX_CHECK(!__builtin_mul_overflow(outer, red, &p) && !__builtin_mul_overflow(p, inner, &p), K,
           ": sizes (", outer, ", ", red, ", ", inner, ") overflow int64");
}

inline void check_reduce_forward(const View& out, const View& inp, int64_t outer, int64_t red,
                                 int64_t inner, int64_t op) {
  const char* K = "reduce_forward";
  reduce_check_sizes(K, outer, red, inner);
  NX_CHECK(op >= RED_SUM && op <= RED_PROD, K, ": bad op code ", op);
  if (inp.dtype != DType::F32 && inp.dtype != DType::I64)
    throw TypeError(cat(K, ": inp has dtype ", dtype_name(inp.dtype), ", expected float32 or int64"));
  if (inp.dtype == DType::I64 && op == RED_MEAN)
    throw TypeError(cat(K, ": mean of an int64 array is not defined (cast to float32 first)"));
  need(inp, outer * red * inner, inp.dtype, K, "inp", shp({outer, red, inner}));
  need(out, outer * inner, inp.dtype, K, "out", shp({outer, inner}));
  NX_CHECK(red > 0 || (op != RED_MAX && op != RED_MIN), K, ": ",
           op == RED_MAX ? "max" : "min", " over an empty axis (red = 0) has no identity");
}

inline void check_argreduce_forward(const View& out, const View& inp, int64_t outer, int64_t red,
                                    int64_t inner, int64_t op) {
  const char* K = "argreduce_forward";
  reduce_check_sizes(K, outer, red, inner);
  NX_CHECK(op == ARG_MAX || op == ARG_MIN, K, ": bad op code ", op, " (0 argmax, 1 argmin)");
  if (inp.dtype != DType::F32 && inp.dtype != DType::I64)
    throw TypeError(cat(K, ": inp has dtype ", dtype_name(inp.dtype), ", expected float32 or int64"));
  need(inp, outer * red * inner, inp.dtype, K, "inp", shp({outer, red, inner}));
  need(out, outer * inner, DType::I64, K, "out", shp({outer, inner}));
  NX_CHECK(red > 0, K, ": ", op == ARG_MAX ? "argmax" : "argmin", " over an empty axis (red = 0)");
}

}  // namespace checks
}  // namespace nx
