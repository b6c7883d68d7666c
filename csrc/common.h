// common.h — what both backends share: the View that every kernel argument arrives as,
// dtypes, the activation and op codes, the errors kernels throw, and output-size helpers.
//
// Kernels never see Python objects. The binding turns each array argument (a NumPy array
// on the CPU, a neuraxon DeviceArray on CUDA, or None) into a View: a raw pointer, the
// element count, the dtype and where the memory lives. Every kernel checks its Views
// against the sizes it was given (need()) before touching memory, so a wrong size raises
// ValueError naming expected and actual element counts instead of reading out of bounds.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <sstream>
#include <vector>

// NX_HD: a function both backends compile (host code, CUDA device code, the emulated build);
// always inlined, so a CPU loop that calls it still vectorises inside each ISA's copy.
#ifdef __CUDACC__
#define NX_HD __host__ __device__ __forceinline__
#else
#define NX_HD inline __attribute__((always_inline))
#endif

namespace nx {

enum class DType : int32_t { F32 = 0, I64 = 1, U8 = 2 };  // U8 holds bool

inline const char* dtype_name(DType d) {
  switch (d) {
    case DType::F32: return "float32";
    case DType::I64: return "int64";
    case DType::U8: return "bool";
  }
  return "?";
}

// Calls f(T{}) with the C++ element type of d (float, int64_t, uint8_t): the one place a
// runtime dtype becomes a template argument, e.g. visit_dtype(d, [&](auto t) {
// loop<decltype(t)>(...); }).
template <class F>
decltype(auto) visit_dtype(DType d, F&& f) {
  switch (d) {
    case DType::I64: return f(int64_t{});
    case DType::U8: return f(uint8_t{});
    default: return f(float{});
  }
}

// A contiguous array argument. data == nullptr means "absent" (Python None).
struct View {
  void* data = nullptr;
  int64_t numel = 0;
  DType dtype = DType::F32;
  bool on_cuda = false;

