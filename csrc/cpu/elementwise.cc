// elementwise.cc (cpu) — the glue kernels the tensor layer is built from: fill, cast,
// strided copy (permute/slice/expand/pad and their backwards), broadcasting binary ops,
// unary ops and their backward, where.
//
// Layouts: every View is a flat contiguous buffer; copy_strided and binary_forward address
// elements of their inputs through (shape, strides in ELEMENTS, offset). Strides must be
// >= 0 (0 broadcasts); every addressed element is checked to lie inside its View before
// anything is read or written. copy_strided also refuses an out stride of 0 on an axis of
// extent > 1 (it would write one element several times, with no defined winner); out and
// inp must not overlap.
//
// One implementation each (no variants). Shared machinery: `coalesce` (../strided.h, with the
// cast rule `convert`, shared with the CUDA backend) drops size-1 axes and
// merges axes that are contiguous in every operand, so a contiguous tensor, a scalar
// broadcast or a row broadcast becomes one or two long axes; `for_rows` then runs the
// innermost axis as a tight loop with fast paths for unit/zero strides (memcpy for copies,
// vectorisable loops for binary ops).
//
// Threads: the flat element range (fill, cast, unary, where) or the rows of the coalesced
// index space (copy_strided, binary_forward) are split into one contiguous chunk per thread
// (cpu::parallel_for); a single long row is split along its length instead.
//
// Integer semantics (binary_forward on int64): add/sub/mul wrap around (two's complement);
// div is floor division (Python's //, torch.floor_divide) and raises ValueError on a zero
// divisor; pow with a negative exponent raises ValueError (as NumPy). Float semantics:
// IEEE; max/min propagate NaN (torch.maximum/minimum); compares with NaN are false, != true.
// cast float -> int64 truncates toward zero; NaN, +-inf and out-of-range values give
// INT64_MIN (what NumPy's astype gives on x86); float -> bool is x != 0 (NaN -> true).
#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>

#include "../checks/elementwise.h"
#include "../strided.h"
#include "backend.h"

