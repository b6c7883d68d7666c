// elementwise.cu (cuda) — the glue kernels: fill, cast, copy_strided, broadcasting binary
// ops, unary ops and their backward, where. Semantics (dtypes, NaN, integer division and
// powers, float->int casts, bounds checks) are those of csrc/cpu/elementwise.cc.
//
// Layouts: every View is a flat contiguous buffer; copy_strided and binary_forward address
// their inputs through (shape, strides in ELEMENTS, offset). The host checks that every
// addressed element lies inside its View, drops size-1 axes and merges axes contiguous in
// every operand (coalesce), then passes at most kMaxDims axes by value to the kernel.
//
// Thread mapping (all kernels): thread -> one element of the (flat or broadcast) output
// index space, grid-stride loop with int64 indices. Flat float kernels use float4 loads and
// stores when the pointers are 16-byte aligned (the allocator's blocks are 512-byte aligned);
// cast moves 16-byte words of each side (cast_vec_kernel), and copy_strided moves 16-, 8- or
// 4-byte words of contiguous rows (copy_word) where the layout allows; the rest (views at odd
// offsets, odd row lengths, transposes) stays one element a thread.
// Integer division by zero and negative integer powers raise ValueError as on the CPU: the
// kernel sets a device flag and the host reads it back (the only waits in this file).
#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "../checks/elementwise.h"
#include "../strided.h"
#include "check.cuh"
#include "ops.cuh"

namespace nx {
namespace cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxDims = 12;

// The coalesced index space, by value: element t's offset in operand k is
// sum_d idx_d(t) * stride[k][d] (+ base[k]).
template <int N>
struct Space {
  int nd;
  int64_t shape[kMaxDims];
  int64_t stride[N][kMaxDims];
  int64_t base[N];
};

template <int N>
Space<N> make_space(const char* K, const std::vector<int64_t>& shape,
                    const std::array<std::vector<int64_t>, N>& st, std::array<int64_t, N> base) {
  NX_CHECK(shape.size() <= size_t(kMaxDims), K, ": ", shape.size(),
           " non-mergeable axes; the CUDA backend handles at most ", kMaxDims);
  Space<N> s{};
  s.nd = int(shape.size());
  for (int d = 0; d < s.nd; ++d) {
    s.shape[d] = shape[d];
    for (int k = 0; k < N; ++k) s.stride[k][d] = st[k][d];
  }
  for (int k = 0; k < N; ++k) s.base[k] = base[k];
  return s;
}

template <int N>
__device__ __forceinline__ void offsets(const Space<N>& s, int64_t t, int64_t (&off)[N]) {
#pragma unroll
  for (int k = 0; k < N; ++k) off[k] = s.base[k];
  if (s.nd == 1) {  // the common coalesced case: no division at all
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] += t * s.stride[k][0];
    return;
  }
  for (int d = s.nd - 1; d >= 0; --d) {  // innermost axis last: peel it first
    const int64_t q = udiv(t, s.shape[d]), i = t - q * s.shape[d];
    t = q;
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] += i * s.stride[k][d];
  }
}

#define NX_GRID_STRIDE(t, n)                                                     \
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < (n); \
       t += int64_t(gridDim.x) * blockDim.x)

// ---- fill / cast ------------------------------------------------------------------------
template <class T>
__global__ void fill_kernel(T* out, int64_t n, T v) {
  NX_GRID_STRIDE(t, n) out[t] = v;
}

// 16 bytes of T: one 128-bit load or store (its alignment lets nvcc move it with one
// ld/st.global.v4 or .v2.u64, checked in the PTX of sm_90).
template <class T>
struct alignas(16) Pack16 {
  static constexpr int kN = 16 / sizeof(T);
  T e[kN];
};

template <class To, class From>
__global__ void cast_kernel(To* out, const From* inp, int64_t n) {
  NX_GRID_STRIDE(t, n) out[t] = convert<To, From>(inp[t]);
}

