// softmax.cc (cpu) — softmax / log_softmax over the last axis, their backward, and the
// fused cross-entropy loss (log_softmax + negative log-likelihood, mean reduction).
//
// Layouts: inp/out/dout/dinp/logits/dlogits (rows, cols) row-major float32; target (rows)
// int64; lse (rows) float32 = logsumexp of each logits row; loss, dloss (1) float32.
//
// Numerics: every row is shifted by its max before exp (no overflow); exp is cpu::vexp
// (vmath.h, <= 2 ulp, vectorisable); row sums are accumulated in double, in 8 lanes. A row holding NaN gives NaN throughout; a row of all -inf gives NaN
// (0/0), as PyTorch. out may alias inp, dinp may alias dout.
//
//   softmax      out = exp(x - m) / s,            m = max x, s = sum exp(x - m)
//   log_softmax  out = x - m - log s
//   backward     softmax: dinp = out * (dout - sum(dout * out))
//                log:     dinp = dout - exp(out) * sum(dout)
//   cross_entropy  loss = (1/count) sum_{r counted} (lse_r - x[r, t_r]), count = #rows with
//                  t_r != ignore_index (0 counted rows: loss = NaN, as PyTorch);
//                  dlogits[r] = dloss * (exp(x[r] - lse_r) - onehot(t_r)) / count, 0 on
//                  ignored rows. A target outside [0, cols) that is not ignore_index
//                  raises ValueError before anything is written.
//
// Variants: one (k0): three passes over each row (max, exp-sum, write).
// Thread mapping: rows split into contiguous ranges, one per OpenMP thread; one thread
// owns a whole row. The loss sums per-row terms serially in row order, so it does not
// depend on the thread count.
#include <cmath>
#include <limits>
#include <vector>

#include "backend.h"
#include "vmath.h"

namespace nx {
namespace {

constexpr int kLanes = 8;  // independent partial results per row reduction (vectorisable)

// Max of a row; NaN-propagating (a NaN anywhere makes the result NaN); -inf for cols == 0.
inline float row_max(const float* x, int64_t cols) {
  const float ninf = -std::numeric_limits<float>::infinity();
  float m[kLanes], nan[kLanes];
  for (int l = 0; l < kLanes; ++l) m[l] = ninf, nan[l] = 0.f;
  int64_t j = 0;
  for (; j + kLanes <= cols; j += kLanes)
    for (int l = 0; l < kLanes; ++l) {
      const float v = x[j + l];
      m[l] = v > m[l] ? v : m[l];
      nan[l] = v != v ? 1.f : nan[l];
    }
  float r = ninf;
  bool any_nan = false;
  for (; j < cols; ++j) {
    r = x[j] > r ? x[j] : r;
    any_nan |= x[j] != x[j];
  }
  for (int l = 0; l < kLanes; ++l) {
    r = m[l] > r ? m[l] : r;
    any_nan |= nan[l] != 0.f;
  }
  return any_nan ? std::numeric_limits<float>::quiet_NaN() : r;
}

// sum_j exp(x[j] - m) in double (lane partial sums); with Store, also e[j] = exp(x[j] - m).
// e may alias x.
template <bool Store>
inline double exp_sum(const float* x, int64_t cols, float m, float* e) {
  double a[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= cols; j += kLanes)
    for (int l = 0; l < kLanes; ++l) {
      const float v = cpu::vexp(x[j + l] - m);
      if (Store) e[j + l] = v;
      a[l] += v;
    }
  double s = 0.0;
  for (; j < cols; ++j) {
    const float v = cpu::vexp(x[j] - m);
    if (Store) e[j] = v;
    s += v;
  }
  for (int l = 0; l < kLanes; ++l) s += a[l];
  return s;
}

// log(sum(exp(x - m))) + m in double; -inf for cols == 0.
inline double row_lse(const float* x, int64_t cols) {
  const float m = row_max(x, cols);
  if (cols == 0) return -std::numeric_limits<double>::infinity();
  return double(m) + std::log(exp_sum<false>(x, cols, m, nullptr));
}

// sum x[j] * y[j] (or sum x[j] when y is null) in double, lane partial sums.
inline double dot_row(const float* x, const float* y, int64_t cols) {
  double a[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= cols; j += kLanes)
    for (int l = 0; l < kLanes; ++l) a[l] += double(x[j + l]) * (y ? double(y[j + l]) : 1.0);
  double s = 0.0;
  for (; j < cols; ++j) s += double(x[j]) * (y ? double(y[j]) : 1.0);
  for (int l = 0; l < kLanes; ++l) s += a[l];
  return s;
}

// Checks every target, then returns how many rows count (target != ignore_index).
int64_t count_targets(const char* K, const int64_t* t, int64_t rows, int64_t cols,
                      int64_t ignore_index) {
  int64_t count = 0;
  for (int64_t r = 0; r < rows; ++r) {
    if (t[r] == ignore_index) continue;
    NX_CHECK(t[r] >= 0 && t[r] < cols, K, ": target[", r, "] = ", t[r], " is out of range [0, ",
             cols, ") (and is not ignore_index=", ignore_index, ")");
    ++count;
  }
  return count;
}

}  // namespace

void Cpu::softmax_forward(View out, View inp, int64_t rows, int64_t cols, bool log) {
  const char* K = "softmax_forward";
  need_nonneg(K, {{"rows", rows}, {"cols", cols}});
  need(out, rows * cols, DType::F32, K, "out", shp({rows, cols}));
  need(inp, rows * cols, DType::F32, K, "inp", shp({rows, cols}));
  float* o = out.f();
  const float* x = inp.f();
  if (cols == 0) return;
  cpu::parallel_for(rows, cols * 20, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * cols;  // row r of (rows, cols)
      float* orow = o + r * cols;
      const float m = row_max(xr, cols);
      if (log) {
        const float ls = float(std::log(exp_sum<false>(xr, cols, m, nullptr)));
        for (int64_t j = 0; j < cols; ++j) orow[j] = (xr[j] - m) - ls;  // x - m is exact near the max
      } else {
        const float inv = float(1.0 / exp_sum<true>(xr, cols, m, orow));
        for (int64_t j = 0; j < cols; ++j) orow[j] *= inv;
      }
    }
  });
}

