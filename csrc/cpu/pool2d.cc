// pool2d.cc (cpu) — 2-D pooling: max (with indices), average, adaptive average, max
// unpooling, and their backwards, with PyTorch's semantics.
//
// Layouts: inp/dinp (N, C, H, W); out/dout (N, C, P, Q); max indices int64 (N, C, P, Q),
// flat h*W + w within each (n, c) plane (as PyTorch's). Every (n, c) plane is independent:
// every kernel here maps one plane (or a contiguous run of planes) to a thread
// (cpu::parallel_for over N*C), and inside a plane runs row by row, so scatters in the
// backwards never race.
//
// ISA paths of max and avg forward (cpu::isa(); one variant each, no `variant` argument):
//   avx512    output columns whose taps all lie inside the image horizontally (all but the
//             padded edge columns) go to pool2d_avx512.cc: 16 output columns per zmm,
//             masked tail, stride 2 deinterleaved with vpermt2ps; strides 1 and 2 only
//   avx2      the same in pool2d_avx2.cc, 8 columns per ymm, the < 8 left scalar
//   portable  scalar: an unrolled 2x2/3x3 row kernel on fully inside windows, the generic
//             tap loop elsewhere (also every edge column and stride >= 3 on all paths)
// Measured (1 thread, PyTorch 2.13 CPU side by side, a busy shared 2-core Zen 4):
// max 2x2/2 forward on 64x64x56x56 went from 62.6 ms (scalar select chain, 1.15x torch) to
// 5-16 ms (10-20x torch); see bench/results/pool2d.json. Max backward stays zero-fill +
// scatter (plane in L1). Tried and dropped: a direct write of each 2x2 block (scalar, and
// an AVX-512 version: 8 indices -> 16 columns per step) ran 2x slower on 128x20x24x24 and
// 64x64x56x56: std::fill's memset (rep stosb) claims the plane's lines without reading
// them, ordinary stores read each line first (write allocate); non-temporal stores of
// dinp through a staging plane showed no gain measurable on the shared machine.
//
// Semantics (PyTorch's CPU kernels):
//  * max: a window starts at p*stride - pad, its taps step by dilation; taps outside the
//    image are skipped (padding acts as -inf); the first maximum wins, a NaN replaces the
//    running maximum (so NaN propagates); the index of an all -inf window is its first
//    in-image tap.
//  * avg: window [p*stride - pad, +R) clipped to [-pad, H + pad) gives pool_size (the
//    count_include_pad divisor), clipped to [0, H) gives the summed taps and the
//    count_include_pad=false divisor; divisor_override > 0 replaces both; an empty window
//    gives 0.
//  * output size: window_out (common.h) with ceil_mode; padding at most half the kernel size
//    (R/2, undilated, exactly PyTorch's check); an empty output raises ValueError.
//  * adaptive avg: bin i covers [floor(i*H/P), ceil((i+1)*H/P)).
//  * unpool: out zero except out[idx] = inp (a repeated index: the last in plane order wins).
// Indices read from arguments (max backward, unpool) are checked: outside the plane raises
// ValueError naming the index and where it was.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "../checks/pool2d.h"
#include "backend.h"
#include "pool2d_rows.h"

