// batchnorm.cc (cpu) — batch normalization forward (training and eval) and backward.
//
// Layout: inp/out/dout/dinp (N, C, HW) row-major float32 (HW = H*W for NCHW images, 1 for
// (N, C)); gamma, beta, running_mean, running_var, save_mean, save_invstd, dgamma, dbeta (C).
// Channel c's M = N*HW elements are x[(n*C + c)*HW + s] for n < N, s < HW.
//
// Forward, training: mean = sum x / M, var = sum (x - mean)^2 / M (biased; single pass of
//   shifted double sums, batchnorm_kernel.inc, so a large mean does not cancel the
//   variance), invstd = 1/sqrt(var + eps); out = (x - mean) * invstd * gamma + beta;
//   save_mean/save_invstd receive mean/invstd; running stats (each optional) become
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
// Variants: one (k0); its loops (batchnorm_kernel.inc) are compiled per ISA path
// (portable here, batchnorm_avx2.cc, batchnorm_avx512.cc) and chosen with cpu::isa().
// Thread mapping: channels [0, C) split into contiguous ranges, one per OpenMP thread; a
// thread owns its channels' statistics and outputs. Tensors under kSerialElems (1 MB)
// run on the calling thread.
//  * HW > 1: blocks of up to kColBlock channels; each pass (statistics then normalisation;
//    sums then dinp; eval: one pass) walks the block's rows in memory order, n outer and
//    the block's contiguous span of rows inner. Measured on 128x32x784 backward: 2.3 ms
//    against 3.8-8 ms when each channel was finished before the next (its 128 rows of 3 KB
//    lie 100 KB apart, and the prefetcher restarts on every row); the second pass reads from
//    L3 when the tensor fits there and from DRAM otherwise.
//  * HW == 1 ((N, C) input): blocks of kColBlock channels, vectorised over channels (each
//    row's block is contiguous), one double accumulator per channel on the stack: no
//    per-call allocation; the block's N rows stay in cache between the two passes.
// Sums run in a fixed order inside a channel, so results do not depend on the thread count.
#include <algorithm>
#include <cmath>

#include "../checks/batchnorm.h"
#include "backend.h"

#define NX_BN_NS bn_portable
#include "batchnorm_kernel.inc"
#undef NX_BN_NS

