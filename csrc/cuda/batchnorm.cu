// batchnorm.cu (cuda) — batch normalization forward (training and eval) and backward;
// formulas, checks and edge cases (M == 1 raises, M == 0 leaves running stats alone) as
// csrc/cpu/batchnorm.cc.
//
// Layout: inp/out/dout/dinp (N, C, HW) row-major float32; per-channel vectors (C). Channel
// c's M = N*HW elements are x[(n*C + c)*HW + s].
//
// Three kernels per call:
//   partials   block -> (channel c, part p) of C * P: threads stride over part p of channel
//              c's M elements (contiguous runs of HW) summing in double, then a fixed-order
//              block reduction. P parts per channel (each >= 4096 elements, ~4 blocks per
//              multiprocessor in all), so a few wide channels still fill the GPU (one block
//              per channel left 64-channel layers on 64 of 132 multiprocessors). Forward:
//              sums of d and d^2 with d = x - x[c, first] (shifted: no cancellation); the
//              input is read once for the statistics. Backward: sum dy and dy*(x - mean).
//   finish     thread -> channel: its P partials added in order (deterministic), then the
//              statistics (save_*, running_*, dgamma, dbeta) and the per-channel coefficients
//              of the elementwise pass, in a scratch (C, 3 or 4) array.
//   elementwise  thread -> one element of (N, C, HW), grid-stride; reads its channel's
//              coefficients: forward out = (x - mu) * a + b; backward dx = (dy - gm -
//              (x - mu) * k) * w.
#include <algorithm>

#include "../checks/batchnorm.h"
#include "check.cuh"

namespace nx {
namespace cuda {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ int64_t elem(int64_t c, int64_t e, int64_t C, int64_t HW) {
  const int64_t n = udiv(e, HW), s = e - n * HW;
  return (n * C + c) * HW + s;
}

// Parts per channel and their length (see the header).
struct Parts {
  int64_t P, chunk;
};
Parts parts_for(int64_t C, int64_t M) {
  const int64_t want = (4 * int64_t(sm_count()) + C - 1) / std::max<int64_t>(C, 1);
  const int64_t P = std::max<int64_t>(1, std::min<int64_t>(want, M / 4096));
  return {P, (M + P - 1) / P};
}

// part (C, P, 2): forward sum(d), sum(d*d), d = x - x[c, 0]; backward sum(dy), sum(dy*(x - mu)).
template <bool FWD>
__global__ void bn_partials(double* part, const float* x, const float* dy, const float* mean,
                            int64_t N, int64_t C, int64_t HW, int64_t P, int64_t chunk) {
  __shared__ double red[32];
  const int64_t M = N * HW;
  for (int64_t q = blockIdx.x; q < C * P; q += gridDim.x) {
    const int64_t c = q / P, e1 = min(M, (q - c * P + 1) * chunk);
    const float k = FWD ? x[elem(c, 0, C, HW)] : mean[c];
    double s1 = 0.0, s2 = 0.0;
    for (int64_t e = (q - c * P) * chunk + threadIdx.x; e < e1; e += blockDim.x) {
      const int64_t i = elem(c, e, C, HW);
      const double d = double(x[i]) - double(k);
      if (FWD) {
        s1 += d;
        s2 += d * d;
      } else {
        s1 += dy[i];
        s2 += double(dy[i]) * d;
      }
    }
    s1 = block_sum(s1, red);
    s2 = block_sum(s2, red);
    if (threadIdx.x == 0) {
      part[q * 2] = s1;
      part[q * 2 + 1] = s2;
    }
  }
}

// coef (C, 3): mu, a = invstd*gamma, b = beta. part: bn_partials<true> (training, M > 0).
__global__ void bn_fwd_finish(float* coef, float* sm, float* si, float* rm, float* rv,
                              const double* part, const float* x, const float* g, const float* b,
                              int64_t N, int64_t C, int64_t HW, int64_t P, bool training,
                              float momentum, float eps) {
  const int64_t M = N * HW;
  for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < C;
       c += int64_t(gridDim.x) * blockDim.x) {
    double mean, invstd;
    if (!training) {
      mean = rm[c];
      invstd = 1.0 / sqrt(double(rv[c]) + double(eps));
    } else if (M == 0) {
      mean = invstd = 0.0;
    } else {
      double s1 = 0.0, s2 = 0.0;
      for (int64_t p = 0; p < P; ++p) s1 += part[(c * P + p) * 2], s2 += part[(c * P + p) * 2 + 1];
      const double ds = s1 / double(M);  // mean - x[c, 0]
      mean = double(x[elem(c, 0, C, HW)]) + ds;
      const double var = fmax(s2 / double(M) - ds * ds, 0.0);
      invstd = 1.0 / sqrt(var + double(eps));
      const double mom = momentum;
      if (rm) rm[c] = float((1.0 - mom) * rm[c] + mom * mean);
      if (rv) rv[c] = float((1.0 - mom) * rv[c] + mom * var * double(M) / double(M - 1));
    }
    if (sm) sm[c] = float(mean);
    if (si) si[c] = float(invstd);
    coef[c * 3 + 0] = float(mean);
    coef[c * 3 + 1] = float(invstd * (g ? double(g[c]) : 1.0));
    coef[c * 3 + 2] = b ? b[c] : 0.f;
  }
}

__global__ void bn_fwd_apply(float* out, const float* x, const float* coef, int64_t total,
                             int64_t C, int64_t HW) {
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < total;
       t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t nc = udiv(t, HW), c = nc - udiv(nc, C) * C;
    out[t] = (x[t] - coef[c * 3]) * coef[c * 3 + 1] + coef[c * 3 + 2];
  }
}