namespace nx {
namespace {

using checks::PoolShape;

// A bad index found inside a parallel loop: recorded (first one wins), thrown afterwards,
// since exceptions must not leave an OpenMP region.
struct BadIndex {
  bool found = false;
  int64_t plane = 0, pos = 0, value = 0;
  void record(int64_t pl, int64_t i, int64_t v) {
#pragma omp critical(nx_pool2d_bad_index)
    if (!found || pl < plane) { found = true; plane = pl; pos = i; value = v; }
  }
  void raise(const char* kn, const char* arg, int64_t C, int64_t limit, const std::string& lim_s) const {
    if (!found) return;
    throw std::invalid_argument(cat(kn, ": ", arg, "[n=", plane / C, ", c=", plane % C, ", ", pos,
                                    "] = ", value, " is outside [0, ", limit, ") = [0, ", lim_s, ")"));
  }
};

// Average pooling window of output pixel p along one axis: taps [a, b) inside the image and
// the pool_size extent (clipped to the padded input), as PyTorch.
struct AvgWin { int64_t a, b, extent; };
inline AvgWin avg_win(int64_t p, int64_t stride, int64_t pad, int64_t k, int64_t size) {
  int64_t a = p * stride - pad;
  int64_t b = std::min(a + k, size + pad);
  const int64_t extent = b - a;
  a = std::max<int64_t>(a, 0);
  b = std::min(b, size);
  return {a, b, extent};
}

inline double avg_divisor(const AvgWin& h, const AvgWin& w, bool count_include_pad, int64_t override_) {
  if (override_ > 0) return double(override_);
  if (count_include_pad) return double(h.extent) * double(w.extent);
  return double(h.b - h.a) * double(w.b - w.a);
}

// Adaptive bin [start, end) of output i of `out` over `size` (int128: i*size may be large).
inline void adaptive_bin(int64_t i, int64_t out, int64_t size, int64_t& start, int64_t& end) {
  start = int64_t((__int128)i * size / out);
  end = int64_t(((__int128)(i + 1) * size + out - 1) / out);
}

// Output columns q whose tap at input column q*stride + off lies inside [0, W): [lo, hi).
inline void valid_cols(int64_t off, int64_t stride, int64_t W, int64_t Q, int64_t& lo, int64_t& hi) {
  lo = off >= 0 ? 0 : std::min(Q, (-off + stride - 1) / stride);
  hi = (W - 1 - off) < 0 ? 0 : std::min(Q, (W - 1 - off) / stride + 1);
  if (hi < lo) hi = lo;
}

// Per kernel column s: the output columns [lo[s], hi[s]) whose tap s is inside the image.
struct TapCols {
  std::vector<int64_t> lo, hi, off;
  TapCols(int64_t S, int64_t stride, int64_t pad, int64_t dil, int64_t W, int64_t Q)
      : lo(S), hi(S), off(S) {
    for (int64_t s = 0; s < S; ++s) {
      off[s] = s * dil - pad;
      valid_cols(off[s], stride, W, Q, lo[s], hi[s]);
    }
  }
};

// Max over the windows of output columns [q0, q1) of one output row whose taps all lie in
// the image (rows h0 + r*dh, columns q*sw - pw + t*dw), with the window size a compile-time
// constant: the tap loops unroll, so each output costs R*S loads and selects and no loop
// bookkeeping (the generic loop below spends most of its time there on 2x2 and 3x3
// windows). Same tap order and update rule as the generic loop, so the results are equal.
template <int R, int S>
void maxpool_row_interior(const float* plane, int64_t W, int64_t h0, int64_t dh, int64_t dw,
                          int64_t sw, int64_t pw, int64_t q0, int64_t q1, float* orow,
                          int64_t* irow) {
  for (int64_t q = q0; q < q1; ++q) {
    const int64_t w0 = q * sw - pw;
    float best = -std::numeric_limits<float>::infinity();
    int64_t arg = h0 * W + w0;
    for (int r = 0; r < R; ++r) {
      const int64_t base = (h0 + r * dh) * W + w0;
      for (int t = 0; t < S; ++t) {
        const float v = plane[base + t * dw];
        const bool take = (v > best) | (v != v);
        best = take ? v : best;
        arg = take ? base + t * dw : arg;
      }
    }
    orow[q] = best;
    irow[q] = arg;
  }
}

using RowFn = void (*)(const float*, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                       int64_t, float*, int64_t*);

// The specialised row kernel for an R x S window, or nullptr (generic loop only).
RowFn maxpool_interior_fn(int64_t R, int64_t S) {
  if (R == 2 && S == 2) return maxpool_row_interior<2, 2>;
  if (R == 3 && S == 3) return maxpool_row_interior<3, 3>;
  return nullptr;
}

// Output columns [lo, hi) whose taps q*sw - pw + t*dw, t < S, all lie in [0, W).
inline void interior_cols(int64_t sw, int64_t pw, int64_t dw, int64_t S, int64_t W, int64_t Q, int64_t& lo,
                          int64_t& hi) {
  lo = (pw + sw - 1) / sw;                      // q*sw - pw >= 0
  const int64_t last = W - 1 - (S - 1) * dw + pw;  // q*sw - pw + (S-1)*dw <= W-1
  hi = last < 0 ? 0 : std::min(Q, last / sw + 1);
  if (hi < lo) hi = lo;
}

using MaxRowFn = int64_t (*)(const cpu::PoolRow&);
using AvgRowFn = int64_t (*)(const cpu::PoolRow&, float);

// The vector row kernels of the ISA path cpu::isa() selects (nullptr: portable, scalar only).
MaxRowFn max_row_for_isa() {
  static const cpu::PerIsa<MaxRowFn> k{nullptr, cpu::pool_avx2::max_row, cpu::pool_avx512::max_row};
  return k.get();
}
AvgRowFn avg_row_for_isa() {
  static const cpu::PerIsa<AvgRowFn> k{nullptr, cpu::pool_avx2::avg_row, cpu::pool_avx512::avg_row};
  return k.get();
}

}  // namespace

void Cpu::maxpool2d_forward(View out, View indices, View inp, int64_t N, int64_t C, int64_t H,
                            int64_t W, int64_t R, int64_t S, int64_t stride_h, int64_t stride_w,
                            int64_t pad_h, int64_t pad_w, int64_t dil_h, int64_t dil_w,
                            bool ceil_mode) {
  const PoolShape s = checks::check_maxpool2d_forward(out, indices, inp, N, C, H, W, R, S, stride_h, stride_w,
                                                            pad_h, pad_w, dil_h, dil_w, ceil_mode);
  const float* x = inp.f();
  float* o = out.f();
  int64_t* ind = indices.i64();
  std::vector<int64_t> w_first(s.Q);  // first in-image tap column of each window (PyTorch's iw0)
  for (int64_t q = 0; q < s.Q; ++q) {
    int64_t w0 = q * s.sw - s.pw;
    if (w0 < 0) w0 += (-w0 + s.dw - 1) / s.dw * s.dw;
    w_first[q] = w0;
  }
  // Output columns [q_lo, q_hi) have every tap inside the image horizontally. On the
  // AVX-512/AVX2 paths the vector row kernel (pool2d_rows.h) takes them on every output row
  // (rows of a window in the padding are left out of its tap-row list); on the portable
  // path the unrolled 2x2/3x3 row kernel takes them on rows whose taps are all inside.
  const MaxRowFn vec = s.HW < (int64_t(1) << 31) ? max_row_for_isa() : nullptr;
  const RowFn interior = vec ? nullptr : maxpool_interior_fn(R, S);
  int64_t q_lo = 0, q_hi = 0;
  interior_cols(s.sw, s.pw, s.dw, S, W, s.Q, q_lo, q_hi);
  // Thread mapping: (n, c) planes split over threads; inside a plane one output row at a
  // time: the vector kernel (lanes = output columns) on the interior columns, then a serial
  // loop over the other output pixels, each scanning its in-image taps in PyTorch's order
  // (h outer, w inner) with a branch-free update (random data would mispredict a branch on
  // every other tap).
  cpu::parallel_for(s.planes, s.PQ * R * S, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const float* plane = x + i * s.HW;  // (H, W)
      float* op = o + i * s.PQ;           // (P, Q)
      int64_t* ip = ind + i * s.PQ;
      for (int64_t p = 0; p < s.P; ++p) {
        const int64_t hs = p * s.sh - s.ph;  // window's first tap row (may be in the padding)
        int64_t h0 = hs;
        const int64_t h1 = std::min(hs + (R - 1) * s.dh + 1, H);
        if (h0 < 0) h0 += (-h0 + s.dh - 1) / s.dh * s.dh;  // first in-image tap row
        const int64_t nh = h0 < h1 ? (h1 - 1 - h0) / s.dh + 1 : 0;
        int64_t skip_lo = 0, skip_hi = 0;  // columns done by a row kernel
        if (vec && nh > 0 && q_lo < q_hi) {
          const cpu::PoolRow row{plane, W, h0, nh, s.dh, S, s.sw, s.pw, s.dw, q_lo, q_hi, op + p * s.Q, ip + p * s.Q};
          skip_lo = q_lo;
          skip_hi = q_lo + vec(row);
        } else if (interior && hs >= 0 && h1 == hs + (R - 1) * s.dh + 1 && q_lo < q_hi) {
          interior(plane, W, h0, s.dh, s.dw, s.sw, s.pw, q_lo, q_hi, op + p * s.Q, ip + p * s.Q);
          skip_lo = q_lo;
          skip_hi = q_hi;
        }
        for (int64_t q = 0; q < s.Q; ++q) {
          if (q == skip_lo && skip_lo < skip_hi) {
            q = skip_hi - 1;
            continue;
          }
          const int64_t w0 = w_first[q], w1 = std::min(q * s.sw - s.pw + (S - 1) * s.dw + 1, W);
          float best = -std::numeric_limits<float>::infinity();
          int64_t arg = h0 * W + w0;
          for (int64_t h = h0; h < h1; h += s.dh) {
            const float* row = plane + h * W;
            for (int64_t w = w0; w < w1; w += s.dw) {
              const float v = row[w];
              const bool take = (v > best) | (v != v);  // v != v: NaN takes over
              best = take ? v : best;
              arg = take ? h * W + w : arg;
            }
          }
          op[p * s.Q + q] = best;
          ip[p * s.Q + q] = arg;
        }
      }
    }
  });
}

