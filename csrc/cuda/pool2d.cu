// pool2d.cu (cuda) — 2-D pooling: max (with indices), average, adaptive average, max
// unpooling, and their backwards; semantics and checks as csrc/cpu/pool2d.cc (PyTorch's).
//
// Layouts: inp/dinp (N, C, H, W); out/dout (N, C, P, Q); max indices int64 (N, C, P, Q),
// flat h*W + w within each (n, c) plane.
//
// Thread mappings (all grid-stride, int64 index math; no float atomics anywhere):
//   maxpool/avgpool/adaptive forward   thread -> one output pixel (plane, p, q); taps in
//                                      (h, w) order, as the CPU: bitwise equal results. A
//                                      window of whole rows (global pooling) is one
//                                      contiguous run, summed in order with float4 loads.
//   avgpool/adaptive backward          thread -> one input pixel: a GATHER over the output
//                                      pixels whose window covers it, in (p, q) order,
//                                      which is the order the CPU's scatter adds them in.
//                                      Windows that tile the input (stride == kernel, no
//                                      padding; adaptive P | H, Q | W; global): thread -> 4
//                                      consecutive input pixels, one quotient each, one
//                                      float4 store (avg_tiles_bwd_kernel).
//   maxpool backward, unpool forward   warp -> one (n, c) plane: the plane is zeroed, then
//                                      the outputs are scattered 32 at a time; lanes whose
//                                      index collides find each other through shared memory
//                                      and one lane applies the group in lane order. So writes
//                                      never race and contributions land in increasing j,
//                                      the CPU's order (bitwise equal, deterministic).
//   unpool backward                    thread -> one input element (a gather).
//
// Where 128-bit access pays, counting bytes per element (forward: 4 read per input pixel,
// overlaps from cache, 4 written per output; backward: 4 written per input pixel, 4/(R*S)
// read from dout): wider accesses change none of these bytes, only instruction counts, and
// warps whose adjacent threads own adjacent pixels are already coalesced. So they are used
// only where one thread owns >= 4 contiguous floats anyway: whole-row windows in the forward
// (global pooling's thread per plane, whose lanes read 32 planes apart: float4 loads make 4x
// fewer requests) and tiling windows in the backward (where the gather's index search, not
// memory, is the cost). Not vectorised: max pooling (a 2- or 3-wide window row is not 16
// bytes; a thread -> several outputs mapping would only trade index math for registers),
// the maxpool backward / unpool scatters (data-dependent targets), overlapping windows.
//
// Indices read from arguments (max backward, unpool) are checked as on the CPU: a bad one
// sets a device flag (and is skipped); the host reads the flag after the kernel (one wait)
// and raises ValueError naming the index and where it was.
#include <algorithm>
#include <cmath>

#include "../checks/pool2d.h"
#include "check.cuh"
#include "ops.cuh"