namespace nx {
namespace {

// ---- strided iteration ---------------------------------------------------------------------

template <int N>
using Strides = std::array<std::vector<int64_t>, N>;

// row(off, len, inner_strides): one innermost run of `len` elements starting at element
// offsets off[k] of each operand. Rows in parallel (contiguous chunks of rows per thread);
// when there is a single row it is cut into chunks along its length. `cost` ~ flops/element.
template <int N, class F>
void for_rows(const std::vector<int64_t>& shape, const Strides<N>& st,
              const std::array<int64_t, N>& base, int64_t cost, F&& row) {
  const int64_t nd = int64_t(shape.size());
  if (nd == 0) {  // one element
    std::array<int64_t, N> ones;
    ones.fill(1);
    row(base, 1, ones);
    return;
  }
  const int64_t inner = shape[nd - 1];
  std::array<int64_t, N> ist;
  for (int k = 0; k < N; ++k) ist[k] = st[k][nd - 1];
  int64_t rows = 1;
  for (int64_t d = 0; d + 1 < nd; ++d) rows *= shape[d];
  if (rows == 1) {
    cpu::parallel_for(inner, cost, [&](int64_t b, int64_t e) {
      std::array<int64_t, N> off;
      for (int k = 0; k < N; ++k) off[k] = base[k] + b * ist[k];
      row(off, e - b, ist);
    });
    return;
  }
  cpu::parallel_for(rows, inner * cost, [&](int64_t r0, int64_t r1) {
    std::vector<int64_t> idx(size_t(nd - 1), 0);
    std::array<int64_t, N> off = base;
    int64_t rem = r0;
    for (int64_t d = nd - 2; d >= 0; --d) {  // row index -> multi-index of the outer axes
      idx[d] = rem % shape[d];
      rem /= shape[d];
      for (int k = 0; k < N; ++k) off[k] += idx[d] * st[k][d];
    }
    for (int64_t r = r0; r < r1; ++r) {
      row(off, inner, ist);
      for (int64_t d = nd - 2; d >= 0; --d) {  // odometer step
        for (int k = 0; k < N; ++k) off[k] += st[k][d];
        if (++idx[d] < shape[d]) break;
        for (int k = 0; k < N; ++k) off[k] -= shape[d] * st[k][d];
        idx[d] = 0;
      }
    }
  });
}

template <class T>
void copy_rows(const std::vector<int64_t>& shape, const Strides<2>& st, T* out, const T* inp,
               int64_t out_off, int64_t in_off) {
  for_rows<2>(shape, st, {out_off, in_off}, 1,
              [&](const std::array<int64_t, 2>& off, int64_t len, const std::array<int64_t, 2>& s) {
                T* o = out + off[0];
                const T* a = inp + off[1];
                if (s[0] == 1 && s[1] == 1) {
                  std::memcpy(o, a, size_t(len) * sizeof(T));
                } else if (s[1] == 0) {
                  const T v = *a;
                  for (int64_t i = 0; i < len; ++i) o[i * s[0]] = v;
                } else {
                  for (int64_t i = 0; i < len; ++i) o[i * s[0]] = a[i * s[1]];
                }
              });
}

// ---- binary ops ----------------------------------------------------------------------------

// Runs f over the broadcast index space: out (contiguous) = f(a, b).
template <class O, class T, class F>
void binary_apply(const std::vector<int64_t>& shape, const Strides<3>& st, O* out, const T* a,
                  const T* b, int64_t cost, F f) {
  for_rows<3>(shape, st, {0, 0, 0}, cost,
              [&](const std::array<int64_t, 3>& off, int64_t len, const std::array<int64_t, 3>& s) {
                O* o = out + off[0];  // out is contiguous: s[0] == 1
                const T* x = a + off[1];
                const T* y = b + off[2];
                if (s[1] == 1 && s[2] == 1) {
                  for (int64_t i = 0; i < len; ++i) o[i] = f(x[i], y[i]);
                } else if (s[1] == 1 && s[2] == 0) {
                  const T yv = *y;
                  for (int64_t i = 0; i < len; ++i) o[i] = f(x[i], yv);
                } else if (s[1] == 0 && s[2] == 1) {
                  const T xv = *x;
                  for (int64_t i = 0; i < len; ++i) o[i] = f(xv, y[i]);
                } else {
                  for (int64_t i = 0; i < len; ++i) o[i] = f(x[i * s[1]], y[i * s[2]]);
                }
              });
}

template <class T, class F>
void binary_compare(const std::vector<int64_t>& shape, const Strides<3>& st, uint8_t* out,
                    const T* a, const T* b, F f) {
  binary_apply(shape, st, out, a, b, 1, [f](T x, T y) -> uint8_t { return f(x, y) ? 1 : 0; });
}

template <class T>
bool run_compare(int64_t op, const std::vector<int64_t>& shape, const Strides<3>& st,
                 uint8_t* o, const T* a, const T* b) {
  switch (op) {
    case BIN_EQ: binary_compare(shape, st, o, a, b, [](T x, T y) { return x == y; }); return true;
    case BIN_NE: binary_compare(shape, st, o, a, b, [](T x, T y) { return x != y; }); return true;
    case BIN_LT: binary_compare(shape, st, o, a, b, [](T x, T y) { return x < y; }); return true;
    case BIN_LE: binary_compare(shape, st, o, a, b, [](T x, T y) { return x <= y; }); return true;
    case BIN_GT: binary_compare(shape, st, o, a, b, [](T x, T y) { return x > y; }); return true;
    case BIN_GE: binary_compare(shape, st, o, a, b, [](T x, T y) { return x >= y; }); return true;
  }
  return false;
}

void binary_f32(int64_t op, const std::vector<int64_t>& shape, const Strides<3>& st, float* o,
                const float* a, const float* b) {
  switch (op) {
    case BIN_ADD: return binary_apply(shape, st, o, a, b, 1, [](float x, float y) { return x + y; });
    case BIN_SUB: return binary_apply(shape, st, o, a, b, 1, [](float x, float y) { return x - y; });
    case BIN_MUL: return binary_apply(shape, st, o, a, b, 1, [](float x, float y) { return x * y; });
    case BIN_DIV: return binary_apply(shape, st, o, a, b, 1, [](float x, float y) { return x / y; });
    case BIN_POW:
      return binary_apply(shape, st, o, a, b, 20, [](float x, float y) { return std::pow(x, y); });
    case BIN_MAX:
      return binary_apply(shape, st, o, a, b, 1,
                          [](float x, float y) { return (x > y || x != x) ? x : y; });
    case BIN_MIN:
      return binary_apply(shape, st, o, a, b, 1,
                          [](float x, float y) { return (x < y || x != x) ? x : y; });
  }
}

// Wrapping int64 arithmetic through uint64 (signed overflow is undefined in C++).
inline int64_t wrap_add(int64_t x, int64_t y) { return int64_t(uint64_t(x) + uint64_t(y)); }
inline int64_t wrap_sub(int64_t x, int64_t y) { return int64_t(uint64_t(x) - uint64_t(y)); }
inline int64_t wrap_mul(int64_t x, int64_t y) { return int64_t(uint64_t(x) * uint64_t(y)); }

void binary_i64(int64_t op, const std::vector<int64_t>& shape, const Strides<3>& st, int64_t* o,
                const int64_t* a, const int64_t* b, const char* K) {
  std::atomic<bool> bad{false};
  switch (op) {
    case BIN_ADD: return binary_apply(shape, st, o, a, b, 1, wrap_add);
    case BIN_SUB: return binary_apply(shape, st, o, a, b, 1, wrap_sub);
    case BIN_MUL: return binary_apply(shape, st, o, a, b, 1, wrap_mul);
    case BIN_MAX: return binary_apply(shape, st, o, a, b, 1, [](int64_t x, int64_t y) { return x > y ? x : y; });
    case BIN_MIN: return binary_apply(shape, st, o, a, b, 1, [](int64_t x, int64_t y) { return x < y ? x : y; });
    case BIN_DIV:
      binary_apply(shape, st, o, a, b, 4, [&bad](int64_t x, int64_t y) -> int64_t {
        if (y == 0) { bad.store(true, std::memory_order_relaxed); return 0; }
        if (y == -1) return wrap_sub(0, x);  // INT64_MIN // -1 wraps instead of trapping
        int64_t q = x / y;
        if ((x % y != 0) && ((x < 0) != (y < 0))) --q;  // floor, not truncation
        return q;
      });
      NX_CHECK(!bad.load(), K, ": integer division by zero");
      return;
    case BIN_POW:
      binary_apply(shape, st, o, a, b, 20, [&bad](int64_t x, int64_t y) -> int64_t {
        if (y < 0) { bad.store(true, std::memory_order_relaxed); return 0; }
        uint64_t r = 1, base = uint64_t(x);
        for (uint64_t e = uint64_t(y); e; e >>= 1) {  // square and multiply, wrapping
          if (e & 1) r *= base;
          base *= base;
        }
        return int64_t(r);
      });
      NX_CHECK(!bad.load(), K, ": integers to negative integer powers are not allowed");
      return;
  }
}

// ---- unary ops -----------------------------------------------------------------------------

template <class F>
void map1(float* o, const float* x, int64_t n, int64_t cost, F f) {
  cpu::parallel_for(n, cost, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) o[i] = f(x[i]);
  });
}
template <class F>
void map2(float* o, const float* x, const float* y, int64_t n, int64_t cost, F f) {
  cpu::parallel_for(n, cost, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) o[i] = f(x[i], y[i]);
  });
}
template <class F>
void map3(float* o, const float* x, const float* y, const float* z, int64_t n, int64_t cost, F f) {
  cpu::parallel_for(n, cost, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) o[i] = f(x[i], y[i], z[i]);
  });
}

