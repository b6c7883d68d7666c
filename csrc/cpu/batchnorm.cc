// batchnorm.cc (cpu) — batch normalization forward (training and eval) and backward.
//
// Layout: inp/out/dout/dinp (N, C, HW) row-major float32 (HW = H*W for NCHW images, 1 for
// (N, C)); gamma, beta, running_mean, running_var, save_mean, save_invstd, dgamma, dbeta (C).
// Channel c's M = N*HW elements are x[(n*C + c)*HW + s] for n < N, s < HW.
//
// Forward, training: mean = sum x / M, var = sum (x - mean)^2 / M (biased; two passes,
//   double accumulators, so a large mean does not cancel the variance), invstd =
//   1/sqrt(var + eps); out = (x - mean) * invstd * gamma + beta; save_mean/save_invstd
//   receive mean/invstd; running stats (each optional) become
//   (1 - momentum) * running + momentum * stat with the UNBIASED variance var * M/(M - 1).
//   M == 1 raises ValueError (as PyTorch). M == 0 (N = 0 or HW = 0): nothing to normalise,
//   running stats untouched, save_mean = save_invstd = 0.
// Forward, eval: running_mean/running_var (required) normalise; save_mean/save_invstd
//   receive running_mean and 1/sqrt(running_var + eps).
// gamma/beta None: affine = False (gamma 1, beta 0). save_mean/save_invstd may be None when
// no backward will follow.
// Backward (mean, invstd from save_*; xmu = x - mean; sums per channel in double):
//   dbeta = sum dy,  dgamma = invstd * sum dy*xmu
//   training: dinp = gamma*invstd * (dy - sum dy / M - xmu * invstd^2 * sum(dy*xmu) / M)
//   eval:     dinp = gamma*invstd * dy
//
// Variants: one (k0).
// Thread mapping: channels [0, C) split into contiguous ranges, one per OpenMP thread; a
// thread owns its channels' statistics and outputs. HW > 1: per channel, per n, one
// contiguous row of HW elements, reduced with 8 independent double accumulators (so the
// compiler vectorises the sums without reassociating them). HW == 1 ((N, C) input): per
// row n, the thread's channels are one contiguous span, vectorised over channels with one
// double accumulator per channel. Sums run in a fixed order inside their thread, so results
// do not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <vector>

#include "../checks/batchnorm.h"
#include "backend.h"

