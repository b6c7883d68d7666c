// batchnorm.cu (cuda) — batch normalization forward (training and eval) and backward;
// formulas, checks and edge cases (M == 1 raises, M == 0 leaves running stats alone) as
// csrc/cpu/batchnorm.cc.
//
// Layout: inp/out/dout/dinp (N, C, HW) row-major float32; per-channel vectors (C). Channel
// c's M = N*HW elements are x[(n*C + c)*HW + s].
//
// Two kernels per call:
//   channel kernel   block -> one channel (grid-stride over channels); threads stride over
//                    the channel's M elements (contiguous runs of HW), double accumulators,
//                    fixed-order block reduction (deterministic). Writes the statistics
//                    (save_*, running_*, dgamma, dbeta) and the per-channel coefficients of
//                    the elementwise pass into a scratch (C, 3) array.
//   elementwise      thread -> one element of (N, C, HW), grid-stride; reads its channel's
//                    coefficients: forward out = (x - mu) * a + b; backward dx = (dy - gm -
//                    (x - mu) * k) * w.
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

// coef (C, 3): mu, a = invstd*gamma, b = beta.
__global__ void bn_fwd_channels(float* coef, float* sm, float* si, float* rm, float* rv,
                                const float* x, const float* g, const float* b, int64_t N,
                                int64_t C, int64_t HW, bool training, float momentum, float eps) {
  __shared__ double red[32];
  const int64_t M = N * HW;
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    double mean, invstd;
    if (!training) {
      mean = rm[c];
      invstd = 1.0 / sqrt(double(rv[c]) + double(eps));
    } else if (M == 0) {
      mean = invstd = 0.0;
    } else {
      double s = 0.0;
      for (int64_t e = threadIdx.x; e < M; e += blockDim.x) s += x[elem(c, e, C, HW)];
      mean = block_sum(s, red) / double(M);
      double q = 0.0;
      for (int64_t e = threadIdx.x; e < M; e += blockDim.x) {
        const double dv = double(x[elem(c, e, C, HW)]) - mean;
        q += dv * dv;
      }
      const double var = block_sum(q, red) / double(M);
      invstd = 1.0 / sqrt(var + double(eps));
      if (threadIdx.x == 0) {
        const double mom = momentum;
        if (rm) rm[c] = float((1.0 - mom) * rm[c] + mom * mean);
        if (rv) rv[c] = float((1.0 - mom) * rv[c] + mom * var * double(M) / double(M - 1));
      }
    }
    if (threadIdx.x == 0) {
      if (sm) sm[c] = float(mean);
      if (si) si[c] = float(invstd);
      coef[c * 3 + 0] = float(mean);
      coef[c * 3 + 1] = float(invstd * (g ? double(g[c]) : 1.0));
      coef[c * 3 + 2] = b ? b[c] : 0.f;
    }
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
__global__ void bn_bwd_channels(float* coef, float* dg, float* db, const float* dy,
                                const float* x, const float* g, const float* sm, const float* si,
                                int64_t N, int64_t C, int64_t HW, bool training, bool sums) {
  __shared__ double red[32];
  const int64_t M = N * HW;
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    const float mu = sm[c];
    double sdy = 0.0, sdyx = 0.0;
    if (sums) {
      for (int64_t e = threadIdx.x; e < M; e += blockDim.x) {
        const int64_t i = elem(c, e, C, HW);
        sdy += dy[i];
        sdyx += double(dy[i]) * double(x[i] - mu);
      }
      sdy = block_sum(sdy, red);
      sdyx = block_sum(sdyx, red);
    }
    if (threadIdx.x == 0) {
      const double is = si[c];
      if (db) db[c] = float(sdy);
      if (dg) dg[c] = float(sdyx * is);
      coef[c * 4 + 0] = mu;
      coef[c * 4 + 1] = float(is * (g ? double(g[c]) : 1.0));
      coef[c * 4 + 2] = (training && M > 0) ? float(sdy / double(M)) : 0.f;
      coef[c * 4 + 3] = (training && M > 0) ? float(sdyx * is * is / double(M)) : 0.f;
    }
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

unsigned channel_grid(int64_t C) { return unsigned(C < 65535 ? C : 65535); }

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
  NX_LAUNCH(channel_grid(C), kThreads, bn_fwd_channels)(
      coef.f(), save_mean.f(), save_invstd.f(), running_mean.f(), running_var.f(), inp.f(),
      gamma.f(), beta.f(), N, C, HW, training, momentum, eps);
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
  NX_LAUNCH(channel_grid(C), kThreads, bn_bwd_channels)(
      coef.f(), dgamma.f(), dbeta.f(), dout.f(), inp.f(), gamma.f(), save_mean.f(),
      save_invstd.f(), N, C, HW, training, sums);
  NX_CUDA_LAUNCH();
  if (!dinp.data || total == 0) return;
  NX_LAUNCH(grid_1d(total, kThreads), kThreads, bn_bwd_apply)(dinp.f(), dout.f(), inp.f(),
                                                                    coef.f(), total, C, HW, training);
  NX_CUDA_LAUNCH();
}

}  // namespace nx