  bool present() const { return data != nullptr || numel > 0; }
  float* f() const { return static_cast<float*>(data); }
  int64_t* i64() const { return static_cast<int64_t*>(data); }
  uint8_t* u8() const { return static_cast<uint8_t*>(data); }
};

// Errors. std::invalid_argument becomes ValueError in Python; TypeError is registered by
// the binding; std::runtime_error becomes RuntimeError.
struct TypeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <class... Ts>
std::string cat(const Ts&... parts) {
  std::ostringstream s;
  (s << ... << parts);
  return s.str();
}

#define NX_CHECK(cond, ...)                                       \
  do {                                                            \
    if (!(cond)) throw std::invalid_argument(::nx::cat(__VA_ARGS__)); \
  } while (0)

// need(): the one size/dtype check every kernel makes for every array argument.
// `what` names the argument and its expected shape, e.g. "gemm_forward: a (m=3, k=5)".
inline void need(const View& v, int64_t numel, DType dt, const char* kernel, const char* arg,
                 const std::string& shape) {
  if (v.data == nullptr && numel > 0)
    throw std::invalid_argument(cat(kernel, ": argument '", arg, "' is None, expected ",
                                    dtype_name(dt), " array of shape ", shape));
  if (v.dtype != dt)
    throw TypeError(cat(kernel, ": argument '", arg, "' has dtype ", dtype_name(v.dtype),
                        ", expected ", dtype_name(dt)));
  if (v.numel != numel)
    throw std::invalid_argument(cat(kernel, ": argument '", arg, "' has ", v.numel,
                                    " elements, expected ", numel, " for shape ", shape));
}
// Optional argument: None is fine, otherwise as need().
inline void need_opt(const View& v, int64_t numel, DType dt, const char* kernel, const char* arg,
                     const std::string& shape) {
  if (v.data == nullptr && v.numel == 0) return;
  need(v, numel, dt, kernel, arg, shape);
}
inline void need_nonneg(const char* kernel, std::initializer_list<std::pair<const char*, int64_t>> sizes) {
  for (auto& s : sizes)
    NX_CHECK(s.second >= 0, kernel, ": size ", s.first, "=", s.second, " must be >= 0");
}
// The product of sizes (already checked >= 0), or ValueError when it does not fit in int64:
// crafted sizes must never wrap around to a small element count that an array then "matches".
inline int64_t size_product(const char* kernel, std::initializer_list<int64_t> sizes) {
  int64_t r = 1;
  bool over = false;
  for (int64_t s : sizes) over = over || __builtin_mul_overflow(r, s, &r);
  if (over) {
    std::string list;
    for (int64_t s : sizes) list += (list.empty() ? "" : " * ") + std::to_string(s);
    throw std::invalid_argument(cat(kernel, ": sizes ", list, " overflow int64"));
  }
  return r;
}

inline void need_pos(const char* kernel, std::initializer_list<std::pair<const char*, int64_t>> sizes) {
  for (auto& s : sizes)
    NX_CHECK(s.second > 0, kernel, ": ", s.first, "=", s.second, " must be > 0");
}
inline std::string shp(std::initializer_list<int64_t> dims) {
  std::ostringstream s;
  s << "(";
  bool first = true;
  for (auto d : dims) { s << (first ? "" : ", ") << d; first = false; }
  s << ")";
  return s.str();
}

// Activation codes: used by gemm's epilogue and the activation kernels.
enum Act : int64_t {
  ACT_NONE = 0, ACT_RELU = 1, ACT_LEAKY_RELU = 2, ACT_SIGMOID = 3, ACT_TANH = 4,
  ACT_SOFTPLUS = 5, ACT_ELU = 6, ACT_GELU = 7, ACT_STEP = 8,
};
constexpr int64_t ACT_COUNT = 9;

// Binary op codes (binary_forward). Compare ops write bool (U8).
enum BinOp : int64_t {
  BIN_ADD = 0, BIN_SUB = 1, BIN_MUL = 2, BIN_DIV = 3, BIN_POW = 4, BIN_MAX = 5, BIN_MIN = 6,
  BIN_EQ = 7, BIN_NE = 8, BIN_LT = 9, BIN_LE = 10, BIN_GT = 11, BIN_GE = 12,
};
constexpr int64_t BIN_COUNT = 13;
inline bool bin_is_compare(int64_t op) { return op >= BIN_EQ; }

// Unary op codes (unary_forward/backward); p0, p1 are the op's scalars.
enum UnOp : int64_t {
  UN_NEG = 0, UN_EXP = 1, UN_LOG = 2, UN_SQRT = 3, UN_ABS = 4, UN_SIN = 5, UN_COS = 6,
  UN_RSQRT = 7, UN_RECIPROCAL = 8, UN_SQUARE = 9, UN_SIGN = 10,
  UN_POW_SCALAR = 11,  // x ** p0
  UN_CLAMP = 12,       // clamp(x, p0, p1); +-inf for an absent bound
  UN_AFFINE = 13,      // x * p0 + p1
  UN_RPOW_SCALAR = 14, // p0 ** x
  UN_LOG1P = 15, UN_EXPM1 = 16,
};
constexpr int64_t UN_COUNT = 17;

// Reductions over the middle axis of an (outer, red, inner) view.
enum RedOp : int64_t { RED_SUM = 0, RED_MEAN = 1, RED_MAX = 2, RED_MIN = 3, RED_PROD = 4 };
enum ArgRedOp : int64_t { ARG_MAX = 0, ARG_MIN = 1 };

// Output size of a convolution/pooling window along one axis (PyTorch's formula).
inline int64_t window_out(int64_t in, int64_t k, int64_t stride, int64_t pad, int64_t dil,
                          bool ceil_mode = false) {
  int64_t span = in + 2 * pad - dil * (k - 1) - 1;
  // with ceil_mode a window hanging past the end counts: span may be down to -(stride - 1)
  // (torch: an input of width 1, kernel 2, stride 2 gives one output)
  if (ceil_mode) span += stride - 1;
  if (span < 0) return 0;
  int64_t out = span / stride + 1;
  // PyTorch: with ceil_mode the last window must start inside the (left-padded) input.
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

}  // namespace nx