// Both pointers 16-byte aligned: thread -> G = 16 / min(sizeof(To), sizeof(From)) consecutive
// elements, so the narrower side is one 16-byte word and the wider side G*size/16 consecutive
// words (float32 <-> int64: 4 elements, 1 + 2 words; anything <-> bool: 16 elements, 1 word
// of bools and 4 of float32 or 8 of int64); the n % G tail one element a thread. Bytes per
// element are those of the scalar kernel (sizeof(From) + sizeof(To)); the gain is 4x to 16x
// fewer memory instructions and loop trips.
template <class To, class From>
__global__ void cast_vec_kernel(To* out, const From* inp, int64_t n) {
  constexpr int G = 16 / (sizeof(To) < sizeof(From) ? sizeof(To) : sizeof(From));
  constexpr int NI = G / Pack16<From>::kN, NO = G / Pack16<To>::kN;  // words in, out
  constexpr int KI = Pack16<From>::kN, KO = Pack16<To>::kN;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x, t0 = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  const auto* src = reinterpret_cast<const Pack16<From>*>(inp);  // (n / G, NI) words
  auto* dst = reinterpret_cast<Pack16<To>*>(out);                // (n / G, NO) words
  for (int64_t v = t0; v < n / G; v += stride) {
    Pack16<From> a[NI];
    Pack16<To> b[NO];
#pragma unroll
    for (int k = 0; k < NI; ++k) a[k] = src[v * NI + k];
#pragma unroll
    for (int j = 0; j < G; ++j) b[j / KO].e[j % KO] = convert<To, From>(a[j / KI].e[j % KI]);
#pragma unroll
    for (int k = 0; k < NO; ++k) dst[v * NO + k] = b[k];
  }
  for (int64_t t = n / G * G + t0; t < n; t += stride) out[t] = convert<To, From>(inp[t]);
}

template <class To, class From>
void cast_launch(void* out, const void* inp, int64_t n) {
  auto* o = static_cast<To*>(out);
  const auto* i = static_cast<const From*>(inp);
  if (aligned16(out) && aligned16(inp)) {
    constexpr int G = 16 / (sizeof(To) < sizeof(From) ? sizeof(To) : sizeof(From));
    NX_LAUNCH(grid_1d((n + G - 1) / G, kThreads), kThreads, cast_vec_kernel<To, From>)(o, i, n);
  } else {
    NX_LAUNCH(grid_1d(n, kThreads), kThreads, cast_kernel<To, From>)(o, i, n);
  }
  NX_CUDA_LAUNCH();
}

// ---- copy_strided -------------------------------------------------------------------------
// T is the word moved: the element, or a wider word (see copy_word) that the space counts in.
template <class T>
__global__ void copy_kernel(T* out, const T* inp, Space<2> s, int64_t total) {
  NX_GRID_STRIDE(t, total) {
    int64_t off[2];
    offsets(s, t, off);
    out[off[0]] = inp[off[1]];
  }
}
static_assert(sizeof(uint4) == 16, "uint4 is the 16-byte word of copy_kernel");

// The widest word (16, 8 or 4 bytes, else the element itself) the coalesced copy can move
// whole: the innermost axis is contiguous in both operands (stride 1), and its run in bytes,
// every outer stride in bytes and both start addresses are multiples of the word. Typical
// hits: cat/split/narrow along an outer axis of rows whose byte length is a multiple of 16,
// expand of such rows, crops and pads of 16-byte-aligned column ranges. Not eligible:
// transposes (the innermost axis is strided on one side), and the single contiguous run,
// which is a cudaMemcpyAsync. Bytes per element are unchanged (read + write, 2 * es); each
// thread moves w / es elements per index computation and load/store instead of one.
size_t copy_word(const std::vector<int64_t>& shape, const std::array<std::vector<int64_t>, 2>& st,
                 const void* out, const void* inp, size_t es) {
  if (shape.empty() || st[0].back() != 1 || st[1].back() != 1) return es;
  for (size_t w : {size_t(16), size_t(8), size_t(4)}) {
    if (w <= es) break;
    bool ok = uintptr_t(out) % w == 0 && uintptr_t(inp) % w == 0 && size_t(shape.back()) * es % w == 0;
    for (size_t d = 0; d + 1 < shape.size(); ++d)
      ok = ok && size_t(st[0][d]) * es % w == 0 && size_t(st[1][d]) * es % w == 0;
    if (ok) return w;
  }
  return es;
}