void Cpu::maxpool2d_backward(View dinp, View dout, View indices, int64_t N, int64_t C,
                             int64_t H, int64_t W, int64_t P, int64_t Q) {
  const char* kn = "maxpool2d_backward";
  const checks::PlaneSizes z = checks::check_maxpool2d_backward(dinp, dout, indices, N, C, H, W, P, Q);
  const int64_t planes = z.planes, HW = z.HW, PQ = z.other;
  const float* d = dout.f();
  const int64_t* ind = indices.i64();
  float* dx = dinp.f();
  BadIndex bad;
  // Thread mapping: (n, c) planes split over threads; the scatter-add stays inside a plane.
  cpu::parallel_for(planes, PQ + HW, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      float* dp = dx + i * HW;
      const float* gp = d + i * PQ;
      const int64_t* ip = ind + i * PQ;
      std::fill(dp, dp + HW, 0.f);
      for (int64_t j = 0; j < PQ; ++j) {
        const int64_t t = ip[j];
        if (t < 0 || t >= HW) { bad.record(i, j, t); break; }
        dp[t] += gp[j];
      }
    }
  });
  bad.raise(kn, "indices", C, HW, cat("H*W = ", H, "*", W));
}

void Cpu::avgpool2d_forward(View out, View inp, int64_t N, int64_t C, int64_t H, int64_t W,
                            int64_t R, int64_t S, int64_t stride_h, int64_t stride_w,
                            int64_t pad_h, int64_t pad_w, bool ceil_mode, bool count_include_pad,
                            int64_t divisor_override) {
  const PoolShape s = checks::check_avgpool2d_forward(out, inp, N, C, H, W, R, S, stride_h, stride_w, pad_h, pad_w,
                                                            ceil_mode, count_include_pad, divisor_override);
  const float* x = inp.f();
  float* o = out.f();
  const TapCols taps(S, s.sw, s.pw, 1, W, s.Q);
  std::vector<AvgWin> wwin(s.Q);
  for (int64_t q = 0; q < s.Q; ++q) wwin[q] = avg_win(q, s.sw, s.pw, S, W);
  // Interior columns [q_lo, q_hi) (every tap inside the image) go to the vector row kernel
  // on the AVX-512/AVX2 paths: their window width is S both clipped and padded, so one
  // divisor serves the whole row.
  const AvgRowFn vec = avg_row_for_isa();
  int64_t q_lo = 0, q_hi = 0;
  interior_cols(s.sw, s.pw, 1, S, W, s.Q, q_lo, q_hi);
  // Thread mapping: (n, c) planes split over threads. Inside a plane, one output row at a
  // time: the vector kernel (lanes = output columns) on the interior columns; the other
  // columns: taps (h, s) outer, the columns q inner, then one divide each.
  cpu::parallel_for(s.planes, s.PQ * R * S, [&](int64_t i0, int64_t i1) {
    std::vector<float> acc(s.Q);
    float* aq = acc.data();
    for (int64_t i = i0; i < i1; ++i) {
      const float* plane = x + i * s.HW;
      float* op = o + i * s.PQ;
      for (int64_t p = 0; p < s.P; ++p) {
        const AvgWin hw = avg_win(p, s.sh, s.ph, R, H);
        int64_t skip_lo = 0, skip_hi = 0;  // columns done by the vector kernel
        if (vec && hw.a < hw.b && q_lo < q_hi) {
          const double div = divisor_override > 0 ? double(divisor_override)
                             : count_include_pad  ? double(hw.extent) * double(S)
                                                  : double(hw.b - hw.a) * double(S);
          const cpu::PoolRow row{plane, W, hw.a, hw.b - hw.a, 1, S, s.sw, s.pw, 1, q_lo, q_hi, op + p * s.Q, nullptr};
          skip_lo = q_lo;
          skip_hi = q_lo + vec(row, float(div));
        }
        // the scalar loop on columns [a, b)
        auto scalar = [&](int64_t a, int64_t b) {
          if (a >= b) return;
          std::fill(aq + a, aq + b, 0.f);
          for (int64_t h = hw.a; h < hw.b; ++h) {
            const float* row = plane + h * W;
            for (int64_t t = 0; t < S; ++t) {
              const int64_t off = taps.off[t];
              const int64_t qa = std::max(a, taps.lo[t]), qb = std::min(b, taps.hi[t]);
              for (int64_t q = qa; q < qb; ++q) aq[q] += row[q * s.sw + off];
            }
          }
          for (int64_t q = a; q < b; ++q) {
            const AvgWin& ww = wwin[q];
            op[p * s.Q + q] = (hw.a >= hw.b || ww.a >= ww.b)
                                  ? 0.f
                                  : float(aq[q] / avg_divisor(hw, ww, count_include_pad, divisor_override));
          }
        };
        if (skip_lo < skip_hi) {
          scalar(0, skip_lo);
          scalar(skip_hi, s.Q);
        } else {
          scalar(0, s.Q);
        }
      }
    }
  });
}