void Cpu::softmax_backward(View dinp, View dout, View out, int64_t rows, int64_t cols,
                           bool log) {
  const char* K = "softmax_backward";
  need_nonneg(K, {{"rows", rows}, {"cols", cols}});
  need(dinp, rows * cols, DType::F32, K, "dinp", shp({rows, cols}));
  need(dout, rows * cols, DType::F32, K, "dout", shp({rows, cols}));
  need(out, rows * cols, DType::F32, K, "out", shp({rows, cols}));
  float* dx = dinp.f();
  const float* dy = dout.f();
  const float* y = out.f();
  if (cols == 0) return;
  cpu::parallel_for(rows, cols * (log ? 20 : 4), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* dyr = dy + r * cols;
      const float* yr = y + r * cols;
      float* dxr = dx + r * cols;
      if (log) {
        const float sf = float(dot_row(dyr, nullptr, cols));
        for (int64_t j = 0; j < cols; ++j) dxr[j] = dyr[j] - cpu::vexp(yr[j]) * sf;
      } else {
        const float sf = float(dot_row(dyr, yr, cols));
        for (int64_t j = 0; j < cols; ++j) dxr[j] = yr[j] * (dyr[j] - sf);
      }
    }
  });
}

void Cpu::cross_entropy_forward(View loss, View lse, View logits, View target, int64_t rows,
                                int64_t cols, int64_t ignore_index) {
  const char* K = "cross_entropy_forward";
  need_nonneg(K, {{"rows", rows}, {"cols", cols}});
  need(loss, 1, DType::F32, K, "loss", "(1)");
  need(lse, rows, DType::F32, K, "lse", shp({rows}));
  need(logits, rows * cols, DType::F32, K, "logits", shp({rows, cols}));
  need(target, rows, DType::I64, K, "target", shp({rows}));
  const float* x = logits.f();
  const int64_t* t = target.i64();
  const int64_t count = count_targets(K, t, rows, cols, ignore_index);
  std::vector<double> term(static_cast<size_t>(rows), 0.0);  // per-row loss, summed in order
  float* l = lse.f();
  cpu::parallel_for(rows, cols * 20, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * cols;  // row r of (rows, cols)
      const double v = row_lse(xr, cols);  // cols == 0: log(0) = -inf
      l[r] = float(v);
      if (t[r] != ignore_index) term[r] = v - double(xr[t[r]]);
    }
  });
  double total = 0.0;
  for (int64_t r = 0; r < rows; ++r) total += term[r];
  loss.f()[0] = count > 0 ? float(total / double(count)) : std::numeric_limits<float>::quiet_NaN();
}

void Cpu::cross_entropy_backward(View dlogits, View dloss, View logits, View lse, View target,
                                 int64_t rows, int64_t cols, int64_t ignore_index) {
  const char* K = "cross_entropy_backward";
  need_nonneg(K, {{"rows", rows}, {"cols", cols}});
  need(dlogits, rows * cols, DType::F32, K, "dlogits", shp({rows, cols}));
  need(dloss, 1, DType::F32, K, "dloss", "(1)");
  need(logits, rows * cols, DType::F32, K, "logits", shp({rows, cols}));
  need(lse, rows, DType::F32, K, "lse", shp({rows}));
  need(target, rows, DType::I64, K, "target", shp({rows}));
  const float* x = logits.f();
  const float* l = lse.f();
  const int64_t* t = target.i64();
  float* dx = dlogits.f();
  const int64_t count = count_targets(K, t, rows, cols, ignore_index);
  // count == 0: every row is ignored, so every gradient is 0 (scale unused).
  const float scale = count > 0 ? float(double(dloss.f()[0]) / double(count)) : 0.f;
  cpu::parallel_for(rows, cols * 20, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * cols;
      float* dxr = dx + r * cols;
      if (t[r] == ignore_index) {
        for (int64_t j = 0; j < cols; ++j) dxr[j] = 0.f;
        continue;
      }
      const float lr = l[r];
      for (int64_t j = 0; j < cols; ++j) dxr[j] = scale * cpu::vexp(xr[j] - lr);
      dxr[t[r]] -= scale;
    }
  });
}

}  // namespace nx
