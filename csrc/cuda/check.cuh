// check.cuh — what every .cu file of the CUDA backend shares:
//   NX_CUDA(call)       every CUDA runtime call: a failure throws std::runtime_error naming
//                       the call, the file and the line (Python sees RuntimeError);
//   NX_CUDA_LAUNCH()    after each kernel launch, to catch bad launch configurations;
//   stream()            the one stream all work goes to (buffer.cu);
//   grid_1d()           block count for a grid-stride loop over n items;
//   Scratch             RAII device workspace from the caching allocator (stream-ordered:
//                       freed blocks are only reused by later work on the same stream);
//   DeviceError         deferred device errors: a kernel that finds a bad index, target or
//                       integer operand records it (report_bad) and the host raises at its
//                       next synchronization (wait_stream), so no kernel call waits;
//   act_fwd/act_dgrad   activation formulas (device), shared by gemm's epilogue, the
//                       activation kernels and lstm;
//   block_sum           deterministic block reduction (fixed tree order).
// All index math is 64-bit; kernels use grid-stride loops so any n fits any grid.
#pragma once

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "../common.h"
#include "backend.h"
#include "compat.cuh"

#define NX_CUDA(call)                                                                    \
  do {                                                                                   \
    cudaError_t nx_err_ = (call);                                                        \
    if (nx_err_ != cudaSuccess) {                                                        \
      cudaGetLastError(); /* clear a non-sticky error so the next call reports afresh */ \
      throw std::runtime_error(::nx::cat("CUDA error in ", #call, " at ", __FILE__, ":", \
                                         __LINE__, ": ", cudaGetErrorString(nx_err_)));  \
    }                                                                                    \
  } while (0)

#define NX_CUDA_LAUNCH() NX_CUDA(cudaGetLastError())

