// reduce.cu (cuda) — reductions over the middle axis of inp viewed as (outer, red, inner):
// reduce_forward (sum, mean, max, min, prod) -> out (outer, inner), argreduce_forward
// (index of max/min, first occurrence, NaN wins) -> int64 (outer, inner), and sum_middle(),
// the deterministic float sum other files use for bias gradients.
//
// Three mappings, chosen on the host from the shape (no variants exposed):
//   rows   one block (256 threads) per output: threads stride over red, then a fixed-shape
//          shared-memory tree combines them. Used when inner == 1 (contiguous rows: the
//          strided reads are coalesced) or when there are too few outputs to fill the GPU.
//   cols   one thread per output (o, i), serial loop over red; consecutive threads read
//          consecutive i, so loads are coalesced. Used for many outputs with inner > 1.
//   parts  rows, with each output's red range cut into parts (blocks of their own) and a
//          second kernel combining the parts in order: for few outputs of a long axis
//          (a whole-tensor sum ran on ONE block of 256 threads).
// All combine in an order fixed by the shape and the GPU's multiprocessor count alone:
// results are bit-reproducible run to run (no atomics).
// Accumulators: double for float sum/mean/prod, the element type otherwise (int64 wraps).
// NaN propagates through max/min (and wins argmax/argmin at its first position).
#include <cstdint>

#include "../checks/reduce.h"
#include "check.cuh"
#include "ops.cuh"

