// reduce.cc (cpu) — reductions over the middle axis of an (outer, red, inner) view:
// sum / mean / max / min / prod (reduce_forward) and argmax / argmin (argreduce_forward).
//
// Layout: inp (outer, red, inner) contiguous -> out (outer, inner). A reduction over any set
// of adjacent axes is this view; the tensor layer permutes first for anything else.
//
// One implementation each (no variants):
//  * inner == 1: each output is a contiguous row of `red` elements; float sums use 8
//    independent double accumulators (vectorisable, and accurate far past 2^24 terms).
//  * inner > 1: a block of up to 64 adjacent output columns keeps its accumulators in a
//    small local array while the red rows stream past (unit-stride loads, vectorisable).
// Threads: the (outer x column-block) tasks, one contiguous chunk of tasks per thread.
//
// Semantics: float sum/mean/prod accumulate in double (as torch's CPU accumulate type);
// max/min propagate NaN; argmax/argmin give the first occurrence and a NaN counts as the
// extreme (the first NaN wins), as torch. int64: sum/prod wrap around, no mean (TypeError).
// red == 0: sum 0, mean NaN, prod 1; max/min/argmax/argmin raise ValueError.
#include <algorithm>
#include <cmath>
#include <limits>

#include "../checks/reduce.h"
#include "backend.h"

namespace nx {
namespace {

constexpr int64_t JB = 64;  // output columns per task when inner > 1 (64 doubles = 8 lines)

// Runs body(o, j0, j1) over every (outer row, column block) task in parallel.
template <class F>
void for_tasks(int64_t outer, int64_t inner, int64_t red, F&& body) {
  const int64_t nblk = (inner + JB - 1) / JB;
  cpu::parallel_for(outer * nblk, red * std::min(inner, JB), [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t o = t / nblk, j0 = (t % nblk) * JB;
      body(o, j0, std::min(inner, j0 + JB));
    }
  });
}

// Float sum or product of a contiguous row in double; 8 independent accumulators.
template <bool PROD>
double row_reduce(const float* x, int64_t n) {
  double acc[8];
  for (auto& a : acc) a = PROD ? 1.0 : 0.0;
  int64_t r = 0;
  for (; r + 8 <= n; r += 8)
    for (int u = 0; u < 8; ++u) acc[u] = PROD ? acc[u] * x[r + u] : acc[u] + x[r + u];
  for (; r < n; ++r) acc[0] = PROD ? acc[0] * x[r] : acc[0] + x[r];
  double s = acc[0];
  for (int u = 1; u < 8; ++u) s = PROD ? s * acc[u] : s + acc[u];
  return s;
}

// Sum / mean / prod of float32 in double.
void reduce_f32_acc(float* out, const float* inp, int64_t outer, int64_t red, int64_t inner,
                    int64_t op) {
  const bool prod = op == RED_PROD;
  const double scale = op == RED_MEAN ? 1.0 / double(red) : 1.0;
  if (inner == 1) {
    cpu::parallel_for(outer, red, [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o) {
        const float* x = inp + o * red;  // (red)
        double s = prod ? row_reduce<true>(x, red) : row_reduce<false>(x, red);
        out[o] = float(s * scale);
      }
    });
    return;
  }
  for_tasks(outer, inner, red, [&](int64_t o, int64_t j0, int64_t j1) {
    double acc[JB];
    const int64_t w = j1 - j0;
    for (int64_t j = 0; j < w; ++j) acc[j] = prod ? 1.0 : 0.0;
    for (int64_t r = 0; r < red; ++r) {
      const float* x = inp + (o * red + r) * inner + j0;  // row r of block (w)
      if (prod) for (int64_t j = 0; j < w; ++j) acc[j] *= x[j];
      else for (int64_t j = 0; j < w; ++j) acc[j] += x[j];
    }
    for (int64_t j = 0; j < w; ++j) out[o * inner + j0 + j] = float(acc[j] * scale);
  });
}