void Cpu::avgpool2d_backward(View dinp, View dout, int64_t N, int64_t C, int64_t H, int64_t W,
                             int64_t R, int64_t S, int64_t stride_h, int64_t stride_w,
                             int64_t pad_h, int64_t pad_w, bool ceil_mode,
                             bool count_include_pad, int64_t divisor_override) {
  const PoolShape s = checks::check_avgpool2d_backward(dinp, dout, N, C, H, W, R, S, stride_h, stride_w, pad_h,
                                                             pad_w, ceil_mode, count_include_pad, divisor_override);
  const float* d = dout.f();
  float* dx = dinp.f();
  const TapCols taps(S, s.sw, s.pw, 1, W, s.Q);
  std::vector<AvgWin> wwin(s.Q);
  for (int64_t q = 0; q < s.Q; ++q) wwin[q] = avg_win(q, s.sw, s.pw, S, W);
  // Thread mapping: (n, c) planes split over threads; overlapping windows add inside a plane.
  // One output row at a time: g[q] = dout / divisor, then for each tap (h, s) the row's
  // columns q add g[q] to distinct input columns q*stride + s - pad (vectorisable).
  cpu::parallel_for(s.planes, s.PQ * R * S + s.HW, [&](int64_t i0, int64_t i1) {
    std::vector<float> grad(s.Q);
    float* gq = grad.data();
    for (int64_t i = i0; i < i1; ++i) {
      float* dp = dx + i * s.HW;
      const float* gp = d + i * s.PQ;
      std::fill(dp, dp + s.HW, 0.f);
      for (int64_t p = 0; p < s.P; ++p) {
        const AvgWin hw = avg_win(p, s.sh, s.ph, R, H);
        if (hw.a >= hw.b) continue;
        for (int64_t q = 0; q < s.Q; ++q) {
          const AvgWin& ww = wwin[q];
          gq[q] = ww.a >= ww.b ? 0.f
                               : float(gp[p * s.Q + q] / avg_divisor(hw, ww, count_include_pad, divisor_override));
        }
        for (int64_t h = hw.a; h < hw.b; ++h) {
          float* row = dp + h * W;
          for (int64_t t = 0; t < S; ++t) {
            const int64_t off = taps.off[t];
            for (int64_t q = taps.lo[t]; q < taps.hi[t]; ++q) row[q * s.sw + off] += gq[q];
          }
        }
      }
    }
  });
}