// ---- binary ---------------------------------------------------------------------------------
__device__ __forceinline__ int64_t wrap_add(int64_t x, int64_t y) { return int64_t(uint64_t(x) + uint64_t(y)); }
__device__ __forceinline__ int64_t wrap_sub(int64_t x, int64_t y) { return int64_t(uint64_t(x) - uint64_t(y)); }
__device__ __forceinline__ int64_t wrap_mul(int64_t x, int64_t y) { return int64_t(uint64_t(x) * uint64_t(y)); }

__device__ __forceinline__ float bin_f32(int64_t op, float x, float y) {
  switch (op) {
    case BIN_ADD: return x + y;
    case BIN_SUB: return x - y;
    case BIN_MUL: return x * y;
    case BIN_DIV: return x / y;
    case BIN_POW: return powf(x, y);
    case BIN_MAX: return (x > y || x != x) ? x : y;
    case BIN_MIN: return (x < y || x != x) ? x : y;
  }
  return 0.f;
}

__device__ __forceinline__ int64_t bin_i64(int64_t op, int64_t x, int64_t y, bool& bad) {
  switch (op) {
    case BIN_ADD: return wrap_add(x, y);
    case BIN_SUB: return wrap_sub(x, y);
    case BIN_MUL: return wrap_mul(x, y);
    case BIN_MAX: return x > y ? x : y;
    case BIN_MIN: return x < y ? x : y;
    case BIN_DIV: {
      if (y == 0) { bad = true; return 0; }
      if (y == -1) return wrap_sub(0, x);  // INT64_MIN // -1 wraps instead of trapping
      int64_t q = x / y;
      if ((x % y != 0) && ((x < 0) != (y < 0))) --q;  // floor division
      return q;
    }
    case BIN_POW: {
      if (y < 0) { bad = true; return 0; }
      uint64_t r = 1, base = uint64_t(x);
      for (uint64_t e = uint64_t(y); e; e >>= 1) {
        if (e & 1) r *= base;
        base *= base;
      }
      return int64_t(r);
    }
  }
  return 0;
}

template <class T>
__device__ __forceinline__ bool cmp(int64_t op, T x, T y) {
  switch (op) {
    case BIN_EQ: return x == y;
    case BIN_NE: return x != y;
    case BIN_LT: return x < y;
    case BIN_LE: return x <= y;
    case BIN_GT: return x > y;
    case BIN_GE: return x >= y;
  }
  return false;
}

// out contiguous: element t at out[t]; a, b through the space's strides 1, 2.
template <class T, class O>
__global__ void binary_kernel(O* out, const T* a, const T* b, Space<3> s, int64_t total,
                              int64_t op, DeviceError* err, ErrorContext ctx) {
  NX_GRID_STRIDE(t, total) {
    int64_t off[3];
    offsets(s, t, off);
    const T x = a[off[1]], y = b[off[2]];
    if constexpr (sizeof(O) == 1) {
      out[off[0]] = cmp<T>(op, x, y) ? 1 : 0;
    } else if constexpr (sizeof(T) == 8) {
      bool bad = false;
      out[off[0]] = bin_i64(op, x, y, bad);
      if (bad) report_bad(err, ctx, t, y);
    } else {
      out[off[0]] = bin_f32(op, x, y);
    }
  }
}

// ---- unary ----------------------------------------------------------------------------------
// sign(NaN) = 0, as torch 2.x (so abs's gradient at NaN is 0 too, as torch's)
__device__ __forceinline__ float signf_(float x) { return x > 0.f ? 1.f : (x < 0.f ? -1.f : 0.f); }