// Generic accumulate-in-T reduction (float max/min, int64 everything): acc = f(acc, x).
template <class T, class F>
void reduce_plain(T* out, const T* inp, int64_t outer, int64_t red, int64_t inner, T init, F f) {
  for_tasks(outer, inner, red, [&](int64_t o, int64_t j0, int64_t j1) {
    T acc[JB];
    const int64_t w = j1 - j0;
    for (int64_t j = 0; j < w; ++j) acc[j] = init;
    for (int64_t r = 0; r < red; ++r) {
      const T* x = inp + (o * red + r) * inner + j0;
      for (int64_t j = 0; j < w; ++j) acc[j] = f(acc[j], x[j]);
    }
    for (int64_t j = 0; j < w; ++j) out[o * inner + j0 + j] = acc[j];
  });
}

// NaN-propagating float max/min: once acc is NaN it stays NaN.
inline float fmax_nan(float a, float x) { return (x > a || x != x) ? x : a; }
inline float fmin_nan(float a, float x) { return (x < a || x != x) ? x : a; }

template <class T, bool MAX>
void argreduce(int64_t* out, const T* inp, int64_t outer, int64_t red, int64_t inner) {
  for_tasks(outer, inner, red, [&](int64_t o, int64_t j0, int64_t j1) {
    T best[JB];
    int64_t idx[JB];
    const int64_t w = j1 - j0;
    const T* x0 = inp + o * red * inner + j0;  // row 0 of block
    for (int64_t j = 0; j < w; ++j) best[j] = x0[j], idx[j] = 0;
    for (int64_t r = 1; r < red; ++r) {
      const T* x = inp + (o * red + r) * inner + j0;
      for (int64_t j = 0; j < w; ++j) {
        const T v = x[j];
        if (best[j] != best[j]) continue;  // a NaN already won (floats only)
        if (v != v || (MAX ? v > best[j] : v < best[j])) best[j] = v, idx[j] = r;
      }
    }
    for (int64_t j = 0; j < w; ++j) out[o * inner + j0 + j] = idx[j];
  });
}

}  // namespace

void Cpu::reduce_forward(View out, View inp, int64_t outer, int64_t red, int64_t inner,
                         int64_t op) {
  checks::check_reduce_forward(out, inp, outer, red, inner, op);
  if (outer * inner == 0) return;
  if (inp.dtype == DType::F32) {
    float* o = out.f();
    const float* x = inp.f();
    if (op == RED_MAX) reduce_plain(o, x, outer, red, inner, -std::numeric_limits<float>::infinity(), fmax_nan);
    else if (op == RED_MIN) reduce_plain(o, x, outer, red, inner, std::numeric_limits<float>::infinity(), fmin_nan);
    else if (red == 0) {
      const float v = op == RED_SUM ? 0.f : (op == RED_PROD ? 1.f : std::numeric_limits<float>::quiet_NaN());
      std::fill(o, o + outer * inner, v);
    } else {
      reduce_f32_acc(o, x, outer, red, inner, op);
    }
    return;
  }
  int64_t* o = out.i64();
  const int64_t* x = inp.i64();
  switch (op) {
    case RED_SUM:
      return reduce_plain<int64_t>(o, x, outer, red, inner, 0, [](int64_t a, int64_t v) {
        return int64_t(uint64_t(a) + uint64_t(v));
      });
    case RED_PROD:
      return reduce_plain<int64_t>(o, x, outer, red, inner, 1, [](int64_t a, int64_t v) {
        return int64_t(uint64_t(a) * uint64_t(v));
      });
    case RED_MAX:
      return reduce_plain<int64_t>(o, x, outer, red, inner, std::numeric_limits<int64_t>::min(),
                                   [](int64_t a, int64_t v) { return v > a ? v : a; });
    case RED_MIN:
      return reduce_plain<int64_t>(o, x, outer, red, inner, std::numeric_limits<int64_t>::max(),
                                   [](int64_t a, int64_t v) { return v < a ? v : a; });
  }
}

void Cpu::argreduce_forward(View out, View inp, int64_t outer, int64_t red, int64_t inner,
                            int64_t op) {
  checks::check_argreduce_forward(out, inp, outer, red, inner, op);
  if (outer * inner == 0) return;
  if (inp.dtype == DType::F32) {
    if (op == ARG_MAX) argreduce<float, true>(out.i64(), inp.f(), outer, red, inner);
    else argreduce<float, false>(out.i64(), inp.f(), outer, red, inner);
  } else {
    if (op == ARG_MAX) argreduce<int64_t, true>(out.i64(), inp.i64(), outer, red, inner);
    else argreduce<int64_t, false>(out.i64(), inp.i64(), outer, red, inner);
  }
}

}  // namespace nx