// sign(NaN) = 0, as torch 2.x (so abs's gradient at NaN is 0 too, as torch's)
inline float signf(float x) { return x > 0.f ? 1.f : (x < 0.f ? -1.f : 0.f); }

}  // namespace

void Cpu::fill(View out, int64_t n, double value) {
  checks::check_fill(out, n, value);
  const char* K = "fill";
  switch (out.dtype) {
    case DType::F32: {
      const float v = float(value);
      float* o = out.f();
      cpu::parallel_for(n, 1, [&](int64_t b, int64_t e) { std::fill(o + b, o + e, v); });
      return;
    }
    case DType::I64: {
      NX_CHECK(value >= -9223372036854775808.0 && value < 9223372036854775808.0, K, ": value ",
               value, " is not representable as int64");
      const int64_t v = int64_t(value);
      int64_t* o = out.i64();
      cpu::parallel_for(n, 1, [&](int64_t b, int64_t e) { std::fill(o + b, o + e, v); });
      return;
    }
    case DType::U8: {
      const uint8_t v = value != 0.0 ? 1 : 0;  // NaN -> true, as bool(nan)
      if (n > 0) std::memset(out.data, v, size_t(n));
      return;
    }
  }
}

namespace {
template <class To, class From>
void cast_loop(void* out, const void* inp, int64_t n) {
  To* o = static_cast<To*>(out);
  const From* x = static_cast<const From*>(inp);
  cpu::parallel_for(n, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) o[i] = convert<To, From>(x[i]);
  });
}
}  // namespace