__device__ __forceinline__ float un_fwd(int64_t op, float v, float p0, float p1) {
  switch (op) {
    case UN_NEG: return -v;
    case UN_EXP: return expf(v);
    case UN_LOG: return logf(v);
    case UN_SQRT: return sqrtf(v);
    case UN_ABS: return fabsf(v);
    case UN_SIN: return sinf(v);
    case UN_COS: return cosf(v);
    case UN_RSQRT: return 1.f / sqrtf(v);
    case UN_RECIPROCAL: return 1.f / v;
    case UN_SQUARE: return v * v;
    case UN_SIGN: return signf_(v);
    case UN_POW_SCALAR: return powf(v, p0);
    case UN_CLAMP: return v != v ? v : fminf(fmaxf(v, p0), p1);
    case UN_AFFINE: return v * p0 + p1;
    case UN_RPOW_SCALAR: return powf(p0, v);
    case UN_LOG1P: return log1pf(v);
    case UN_EXPM1: return expm1f(v);
  }
  return v;
}

// g = dout, x = inp, y = out (forward result; may be unused).
__device__ __forceinline__ float un_bwd(int64_t op, float g, float x, float y, float p0,
                                        float p1, float lb) {
  switch (op) {
    case UN_NEG: return -g;
    case UN_EXP: return g * y;
    case UN_LOG: return g / x;
    case UN_SQRT: return g / (2.f * y);
    case UN_ABS: return g * signf_(x);
    case UN_SIN: return g * cosf(x);
    case UN_COS: return -g * sinf(x);
    case UN_RSQRT: return -0.5f * g * y * y * y;
    case UN_RECIPROCAL: return -g * y * y;
    case UN_SQUARE: return 2.f * x * g;
    case UN_SIGN: return 0.f;
    case UN_POW_SCALAR: return p0 == 0.f ? 0.f : g * p0 * powf(x, p0 - 1.f);
    case UN_CLAMP: return (x >= p0 && x <= p1) ? g : 0.f;
    case UN_AFFINE: return g * p0;
    case UN_RPOW_SCALAR: return (p0 == 0.f && x >= 0.f) ? 0.f : g * y * lb;
    case UN_LOG1P: return g / (1.f + x);
    case UN_EXPM1: return g * (y + 1.f);
  }
  return 0.f;
}

// ---- contiguous float32, 4 elements a thread ---------------------------------------------
// For the common case of contiguous operands (after coalescing): float4 loads and stores for
// the body, a scalar loop for the n % 4 tail. Used only when every pointer is 16-byte aligned
// (the allocator's blocks are; views at odd offsets are not); an operand flagged scalar is one
// value broadcast to all (x * 2, 1 - x). Memory-bound: 4x fewer load/store instructions.

__device__ __forceinline__ float4 ld4(const float* p, int64_t v, bool scalar) {
  if (scalar) return make_float4(p[0], p[0], p[0], p[0]);
  return reinterpret_cast<const float4*>(p)[v];
}

struct BinF32 {
  int64_t op;
  __device__ float operator()(float a, float b) const { return bin_f32(op, a, b); }
};
struct UnFwd {
  int64_t op;
  float p0, p1;
  __device__ float operator()(float v, float) const { return un_fwd(op, v, p0, p1); }
};

// out[i] = f(x[i], y[i]) (y null: f(x[i], 0)).
template <class F>
__global__ void map_vec_kernel(float* out, const float* x, const float* y, bool xs, bool ys,
                               int64_t n, F f) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x, t0 = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  for (int64_t v = t0; v < n / 4; v += stride) {
    const float4 a = ld4(x, v, xs), b = y ? ld4(y, v, ys) : make_float4(0.f, 0.f, 0.f, 0.f);
    reinterpret_cast<float4*>(out)[v] = make_float4(f(a.x, b.x), f(a.y, b.y), f(a.z, b.z), f(a.w, b.w));
  }
  for (int64_t t = n / 4 * 4 + t0; t < n; t += stride)
    out[t] = f(x[xs ? 0 : t], y ? y[ys ? 0 : t] : 0.f);
}

template <class F>
void map_vec(float* out, const float* x, const float* y, bool xs, bool ys, int64_t n, F f) {
  NX_LAUNCH(grid_1d((n + 3) / 4, kThreads), kThreads, map_vec_kernel<F>)(out, x, y, xs, ys, n, f);
  NX_CUDA_LAUNCH();
}