namespace nx {
namespace {

constexpr int kLanes = 8;  // independent partial sums per reduction (vectorisable, fixed order)

// sum x[0, n) in double.
inline double sum_row(const float* x, int64_t n) {
  double a[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) a[l] += x[j + l];
  double s = 0.0;
  for (; j < n; ++j) s += x[j];
  for (int l = 0; l < kLanes; ++l) s += a[l];
  return s;
}

// sum (x - mu)^2 over [0, n) in double.
inline double sumsq_row(const float* x, int64_t n, double mu) {
  double a[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) {
      const double d = double(x[j + l]) - mu;
      a[l] += d * d;
    }
  double s = 0.0;
  for (; j < n; ++j) {
    const double d = double(x[j]) - mu;
    s += d * d;
  }
  for (int l = 0; l < kLanes; ++l) s += a[l];
  return s;
}

// s0 += sum dy, s1 += sum dy * (x - mu) over [0, n), in double.
inline void dot_row(const float* dy, const float* x, int64_t n, double mu, double& s0, double& s1) {
  double a[kLanes] = {}, b[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) {
      a[l] += dy[j + l];
      b[l] += double(dy[j + l]) * (double(x[j + l]) - mu);
    }
  double t0 = 0.0, t1 = 0.0;
  for (; j < n; ++j) {
    t0 += dy[j];
    t1 += double(dy[j]) * (double(x[j]) - mu);
  }
  for (int l = 0; l < kLanes; ++l) {
    t0 += a[l];
    t1 += b[l];
  }
  s0 += t0;
  s1 += t1;
}

}  // namespace

void Cpu::batchnorm_forward(View out, View save_mean, View save_invstd, View running_mean,
                            View running_var, View inp, View gamma, View beta, int64_t N,
                            int64_t C, int64_t HW, bool training, float momentum, float eps) {
  checks::check_batchnorm_forward(out, save_mean, save_invstd, running_mean, running_var, inp,
                                  gamma, beta, N, C, HW, training, momentum, eps);
  const int64_t M = N * HW;
  const float* x = inp.f();
  float* o = out.f();
  const float *g = gamma.f(), *b = beta.f();
  float *sm = save_mean.f(), *si = save_invstd.f();
  float *rm = running_mean.f(), *rv = running_var.f();

  cpu::parallel_for(C, std::max<int64_t>(M, 1) * 6, [&](int64_t c0, int64_t c1) {
    const int64_t nc = c1 - c0;
    std::vector<double> mean_v(nc), var_v(nc, 0.0);
    double *mean = mean_v.data(), *var = var_v.data();  // indexed by c - c0
    if (!training) {
      for (int64_t c = 0; c < nc; ++c) {
        mean[c] = rm[c0 + c];
        var[c] = rv[c0 + c];
      }
    } else if (M > 0 && HW == 1) {
      // (N, C): row n's channels [c0, c1) are x[n*C + c0 ...], contiguous.
      std::fill(mean, mean + nc, 0.0);
      for (int64_t n = 0; n < N; ++n) {
        const float* xr = x + n * C + c0;
        for (int64_t c = 0; c < nc; ++c) mean[c] += xr[c];
      }
      for (int64_t c = 0; c < nc; ++c) mean[c] /= double(M);
      for (int64_t n = 0; n < N; ++n) {
        const float* xr = x + n * C + c0;
        for (int64_t c = 0; c < nc; ++c) {
          const double d = double(xr[c]) - mean[c];
          var[c] += d * d;
        }
      }
      for (int64_t c = 0; c < nc; ++c) var[c] /= double(M);
    } else if (M > 0) {
      for (int64_t c = 0; c < nc; ++c) {
        double s = 0.0, q = 0.0;
        for (int64_t n = 0; n < N; ++n) s += sum_row(x + (n * C + c0 + c) * HW, HW);
        const double mu = s / double(M);
        for (int64_t n = 0; n < N; ++n) q += sumsq_row(x + (n * C + c0 + c) * HW, HW, mu);
        mean[c] = mu;
        var[c] = q / double(M);
      }
    }
    // Statistics -> saved values, running stats, and the per-channel affine map
    // out = (x - mean) * scale + shift with scale = invstd * gamma, shift = beta.
    std::vector<float> prm(3 * nc);
    float *mu_f = prm.data(), *scale = mu_f + nc, *shift = scale + nc;
    for (int64_t c = 0; c < nc; ++c) {
      const int64_t cc = c0 + c;
      double invstd = 1.0 / std::sqrt(var[c] + double(eps));
      if (training && M == 0) {  // empty batch: no statistics (documented above)
        mean[c] = 0.0;
        invstd = 0.0;
      } else if (training) {
        const double mom = momentum;
        if (rm) rm[cc] = float((1.0 - mom) * rm[cc] + mom * mean[c]);
        if (rv) rv[cc] = float((1.0 - mom) * rv[cc] + mom * var[c] * double(M) / double(M - 1));
      }
      if (sm) sm[cc] = float(mean[c]);
      if (si) si[cc] = float(invstd);
      mu_f[c] = float(mean[c]);
      scale[c] = float(invstd * (g ? double(g[cc]) : 1.0));
      shift[c] = b ? b[cc] : 0.f;
    }
    if (HW == 1) {
      for (int64_t n = 0; n < N; ++n) {
        const float* xr = x + n * C + c0;
        float* orow = o + n * C + c0;
        for (int64_t c = 0; c < nc; ++c) orow[c] = (xr[c] - mu_f[c]) * scale[c] + shift[c];
      }
    } else {
      for (int64_t c = 0; c < nc; ++c) {
        const float m = mu_f[c], a = scale[c], s = shift[c];
        for (int64_t n = 0; n < N; ++n) {
          const float* xr = x + (n * C + c0 + c) * HW;  // row (n, c) of (N, C, HW)
          float* orow = o + (n * C + c0 + c) * HW;
          for (int64_t j = 0; j < HW; ++j) orow[j] = (xr[j] - m) * a + s;
        }
      }
    }
  });
}

void Cpu::batchnorm_backward(View dinp, View dgamma, View dbeta, View dout, View inp,
                             View gamma, View save_mean, View save_invstd, int64_t N,
                             int64_t C, int64_t HW, bool training) {
  checks::check_batchnorm_backward(dinp, dgamma, dbeta, dout, inp, gamma, save_mean, save_invstd,
                                   N, C, HW, training);
  const int64_t M = N * HW;
  const float *x = inp.f(), *dy = dout.f(), *g = gamma.f();
  const float *sm = save_mean.f(), *si = save_invstd.f();
  float *dx = dinp.f(), *dg = dgamma.f(), *db = dbeta.f();
  const bool need_sums = dg || db || (dx && training);

  cpu::parallel_for(C, std::max<int64_t>(M, 1) * 6, [&](int64_t c0, int64_t c1) {
    const int64_t nc = c1 - c0;
    std::vector<double> sums(2 * nc, 0.0);
    double *sdy = sums.data(), *sdyx = sdy + nc;  // sum dy, sum dy * (x - mean); by c - c0
    if (need_sums && HW == 1) {
      std::vector<double> mu(sm + c0, sm + c1);
      for (int64_t n = 0; n < N; ++n) {
        const float* xr = x + n * C + c0;  // (N, C): the thread's channels of row n
        const float* dyr = dy + n * C + c0;
        for (int64_t c = 0; c < nc; ++c) {
          sdy[c] += dyr[c];
          sdyx[c] += double(dyr[c]) * (double(xr[c]) - mu[c]);
        }
      }
    } else if (need_sums) {
      for (int64_t c = 0; c < nc; ++c)
        for (int64_t n = 0; n < N; ++n) {
          const int64_t r = (n * C + c0 + c) * HW;  // row (n, c) of (N, C, HW)
          dot_row(dy + r, x + r, HW, sm[c0 + c], sdy[c], sdyx[c]);
        }
    }
    for (int64_t c = 0; c < nc; ++c) {
      if (db) db[c0 + c] = float(sdy[c]);
      if (dg) dg[c0 + c] = float(sdyx[c] * double(si[c0 + c]));  // 0 when M == 0
    }
    if (!dx || M == 0) return;
    // training: dx = (dy - mean(dy) - (x - mean) * k) * w, k = invstd^2 * sum(dy*xmu) / M;
    // eval:     dx = dy * w;  w = invstd * gamma
    std::vector<float> prm(4 * nc);
    float *w = prm.data(), *mu = w + nc, *gm = mu + nc, *k = gm + nc;
    for (int64_t c = 0; c < nc; ++c) {
      const double is = si[c0 + c];
      w[c] = float(is * (g ? double(g[c0 + c]) : 1.0));
      mu[c] = sm[c0 + c];
      gm[c] = float(sdy[c] / double(M));
      k[c] = float(sdyx[c] * is * is / double(M));
    }
    if (HW == 1) {
      for (int64_t n = 0; n < N; ++n) {
        const float* xr = x + n * C + c0;
        const float* dyr = dy + n * C + c0;
        float* dxr = dx + n * C + c0;
        if (training)
          for (int64_t c = 0; c < nc; ++c) dxr[c] = (dyr[c] - gm[c] - (xr[c] - mu[c]) * k[c]) * w[c];
        else
          for (int64_t c = 0; c < nc; ++c) dxr[c] = dyr[c] * w[c];
      }
      return;
    }
    for (int64_t c = 0; c < nc; ++c) {
      const float wc = w[c], muc = mu[c], gmc = gm[c], kc = k[c];
      for (int64_t n = 0; n < N; ++n) {
        const int64_t r = (n * C + c0 + c) * HW;
        const float* xr = x + r;
        const float* dyr = dy + r;
        float* dxr = dx + r;
        if (training)
          for (int64_t j = 0; j < HW; ++j) dxr[j] = (dyr[j] - gmc - (xr[j] - muc) * kc) * wc;
        else
          for (int64_t j = 0; j < HW; ++j) dxr[j] = dyr[j] * wc;
      }
    }
  });
}

}  // namespace nx
