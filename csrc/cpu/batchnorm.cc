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
// Thread mapping: channels [0, C) split into contiguous ranges, one per OpenMP thread;
// inside a range, channels go in blocks of kCB with the loop order n -> c -> s, so both
// long HW rows and HW == 1 ((N, C) input: consecutive channels adjacent in memory) stream
// through memory contiguously. Per-channel sums are serial within their thread, so results
// do not depend on the thread count.
#include <algorithm>
#include <cmath>

#include "backend.h"

namespace nx {
namespace {

constexpr int64_t kCB = 64;  // channels per block: 64 double accumulators stay in L1

struct Dims {
  int64_t N, C, HW;
  const float* row(const float* base, int64_t n, int64_t c) const { return base + (n * C + c) * HW; }
  float* row(float* base, int64_t n, int64_t c) const { return base + (n * C + c) * HW; }
};

// body(cb, ce) for each block of at most kCB channels covering [c0, c1).
template <class Body>
void channel_blocks(int64_t c0, int64_t c1, Body&& body) {
  for (int64_t cb = c0; cb < c1; cb += kCB) body(cb, std::min(c1, cb + kCB));
}

}  // namespace

void Cpu::batchnorm_forward(View out, View save_mean, View save_invstd, View running_mean,
                            View running_var, View inp, View gamma, View beta, int64_t N,
                            int64_t C, int64_t HW, bool training, float momentum, float eps) {
  const char* K = "batchnorm_forward";
  need_nonneg(K, {{"N", N}, {"C", C}, {"HW", HW}});
  NX_CHECK(eps >= 0.f, K, ": eps=", eps, " must be >= 0");
  const int64_t M = N * HW, total = N * C * HW;
  NX_CHECK(!(training && M == 1), K, ": Expected more than 1 value per channel when training, "
           "got input of shape (N=", N, ", C=", C, ", HW=", HW, ")");
  const std::string cs = shp({C}), xs = shp({N, C, HW});
  need(out, total, DType::F32, K, "out", xs);
  need(inp, total, DType::F32, K, "inp", xs);
  need_opt(save_mean, C, DType::F32, K, "save_mean", cs);
  need_opt(save_invstd, C, DType::F32, K, "save_invstd", cs);
  if (training) {
    need_opt(running_mean, C, DType::F32, K, "running_mean", cs);
    need_opt(running_var, C, DType::F32, K, "running_var", cs);
  } else {
    need(running_mean, C, DType::F32, K, "running_mean (required in eval mode)", cs);
    need(running_var, C, DType::F32, K, "running_var (required in eval mode)", cs);
  }
  need_opt(gamma, C, DType::F32, K, "gamma", cs);
  need_opt(beta, C, DType::F32, K, "beta", cs);
  const Dims d{N, C, HW};
  const float* x = inp.f();
  float* o = out.f();
  const float *g = gamma.f(), *b = beta.f();
  float *sm = save_mean.f(), *si = save_invstd.f();
  float *rm = running_mean.f(), *rv = running_var.f();

  cpu::parallel_for(C, std::max<int64_t>(M, 1) * 6, [&](int64_t c0, int64_t c1) {
    channel_blocks(c0, c1, [&](int64_t cb, int64_t ce) {
      double mean[kCB], invstd[kCB];
      if (!training) {
        for (int64_t c = cb; c < ce; ++c) {
          mean[c - cb] = rm[c];
          invstd[c - cb] = 1.0 / std::sqrt(double(rv[c]) + double(eps));
        }
      } else if (M == 0) {
        for (int64_t c = cb; c < ce; ++c) mean[c - cb] = invstd[c - cb] = 0.0;
      } else {
        double acc[kCB];
        std::fill(acc, acc + (ce - cb), 0.0);
        for (int64_t n = 0; n < N; ++n)
          for (int64_t c = cb; c < ce; ++c) {
            const float* xr = d.row(x, n, c);
            double s = 0.0;
            for (int64_t j = 0; j < HW; ++j) s += xr[j];
            acc[c - cb] += s;
          }
        for (int64_t c = cb; c < ce; ++c) mean[c - cb] = acc[c - cb] / double(M);
        std::fill(acc, acc + (ce - cb), 0.0);
        for (int64_t n = 0; n < N; ++n)
          for (int64_t c = cb; c < ce; ++c) {
            const float* xr = d.row(x, n, c);
            const double mu = mean[c - cb];
            double q = 0.0;
            for (int64_t j = 0; j < HW; ++j) {
              const double dv = double(xr[j]) - mu;
              q += dv * dv;
            }
            acc[c - cb] += q;
          }
        for (int64_t c = cb; c < ce; ++c) {
          const double var = acc[c - cb] / double(M);
          invstd[c - cb] = 1.0 / std::sqrt(var + double(eps));
          const double mom = momentum;
          if (rm) rm[c] = float((1.0 - mom) * rm[c] + mom * mean[c - cb]);
          if (rv) rv[c] = float((1.0 - mom) * rv[c] + mom * var * double(M) / double(M - 1));
        }
      }
      if (sm)
        for (int64_t c = cb; c < ce; ++c) sm[c] = float(mean[c - cb]);
      if (si)
        for (int64_t c = cb; c < ce; ++c) si[c] = float(invstd[c - cb]);
      // out = (x - mean) * (invstd * gamma) + beta
      float mu[kCB], scale[kCB], shift[kCB];
      for (int64_t c = cb; c < ce; ++c) {
        mu[c - cb] = float(mean[c - cb]);
        scale[c - cb] = float(invstd[c - cb] * (g ? double(g[c]) : 1.0));
        shift[c - cb] = b ? b[c] : 0.f;
      }
      for (int64_t n = 0; n < N; ++n)
        for (int64_t c = cb; c < ce; ++c) {
          const float* xr = d.row(x, n, c);
          float* orow = d.row(o, n, c);
          const float m = mu[c - cb], a = scale[c - cb], s = shift[c - cb];
          for (int64_t j = 0; j < HW; ++j) orow[j] = (xr[j] - m) * a + s;
        }
    });
  });
}

void Cpu::batchnorm_backward(View dinp, View dgamma, View dbeta, View dout, View inp,
                             View gamma, View save_mean, View save_invstd, int64_t N,
                             int64_t C, int64_t HW, bool training) {
  const char* K = "batchnorm_backward";
  need_nonneg(K, {{"N", N}, {"C", C}, {"HW", HW}});
  const int64_t M = N * HW, total = N * C * HW;
  const std::string cs = shp({C}), xs = shp({N, C, HW});
  need_opt(dinp, total, DType::F32, K, "dinp", xs);
  need_opt(dgamma, C, DType::F32, K, "dgamma", cs);
  need_opt(dbeta, C, DType::F32, K, "dbeta", cs);
  need(dout, total, DType::F32, K, "dout", xs);
  need(inp, total, DType::F32, K, "inp", xs);
  need_opt(gamma, C, DType::F32, K, "gamma", cs);
  need(save_mean, C, DType::F32, K, "save_mean", cs);
  need(save_invstd, C, DType::F32, K, "save_invstd", cs);
  const Dims d{N, C, HW};
  const float *x = inp.f(), *dy = dout.f(), *g = gamma.f();
  const float *sm = save_mean.f(), *si = save_invstd.f();
  float *dx = dinp.f(), *dg = dgamma.f(), *db = dbeta.f();
  const bool need_sums = dg || db || (dx && training);

  cpu::parallel_for(C, std::max<int64_t>(M, 1) * 6, [&](int64_t c0, int64_t c1) {
    channel_blocks(c0, c1, [&](int64_t cb, int64_t ce) {
      double sdy[kCB], sdyx[kCB];  // sum dy, sum dy * (x - mean)
      std::fill(sdy, sdy + (ce - cb), 0.0);
      std::fill(sdyx, sdyx + (ce - cb), 0.0);
      if (need_sums)
        for (int64_t n = 0; n < N; ++n)
          for (int64_t c = cb; c < ce; ++c) {
            const float* xr = d.row(x, n, c);
            const float* dyr = d.row(dy, n, c);
            const float mu = sm[c];
            double s0 = 0.0, s1 = 0.0;
            for (int64_t j = 0; j < HW; ++j) {
              s0 += dyr[j];
              s1 += double(dyr[j]) * double(xr[j] - mu);
            }
            sdy[c - cb] += s0;
            sdyx[c - cb] += s1;
          }
      for (int64_t c = cb; c < ce; ++c) {
        if (db) db[c] = float(sdy[c - cb]);
        if (dg) dg[c] = float(sdyx[c - cb] * double(si[c]));  // 0 when M == 0
      }
      if (!dx || M == 0) return;
      for (int64_t c = cb; c < ce; ++c) {
        const double is = si[c];
        const float w = float(is * (g ? double(g[c]) : 1.0));
        const float mu = sm[c];
        // training: dx = (dy - mean(dy) - (x - mean) * k) * w, k = invstd^2 * sum(dy*xmu) / M
        const float gm = training ? float(sdy[c - cb] / double(M)) : 0.f;
        const float k = training ? float(sdyx[c - cb] * is * is / double(M)) : 0.f;
        for (int64_t n = 0; n < N; ++n) {
          const float* xr = d.row(x, n, c);
          const float* dyr = d.row(dy, n, c);
          float* dxr = d.row(dx, n, c);
          if (training)
            for (int64_t j = 0; j < HW; ++j) dxr[j] = (dyr[j] - gm - (xr[j] - mu) * k) * w;
          else
            for (int64_t j = 0; j < HW; ++j) dxr[j] = dyr[j] * w;
        }
      }
    });
  });
}

}  // namespace nx