__global__ void unary_bwd_vec_kernel(float* dinp, const float* dout, const float* x, const float* y,
                                     int64_t n, int64_t op, float p0, float p1, float lb) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x, t0 = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  const float4 zero = make_float4(0.f, 0.f, 0.f, 0.f);
  for (int64_t v = t0; v < n / 4; v += stride) {
    const float4 g = ld4(dout, v, false), a = x ? ld4(x, v, false) : zero, b = y ? ld4(y, v, false) : zero;
    reinterpret_cast<float4*>(dinp)[v] =
        make_float4(un_bwd(op, g.x, a.x, b.x, p0, p1, lb), un_bwd(op, g.y, a.y, b.y, p0, p1, lb),
                    un_bwd(op, g.z, a.z, b.z, p0, p1, lb), un_bwd(op, g.w, a.w, b.w, p0, p1, lb));
  }
  for (int64_t t = n / 4 * 4 + t0; t < n; t += stride)
    dinp[t] = un_bwd(op, dout[t], x ? x[t] : 0.f, y ? y[t] : 0.f, p0, p1, lb);
}

__global__ void unary_fwd_kernel(float* out, const float* inp, int64_t n, int64_t op, float p0, float p1) {
  NX_GRID_STRIDE(t, n) out[t] = un_fwd(op, inp[t], p0, p1);
}
// x or y may be null when the op does not use it (checked on the host).
__global__ void unary_bwd_kernel(float* dinp, const float* dout, const float* x, const float* y,
                                 int64_t n, int64_t op, float p0, float p1, float lb) {
  NX_GRID_STRIDE(t, n) dinp[t] = un_bwd(op, dout[t], x ? x[t] : 0.f, y ? y[t] : 0.f, p0, p1, lb);
}

__global__ void where_kernel(float* out, const uint8_t* c, const float* a, const float* b, int64_t n) {
  NX_GRID_STRIDE(t, n) out[t] = c[t] ? a[t] : b[t];
}

// float4 fill for the common aligned case; scalar tail.
__global__ void fill_f32_vec(float4* out, int64_t n4, float v) {
  NX_GRID_STRIDE(t, n4) out[t] = make_float4(v, v, v, v);
}

}  // namespace

void fill_f32(float* out, int64_t n, float v) {
  if (n <= 0) return;
  if (aligned16(out) && n >= 4) {
    const int64_t n4 = n / 4;
    NX_LAUNCH(grid_1d(n4, kThreads), kThreads, fill_f32_vec)(reinterpret_cast<float4*>(out), n4, v);
    NX_CUDA_LAUNCH();
    if (n % 4) {
      NX_LAUNCH(1, 32, fill_kernel<float>)(out + n4 * 4, n % 4, v);
      NX_CUDA_LAUNCH();
    }
    return;
  }
  NX_LAUNCH(grid_1d(n, kThreads), kThreads, fill_kernel<float>)(out, n, v);
  NX_CUDA_LAUNCH();
}

}  // namespace cuda

using namespace cuda;

void Cuda::fill(View out, int64_t n, double value) {
  checks::check_fill(out, n, value);
  const char* K = "fill";
  if (n == 0) return;
  switch (out.dtype) {
    case DType::F32: return fill_f32(out.f(), n, float(value));
    case DType::I64: {
      NX_CHECK(value >= -9223372036854775808.0 && value < 9223372036854775808.0, K, ": value ",
               value, " is not representable as int64");
      NX_LAUNCH(grid_1d(n, kThreads), kThreads, fill_kernel<int64_t>)(out.i64(), n, int64_t(value));
      NX_CUDA_LAUNCH();
      return;
    }
    case DType::U8:
      NX_CUDA(cudaMemsetAsync(out.data, value != 0.0 ? 1 : 0, size_t(n), stream()));  // NaN -> true
      return;
  }
}

void Cuda::cast(View out, View inp, int64_t n) {
  checks::check_cast(out, inp, n);
  if (n == 0) return;
  visit_dtype(out.dtype, [&](auto to) {
    visit_dtype(inp.dtype, [&](auto from) { cast_launch<decltype(to), decltype(from)>(out.data, inp.data, n); });
  });
}