namespace nx {
namespace cuda {
namespace {

constexpr int kThreads = 256;

using checks::PoolShape;

// Raises the CPU's message for the first bad index (flat position in the index array).
// "<op>: indices[n=.., c=.., pos] = v is outside [0, limit) = [0, A*B)", for the deferred
// error of a bad pooling index: ctx.a = {per-plane count, C, A, B}; `dims` names A and B.
template <const char* dims>
std::string pool_index_error(const char* name, const DeviceError& e) {
  const int64_t per_plane = e.ctx.a[0], C = e.ctx.a[1], plane = e.pos / per_plane;
  return cat(name, ": indices[n=", plane / C, ", c=", plane % C, ", ", e.pos % per_plane, "] = ",
             e.value, " is outside [0, ", e.ctx.a[2] * e.ctx.a[3], ") = [0, ", dims, " = ",
             e.ctx.a[2], "*", e.ctx.a[3], ")");
}
constexpr char kHW[] = "H*W", kOHW[] = "OH*OW";

#define NX_GRID_STRIDE(t, n)                                                     \
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < (n); \
       t += int64_t(gridDim.x) * blockDim.x)

// ---- max pooling ----------------------------------------------------------------------
__global__ void maxpool_fwd_kernel(float* out, int64_t* ind, const float* x, PoolShape s) {
  NX_GRID_STRIDE(t, s.planes * s.PQ) {
    const int64_t tq = udiv(t, s.Q), q = t - tq * s.Q, i = udiv(tq, s.P), p = tq - i * s.P;
    const float* plane = x + i * s.HW;  // (H, W)
    int64_t h0 = p * s.sh - s.ph;
    const int64_t h1 = min(h0 + (s.R - 1) * s.dh + 1, s.H);
    if (h0 < 0) h0 += (-h0 + s.dh - 1) / s.dh * s.dh;  // first in-image tap
    int64_t w0 = q * s.sw - s.pw;
    const int64_t w1 = min(w0 + (s.S - 1) * s.dw + 1, s.W);
    if (w0 < 0) w0 += (-w0 + s.dw - 1) / s.dw * s.dw;
    float best = -INFINITY;
    int64_t arg = h0 * s.W + w0;
    for (int64_t h = h0; h < h1; h += s.dh) {
      const float* row = plane + h * s.W;
      for (int64_t w = w0; w < w1; w += s.dw) {
        const float v = row[w];
        if (v > best || v != v) { best = v; arg = h * s.W + w; }
      }
    }
    out[t] = best;
    ind[t] = arg;
  }
}

// Warp-per-plane ordered scatter (see the header). ADD: dst[t] += src (max backward);
// else dst[t] = src with the last lane winning (unpool forward). dst plane (dst_n), index and
// source planes (src_n). Bad indices flag their flat position and are skipped.
// Lanes that hit the same target in a chunk of 32 find each other through the chunk's keys
// in shared memory (a scan of at most 31 keys, broadcast reads): portable CUDA with no
// __match_any_sync/__syncwarp, so the emulated build runs this very kernel. Every loop is
// uniform over the block (warps past the last plane idle through it), so all threads reach
// each __syncthreads.
template <bool ADD>
__global__ void plane_scatter_kernel(float* dst, const float* src, const int64_t* ind,
                                     int64_t planes, int64_t src_n, int64_t dst_n,
                                     DeviceError* err, ErrorContext ctx) {
  __shared__ float sv[kThreads];    // each lane's value in the current chunk
  __shared__ int64_t sk[kThreads];  // each lane's target in the current chunk (-1: none)
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, wpb = blockDim.x >> 5;
  float* myv = sv + warp * 32;
  int64_t* myk = sk + warp * 32;
  for (int64_t i0 = int64_t(blockIdx.x) * wpb; i0 < planes; i0 += int64_t(gridDim.x) * wpb) {
    const int64_t i = i0 + warp;
    const bool active = i < planes;
    float* dp = active ? dst + i * dst_n : nullptr;
    const float* gp = active ? src + i * src_n : nullptr;
    const int64_t* ip = active ? ind + i * src_n : nullptr;
    if (active)
      for (int64_t e = lane; e < dst_n; e += 32) dp[e] = 0.f;
    __syncthreads();  // zeros visible to every lane before the scatter reads them
    for (int64_t base = 0; base < src_n; base += 32) {
      const int64_t j = base + lane;
      int64_t t = -1;
      float g = 0.f;
      if (active && j < src_n) {
        const int64_t v = ip[j];
        if (v < 0 || v >= dst_n) report_bad(err, ctx, i * src_n + j, v);
        else { t = v; g = gp[j]; }
      }
      myv[lane] = g;
      myk[lane] = t;
      __syncthreads();  // the chunk's keys and values visible to the warp
      if (t >= 0) {
        if (ADD) {  // the lowest lane of a target applies its group in lane order
          bool lowest = true;
          for (int l = 0; l < lane && lowest; ++l) lowest = myk[l] != t;
          if (lowest) {
            float acc = dp[t];
            for (int l = lane; l < 32; ++l)
              if (myk[l] == t) acc += myv[l];
            dp[t] = acc;
          }
        } else {  // the highest lane = last in plane order wins
          bool highest = true;
          for (int l = lane + 1; l < 32 && highest; ++l) highest = myk[l] != t;
          if (highest) dp[t] = g;
        }
      }
      __syncthreads();  // this chunk's writes visible, myv/myk free for the next chunk
    }
  }
}

// ---- average pooling ------------------------------------------------------------------
// p[0] + p[1] + ... + p[n-1] added in that order (the CPU's (h, w) order: bitwise equal), for
// a window of whole rows, which is one contiguous run of its plane (global pooling, adaptive
// Q == 1): one float at a time until p + j is 16-byte aligned, float4 loads, the tail.
__device__ __forceinline__ float sum_run(const float* p, int64_t n) {
  float sum = 0.f;
  int64_t j = 0;
  for (; j < n && !aligned16(p + j); ++j) sum += p[j];
  for (; j + 4 <= n; j += 4) {
    const float4 v = *reinterpret_cast<const float4*>(p + j);
    sum += v.x;
    sum += v.y;
    sum += v.z;
    sum += v.w;
  }
  for (; j < n; ++j) sum += p[j];
  return sum;
}

struct AvgWin { int64_t a, b, extent; };
__device__ __forceinline__ AvgWin avg_win(int64_t p, int64_t stride, int64_t pad, int64_t k, int64_t size) {
  int64_t a = p * stride - pad;
  int64_t b = min(a + k, size + pad);
  const int64_t extent = b - a;
  a = max(a, int64_t(0));
  b = min(b, size);
  return {a, b, extent};
}
__device__ __forceinline__ double avg_divisor(const AvgWin& h, const AvgWin& w, bool cip, int64_t ovr) {
  if (ovr > 0) return double(ovr);
  if (cip) return double(h.extent) * double(w.extent);
  return double(h.b - h.a) * double(w.b - w.a);
}

__global__ void avgpool_fwd_kernel(float* out, const float* x, PoolShape s, bool cip, int64_t ovr) {
  NX_GRID_STRIDE(t, s.planes * s.PQ) {
    const int64_t tq = udiv(t, s.Q), q = t - tq * s.Q, i = udiv(tq, s.P), p = tq - i * s.P;
    const AvgWin hw = avg_win(p, s.sh, s.ph, s.R, s.H), ww = avg_win(q, s.sw, s.pw, s.S, s.W);
    if (hw.a >= hw.b || ww.a >= ww.b) { out[t] = 0.f; continue; }
    const float* plane = x + i * s.HW;
    float sum = 0.f;
    if (ww.a == 0 && ww.b == s.W)  // whole rows: one run
      sum = sum_run(plane + hw.a * s.W, (hw.b - hw.a) * s.W);
    else
      for (int64_t h = hw.a; h < hw.b; ++h)
        for (int64_t w = ww.a; w < ww.b; ++w) sum += plane[h * s.W + w];
    out[t] = float(sum / avg_divisor(hw, ww, cip, ovr));
  }
}

// Output rows p whose window [p*stride - pad, +k) can cover input row h.
__device__ __forceinline__ void covering(int64_t h, int64_t stride, int64_t pad, int64_t k,
                                         int64_t P, int64_t& lo, int64_t& hi) {
  const int64_t num = h + pad - k + 1;  // p*stride >= num
  lo = num <= 0 ? 0 : (num + stride - 1) / stride;
  hi = min((h + pad) / stride, P - 1);  // p*stride <= h + pad
}

__global__ void avgpool_bwd_kernel(float* dx, const float* dout, PoolShape s, bool cip, int64_t ovr) {
  NX_GRID_STRIDE(t, s.planes * s.HW) {
    const int64_t tw = udiv(t, s.W), w = t - tw * s.W, i = udiv(tw, s.H), h = tw - i * s.H;
    const float* gp = dout + i * s.PQ;
    int64_t p0, p1, q0, q1;
    covering(h, s.sh, s.ph, s.R, s.P, p0, p1);
    covering(w, s.sw, s.pw, s.S, s.Q, q0, q1);
    float acc = 0.f;
    for (int64_t p = p0; p <= p1; ++p) {
      const AvgWin hw = avg_win(p, s.sh, s.ph, s.R, s.H);
      if (h < hw.a || h >= hw.b) continue;
      for (int64_t q = q0; q <= q1; ++q) {
        const AvgWin ww = avg_win(q, s.sw, s.pw, s.S, s.W);
        if (w < ww.a || w >= ww.b) continue;
        acc += float(gp[p * s.Q + q] / avg_divisor(hw, ww, cip, ovr));
      }
    }
    dx[t] = acc;
  }
}

// ---- adaptive average pooling ---------------------------------------------------------
__device__ __forceinline__ void adaptive_bin(int64_t i, int64_t out, int64_t size, int64_t& start, int64_t& end) {
  start = int64_t((__int128)i * size / out);
  end = int64_t(((__int128)(i + 1) * size + out - 1) / out);
}

__global__ void adaptive_fwd_kernel(float* out, const float* x, int64_t planes, int64_t H,
                                    int64_t W, int64_t P, int64_t Q) {
  NX_GRID_STRIDE(t, planes * P * Q) {
    const int64_t tq = udiv(t, Q), q = t - tq * Q, i = udiv(tq, P), p = tq - i * P;
    int64_t h0, h1, w0, w1;
    adaptive_bin(p, P, H, h0, h1);
    adaptive_bin(q, Q, W, w0, w1);
    const float* plane = x + i * H * W;
    float sum = 0.f;
    if (w0 == 0 && w1 == W)  // whole rows: one run
      sum = sum_run(plane + h0 * W, (h1 - h0) * W);
    else
      for (int64_t h = h0; h < h1; ++h)
        for (int64_t w = w0; w < w1; ++w) sum += plane[h * W + w];
    out[t] = float(sum / (double(h1 - h0) * double(w1 - w0)));
  }
}

// Bins p whose [start, end) contains h: a small candidate range checked exactly.
__device__ __forceinline__ void adaptive_cover(int64_t h, int64_t size, int64_t out, int64_t& lo, int64_t& hi) {
  lo = int64_t((__int128)h * out / size) - 1;
  hi = int64_t((__int128)(h + 1) * out / size) + 1;
  lo = max(lo, int64_t(0));
  hi = min(hi, out - 1);
}

__global__ void adaptive_bwd_kernel(float* dx, const float* dout, int64_t planes, int64_t H,
                                    int64_t W, int64_t P, int64_t Q) {
  NX_GRID_STRIDE(t, planes * H * W) {
    const int64_t tw = udiv(t, W), w = t - tw * W, i = udiv(tw, H), h = tw - i * H;
    const float* gp = dout + i * P * Q;
    int64_t p0, p1, q0, q1;
    adaptive_cover(h, H, P, p0, p1);
    adaptive_cover(w, W, Q, q0, q1);
    float acc = 0.f;
    for (int64_t p = p0; p <= p1; ++p) {
      int64_t h0, h1;
      adaptive_bin(p, P, H, h0, h1);
      if (h < h0 || h >= h1) continue;
      for (int64_t q = q0; q <= q1; ++q) {
        int64_t w0, w1;
        adaptive_bin(q, Q, W, w0, w1);
        if (w < w0 || w >= w1) continue;
        acc += float(gp[p * Q + q] / (double(h1 - h0) * double(w1 - w0)));
      }
    }
    dx[t] = acc;
  }
}

// ---- average / adaptive backward, non-overlapping windows ---------------------------------
// Windows that tile the input without overlap: average pooling with stride == kernel and no
// padding, adaptive pooling with P | H and Q | W, global pooling as the extreme of both. Input
// pixel (h, w) then lies in window (h / R, w / S) only, or in none in the rows and columns
// floor mode drops; its gradient is one quotient, the value the general gather adds to 0.f
// (bitwise equal), without its search over covering windows (64-bit divisions, __int128 for
// adaptive bins). ovr: divisor_override (0: the window's clipped area; clipping only happens
// in ceil mode's last window, padding being 0).
struct Tiles {
  int64_t H, W, HW, P, Q, R, S, ovr;
};
__device__ __forceinline__ float tile_grad(const Tiles& s, const float* dout, int64_t i, int64_t h, int64_t w) {
  const int64_t p = udiv(h, s.R), q = udiv(w, s.S);
  if (p >= s.P || q >= s.Q) return 0.f;
  const double div = s.ovr > 0 ? double(s.ovr)
                               : double(min(s.R, s.H - p * s.R)) * double(min(s.S, s.W - q * s.S));
  return 0.f + float(dout[(i * s.P + p) * s.Q + q] / div);  // 0.f + g: -0 -> +0, as the gather
}

// Thread -> V consecutive elements of dx, flat over (plane, h, w) and across row and plane
// ends: V = 4 (dx 16-byte aligned) stores one float4 and divides the flat index once per 4
// elements, stepping (i, h, w) for the other three; the total % 4 tail, or everything when
// V = 1, one element a thread. Bytes per element are the scalar kernel's (4 written, 4/(R*S)
// read from dout); the gain is the index math and a quarter of the store instructions.
template <int V>
__global__ void avg_tiles_bwd_kernel(float* dx, const float* dout, Tiles s, int64_t total) {
  const int64_t stride = int64_t(gridDim.x) * blockDim.x, t0 = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  for (int64_t v = t0; v < total / V; v += stride) {
    int64_t i = udiv(v * V, s.HW), h = udiv(v * V - i * s.HW, s.W), w = v * V - i * s.HW - h * s.W;
    float g[V];
#pragma unroll
    for (int j = 0; j < V; ++j) {
      g[j] = tile_grad(s, dout, i, h, w);
      if (++w == s.W) {  // next row, next plane
        w = 0;
        if (++h == s.H) {
          h = 0;
          ++i;
        }
      }
    }
    if constexpr (V == 4) reinterpret_cast<float4*>(dx)[v] = make_float4(g[0], g[1], g[2], g[3]);
    else dx[v] = g[0];
  }
  for (int64_t t = total / V * V + t0; t < total; t += stride) {
    const int64_t i = udiv(t, s.HW), h = udiv(t - i * s.HW, s.W), w = t - i * s.HW - h * s.W;
    dx[t] = tile_grad(s, dout, i, h, w);
  }
}

void avg_tiles_bwd(float* dx, const float* dout, const Tiles& s, int64_t total) {
  if (aligned16(dx))
    NX_LAUNCH(grid_1d((total + 3) / 4, kThreads), kThreads, avg_tiles_bwd_kernel<4>)(dx, dout, s, total);
  else
    NX_LAUNCH(grid_1d(total, kThreads), kThreads, avg_tiles_bwd_kernel<1>)(dx, dout, s, total);
  NX_CUDA_LAUNCH();
}

// ---- unpool backward (gather) ---------------------------------------------------------
__global__ void unpool_bwd_kernel(float* dx, const float* dout, const int64_t* ind, int64_t planes,
                                  int64_t HW, int64_t OHW, DeviceError* err, ErrorContext ctx) {
  NX_GRID_STRIDE(t, planes * HW) {
    const int64_t i = udiv(t, HW), v = ind[t];
    if (v < 0 || v >= OHW) { report_bad(err, ctx, t, v); dx[t] = 0.f; continue; }
    dx[t] = dout[i * OHW + v];
  }
}

unsigned plane_grid(int64_t planes) {
  const int64_t wpb = kThreads / 32;
  return grid_1d(planes, int(wpb));  // enough warps for every plane, capped for grid-stride
}

}  // namespace
}  // namespace cuda

