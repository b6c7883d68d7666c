// checks/elementwise.h — argument validation of the elementwise kernels, shared by both backends
// (the rule for csrc/checks/ is at the top of checks/pool2d.h).
#pragma once

#include <string>
#include <vector>

#include "../common.h"

namespace nx {
namespace checks {

// A flat array argument of any dtype: must hold exactly n elements.
inline void need_any(const View& v, int64_t n, const char* K, const char* arg) {
  NX_CHECK(!(v.data == nullptr && n > 0), K, ": argument '", arg, "' is None, expected an array of ", n,
           " elements");
  NX_CHECK(v.numel == n, K, ": argument '", arg, "' has ", v.numel, " elements, expected ", n);
}

// Element count of `shape` (ValueError on negative extents or overflow).
inline int64_t numel_of(const char* K, const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (auto d : shape) NX_CHECK(d >= 0, K, ": negative extent ", d, " in shape");
  for (auto d : shape) {
    if (d == 0) return 0;
    NX_CHECK(!__builtin_mul_overflow(n, d, &n), K, ": shape has too many elements");
  }
  return n;
}

// Checks that (shape, strides, offset) addresses only elements inside [0, numel).
inline void check_strided(const char* K, const char* arg, const std::vector<int64_t>& shape,
                          const std::vector<int64_t>& strides, int64_t offset, int64_t numel,
                          int64_t total) {
  NX_CHECK(strides.size() == shape.size(), K, ": ", arg, " strides have ", strides.size(),
           " entries, shape has ", shape.size());
  for (auto s : strides)
    NX_CHECK(s >= 0, K, ": ", arg, " stride ", s, " is negative (strides must be >= 0)");
  NX_CHECK(offset >= 0, K, ": ", arg, " offset ", offset, " is negative");
  if (total == 0) return;
  int64_t hi = offset;  // largest addressed element
  for (size_t d = 0; d < shape.size(); ++d) {
    int64_t span;
    NX_CHECK(!__builtin_mul_overflow(shape[d] - 1, strides[d], &span) &&
                 !__builtin_add_overflow(hi, span, &hi),
             K, ": ", arg, " strides address past 2^63");
  }
  NX_CHECK(hi < numel, K, ": ", arg, " (offset ", offset, ", strides) reaches element ", hi,
           " but the array has ", numel, " elements");
}

// fill's "value is not representable as int64" check stays in the kernels, inside the dtype
// switch: the CPU makes it even for n == 0, the CUDA kernel returns first when n == 0.
inline void check_fill(const View& out, int64_t n, double /*value*/) {
  const char* K = "fill";
  need_nonneg(K, {{"n", n}});
  need_any(out, n, K, "out");
}

inline void check_cast(const View& out, const View& inp, int64_t n) {
  const char* K = "cast";
  need_nonneg(K, {{"n", n}});
  need_any(out, n, K, "out");
  need_any(inp, n, K, "inp");
}

inline int64_t check_copy_strided(const View& out, const View& inp,
                                  const std::vector<int64_t>& shape,
                                  const std::vector<int64_t>& out_strides, int64_t out_offset,
                                  const std::vector<int64_t>& in_strides, int64_t in_offset) {
  const char* K = "copy_strided";
  if (out.dtype != inp.dtype)
    throw TypeError(cat(K, ": out is ", dtype_name(out.dtype), " but inp is ", dtype_name(inp.dtype),
                        " (copy_strided does not convert; use cast)"));
  const int64_t total = numel_of(K, shape);
  check_strided(K, "out", shape, out_strides, out_offset, out.numel, total);
  check_strided(K, "inp", shape, in_strides, in_offset, inp.numel, total);
  for (size_t d = 0; d < shape.size(); ++d)
    NX_CHECK(shape[d] <= 1 || out_strides[d] > 0, K, ": out stride 0 on axis ", d, " of extent ",
             shape[d], " would write one element several times");
  // (the kernels return when total == 0 before touching memory)
  if (total > 0) NX_CHECK(out.data && inp.data, K, ": out and inp must be arrays");
  return total;
}

inline int64_t check_binary_forward(const View& out, const View& a, const View& b,
                                    const std::vector<int64_t>& shape,
                                    const std::vector<int64_t>& a_strides,
                                    const std::vector<int64_t>& b_strides, int64_t op) {
  const char* K = "binary_forward";
  NX_CHECK(op >= 0 && op < BIN_COUNT, K, ": bad op code ", op);
  if (a.dtype != DType::F32 && a.dtype != DType::I64)
    throw TypeError(cat(K, ": a has dtype ", dtype_name(a.dtype), ", expected float32 or int64"));
  if (b.dtype != a.dtype)
    throw TypeError(cat(K, ": b has dtype ", dtype_name(b.dtype), ", a has ", dtype_name(a.dtype)));
  const DType odt = bin_is_compare(op) ? DType::U8 : a.dtype;
  const int64_t total = numel_of(K, shape);
  std::string sshape = "(";
  for (size_t d = 0; d < shape.size(); ++d) sshape += (d ? ", " : "") + std::to_string(shape[d]);
  sshape += ")";
  need(out, total, odt, K, "out", sshape);
  check_strided(K, "a", shape, a_strides, 0, a.numel, total);
  check_strided(K, "b", shape, b_strides, 0, b.numel, total);
  return total;
}

inline void check_unary_forward(const View& out, const View& inp, int64_t n, int64_t op,
                                float /*p0*/, float /*p1*/) {
  const char* K = "unary_forward";
  need_nonneg(K, {{"n", n}});
  NX_CHECK(op >= 0 && op < UN_COUNT, K, ": bad op code ", op);
  need(out, n, DType::F32, K, "out", shp({n}));
  need(inp, n, DType::F32, K, "inp", shp({n}));
}

inline void check_unary_backward(const View& dinp, const View& dout, const View& inp,
                                 const View& out, int64_t n, int64_t op, float /*p0*/,
                                 float /*p1*/) {
  const char* K = "unary_backward";
  need_nonneg(K, {{"n", n}});
  NX_CHECK(op >= 0 && op < UN_COUNT, K, ": bad op code ", op);
  need(dinp, n, DType::F32, K, "dinp", shp({n}));
  need(dout, n, DType::F32, K, "dout", shp({n}));
  need(inp, n, DType::F32, K, "inp", shp({n}));
  const bool uses_out = op == UN_EXP || op == UN_SQRT || op == UN_RSQRT ||
                        op == UN_RECIPROCAL || op == UN_RPOW_SCALAR || op == UN_EXPM1;
  if (uses_out) need(out, n, DType::F32, K, "out", shp({n}));
  else need_opt(out, n, DType::F32, K, "out", shp({n}));
}

inline void check_where_forward(const View& out, const View& cond, const View& a, const View& b,
                                int64_t n) {
  const char* K = "where_forward";
  need_nonneg(K, {{"n", n}});
  need(out, n, DType::F32, K, "out", shp({n}));
  need(cond, n, DType::U8, K, "cond", shp({n}));
  need(a, n, DType::F32, K, "a", shp({n}));
  need(b, n, DType::F32, K, "b", shp({n}));
}

}  // namespace checks
}  // namespace nx