// coef (C, 4): mu, w = invstd*gamma, gm = sum dy / M, k = sum(dy*xmu) invstd^2 / M.
// part: bn_partials<false>, or null when no sums are needed.
__global__ void bn_bwd_finish(float* coef, float* dg, float* db, const double* part,
                              const float* g, const float* sm, const float* si, int64_t N,
                              int64_t C, int64_t HW, int64_t P, bool training) {
  const int64_t M = N * HW;
  for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < C;
       c += int64_t(gridDim.x) * blockDim.x) {
    double sdy = 0.0, sdyx = 0.0;
    if (part)
      for (int64_t p = 0; p < P; ++p) sdy += part[(c * P + p) * 2], sdyx += part[(c * P + p) * 2 + 1];
    const double is = si[c];
    if (db) db[c] = float(sdy);
    if (dg) dg[c] = float(sdyx * is);
    coef[c * 4 + 0] = sm[c];
    coef[c * 4 + 1] = float(is * (g ? double(g[c]) : 1.0));
    coef[c * 4 + 2] = (training && M > 0) ? float(sdy / double(M)) : 0.f;
    coef[c * 4 + 3] = (training && M > 0) ? float(sdyx * is * is / double(M)) : 0.f;
  }
}

__global__ void bn_bwd_apply(float* dx, const float* dy, const float* x, const float* coef,
                             int64_t total, int64_t C, int64_t HW, bool training) {
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < total;
       t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t nc = udiv(t, HW);
    const float* k = coef + (nc - udiv(nc, C) * C) * 4;
    dx[t] = training ? (dy[t] - k[2] - (x[t] - k[0]) * k[3]) * k[1] : dy[t] * k[1];
  }
}

unsigned part_grid(int64_t blocks) {
  return unsigned(std::min<int64_t>(blocks, int64_t(sm_count()) * 64));
}

}  // namespace
}  // namespace cuda

using namespace cuda;

void Cuda::batchnorm_forward(View out, View save_mean, View save_invstd, View running_mean,
                             View running_var, View inp, View gamma, View beta, int64_t N,
                             int64_t C, int64_t HW, bool training, float momentum, float eps) {
  checks::check_batchnorm_forward(out, save_mean, save_invstd, running_mean, running_var, inp,
                                  gamma, beta, N, C, HW, training, momentum, eps);
  const int64_t total = N * C * HW;
  if (C == 0) return;
  Scratch coef(sizeof(float) * 3 * size_t(C));
  const int64_t M = N * HW;
  const Parts pt = parts_for(C, M);
  Scratch part(training && M > 0 ? sizeof(double) * 2 * size_t(C * pt.P) : 0);
  if (training && M > 0) {
    NX_LAUNCH(part_grid(C * pt.P), kThreads, bn_partials<true>)(
        part.as<double>(), inp.f(), nullptr, nullptr, N, C, HW, pt.P, pt.chunk);
    NX_CUDA_LAUNCH();
  }
  NX_LAUNCH(grid_1d(C, kThreads), kThreads, bn_fwd_finish)(
      coef.f(), save_mean.f(), save_invstd.f(), running_mean.f(), running_var.f(),
      part.as<double>(), inp.f(), gamma.f(), beta.f(), N, C, HW, pt.P, training, momentum, eps);
  NX_CUDA_LAUNCH();
  if (total == 0) return;
  NX_LAUNCH(grid_1d(total, kThreads), kThreads, bn_fwd_apply)(out.f(), inp.f(), coef.f(), total, C, HW);
  NX_CUDA_LAUNCH();
}

void Cuda::batchnorm_backward(View dinp, View dgamma, View dbeta, View dout, View inp,
                              View gamma, View save_mean, View save_invstd, int64_t N,
                              int64_t C, int64_t HW, bool training) {
  checks::check_batchnorm_backward(dinp, dgamma, dbeta, dout, inp, gamma, save_mean, save_invstd,
                                   N, C, HW, training);
  const int64_t total = N * C * HW;
  if (C == 0) return;
  const bool sums = dgamma.data || dbeta.data || (dinp.data && training);
  Scratch coef(sizeof(float) * 4 * size_t(C));
  const int64_t M = N * HW;
  const Parts pt = parts_for(C, M);
  const bool partials = sums && M > 0;
  Scratch part(partials ? sizeof(double) * 2 * size_t(C * pt.P) : 0);
  if (partials) {
    NX_LAUNCH(part_grid(C * pt.P), kThreads, bn_partials<false>)(
        part.as<double>(), inp.f(), dout.f(), save_mean.f(), N, C, HW, pt.P, pt.chunk);
    NX_CUDA_LAUNCH();
  }
  NX_LAUNCH(grid_1d(C, kThreads), kThreads, bn_bwd_finish)(
      coef.f(), dgamma.f(), dbeta.f(), partials ? part.as<double>() : nullptr, gamma.f(),
      save_mean.f(), save_invstd.f(), N, C, HW, pt.P, training);
  NX_CUDA_LAUNCH();
  if (!dinp.data || total == 0) return;
  NX_LAUNCH(grid_1d(total, kThreads), kThreads, bn_bwd_apply)(dinp.f(), dout.f(), inp.f(),
                                                                    coef.f(), total, C, HW, training);
  NX_CUDA_LAUNCH();
}

}  // namespace nx