using namespace cuda;

void Cuda::maxpool2d_forward(View out, View indices, View inp, int64_t N, int64_t C, int64_t H,
                             int64_t W, int64_t R, int64_t S, int64_t stride_h, int64_t stride_w,
                             int64_t pad_h, int64_t pad_w, int64_t dil_h, int64_t dil_w,
                             bool ceil_mode) {
  const PoolShape s = checks::check_maxpool2d_forward(out, indices, inp, N, C, H, W, R, S, stride_h, stride_w,
                                                            pad_h, pad_w, dil_h, dil_w, ceil_mode);
  const int64_t total = s.planes * s.PQ;
  if (total == 0) return;
  NX_LAUNCH(grid_1d(total, kThreads), kThreads, maxpool_fwd_kernel)(out.f(), indices.i64(), inp.f(), s);
  NX_CUDA_LAUNCH();
}

void Cuda::maxpool2d_backward(View dinp, View dout, View indices, int64_t N, int64_t C,
                              int64_t H, int64_t W, int64_t P, int64_t Q) {
  const char* kn = "maxpool2d_backward";
  const checks::PlaneSizes z = checks::check_maxpool2d_backward(dinp, dout, indices, N, C, H, W, P, Q);
  const int64_t planes = z.planes, HW = z.HW, PQ = z.other;
  if (planes * HW == 0) return;  // (PQ > 0 with HW == 0 cannot hold valid indices: CPU raises
                                 //  only when it scans them; nothing to write here)
  NX_LAUNCH(plane_grid(planes), kThreads, plane_scatter_kernel<true>)(
      dinp.f(), dout.f(), indices.i64(), planes, PQ, HW, device_error(),
      error_context(pool_index_error<kHW>, kn, PQ, C, H, W));
  NX_CUDA_LAUNCH();
}