void Cpu::cast(View out, View inp, int64_t n) {
  checks::check_cast(out, inp, n);
  if (n == 0) return;
  visit_dtype(out.dtype, [&](auto to) {
    visit_dtype(inp.dtype, [&](auto from) { cast_loop<decltype(to), decltype(from)>(out.data, inp.data, n); });
  });
}

// Thread mapping: rows of the coalesced index space, one contiguous chunk per thread.
void Cpu::copy_strided(View out, View inp, std::vector<int64_t> shape,
                       std::vector<int64_t> out_strides, int64_t out_offset,
                       std::vector<int64_t> in_strides, int64_t in_offset) {
  const int64_t total = checks::check_copy_strided(out, inp, shape, out_strides, out_offset,
                                                   in_strides, in_offset);
  if (total == 0) return;
  Strides<2> st{out_strides, in_strides};
  coalesce<2>(shape, st);
  switch (elem_size(out.dtype)) {
    case 4: return copy_rows(shape, st, static_cast<uint32_t*>(out.data), static_cast<const uint32_t*>(inp.data), out_offset, in_offset);
    case 8: return copy_rows(shape, st, static_cast<uint64_t*>(out.data), static_cast<const uint64_t*>(inp.data), out_offset, in_offset);
    default: return copy_rows(shape, st, static_cast<uint8_t*>(out.data), static_cast<const uint8_t*>(inp.data), out_offset, in_offset);
  }
}

// Thread mapping: rows of the coalesced broadcast space (or chunks of one long row).
void Cpu::binary_forward(View out, View a, View b, std::vector<int64_t> shape,
                         std::vector<int64_t> a_strides, std::vector<int64_t> b_strides,
                         int64_t op) {
  const char* K = "binary_forward";
  const int64_t total = checks::check_binary_forward(out, a, b, shape, a_strides, b_strides, op);
  if (total == 0) return;
  std::vector<int64_t> os(shape.size());
  int64_t s = 1;
  for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d) os[d] = s, s *= shape[d];
  Strides<3> st{os, a_strides, b_strides};
  coalesce<3>(shape, st);
  if (a.dtype == DType::F32) {
    if (bin_is_compare(op)) run_compare(op, shape, st, out.u8(), a.f(), b.f());
    else binary_f32(op, shape, st, out.f(), a.f(), b.f());
  } else {
    if (bin_is_compare(op)) run_compare(op, shape, st, out.u8(), a.i64(), b.i64());
    else binary_i64(op, shape, st, out.i64(), a.i64(), b.i64(), K);
  }
}

// Thread mapping: the n elements, one contiguous chunk per thread.
void Cpu::unary_forward(View out, View inp, int64_t n, int64_t op, float p0, float p1) {
  checks::check_unary_forward(out, inp, n, op, p0, p1);
  float* o = out.f();
  const float* x = inp.f();
  switch (op) {
    case UN_NEG: return map1(o, x, n, 1, [](float v) { return -v; });
    case UN_EXP: return map1(o, x, n, 20, [](float v) { return std::exp(v); });
    case UN_LOG: return map1(o, x, n, 20, [](float v) { return std::log(v); });
    case UN_SQRT: return map1(o, x, n, 10, [](float v) { return std::sqrt(v); });
    case UN_ABS: return map1(o, x, n, 1, [](float v) { return std::fabs(v); });
    case UN_SIN: return map1(o, x, n, 20, [](float v) { return std::sin(v); });
    case UN_COS: return map1(o, x, n, 20, [](float v) { return std::cos(v); });
    case UN_RSQRT: return map1(o, x, n, 10, [](float v) { return 1.f / std::sqrt(v); });
    case UN_RECIPROCAL: return map1(o, x, n, 4, [](float v) { return 1.f / v; });
    case UN_SQUARE: return map1(o, x, n, 1, [](float v) { return v * v; });
    case UN_SIGN: return map1(o, x, n, 1, signf);
    case UN_POW_SCALAR: return map1(o, x, n, 20, [p0](float v) { return std::pow(v, p0); });
    case UN_CLAMP:  // min(max(x, lo), hi) with NaN kept, as torch.clamp
      return map1(o, x, n, 1, [p0, p1](float v) {
        return v != v ? v : std::min(std::max(v, p0), p1);
      });
    case UN_AFFINE: return map1(o, x, n, 1, [p0, p1](float v) { return v * p0 + p1; });
    case UN_RPOW_SCALAR: return map1(o, x, n, 20, [p0](float v) { return std::pow(p0, v); });
    case UN_LOG1P: return map1(o, x, n, 20, [](float v) { return std::log1p(v); });
    case UN_EXPM1: return map1(o, x, n, 20, [](float v) { return std::expm1(v); });
  }
}