namespace nx {
namespace cuda {
namespace {

constexpr int kRedThreads = 256;

template <class T> __device__ __forceinline__ bool is_nan(T v) { return v != v; }

struct SumOp {
  template <class A> __device__ A init() const { return A(0); }
  template <class A> __device__ A combine(A a, A b) const { return a + b; }
};
struct ProdOp {
  template <class A> __device__ A init() const { return A(1); }
  template <class A> __device__ A combine(A a, A b) const { return a * b; }
};
struct MaxOp {
  template <class A> __device__ A init() const;
  template <class A> __device__ A combine(A a, A b) const {
    if (is_nan(a)) return a;
    if (is_nan(b)) return b;
    return a > b ? a : b;
  }
};
template <> __device__ float MaxOp::init<float>() const { return -INFINITY; }
template <> __device__ int64_t MaxOp::init<int64_t>() const { return INT64_MIN; }
struct MinOp {
  template <class A> __device__ A init() const;
  template <class A> __device__ A combine(A a, A b) const {
    if (is_nan(a)) return a;
    if (is_nan(b)) return b;
    return a < b ? a : b;
  }
};
template <> __device__ float MinOp::init<float>() const { return INFINITY; }
template <> __device__ int64_t MinOp::init<int64_t>() const { return INT64_MAX; }

// Block tree over sm[0:blockDim) (power of two); result in sm[0]. Fixed pairing order.
template <class A, class Op>
__device__ A block_combine(A v, A* sm, Op op) {
  sm[threadIdx.x] = v;
  __syncthreads();  // all partials written
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) sm[threadIdx.x] = op.combine(sm[threadIdx.x], sm[threadIdx.x + s]);
    __syncthreads();  // level done before the next reads it
  }
  A r = sm[0];
  __syncthreads();  // sm reused by the next output of this block
  return r;
}

// rows mapping: block -> output q = (o, i); threads stride over r.
template <class T, class A, class Op>
__global__ void reduce_rows(T* out, const T* in, int64_t outer, int64_t red, int64_t inner,
                            Op op, bool mean) {
  __shared__ A sm[kRedThreads];
  for (int64_t q = blockIdx.x; q < outer * inner; q += gridDim.x) {
    const int64_t o = q / inner, i = q % inner;
    const T* base = in + o * red * inner + i;  // element r at base[r*inner]
    A acc = op.template init<A>();
    for (int64_t r = threadIdx.x; r < red; r += blockDim.x) acc = op.combine(acc, A(base[r * inner]));
    acc = block_combine(acc, sm, op);
    if (threadIdx.x == 0) out[q] = mean ? T(acc / A(red)) : T(acc);
  }
}

// cols mapping: thread -> output q = (o, i); serial over r.
template <class T, class A, class Op>
__global__ void reduce_cols(T* out, const T* in, int64_t outer, int64_t red, int64_t inner,
                            Op op, bool mean) {
  for (int64_t q = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; q < outer * inner;
       q += int64_t(gridDim.x) * blockDim.x) {
    const int64_t o = q / inner, i = q % inner;
    const T* base = in + o * red * inner + i;
    A acc = op.template init<A>();
    for (int64_t r = 0; r < red; ++r) acc = op.combine(acc, A(base[r * inner]));
    out[q] = mean ? T(acc / A(red)) : T(acc);
  }
}

// parts mapping, pass 1: block -> (output q, part p) of outs * parts; threads stride over
// r in part p's range [p*chunk, min(red, (p+1)*chunk)), then the block tree combines them.
template <class T, class A, class Op>
__global__ void reduce_rows_parts(A* partial, const T* in, int64_t outer, int64_t red,
                                  int64_t inner, int64_t parts, int64_t chunk, Op op) {
  __shared__ A sm[kRedThreads];
  for (int64_t g = blockIdx.x; g < outer * inner * parts; g += gridDim.x) {
    const int64_t q = g / parts, p = g - q * parts, o = q / inner, i = q - o * inner;
    const T* base = in + o * red * inner + i;
    const int64_t r1 = min(red, (p + 1) * chunk);
    A acc = op.template init<A>();
    for (int64_t r = p * chunk + threadIdx.x; r < r1; r += blockDim.x)
      acc = op.combine(acc, A(base[r * inner]));
    acc = block_combine(acc, sm, op);
    if (threadIdx.x == 0) partial[g] = acc;
  }
}

// parts mapping, pass 2: thread -> output q; its parts combined in increasing p.
template <class T, class A, class Op>
__global__ void reduce_parts_combine(T* out, const A* partial, int64_t outs, int64_t parts,
                                     int64_t red, Op op, bool mean) {
  for (int64_t q = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; q < outs;
       q += int64_t(gridDim.x) * blockDim.x) {
    A acc = op.template init<A>();
    for (int64_t p = 0; p < parts; ++p) acc = op.combine(acc, partial[q * parts + p]);
    out[q] = mean ? T(acc / A(red)) : T(acc);
  }
}

template <class T, class A, class Op>
void run_reduce(T* out, const T* in, int64_t outer, int64_t red, int64_t inner, Op op,
                bool mean) {
  const int64_t outs = outer * inner, sms = sm_count();
  if (outs == 0) return;
  const bool rows = inner == 1 || outs < sms * 256;
  // Few outputs over a long axis (a whole-tensor sum, a loss): one block per output would
  // leave most multiprocessors idle, so each output's range is cut into parts of >= 2048
  // elements, about 4 blocks per multiprocessor in all, and a second pass adds the parts.
  const int64_t parts = rows ? std::min<int64_t>((4 * sms + outs - 1) / outs, red / 2048) : 1;
  if (parts > 1) {
    const int64_t chunk = (red + parts - 1) / parts;
    Scratch partial(sizeof(A) * size_t(outs * parts));
    const unsigned grid = unsigned(std::min<int64_t>(outs * parts, sms * 64));
    NX_LAUNCH(grid, kRedThreads, reduce_rows_parts<T, A, Op>)(partial.as<A>(), in, outer, red,
                                                              inner, parts, chunk, op);
    NX_CUDA_LAUNCH();
    NX_LAUNCH(grid_1d(outs, 256), 256, reduce_parts_combine<T, A, Op>)(out, partial.as<A>(), outs,
                                                                      parts, red, op, mean);
    NX_CUDA_LAUNCH();
    return;
  }
  if (rows) {
    const unsigned grid = unsigned(std::min<int64_t>(outs, int64_t(sm_count()) * 64));
    NX_LAUNCH(grid, kRedThreads, reduce_rows<T, A, Op>)(out, in, outer, red, inner, op, mean);
  } else {
    NX_LAUNCH(grid_1d(outs, 256), 256, reduce_cols<T, A, Op>)(out, in, outer, red, inner, op, mean);
  }
  NX_CUDA_LAUNCH();
}

// ---- argmax / argmin: (value, index) pairs, combined order-independently ----------------
template <class T>
struct ArgPair {
  T v;
  int64_t i;  // -1 = empty
};
// The better of two candidates: NaN first (earliest NaN), then larger (max) / smaller (min),
// ties to the smaller index. Symmetric, so the tree's shape cannot change the answer.
template <class T>
__device__ __forceinline__ ArgPair<T> arg_better(ArgPair<T> a, ArgPair<T> b, bool is_max) {
  if (a.i < 0) return b;
  if (b.i < 0) return a;
  const bool an = is_nan(a.v), bn = is_nan(b.v);
  if (an || bn) {
    if (an && bn) return a.i < b.i ? a : b;
    return an ? a : b;
  }
  if (a.v == b.v) return a.i < b.i ? a : b;
  return ((a.v > b.v) == is_max) ? a : b;
}

template <class T>
__global__ void argreduce_rows(int64_t* out, const T* in, int64_t outer, int64_t red,
                               int64_t inner, bool is_max) {
  __shared__ T sv[kRedThreads];
  __shared__ int64_t si[kRedThreads];
  for (int64_t q = blockIdx.x; q < outer * inner; q += gridDim.x) {
    const int64_t o = q / inner, i = q % inner;
    const T* base = in + o * red * inner + i;
    ArgPair<T> acc{T(0), -1};
    for (int64_t r = threadIdx.x; r < red; r += blockDim.x)
      acc = arg_better(acc, ArgPair<T>{base[r * inner], r}, is_max);
    sv[threadIdx.x] = acc.v;
    si[threadIdx.x] = acc.i;
    __syncthreads();  // partials written
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
      if (threadIdx.x < s) {
        ArgPair<T> r = arg_better(ArgPair<T>{sv[threadIdx.x], si[threadIdx.x]},
                                  ArgPair<T>{sv[threadIdx.x + s], si[threadIdx.x + s]}, is_max);
        sv[threadIdx.x] = r.v;
        si[threadIdx.x] = r.i;
      }
      __syncthreads();  // level done
    }
    if (threadIdx.x == 0) out[q] = si[0];
    __syncthreads();  // sv/si reused for the next output
  }
}