void Cuda::avgpool2d_forward(View out, View inp, int64_t N, int64_t C, int64_t H, int64_t W,
                             int64_t R, int64_t S, int64_t stride_h, int64_t stride_w,
                             int64_t pad_h, int64_t pad_w, bool ceil_mode, bool count_include_pad,
                             int64_t divisor_override) {
  const PoolShape s = checks::check_avgpool2d_forward(out, inp, N, C, H, W, R, S, stride_h, stride_w, pad_h, pad_w,
                                                            ceil_mode, count_include_pad, divisor_override);
  const int64_t total = s.planes * s.PQ;
  if (total == 0) return;
  NX_LAUNCH(grid_1d(total, kThreads), kThreads, avgpool_fwd_kernel)(out.f(), inp.f(), s,
                                                                          count_include_pad, divisor_override);
  NX_CUDA_LAUNCH();
}

void Cuda::avgpool2d_backward(View dinp, View dout, int64_t N, int64_t C, int64_t H, int64_t W,
                              int64_t R, int64_t S, int64_t stride_h, int64_t stride_w,
                              int64_t pad_h, int64_t pad_w, bool ceil_mode,
                              bool count_include_pad, int64_t divisor_override) {
  const PoolShape s = checks::check_avgpool2d_backward(dinp, dout, N, C, H, W, R, S, stride_h, stride_w, pad_h,
                                                             pad_w, ceil_mode, count_include_pad, divisor_override);
  const int64_t total = s.planes * s.HW;
  if (total == 0) return;
  if (s.sh == s.R && s.sw == s.S && s.ph == 0 && s.pw == 0)  // windows tile the input
    return avg_tiles_bwd(dinp.f(), dout.f(), Tiles{s.H, s.W, s.HW, s.P, s.Q, s.R, s.S, divisor_override}, total);
  NX_LAUNCH(grid_1d(total, kThreads), kThreads, avgpool_bwd_kernel)(dinp.f(), dout.f(), s,
                                                                          count_include_pad, divisor_override);
  NX_CUDA_LAUNCH();
}