// Derivatives as torch's autograd formulas (derivatives.yaml): sqrt/rsqrt/exp/reciprocal/
// expm1/rpow use the forward's out; sign has zero gradient; abs uses sign(x) (0 at 0);
// pow by 0 has zero gradient; clamp passes the gradient where lo <= x <= hi.
// Thread mapping: the n elements, one contiguous chunk per thread.
void Cpu::unary_backward(View dinp, View dout, View inp, View out, int64_t n, int64_t op,
                         float p0, float p1) {
  checks::check_unary_backward(dinp, dout, inp, out, n, op, p0, p1);
  float* d = dinp.f();
  const float* g = dout.f();
  const float* x = inp.f();
  const float* y = out.f();
  switch (op) {
    case UN_NEG: return map1(d, g, n, 1, [](float gv) { return -gv; });
    case UN_EXP: return map2(d, g, y, n, 1, [](float gv, float yv) { return gv * yv; });
    case UN_LOG: return map2(d, g, x, n, 4, [](float gv, float xv) { return gv / xv; });
    case UN_SQRT: return map2(d, g, y, n, 4, [](float gv, float yv) { return gv / (2.f * yv); });
    case UN_ABS: return map2(d, g, x, n, 1, [](float gv, float xv) { return gv * signf(xv); });
    case UN_SIN: return map2(d, g, x, n, 20, [](float gv, float xv) { return gv * std::cos(xv); });
    case UN_COS: return map2(d, g, x, n, 20, [](float gv, float xv) { return -gv * std::sin(xv); });
    case UN_RSQRT:
      return map2(d, g, y, n, 1, [](float gv, float yv) { return -0.5f * gv * yv * yv * yv; });
    case UN_RECIPROCAL: return map2(d, g, y, n, 1, [](float gv, float yv) { return -gv * yv * yv; });
    case UN_SQUARE: return map2(d, g, x, n, 1, [](float gv, float xv) { return 2.f * xv * gv; });
    case UN_SIGN: return map1(d, g, n, 1, [](float) { return 0.f; });
    case UN_POW_SCALAR:
      return map2(d, g, x, n, 20, [p0](float gv, float xv) {
        return p0 == 0.f ? 0.f : gv * p0 * std::pow(xv, p0 - 1.f);
      });
    case UN_CLAMP:
      return map2(d, g, x, n, 1, [p0, p1](float gv, float xv) {
        return (xv >= p0 && xv <= p1) ? gv : 0.f;
      });
    case UN_AFFINE: return map1(d, g, n, 1, [p0](float gv) { return gv * p0; });
    case UN_RPOW_SCALAR: {
      const float lb = std::log(p0);
      return map3(d, g, x, y, n, 20, [p0, lb](float gv, float xv, float yv) {
        return (p0 == 0.f && xv >= 0.f) ? 0.f : gv * yv * lb;
      });
    }
    case UN_LOG1P: return map2(d, g, x, n, 4, [](float gv, float xv) { return gv / (1.f + xv); });
    case UN_EXPM1: return map2(d, g, y, n, 1, [](float gv, float yv) { return gv * (yv + 1.f); });
  }
}

// Thread mapping: the n elements, one contiguous chunk per thread.
void Cpu::where_forward(View out, View cond, View a, View b, int64_t n) {
  checks::check_where_forward(out, cond, a, b, n);
  float* o = out.f();
  const uint8_t* c = cond.u8();
  const float *x = a.f(), *y = b.f();
  cpu::parallel_for(n, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) o[i] = c[i] ? x[i] : y[i];
  });
}

}  // namespace nx