template <class T>
__global__ void argreduce_cols(int64_t* out, const T* in, int64_t outer, int64_t red,
                               int64_t inner, bool is_max) {
  for (int64_t q = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; q < outer * inner;
       q += int64_t(gridDim.x) * blockDim.x) {
    const int64_t o = q / inner, i = q % inner;
    const T* base = in + o * red * inner + i;
    ArgPair<T> acc{T(0), -1};
    for (int64_t r = 0; r < red; ++r) acc = arg_better(acc, ArgPair<T>{base[r * inner], r}, is_max);
    out[q] = acc.i;
  }
}

template <class T>
void run_argreduce(int64_t* out, const T* in, int64_t outer, int64_t red, int64_t inner,
                   bool is_max) {
  const int64_t outs = outer * inner;
  if (outs == 0) return;
  if (inner == 1 || outs < int64_t(sm_count()) * 256) {
    const unsigned grid = unsigned(std::min<int64_t>(outs, int64_t(sm_count()) * 64));
    NX_LAUNCH(grid, kRedThreads, argreduce_rows<T>)(out, in, outer, red, inner, is_max);
  } else {
    NX_LAUNCH(grid_1d(outs, 256), 256, argreduce_cols<T>)(out, in, outer, red, inner, is_max);
  }
  NX_CUDA_LAUNCH();
}

}  // namespace

void sum_middle(float* out, const float* in, int64_t outer, int64_t red, int64_t inner) {
  if (red == 0) return fill_f32(out, outer * inner, 0.f);
  run_reduce<float, double>(out, in, outer, red, inner, SumOp{}, false);
}

}  // namespace cuda


// Checks: csrc/checks/reduce.h (shared with the CPU).
void Cuda::reduce_forward(View out, View inp, int64_t outer, int64_t red, int64_t inner,
                          int64_t op) {
  checks::check_reduce_forward(out, inp, outer, red, inner, op);
  const DType dt = inp.dtype;
  if (outer * inner == 0) return;
  using namespace cuda;
  if (dt == DType::F32) {
    float* o = out.f();
    const float* x = inp.f();
    switch (op) {
      case RED_SUM: return run_reduce<float, double>(o, x, outer, red, inner, SumOp{}, false);
      case RED_MEAN:
        if (red == 0) return fill_f32(o, outer * inner, NAN);
        return run_reduce<float, double>(o, x, outer, red, inner, SumOp{}, true);
      case RED_MAX: return run_reduce<float, float>(o, x, outer, red, inner, MaxOp{}, false);
      case RED_MIN: return run_reduce<float, float>(o, x, outer, red, inner, MinOp{}, false);
      case RED_PROD: return run_reduce<float, double>(o, x, outer, red, inner, ProdOp{}, false);
    }
  } else {
    int64_t* o = out.i64();
    const int64_t* x = inp.i64();
    switch (op) {
      case RED_SUM: return run_reduce<int64_t, int64_t>(o, x, outer, red, inner, SumOp{}, false);
      case RED_MAX: return run_reduce<int64_t, int64_t>(o, x, outer, red, inner, MaxOp{}, false);
      case RED_MIN: return run_reduce<int64_t, int64_t>(o, x, outer, red, inner, MinOp{}, false);
      case RED_PROD: return run_reduce<int64_t, int64_t>(o, x, outer, red, inner, ProdOp{}, false);
    }
  }
}

void Cuda::argreduce_forward(View out, View inp, int64_t outer, int64_t red, int64_t inner,
                             int64_t op) {
  checks::check_argreduce_forward(out, inp, outer, red, inner, op);
  const DType dt = inp.dtype;
  if (dt == DType::F32) cuda::run_argreduce<float>(out.i64(), inp.f(), outer, red, inner, op == ARG_MAX);
  else cuda::run_argreduce<int64_t>(out.i64(), inp.i64(), outer, red, inner, op == ARG_MAX);
}

}  // namespace nx