// Thread mapping: thread -> word t of the coalesced index space (an element, or 4/8/16 bytes
// of contiguous elements when copy_word allows).
void Cuda::copy_strided(View out, View inp, std::vector<int64_t> shape,
                        std::vector<int64_t> out_strides, int64_t out_offset,
                        std::vector<int64_t> in_strides, int64_t in_offset) {
  const char* K = "copy_strided";
  const int64_t total = checks::check_copy_strided(out, inp, shape, out_strides, out_offset,
                                                   in_strides, in_offset);
  if (total == 0) return;
  std::array<std::vector<int64_t>, 2> st{out_strides, in_strides};
  coalesce<2>(shape, st);
  const size_t es = elem_size(out.dtype);
  char* o = static_cast<char*>(out.data) + out_offset * es;  // the first addressed elements
  const char* i = static_cast<const char*>(inp.data) + in_offset * es;
  if (shape.size() == 1 && st[0][0] == 1 && st[1][0] == 1) {  // one contiguous run
    NX_CUDA(cudaMemcpyAsync(o, i, size_t(total) * es, cudaMemcpyDeviceToDevice, stream()));
    return;
  }
  // The space counts w-byte words from o and i (base 0).
  const size_t w = copy_word(shape, st, o, i, es);
  if (w > es) {  // count in words: the run and the outer strides shrink by w / es
    const int64_t f = int64_t(w / es);
    shape.back() /= f;
    for (auto& sk : st)
      for (size_t d = 0; d + 1 < sk.size(); ++d) sk[d] /= f;
  }
  const int64_t words = total * int64_t(es) / int64_t(w);
  const Space<2> s = make_space<2>(K, shape, st, {0, 0});
  const unsigned grid = grid_1d(words, kThreads);
  switch (w) {
    case 16:
      NX_LAUNCH(grid, kThreads, copy_kernel<uint4>)(reinterpret_cast<uint4*>(o), reinterpret_cast<const uint4*>(i), s, words);
      break;
    case 8:
      NX_LAUNCH(grid, kThreads, copy_kernel<uint64_t>)(reinterpret_cast<uint64_t*>(o), reinterpret_cast<const uint64_t*>(i), s, words);
      break;
    case 4:
      NX_LAUNCH(grid, kThreads, copy_kernel<uint32_t>)(reinterpret_cast<uint32_t*>(o), reinterpret_cast<const uint32_t*>(i), s, words);
      break;
    default:
      NX_LAUNCH(grid, kThreads, copy_kernel<uint8_t>)(reinterpret_cast<uint8_t*>(o), reinterpret_cast<const uint8_t*>(i), s, words);
  }
  NX_CUDA_LAUNCH();
}

// Thread mapping: thread -> element t of the (contiguous) output.
namespace cuda {
namespace {
std::string div_error(const char* name, const DeviceError& e) {
  return cat(name, ": integer division by zero (element ", e.pos, ")");
}
std::string pow_error(const char* name, const DeviceError& e) {
  return cat(name, ": integers to negative integer powers are not allowed (element ", e.pos,
             " has exponent ", e.value, ")");
}
}  // namespace
}  // namespace cuda