namespace nx::cuda {

cudaStream_t stream();  // created on first use (buffer.cu)
int sm_count();         // multiprocessors of device 0 (cached)

// Blocks for a grid-stride loop over n items with `threads` per block: enough to fill the
// GPU several times over (sm_count * 32 blocks), never more than the items need.
inline unsigned grid_1d(int64_t n, int threads) {
  int64_t need = (n + threads - 1) / threads;
  int64_t cap = int64_t(sm_count()) * 32;
  if (need > cap) need = cap;
  return unsigned(need < 1 ? 1 : need);
}

// Whether p can be read and written as float4 (16-byte aligned); an absent array (null)
// does not stand in the way. Host and device (pool2d's run sums peel to it per thread).
NX_HD bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

struct Scratch {
  void* p = nullptr;
  size_t bytes = 0;
  explicit Scratch(size_t b) : p(b ? alloc(b) : nullptr), bytes(b) {}
  ~Scratch() { free(p, bytes); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  float* f() const { return static_cast<float*>(p); }
  template <class T> T* as() const { return static_cast<T*>(p); }
};

// ---- deferred device errors ----------------------------------------------------------------
// Kernels whose contract rejects bad data (indices outside an axis, targets outside the
// classes, integer division by zero) cannot know it before they run, and waiting for each of
// them would stall the pipeline. So, as PyTorch's device-side asserts, they report on the
// device and the host raises at the next synchronization it does anyway (a read of device
// memory, synchronize()): the one record below, claimed by the first thread that reports,
// holds where and what; wait_stream() reads it (only when a checking kernel ran since the
// last read), clears it and throws (ValueError unless the op says otherwise) with the op's
// own message, saying it was found
// by an earlier asynchronous call. Kernels keep every access in bounds after a bad element
// (they skip it or write 0/NaN); the outputs of the failing call are unspecified.
struct DeviceError;
// Words the message from the record: the op's name and the sizes in ctx.a.
using ErrorFormat = std::string (*)(const char* name, const DeviceError& e);
// What a checking kernel is given at launch: how to word its error (a host function and a
// string literal, carried as numbers: the device never dereferences them) and the sizes the
// words need.
struct ErrorContext {
  enum : long long { kValueError = 0, kIndexError = 1, kRuntimeError = 2 };
  unsigned long long format = 0, name = 0;
  long long a[4] = {0, 0, 0, 0};
  long long type = kValueError;  // the Python exception raised
};
struct DeviceError {
  unsigned long long claimed;  // 0 = no error; the first reporting thread sets it to 1
  long long pos, value;        // the bad element's position and value
  ErrorContext ctx;
};
DeviceError* device_error();  // the record (buffer.cu), allocated and zeroed on first use
// A context for one launch; also tells the next wait_stream() to read the record.
ErrorContext error_context(ErrorFormat f, const char* name, long long a0 = 0, long long a1 = 0,
                           long long a2 = 0, long long a3 = 0);
}  // namespace nx::cuda

#if NX_DEVICE_CODE
namespace nx::cuda {

// t / d for t >= 0, d > 0: a 32-bit division when both fit (index decompositions of all but
// the largest tensors), since 64-bit integer division is a long emulated sequence on GPUs.
__device__ __forceinline__ int64_t udiv(int64_t t, int64_t d) {
  return ((t | d) >> 31) == 0 ? int64_t(uint32_t(t) / uint32_t(d)) : t / d;
}

// Records a bad element unless an earlier one (this call's or an earlier call's) is recorded.
__device__ __forceinline__ void report_bad(DeviceError* e, const ErrorContext& c, int64_t pos,
                                           int64_t value) {
  if (atomicCAS(&e->claimed, 0ull, 1ull) == 0ull) {
    e->pos = pos;
    e->value = value;
    e->ctx = c;
  }
}
// Activation forward, the formulas of csrc/cpu/gemm.h act_apply (accurate libm calls).
__device__ __forceinline__ float act_fwd(int64_t act, float x, float p) {
  switch (act) {
    case ACT_NONE: return x;
    case ACT_RELU: return x > 0.f ? x : (x == x ? 0.f : x);
    case ACT_LEAKY_RELU: return x > 0.f ? x : x * p;
    case ACT_SIGMOID: return 1.f / (1.f + expf(-x));
    case ACT_TANH: return tanhf(x);
    case ACT_SOFTPLUS: {  // p = beta; linear above beta*x > 20 as PyTorch
      float bx = x * p;
      return bx > 20.f ? x : log1pf(expf(bx)) / p;
    }
    case ACT_ELU: return x > 0.f ? x : p * expm1f(x);
    case ACT_GELU:
      if (p != 0.f) {
        const float k0 = 0.7978845608028654f, k1 = 0.044715f;  // sqrt(2/pi), tanh-gelu
        return 0.5f * x * (1.f + tanhf(k0 * (x + k1 * x * x * x)));
      }
      return 0.5f * x * (1.f + erff(x * 0.7071067811865476f));  // 1/sqrt(2)
    case ACT_STEP: return x > 0.f ? 1.f : 0.f;
  }
  return x;
}

// dout * act'(x) from the input x, the formulas and NaN behaviour of csrc/cpu/activation.cc
// (relu/elu pass dout through at NaN x, as PyTorch). step has none (checked on the host).
__device__ __forceinline__ float act_dgrad(int64_t act, float x, float dy, float p) {
  switch (act) {
    case ACT_NONE: return dy;
    case ACT_RELU: return x <= 0.f ? 0.f : dy;
    case ACT_LEAKY_RELU: return x > 0.f ? dy : dy * p;
    case ACT_SIGMOID: {
      const float s = 1.f / (1.f + expf(-x));
      return dy * s * (1.f - s);
    }
    case ACT_TANH: {
      const float t = tanhf(x);
      return dy * (1.f - t * t);
    }
    case ACT_SOFTPLUS: {
      const float bx = x * p;
      if (bx > 20.f) return dy;
      const float z = expf(bx);
      return dy * z / (z + 1.f);
    }
    case ACT_ELU: return x <= 0.f ? dy * p * expf(x) : dy;
    case ACT_GELU:
      if (p != 0.f) {
        const float k0 = 0.7978845608028654f, k1 = 0.044715f;  // sqrt(2/pi), cubic coeff.
        const float x2 = x * x;
        const float t = tanhf(k0 * (x + k1 * x2 * x));
        return dy * (0.5f * (1.f + t) + 0.5f * x * (1.f - t * t) * k0 * (1.f + 3.f * k1 * x2));
      } else {
        const float cdf = 0.5f * (1.f + erff(x * 0.7071067811865476f));  // 1/sqrt(2)
        const float pdf = 0.3989422804014327f * expf(-0.5f * x * x);     // 1/sqrt(2 pi)
        return dy * (cdf + x * pdf);
      }
  }
  return dy;
}

// Sum of v over the block (blockDim.x a multiple of 32, <= 1024), result in every thread.
// Fixed order (warp shuffles, then warp 0 over the warp sums): deterministic.
template <class T>
__device__ __forceinline__ T block_sum(T v, T* smem /* >= 32 */) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  __syncthreads();  // smem may still be read by a previous call
  if (lane == 0) smem[warp] = v;
  __syncthreads();  // warp sums visible
  T r = lane < nw ? smem[lane] : T(0);
  for (int o = 16; o > 0; o >>= 1) r += __shfl_xor_sync(0xffffffffu, r, o);
  return r;
}
template <class T>
__device__ __forceinline__ T block_max(T v, T* smem) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  __syncthreads();
  if (lane == 0) smem[warp] = v;
  __syncthreads();
  T r = lane < nw ? smem[lane] : T(-INFINITY);
  for (int o = 16; o > 0; o >>= 1) r = fmaxf(r, __shfl_xor_sync(0xffffffffu, r, o));
  return r;
}

}  // namespace nx::cuda
#endif