namespace nx {
namespace cpu {
#define NX_BN_DECLARE(ns)                                                                                      \
  namespace ns {                                                                                               \
  void bn_stats_rows(const float*, int64_t, int64_t, int64_t, double, double&, double&);                       \
  void bn_affine_rows(float*, const float*, int64_t, int64_t, int64_t, float, float, float);                   \
  void bn_dot_rows(const float*, const float*, int64_t, int64_t, int64_t, double, double&, double&);           \
  void bn_dx_rows(float*, const float*, const float*, int64_t, int64_t, int64_t, bool, float, float, float, float); \
  void bn_stats_cols(const float*, int64_t, int64_t, int64_t, const double*, double*, double*);                \
  void bn_affine_cols(float*, const float*, int64_t, int64_t, int64_t, const float*, const float*, const float*); \
  void bn_dot_cols(const float*, const float*, int64_t, int64_t, int64_t, const double*, double*, double*);     \
  void bn_dx_cols(float*, const float*, const float*, int64_t, int64_t, int64_t, bool, const float*, const float*, \
                  const float*, const float*);                                                                 \
  }
NX_BN_DECLARE(bn_avx2)
NX_BN_DECLARE(bn_avx512)
#undef NX_BN_DECLARE
}  // namespace cpu

namespace {

constexpr int64_t kColBlock = 256;  // (N, C) layout: channels per block (stack arrays)
static_assert(kColBlock <= cpu::bn_portable::kBnColMax, "the cols loops hold kBnColMax channels");

// Tensors below this many elements (1 MB) run on the calling thread: their whole pass takes
// ~25 us on one core (256x512), less than waking a second OpenMP thread costs when another
// process holds that core (measured 0.1-2 ms for 256x512 at 2 threads on the shared box).
constexpr int64_t kSerialElems = int64_t(1) << 18;

// cost_per_item of cpu::parallel_for over channels: 0 (serial) for small tensors.
inline int64_t thread_cost(int64_t N, int64_t C, int64_t HW) {
  return N * C * HW < kSerialElems ? 0 : std::max<int64_t>(N * HW, 1) * 6;
}

// The loops of the ISA path cpu::isa() selects.
struct BnFns {
  decltype(&cpu::bn_portable::bn_stats_rows) stats_rows;
  decltype(&cpu::bn_portable::bn_affine_rows) affine_rows;
  decltype(&cpu::bn_portable::bn_dot_rows) dot_rows;
  decltype(&cpu::bn_portable::bn_dx_rows) dx_rows;
  decltype(&cpu::bn_portable::bn_stats_cols) stats_cols;
  decltype(&cpu::bn_portable::bn_affine_cols) affine_cols;
  decltype(&cpu::bn_portable::bn_dot_cols) dot_cols;
  decltype(&cpu::bn_portable::bn_dx_cols) dx_cols;
};

#define NX_BN_FNS(ns)                                                                              \
  BnFns {                                                                                          \
    cpu::ns::bn_stats_rows, cpu::ns::bn_affine_rows, cpu::ns::bn_dot_rows, cpu::ns::bn_dx_rows,    \
        cpu::ns::bn_stats_cols, cpu::ns::bn_affine_cols, cpu::ns::bn_dot_cols, cpu::ns::bn_dx_cols \
  }

BnFns bn_fns() {
  static const cpu::PerIsa<BnFns> k{NX_BN_FNS(bn_portable), NX_BN_FNS(bn_avx2), NX_BN_FNS(bn_avx512)};
  return k.get();
}
#undef NX_BN_FNS

}  // namespace

void Cpu::batchnorm_forward(View out, View save_mean, View save_invstd, View running_mean,
                            View running_var, View inp, View gamma, View beta, int64_t N,
                            int64_t C, int64_t HW, bool training, float momentum, float eps) {
  checks::check_batchnorm_forward(out, save_mean, save_invstd, running_mean, running_var, inp,
                                  gamma, beta, N, C, HW, training, momentum, eps);
  const int64_t M = N * HW;
  // per-channel work is a handful of scalar ops; two divisions hoisted out of it
  const double inv_m = M > 0 ? 1.0 / double(M) : 0.0, unbias = M > 1 ? double(M) / double(M - 1) : 0.0;
  const float* x = inp.f();
  float* o = out.f();
  const float *g = gamma.f(), *b = beta.f();
  float *sm = save_mean.f(), *si = save_invstd.f();
  float *rm = running_mean.f(), *rv = running_var.f();
  const BnFns f = bn_fns();
  // Channel cc's statistics (training: from the sums s1 = sum (x - K), s2 = sum (x - K)^2;
  // eval: the running ones) -> saved values, running stats, and the affine map
  // out = (x - m) * a + sh with a = invstd * gamma, sh = beta.
  auto finish = [&](int64_t cc, double K, double s1, double s2, float& m, float& a, float& sh) {
    double mean, var;
    if (!training) {
      mean = rm[cc];
      var = rv[cc];
    } else {
      const double d = s1 * inv_m;
      mean = K + d;
      var = std::max(s2 * inv_m - d * d, 0.0);
    }
    double invstd = 1.0 / std::sqrt(var + double(eps));
    if (training && M == 0) {  // empty batch: no statistics (documented above)
      mean = 0.0;
      invstd = 0.0;
    } else if (training) {
      const double mom = momentum;
      if (rm) rm[cc] = float((1.0 - mom) * rm[cc] + mom * mean);
      if (rv) rv[cc] = float((1.0 - mom) * rv[cc] + mom * var * unbias);
    }
    if (sm) sm[cc] = float(mean);
    if (si) si[cc] = float(invstd);
    m = float(mean);
    a = float(invstd * (g ? double(g[cc]) : 1.0));
    sh = b ? b[cc] : 0.f;
  };
  cpu::parallel_for(C, thread_cost(N, C, HW), [&](int64_t c0, int64_t c1) {
    if (HW != 1 && !training) {
      // eval: a per-channel affine map, no statistics: blocks of channels, each walked in
      // memory order (n outer, the block's contiguous span of rows inner) for the prefetcher.
      float m[kColBlock], a[kColBlock], sh[kColBlock];
      for (int64_t cb = c0; cb < c1; cb += kColBlock) {
        const int64_t nc = std::min(kColBlock, c1 - cb);
        for (int64_t c = 0; c < nc; ++c) finish(cb + c, 0.0, 0.0, 0.0, m[c], a[c], sh[c]);
        for (int64_t n = 0; n < N; ++n)
          for (int64_t c = 0; c < nc; ++c) {
            const int64_t r = (n * C + cb + c) * HW;  // row (n, cb + c)
            f.affine_rows(o + r, x + r, 1, 0, HW, m[c], a[c], sh[c]);
          }
      }
      return;
    }
    if (HW != 1 && M > 0) {
      // training: blocks of channels; statistics, then normalisation, each pass walking the
      // block's rows in memory order (n outer, the block's contiguous span inner).
      double K[kColBlock], s1[kColBlock], s2[kColBlock];
      float m[kColBlock], a[kColBlock], sh[kColBlock];
      for (int64_t cb = c0; cb < c1; cb += kColBlock) {
        const int64_t nc = std::min(kColBlock, c1 - cb);
        for (int64_t c = 0; c < nc; ++c) {
          K[c] = x[(cb + c) * HW];  // element (0, cb + c, 0)
          s1[c] = s2[c] = 0.0;
        }
        for (int64_t n = 0; n < N; ++n)
          for (int64_t c = 0; c < nc; ++c) {
            const int64_t r = (n * C + cb + c) * HW;  // row (n, cb + c)
            f.stats_rows(x + r, 1, 0, HW, K[c], s1[c], s2[c]);
          }
        for (int64_t c = 0; c < nc; ++c) finish(cb + c, K[c], s1[c], s2[c], m[c], a[c], sh[c]);
        for (int64_t n = 0; n < N; ++n)
          for (int64_t c = 0; c < nc; ++c) {
            const int64_t r = (n * C + cb + c) * HW;
            f.affine_rows(o + r, x + r, 1, 0, HW, m[c], a[c], sh[c]);
          }
      }
      return;
    }
    if (HW != 1 || M == 0) {  // M == 0: no data; finish sets the documented empty-batch values
      for (int64_t c = c0; c < c1; ++c) {
        float m, a, sh;
        finish(c, 0.0, 0.0, 0.0, m, a, sh);
      }
      return;
    }
    // (N, C): blocks of channels [cb, cb + nc), row n of the block at x + n*C + cb.
    double K[kColBlock], s1[kColBlock], s2[kColBlock];
    float m[kColBlock], a[kColBlock], sh[kColBlock];
    for (int64_t cb = c0; cb < c1; cb += kColBlock) {
      const int64_t nc = std::min(kColBlock, c1 - cb);
      for (int64_t c = 0; c < nc; ++c) {
        K[c] = training ? double(x[cb + c]) : 0.0;  // row 0 (M = N > 0 here)
        s1[c] = s2[c] = 0.0;
      }
      if (training) f.stats_cols(x + cb, N, C, nc, K, s1, s2);
      for (int64_t c = 0; c < nc; ++c) finish(cb + c, K[c], s1[c], s2[c], m[c], a[c], sh[c]);
      f.affine_cols(o + cb, x + cb, N, C, nc, m, a, sh);
    }
  });
}

void Cpu::batchnorm_backward(View dinp, View dgamma, View dbeta, View dout, View inp,
                             View gamma, View save_mean, View save_invstd, int64_t N,
                             int64_t C, int64_t HW, bool training) {
  checks::check_batchnorm_backward(dinp, dgamma, dbeta, dout, inp, gamma, save_mean, save_invstd,
                                   N, C, HW, training);
  const int64_t M = N * HW;
  const double inv_m = M > 0 ? 1.0 / double(M) : 0.0;
  const float *x = inp.f(), *dy = dout.f(), *g = gamma.f();
  const float *sm = save_mean.f(), *si = save_invstd.f();
  float *dx = dinp.f(), *dg = dgamma.f(), *db = dbeta.f();
  const bool need_sums = M > 0 && (dg || db || (dx && training));
  const BnFns f = bn_fns();
  // Channel cc's sums -> dbeta, dgamma, and the dinp coefficients:
  // dinp = (dy - gm - (x - mu) * k) * w, w = invstd * gamma, gm = sum dy / M,
  // k = invstd^2 * sum(dy * xmu) / M (training); dinp = dy * w (eval).
  auto finish = [&](int64_t cc, double sdy, double sdyx, float& w, float& mu, float& gm, float& k) {
    if (db) db[cc] = float(sdy);
    if (dg) dg[cc] = float(sdyx * double(si[cc]));  // 0 when M == 0
    const double is = si[cc];
    w = float(is * (g ? double(g[cc]) : 1.0));
    mu = sm[cc];
    gm = float(sdy * inv_m);
    k = float(sdyx * is * is * inv_m);
  };
  cpu::parallel_for(C, thread_cost(N, C, HW), [&](int64_t c0, int64_t c1) {
    if (HW != 1 && M > 0) {
      // blocks of channels; each pass walks the block's rows in memory order (n outer, the
      // block's contiguous span inner): sums, then dinp.
      double sdy[kColBlock], sdyx[kColBlock];
      float w[kColBlock], mu[kColBlock], gm[kColBlock], k[kColBlock];
      for (int64_t cb = c0; cb < c1; cb += kColBlock) {
        const int64_t nc = std::min(kColBlock, c1 - cb);
        for (int64_t c = 0; c < nc; ++c) sdy[c] = sdyx[c] = 0.0;
        if (need_sums)
          for (int64_t n = 0; n < N; ++n)
            for (int64_t c = 0; c < nc; ++c) {
              const int64_t r = (n * C + cb + c) * HW;
              f.dot_rows(dy + r, x + r, 1, 0, HW, sm[cb + c], sdy[c], sdyx[c]);
            }
        for (int64_t c = 0; c < nc; ++c) finish(cb + c, sdy[c], sdyx[c], w[c], mu[c], gm[c], k[c]);
        if (dx)
          for (int64_t n = 0; n < N; ++n)
            for (int64_t c = 0; c < nc; ++c) {
              const int64_t r = (n * C + cb + c) * HW;
              f.dx_rows(dx + r, dy + r, x + r, 1, 0, HW, training, w[c], mu[c], gm[c], k[c]);
            }
      }
      return;
    }
    if (HW != 1 || M == 0) {  // M == 0: no data, the sums are 0
      for (int64_t c = c0; c < c1; ++c) {
        float w, mu, gm, k;
        finish(c, 0.0, 0.0, w, mu, gm, k);
      }
      return;
    }
    // (N, C): blocks of channels [cb, cb + nc), as the forward.
    double mud[kColBlock], sdy[kColBlock], sdyx[kColBlock];
    float w[kColBlock], mu[kColBlock], gm[kColBlock], k[kColBlock];
    for (int64_t cb = c0; cb < c1; cb += kColBlock) {
      const int64_t nc = std::min(kColBlock, c1 - cb);
      for (int64_t c = 0; c < nc; ++c) {
        mud[c] = sm[cb + c];
        sdy[c] = sdyx[c] = 0.0;
      }
      if (need_sums) f.dot_cols(dy + cb, x + cb, N, C, nc, mud, sdy, sdyx);
      for (int64_t c = 0; c < nc; ++c) finish(cb + c, sdy[c], sdyx[c], w[c], mu[c], gm[c], k[c]);
      if (dx) f.dx_cols(dx + cb, dy + cb, x + cb, N, C, nc, training, w, mu, gm, k);
    }
  });
}

}  // namespace nx
