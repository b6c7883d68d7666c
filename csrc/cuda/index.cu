// index.cu (cuda) — gather and scatter_add along the middle axis of an (outer, size, inner)
// view; semantics and checks as csrc/cpu/index.cc.
//
// Layouts: inp/out (outer, size, inner) contiguous; index int64 (m); gathered/scattered
// side (outer, m, inner). Index values in [-size, size); negatives count from the end.
// Index check: one kernel validates and normalises the m indices into scratch memory and
// flags the first bad position; the host reads the flag (the one wait in these kernels) and
// raises ValueError before anything is written, as the CPU.
// Thread mapping:
//   gather       thread -> one output element (o, j, c), grid-stride; consecutive threads
//                copy consecutive c (coalesced); any dtype (1, 4 or 8-byte elements).
//   scatter_add  thread -> one (o, c) column; it walks j = 0..m-1 in order adding
//                src[o, j, c] into out[o, idx[j], c]. Columns are disjoint, so repeated
//                indices add up without atomics, in the CPU's order: bitwise deterministic
//                and equal to the CPU result. Consecutive threads take consecutive c.
#include <algorithm>

#include "../checks/index.h"
#include "../strided.h"
#include "check.cuh"

namespace nx {
namespace cuda {
namespace {

constexpr int kThreads = 256;


__global__ void normalise_kernel(int64_t* nidx, DeviceError* err, ErrorContext ctx,
                                 const int64_t* idx, int64_t m, int64_t size) {
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < m;
       j += int64_t(gridDim.x) * blockDim.x) {
    const int64_t v = idx[j];
    if (v < -size || v >= size) {
      report_bad(err, ctx, j, v);
      nidx[j] = -1;  // skipped by the gather (writes 0) and the scatter
    } else {
      nidx[j] = v < 0 ? v + size : v;
    }
  }
}

std::string index_error(const char* name, const DeviceError& e) {
  return cat(name, ": index ", e.value, " at position ", e.pos,
             " is out of range for an axis of size ", e.ctx.a[0]);
}

// Normalised copy of the indices (device scratch); a bad one is a deferred ValueError.
void normalise(const char* K, const View& index, int64_t m, int64_t size, Scratch& nidx) {
  if (m == 0) return;
  NX_LAUNCH(grid_1d(m, kThreads), kThreads, normalise_kernel)(
      nidx.as<int64_t>(), device_error(), error_context(index_error, K, size), index.i64(), m, size);
  NX_CUDA_LAUNCH();
}

__global__ void check_index_kernel(DeviceError* err, ErrorContext ctx, const int64_t* idx,
                                   int64_t n, int64_t lo, int64_t hi) {
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < n;
       j += int64_t(gridDim.x) * blockDim.x) {
    const int64_t v = idx[j];
    if (v < lo || v >= hi) report_bad(err, ctx, j, v);
  }
}

std::string bounds_error(const char*, const DeviceError& e) {
  return checks::index_bounds_message(e.value, e.ctx.a[0], e.ctx.a[1]);
}

template <class T>
__global__ void gather_kernel(T* out, const T* inp, const int64_t* idx, int64_t outer,
                              int64_t size, int64_t m, int64_t inner) {
  const int64_t total = outer * m * inner;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < total;
       t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = udiv(t, inner), c = t - r * inner, o = udiv(r, m), j = r - o * m;
    const int64_t k = idx[j];
    out[t] = k >= 0 ? inp[(o * size + k) * inner + c] : T(0);
  }
}

template <class T>
__global__ void scatter_add_kernel(T* out, const T* src, const int64_t* idx, int64_t outer,
                                   int64_t size, int64_t m, int64_t inner) {
  const int64_t cols = outer * inner;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < cols;
       t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t o = udiv(t, inner), c = t - o * inner;
    const T* s = src + o * m * inner + c;    // src[o, j, c] at s[j*inner]
    T* d = out + o * size * inner + c;       // out[o, i, c] at d[i*inner]
    for (int64_t j = 0; j < m; ++j)
      if (idx[j] >= 0) d[idx[j] * inner] += s[j * inner];
  }
}

template <class T>
void gather_launch(void* out, const void* inp, const int64_t* idx, int64_t outer, int64_t size,
                   int64_t m, int64_t inner) {
  NX_LAUNCH(grid_1d(outer * m * inner, kThreads), kThreads, gather_kernel<T>)(
      static_cast<T*>(out), static_cast<const T*>(inp), idx, outer, size, m, inner);
  NX_CUDA_LAUNCH();
}

}  // namespace
}  // namespace cuda

using namespace cuda;

void Cuda::gather(View out, View inp, View index, int64_t outer, int64_t size, int64_t m,
                  int64_t inner) {
  const char* K = "gather";
  checks::check_gather(out, inp, index, outer, size, m, inner);
  Scratch nidx(sizeof(int64_t) * size_t(m));
  normalise(K, index, m, size, nidx);
  if (outer * m * inner == 0 || size == 0) return;  // size 0: every index is bad
  const int64_t* idx = nidx.as<int64_t>();
  switch (elem_size(inp.dtype)) {
    case 4: return gather_launch<uint32_t>(out.data, inp.data, idx, outer, size, m, inner);
    case 8: return gather_launch<uint64_t>(out.data, inp.data, idx, outer, size, m, inner);
    default: return gather_launch<uint8_t>(out.data, inp.data, idx, outer, size, m, inner);
  }
}

void Cuda::scatter_add(View out, View src, View index, int64_t outer, int64_t size, int64_t m,
                       int64_t inner) {
  const char* K = "scatter_add";
  checks::check_scatter_add(out, src, index, outer, size, m, inner);
  Scratch nidx(sizeof(int64_t) * size_t(m));
  normalise(K, index, m, size, nidx);
  if (outer * m * inner == 0 || size == 0) return;  // size 0: every index is bad
  const unsigned grid = grid_1d(outer * inner, kThreads);
  if (out.dtype == DType::F32)
    NX_LAUNCH(grid, kThreads, scatter_add_kernel<float>)(out.f(), src.f(), nidx.as<int64_t>(), outer, size, m, inner);
  else
    NX_LAUNCH(grid, kThreads, scatter_add_kernel<int64_t>)(out.i64(), src.i64(), nidx.as<int64_t>(), outer, size, m, inner);
  NX_CUDA_LAUNCH();
}

void Cuda::check_index(View index, int64_t n, int64_t lo, int64_t hi, int64_t dim,
                       bool runtime_error) {
  checks::check_check_index(index, n, lo, hi, dim);
  if (n == 0) return;
  ErrorContext ctx = error_context(bounds_error, "check_index", dim, hi);
  ctx.type = runtime_error ? ErrorContext::kRuntimeError : ErrorContext::kIndexError;
  NX_LAUNCH(grid_1d(n, kThreads), kThreads, check_index_kernel)(device_error(), ctx, index.i64(), n, lo, hi);
  NX_CUDA_LAUNCH();
}

}  // namespace nx