void Cpu::adaptive_avgpool2d_forward(View out, View inp, int64_t N, int64_t C, int64_t H,
                                     int64_t W, int64_t P, int64_t Q) {
  const checks::PlaneSizes z = checks::check_adaptive_avgpool2d_forward(out, inp, N, C, H, W, P, Q);
  const int64_t planes = z.planes, HW = z.HW, PQ = z.other;
  const float* x = inp.f();
  float* o = out.f();
  // Thread mapping: (n, c) planes split over threads. Bins cover the plane (they overlap when
  // H is not a multiple of P), so a plane costs about H*W + P*Q.
  cpu::parallel_for(planes, HW + PQ, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const float* plane = x + i * HW;
      float* op = o + i * PQ;
      for (int64_t p = 0; p < P; ++p) {
        int64_t h0, h1;
        adaptive_bin(p, P, H, h0, h1);
        for (int64_t q = 0; q < Q; ++q) {
          int64_t w0, w1;
          adaptive_bin(q, Q, W, w0, w1);
          float sum = 0.f;
          for (int64_t h = h0; h < h1; ++h) {
            const float* row = plane + h * W;
            for (int64_t w = w0; w < w1; ++w) sum += row[w];
          }
          op[p * Q + q] = float(sum / (double(h1 - h0) * double(w1 - w0)));
        }
      }
    }
  });
}

