// softmax.cu (cuda) — softmax / log_softmax over the last axis, their backward, and the
// fused cross-entropy loss; formulas, NaN behaviour and checks as csrc/cpu/softmax.cc.
//
// Layouts: (rows, cols) row-major float32; target (rows) int64; lse (rows); loss, dloss (1).
// Numerics: rows shifted by their (NaN-propagating) max before exp; sums in double.
//
// Thread mapping: one block per row (grid-stride over rows); the block's threads stride over
// the row's columns (coalesced), then a fixed-order warp-shuffle + shared-memory reduction
// combines them (deterministic). Block size follows cols: 32 (cols <= 64), 128 (<= 1024),
// else 256.
// Cross-entropy: one single-block kernel first counts the counted rows into device memory
// (the row and loss kernels read it there: the host never waits) and reports a bad target as
// a deferred error (check.cuh; rows with one get NaN terms). The loss is a second
// single-block kernel that sums the per-row terms (double) in a fixed order.
#include "../checks/softmax.h"
#include "check.cuh"

namespace nx {
namespace cuda {
namespace {

int row_threads(int64_t cols) { return cols <= 64 ? 32 : (cols <= 1024 ? 128 : 256); }
unsigned row_grid(int64_t rows) { return unsigned(rows < (1 << 20) ? rows : (1 << 20)); }

// Block-wide reductions (blockDim.x multiple of 32). sm: >= 32 elements.
__device__ __forceinline__ float nanmax(float a, float b) {
  return (a != a || b != b) ? __int_as_float(0x7fc00000) : fmaxf(a, b);
}
__device__ float block_nanmax(float v, float* sm) {
  for (int o = 16; o > 0; o >>= 1) v = nanmax(v, __shfl_xor_sync(0xffffffffu, v, o));
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
  __syncthreads();  // sm free (previous use finished)
  if (lane == 0) sm[warp] = v;
  __syncthreads();  // warp results visible
  float r = lane < nw ? sm[lane] : -INFINITY;
  for (int o = 16; o > 0; o >>= 1) r = nanmax(r, __shfl_xor_sync(0xffffffffu, r, o));
  return r;
}

__device__ double row_sum_exp(const float* xr, int64_t cols, float m) {
  double s = 0.0;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) s += double(expf(xr[j] - m));
  return s;
}

__global__ void softmax_fwd_kernel(float* out, const float* inp, int64_t rows, int64_t cols, bool log) {
  __shared__ float smf[32];
  __shared__ double smd[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = inp + r * cols;  // row r of (rows, cols)
    float* orow = out + r * cols;
    float m = -INFINITY;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) m = nanmax(m, xr[j]);
    m = block_nanmax(m, smf);
    const double s = block_sum(row_sum_exp(xr, cols, m), smd);
    if (log) {
      const float ls = float(::log(s));
      for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) orow[j] = (xr[j] - m) - ls;
    } else {
      const float inv = float(1.0 / s);
      for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) orow[j] = expf(xr[j] - m) * inv;
    }
  }
}

__global__ void softmax_bwd_kernel(float* dinp, const float* dout, const float* out, int64_t rows,
                                   int64_t cols, bool log) {
  __shared__ double smd[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* dyr = dout + r * cols;
    const float* yr = out + r * cols;
    float* dxr = dinp + r * cols;
    double s = 0.0;
    if (log) {
      for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) s += double(dyr[j]);
    } else {
      for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) s += double(dyr[j]) * yr[j];
    }
    const float sf = float(block_sum(s, smd));
    // dinp may alias dout: each element is read and written by the same thread, after the
    // block-wide sum (which every thread has finished reading for) is complete.
    if (log) {
      for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) dxr[j] = dyr[j] - expf(yr[j]) * sf;
    } else {
      for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) dxr[j] = yr[j] * (dyr[j] - sf);
    }
  }
}

// One block: count[0] = number of rows with t != ignore; a target outside [0, cols) that is
// not ignore_index is a deferred error.
__global__ void count_targets_kernel(long long* count, DeviceError* err, ErrorContext ctx,
                                     const int64_t* t, int64_t rows, int64_t cols, int64_t ignore) {
  __shared__ long long sm[32];
  long long c = 0;
  for (int64_t r = threadIdx.x; r < rows; r += blockDim.x) {
    const int64_t v = t[r];
    if (v == ignore) continue;
    if (v < 0 || v >= cols) report_bad(err, ctx, r, v);
    else ++c;
  }
  c = block_sum(c, sm);
  if (threadIdx.x == 0) count[0] = c;
}

// Block per row: lse[r] and term[r] = lse - x[t] (0 for ignored rows), in double.
__global__ void ce_rows_kernel(float* lse, double* term, const float* x, const int64_t* t,
                               int64_t rows, int64_t cols, int64_t ignore) {
  __shared__ float smf[32];
  __shared__ double smd[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * cols;
    float m = -INFINITY;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) m = nanmax(m, xr[j]);
    m = block_nanmax(m, smf);
    const double s = block_sum(row_sum_exp(xr, cols, m), smd);
    if (threadIdx.x == 0) {
      const double v = double(m) + ::log(s);  // cols == 0: log(0) = -inf
      lse[r] = float(v);
      const int64_t tr = t[r];  // a bad target (reported by count_targets) gives NaN
      term[r] = tr == ignore ? 0.0 : (tr >= 0 && tr < cols ? v - double(xr[tr]) : double(NAN));
    }
  }
}