void Cuda::binary_forward(View out, View a, View b, std::vector<int64_t> shape,
                          std::vector<int64_t> a_strides, std::vector<int64_t> b_strides,
                          int64_t op) {
  const char* K = "binary_forward";
  const int64_t total = checks::check_binary_forward(out, a, b, shape, a_strides, b_strides, op);
  if (total == 0) return;
  std::vector<int64_t> os(shape.size());
  int64_t sz = 1;
  for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d) os[d] = sz, sz *= shape[d];
  std::array<std::vector<int64_t>, 3> st{os, a_strides, b_strides};
  coalesce<3>(shape, st);
  // One contiguous run of float32 (each input contiguous or one broadcast value): 4 a thread.
  // (Coalescing leaves no axis at all for one element.)
  const bool run = shape.empty() || (shape.size() == 1 && st[0][0] == 1 && st[1][0] <= 1 && st[2][0] <= 1);
  if (a.dtype == DType::F32 && !bin_is_compare(op) && run && aligned16(out.data) && aligned16(a.data) &&
      aligned16(b.data))
    return map_vec(out.f(), a.f(), b.f(), !shape.empty() && st[1][0] == 0, !shape.empty() && st[2][0] == 0,
                   total, BinF32{op});
  Space<3> s = make_space<3>(K, shape, st, {0, 0, 0});
  const unsigned grid = grid_1d(total, kThreads);
  if (a.dtype == DType::F32) {
    if (bin_is_compare(op))
      NX_LAUNCH(grid, kThreads, binary_kernel<float, uint8_t>)(out.u8(), a.f(), b.f(), s, total, op, nullptr, ErrorContext{});
    else
      NX_LAUNCH(grid, kThreads, binary_kernel<float, float>)(out.f(), a.f(), b.f(), s, total, op, nullptr, ErrorContext{});
    NX_CUDA_LAUNCH();
  } else if (bin_is_compare(op)) {
    NX_LAUNCH(grid, kThreads, binary_kernel<int64_t, uint8_t>)(out.u8(), a.i64(), b.i64(), s, total, op, nullptr, ErrorContext{});
    NX_CUDA_LAUNCH();
  } else if (op == BIN_DIV || op == BIN_POW) {  // the two that can raise
    const ErrorContext ctx = error_context(op == BIN_DIV ? div_error : pow_error, K);
    NX_LAUNCH(grid, kThreads, binary_kernel<int64_t, int64_t>)(out.i64(), a.i64(), b.i64(), s, total, op,
                                                               device_error(), ctx);
    NX_CUDA_LAUNCH();
  } else {
    NX_LAUNCH(grid, kThreads, binary_kernel<int64_t, int64_t>)(out.i64(), a.i64(), b.i64(), s, total, op, nullptr, ErrorContext{});
    NX_CUDA_LAUNCH();
  }
}

void Cuda::unary_forward(View out, View inp, int64_t n, int64_t op, float p0, float p1) {
  checks::check_unary_forward(out, inp, n, op, p0, p1);
  if (n == 0) return;
  if (aligned16(out.data) && aligned16(inp.data))
    return map_vec(out.f(), inp.f(), nullptr, false, false, n, UnFwd{op, p0, p1});
  NX_LAUNCH(grid_1d(n, kThreads), kThreads, unary_fwd_kernel)(out.f(), inp.f(), n, op, p0, p1);
  NX_CUDA_LAUNCH();
}

// Derivatives as csrc/cpu/elementwise.cc (torch's derivatives.yaml).
void Cuda::unary_backward(View dinp, View dout, View inp, View out, int64_t n, int64_t op,
                          float p0, float p1) {
  checks::check_unary_backward(dinp, dout, inp, out, n, op, p0, p1);
  if (n == 0) return;
  const float lb = op == UN_RPOW_SCALAR ? std::log(p0) : 0.f;
  if (aligned16(dinp.data) && aligned16(dout.data) && aligned16(inp.data) && aligned16(out.data))
    NX_LAUNCH(grid_1d((n + 3) / 4, kThreads), kThreads, unary_bwd_vec_kernel)(dinp.f(), dout.f(), inp.f(),
                                                                            out.f(), n, op, p0, p1, lb);
  else
    NX_LAUNCH(grid_1d(n, kThreads), kThreads, unary_bwd_kernel)(dinp.f(), dout.f(), inp.f(),
                                                                      out.f(), n, op, p0, p1, lb);
  NX_CUDA_LAUNCH();
}

void Cuda::where_forward(View out, View cond, View a, View b, int64_t n) {
  checks::check_where_forward(out, cond, a, b, n);
  if (n == 0) return;
  NX_LAUNCH(grid_1d(n, kThreads), kThreads, where_kernel)(out.f(), cond.u8(), a.f(), b.f(), n);
  NX_CUDA_LAUNCH();
}

}  // namespace nx