void Cpu::adaptive_avgpool2d_backward(View dinp, View dout, int64_t N, int64_t C, int64_t H,
                                      int64_t W, int64_t P, int64_t Q) {
  const checks::PlaneSizes z = checks::check_adaptive_avgpool2d_backward(dinp, dout, N, C, H, W, P, Q);
  const int64_t planes = z.planes, HW = z.HW, PQ = z.other;
  const float* d = dout.f();
  float* dx = dinp.f();
  // Thread mapping: (n, c) planes split over threads.
  cpu::parallel_for(planes, 2 * HW + PQ, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      float* dp = dx + i * HW;
      const float* gp = d + i * PQ;
      std::fill(dp, dp + HW, 0.f);
      for (int64_t p = 0; p < P; ++p) {
        int64_t h0, h1;
        adaptive_bin(p, P, H, h0, h1);
        for (int64_t q = 0; q < Q; ++q) {
          int64_t w0, w1;
          adaptive_bin(q, Q, W, w0, w1);
          const float g = float(gp[p * Q + q] / (double(h1 - h0) * double(w1 - w0)));
          for (int64_t h = h0; h < h1; ++h) {
            float* row = dp + h * W;
            for (int64_t w = w0; w < w1; ++w) row[w] += g;
          }
        }
      }
    }
  });
}

void Cpu::maxunpool2d_forward(View out, View inp, View indices, int64_t N, int64_t C, int64_t H,
                              int64_t W, int64_t OH, int64_t OW) {
  const char* kn = "maxunpool2d_forward";
  const checks::PlaneSizes z = checks::check_maxunpool2d_forward(out, inp, indices, N, C, H, W, OH, OW);
  const int64_t planes = z.planes, HW = z.HW, OHW = z.other;
  const float* x = inp.f();
  const int64_t* ind = indices.i64();
  float* o = out.f();
  BadIndex bad;
  // Thread mapping: (n, c) planes split over threads; within a plane writes go in order,
  // so a repeated index keeps the last value, deterministically.
  cpu::parallel_for(planes, HW + OHW, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      float* op = o + i * OHW;
      const float* xp = x + i * HW;
      const int64_t* ip = ind + i * HW;
      std::fill(op, op + OHW, 0.f);
      for (int64_t j = 0; j < HW; ++j) {
        const int64_t t = ip[j];
        if (t < 0 || t >= OHW) { bad.record(i, j, t); break; }
        op[t] = xp[j];
      }
    }
  });
  bad.raise(kn, "indices", C, OHW, cat("OH*OW = ", OH, "*", OW));
}

void Cpu::maxunpool2d_backward(View dinp, View dout, View indices, int64_t N, int64_t C,
                               int64_t H, int64_t W, int64_t OH, int64_t OW) {
  const char* kn = "maxunpool2d_backward";
  const checks::PlaneSizes z = checks::check_maxunpool2d_backward(dinp, dout, indices, N, C, H, W, OH, OW);
  const int64_t planes = z.planes, HW = z.HW, OHW = z.other;
  const float* d = dout.f();
  const int64_t* ind = indices.i64();
  float* dx = dinp.f();
  BadIndex bad;
  // Thread mapping: (n, c) planes split over threads; a gather, no write conflicts.
  cpu::parallel_for(planes, HW, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const float* gp = d + i * OHW;
      const int64_t* ip = ind + i * HW;
      float* dp = dx + i * HW;
      for (int64_t j = 0; j < HW; ++j) {
        const int64_t t = ip[j];
        if (t < 0 || t >= OHW) { bad.record(i, j, t); break; }
        dp[j] = gp[t];
      }
    }
  });
  bad.raise(kn, "indices", C, OHW, cat("OH*OW = ", OH, "*", OW));
}

}  // namespace nx
