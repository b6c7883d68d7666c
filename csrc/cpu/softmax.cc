// softmax.cc (cpu) — softmax / log_softmax over the last axis, their backward, and the
// fused cross-entropy loss (log_softmax + negative log-likelihood, mean reduction).
//
// Layouts: inp/out/dout/dinp/logits/dlogits (rows, cols) row-major float32; target (rows)
// int64; lse (rows) float32 = logsumexp of each logits row; loss, dloss (1) float32.
//
// Numerics: every row is shifted by its max before exp (no overflow); exp is cpu::vexp
// (vmath.h, <= 1 ulp, vectorisable); row sums are accumulated in double, in 16 lanes. A row
// holding NaN gives NaN throughout; a row of all -inf gives NaN (0/0), as PyTorch. out may
// alias inp, dinp may alias dout.
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
// Variants: one algorithm (k0): three passes over each row (max, exp-sum, write), in
// softmax_kernel.inc, compiled per ISA path (portable here, softmax_avx2.cc,
// softmax_avx512.cc) and chosen at run time with cpu::isa().
// Thread mapping: rows split into contiguous ranges, one per OpenMP thread; one thread
// owns a whole row. The loss sums per-row terms serially in row order, so it does not
// depend on the thread count.
#include <cmath>
#include <limits>
#include <vector>

#include "../checks/softmax.h"
#include "backend.h"

// The baseline (portable) instance of the row loops; AVX2 and AVX-512 instances live in
// softmax_avx2.cc / softmax_avx512.cc.
#define NX_SM_NS sm_portable
#include "softmax_kernel.inc"
#undef NX_SM_NS

namespace nx {
namespace cpu {
#define NX_SM_DECLARE(ns)                                                                   \
  namespace ns {                                                                            \
  void softmax_row(float* o, const float* x, int64_t cols, bool log);                       \
  void softmax_backward_row(float* dx, const float* dy, const float* y, int64_t cols, bool log); \
  double lse_row(const float* x, int64_t cols);                                             \
  void ce_grad_row(float* dx, const float* x, float lse, int64_t cols, float scale);        \
  }
NX_SM_DECLARE(sm_avx2)
NX_SM_DECLARE(sm_avx512)
#undef NX_SM_DECLARE
}  // namespace cpu

namespace {

// The row functions of the ISA path cpu::isa() selects.
struct RowFns {
  void (*softmax)(float*, const float*, int64_t, bool);
  void (*backward)(float*, const float*, const float*, int64_t, bool);
  double (*lse)(const float*, int64_t);
  void (*ce_grad)(float*, const float*, float, int64_t, float);
};

RowFns row_fns() {
  static const cpu::PerIsa<RowFns> k{{cpu::sm_portable::softmax_row, cpu::sm_portable::softmax_backward_row,
              cpu::sm_portable::lse_row, cpu::sm_portable::ce_grad_row}, {cpu::sm_avx2::softmax_row, cpu::sm_avx2::softmax_backward_row, cpu::sm_avx2::lse_row,
              cpu::sm_avx2::ce_grad_row}, {cpu::sm_avx512::softmax_row, cpu::sm_avx512::softmax_backward_row,
              cpu::sm_avx512::lse_row, cpu::sm_avx512::ce_grad_row}};
  return k.get();
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
  checks::check_softmax_forward(out, inp, rows, cols, log);
  float* o = out.f();
  const float* x = inp.f();
  if (cols == 0) return;
  const RowFns fn = row_fns();
  cpu::parallel_for(rows, cols * 20, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) fn.softmax(o + r * cols, x + r * cols, cols, log);  // row r
  });
}

void Cpu::softmax_backward(View dinp, View dout, View out, int64_t rows, int64_t cols,
                           bool log) {
  checks::check_softmax_backward(dinp, dout, out, rows, cols, log);
  float* dx = dinp.f();
  const float* dy = dout.f();
  const float* y = out.f();
  if (cols == 0) return;
  const RowFns fn = row_fns();
  cpu::parallel_for(rows, cols * (log ? 20 : 4), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      fn.backward(dx + r * cols, dy + r * cols, y + r * cols, cols, log);
  });
}

void Cpu::cross_entropy_forward(View loss, View lse, View logits, View target, int64_t rows,
                                int64_t cols, int64_t ignore_index) {
  checks::check_cross_entropy_forward(loss, lse, logits, target, rows, cols, ignore_index);
  const char* K = "cross_entropy_forward";
  const float* x = logits.f();
  const int64_t* t = target.i64();
  const int64_t count = count_targets(K, t, rows, cols, ignore_index);
  std::vector<double> term(static_cast<size_t>(rows), 0.0);  // per-row loss, summed in order
  float* l = lse.f();
  const RowFns fn = row_fns();
  cpu::parallel_for(rows, cols * 20, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * cols;  // row r of (rows, cols)
      const double v = cols > 0 ? fn.lse(xr, cols) : -std::numeric_limits<double>::infinity();
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
  checks::check_cross_entropy_backward(dlogits, dloss, logits, lse, target, rows, cols,
                                       ignore_index);
  const char* K = "cross_entropy_backward";
  const float* x = logits.f();
  const float* l = lse.f();
  const int64_t* t = target.i64();
  float* dx = dlogits.f();
  const int64_t count = count_targets(K, t, rows, cols, ignore_index);
  // count == 0: every row is ignored, so every gradient is 0 (scale unused).
  const float scale = count > 0 ? float(double(dloss.f()[0]) / double(count)) : 0.f;
  const RowFns fn = row_fns();
  cpu::parallel_for(rows, cols * 20, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * cols;
      float* dxr = dx + r * cols;
      if (t[r] == ignore_index) {
        for (int64_t j = 0; j < cols; ++j) dxr[j] = 0.f;
        continue;
      }
      fn.ce_grad(dxr, xr, l[r], cols, scale);  // cols >= 1 here: t[r] is a valid class
      dxr[t[r]] -= scale;
    }
  });
}

}  // namespace nx