void Cuda::adaptive_avgpool2d_forward(View out, View inp, int64_t N, int64_t C, int64_t H,
                                      int64_t W, int64_t P, int64_t Q) {
  const checks::PlaneSizes z = checks::check_adaptive_avgpool2d_forward(out, inp, N, C, H, W, P, Q);
  const int64_t planes = z.planes, PQ = z.other;
  if (planes * PQ == 0) return;
  NX_LAUNCH(grid_1d(planes * PQ, kThreads), kThreads, adaptive_fwd_kernel)(out.f(), inp.f(), planes, H, W, P, Q);
  NX_CUDA_LAUNCH();
}

void Cuda::adaptive_avgpool2d_backward(View dinp, View dout, int64_t N, int64_t C, int64_t H,
                                       int64_t W, int64_t P, int64_t Q) {
  const checks::PlaneSizes z = checks::check_adaptive_avgpool2d_backward(dinp, dout, N, C, H, W, P, Q);
  const int64_t planes = z.planes, HW = z.HW, PQ = z.other;
  if (planes * HW == 0) return;
  if (PQ == 0) return fill_f32(dinp.f(), planes * HW, 0.f);
  if (H % P == 0 && W % Q == 0)  // bins tile the input: R x S = (H / P) x (W / Q)
    return avg_tiles_bwd(dinp.f(), dout.f(), Tiles{H, W, HW, P, Q, H / P, W / Q, 0}, planes * HW);
  NX_LAUNCH(grid_1d(planes * HW, kThreads), kThreads, adaptive_bwd_kernel)(dinp.f(), dout.f(), planes, H, W, P, Q);
  NX_CUDA_LAUNCH();
}