// One block: loss = sum(term) / count in a fixed order (NaN when count == 0).
__global__ void ce_loss_kernel(float* loss, const double* term, int64_t rows,
                               const long long* counted) {
  __shared__ double smd[32];
  const long long count = counted[0];
  double s = 0.0;
  for (int64_t r = threadIdx.x; r < rows; r += blockDim.x) s += term[r];
  s = block_sum(s, smd);
  if (threadIdx.x == 0) loss[0] = count > 0 ? float(s / double(count)) : __int_as_float(0x7fc00000);
}

// Block per row: dlogits = dloss/count * (exp(x - lse) - onehot(t)); 0 on ignored rows.
__global__ void ce_bwd_kernel(float* dx, const float* dloss, const float* x, const float* lse,
                              const int64_t* t, int64_t rows, int64_t cols, int64_t ignore,
                              const long long* counted) {
  const long long count = counted[0];
  const float scale = count > 0 ? float(double(dloss[0]) / double(count)) : 0.f;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * cols;
    float* dxr = dx + r * cols;
    const int64_t tr = t[r];
    if (tr == ignore) {
      for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) dxr[j] = 0.f;
      continue;
    }
    const float lr = lse[r];
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
      const float v = scale * expf(xr[j] - lr);
      dxr[j] = j == tr ? v - scale : v;
    }
  }
}

std::string target_error(const char* name, const DeviceError& e) {
  return cat(name, ": target[", e.pos, "] = ", e.value, " is out of range [0, ", e.ctx.a[0],
             ") (and is not ignore_index=", e.ctx.a[1], ")");
}

// count[0] = the rows that count (t != ignore_index), on the device: the mean's divisor
// never visits the host. Bad targets are deferred errors.
void count_targets(long long* count, const char* K, const int64_t* t, int64_t rows, int64_t cols,
                   int64_t ignore) {
  NX_LAUNCH(1, 1024, count_targets_kernel)(count, device_error(),
                                           error_context(target_error, K, cols, ignore), t, rows,
                                           cols, ignore);
  NX_CUDA_LAUNCH();
}

}  // namespace
}  // namespace cuda

using namespace cuda;

void Cuda::softmax_forward(View out, View inp, int64_t rows, int64_t cols, bool log) {
  checks::check_softmax_forward(out, inp, rows, cols, log);
  if (cols == 0 || rows == 0) return;
  NX_LAUNCH(row_grid(rows), row_threads(cols), softmax_fwd_kernel)(out.f(), inp.f(), rows, cols, log);
  NX_CUDA_LAUNCH();
}

void Cuda::softmax_backward(View dinp, View dout, View out, int64_t rows, int64_t cols, bool log) {
  checks::check_softmax_backward(dinp, dout, out, rows, cols, log);
  if (cols == 0 || rows == 0) return;
  NX_LAUNCH(row_grid(rows), row_threads(cols), softmax_bwd_kernel)(dinp.f(), dout.f(), out.f(), rows, cols, log);
  NX_CUDA_LAUNCH();
}

void Cuda::cross_entropy_forward(View loss, View lse, View logits, View target, int64_t rows,
                                 int64_t cols, int64_t ignore_index) {
  checks::check_cross_entropy_forward(loss, lse, logits, target, rows, cols, ignore_index);
  const char* K = "cross_entropy_forward";
  Scratch count(sizeof(long long));
  count_targets(count.as<long long>(), K, target.i64(), rows, cols, ignore_index);
  Scratch term(sizeof(double) * size_t(rows));
  if (rows > 0) {
    NX_LAUNCH(row_grid(rows), row_threads(cols), ce_rows_kernel)(
        lse.f(), term.as<double>(), logits.f(), target.i64(), rows, cols, ignore_index);
    NX_CUDA_LAUNCH();
  }
  NX_LAUNCH(1, 1024, ce_loss_kernel)(loss.f(), term.as<double>(), rows, count.as<long long>());
  NX_CUDA_LAUNCH();
}

void Cuda::cross_entropy_backward(View dlogits, View dloss, View logits, View lse, View target,
                                  int64_t rows, int64_t cols, int64_t ignore_index) {
  checks::check_cross_entropy_backward(dlogits, dloss, logits, lse, target, rows, cols,
                                       ignore_index);
  const char* K = "cross_entropy_backward";
  if (rows == 0) return;
  Scratch count(sizeof(long long));
  count_targets(count.as<long long>(), K, target.i64(), rows, cols, ignore_index);
  if (cols == 0) return;
  NX_LAUNCH(row_grid(rows), row_threads(cols), ce_bwd_kernel)(
      dlogits.f(), dloss.f(), logits.f(), lse.f(), target.i64(), rows, cols, ignore_index, count.as<long long>());
  NX_CUDA_LAUNCH();
}

}  // namespace nx