void Cuda::maxunpool2d_forward(View out, View inp, View indices, int64_t N, int64_t C, int64_t H,
                               int64_t W, int64_t OH, int64_t OW) {
  const char* kn = "maxunpool2d_forward";
  const checks::PlaneSizes z = checks::check_maxunpool2d_forward(out, inp, indices, N, C, H, W, OH, OW);
  const int64_t planes = z.planes, HW = z.HW, OHW = z.other;
  if (planes == 0 || (HW == 0 && OHW == 0)) return;
  NX_LAUNCH(plane_grid(planes), kThreads, plane_scatter_kernel<false>)(
      out.f(), inp.f(), indices.i64(), planes, HW, OHW, device_error(),
      error_context(pool_index_error<kOHW>, kn, HW, C, OH, OW));
  NX_CUDA_LAUNCH();
}

void Cuda::maxunpool2d_backward(View dinp, View dout, View indices, int64_t N, int64_t C,
                                int64_t H, int64_t W, int64_t OH, int64_t OW) {
  const char* kn = "maxunpool2d_backward";
  const checks::PlaneSizes z = checks::check_maxunpool2d_backward(dinp, dout, indices, N, C, H, W, OH, OW);
  const int64_t planes = z.planes, HW = z.HW, OHW = z.other;
  if (planes * HW == 0) return;
  NX_LAUNCH(grid_1d(planes * HW, kThreads), kThreads, unpool_bwd_kernel)(
      dinp.f(), dout.f(), indices.i64(), planes, HW, OHW, device_error(),
      error_context(pool_index_error<kOHW>, kn, HW, C, OH, OW));
  NX_CUDA_LAUNCH();
}

}  // namespace nx
