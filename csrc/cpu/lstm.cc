// lstm.cc (cpu) — the LSTM cell and layer kernels on top of our packed GEMM. The formulas,
// layouts and the composition of each kernel are ../lstm_common.h (shared with
// csrc/cuda/lstm.cu); this file supplies the CPU's primitives (CpuLstm, at the end) and the
// parts that are its own:
//  * the pointwise passes over (B, H) rows (vmath.h's branch-free sigmoid/tanh: vexp ~1 ulp,
//    vtanh <= 7 ulp, so the loops vectorise);
//  * the recurrence, in ONE OpenMP region per layer call on weights packed ONCE per call
//    (cpu::PrepackedGemm, gemm.h), not per step. Forward: thread t owns hidden units
//    [u0, u1) (cut points rounded to whole GEMM panels) and packs, once, the rows q*H + u0 ..
//    q*H + u1 of w_hh (each gate's slice padded to whole panels); when 4H*(I+H) <= 1M floats
//    it packs w_ih's the same way and each step's product is [x_t, h_{t-1}] @ [w_ih; w_hh]^T
//    (the input projection fused in, biases added in the pointwise pass), else one GEMM
//    computes x @ w_ih^T + biases for all T steps first. Per step: the thread's product into
//    its private (B, 4*slice) tile buffer, the fused gate nonlinearities + cell update for its
//    units (ISA-targeted copies of the row pass, chosen by cpu::isa()), then one barrier (h_t
//    complete). One thread: no barrier at all. Threads only when a step's product has >= 2^20
//    multiply-adds. Backward: same split; thread t packs w_hh[:, u0:u1] once; per step the
//    fused pointwise backward of its units writes dgates[t] and dc_{t-1}, one barrier, then
//    its columns of dh_{t-1} = dgates[t] @ w_hh;
//  * weight gradients computed transposed (see weight_grad).
// Scratch slots (cpu::scratch): 2 = dgates / combined bias, 3 = dh/dc carries, 4 = a zero
// row / zero bias / transposed weight gradient, 5 = packed w_hh slice, 6 = a thread's tile
// buffer, 7 = packed w_ih slice (5-7 per thread). gemm owns 0, 1.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <new>
#include <vector>

#include "../lstm_common.h"
#include "backend.h"
#include "gemm.h"
#include "vmath.h"

namespace nx {
namespace {

// Always inlined: the row passes below are compiled three times (AVX-512, AVX2, baseline
// targets via __attribute__((target))) and everything they call must be inlined into each.
#define NX_AI inline __attribute__((always_inline))

// The gate nonlinearities lstm::unit_forward/unit_backward use here: vmath.h's vectorisable
// sigmoid and tanh (libm's scalar expf/tanhf made the pointwise pass cost several times the
// GEMMs), always inlined into each ISA's loops.
struct VMath {
  static NX_AI float sigmoid(float x) { return cpu::vsigmoid(x); }
  static NX_AI float tanh(float x) { return cpu::vtanh(x); }
};

View fview(float* p, int64_t n) {
  View v;
  v.data = p;
  v.numel = n;
  v.dtype = DType::F32;
  return v;
}
View fview(const float* p, int64_t n) { return fview(const_cast<float*>(p), n); }

// C (m, n) = op(A) @ op(B) + bias + beta*C: A (m, k), or stored (k, m) when trans_a; B (k, n),
// or stored (n, k) when trans_b. Goes through the public GEMM so it picks the best variant
// and ISA path.
void mm(float* c, const float* a, const float* b, const float* bias, int64_t m, int64_t n,
        int64_t k, bool trans_a, bool trans_b, float beta) {
  if (m == 0 || n == 0) return;
  Cpu::gemm_forward(fview(c, m * n), fview(a, m * k), fview(b, k * n),
                    bias ? fview(bias, n) : View{}, 1, m, n, k, trans_a, trans_b, 0, 0, 0, 1.f,
                    beta, ACT_NONE, 0.f, -1);
}

// One row of the fused backward (see cell_pointwise_backward); dc_prev may alias dc, so the
// two are not restrict: each element is read before it is written.
template <bool HAS_DC, bool HAS_CP, bool HAS_DCP>
NX_AI void cell_row_backward(float* __restrict d, float* dc_prev, const float* __restrict dh,
                       const float* dc, const float* __restrict g,
                       const float* __restrict c_t, const float* __restrict c_prev, int64_t H,
                       int64_t n) {
  // d and g: four gate blocks H apart; n <= H units of each (a thread's share of them).
  float* __restrict di = d;
  float* __restrict df = d + H;
  float* __restrict dg = d + 2 * H;
  float* __restrict dout = d + 3 * H;
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) {
    float dcp;
    lstm::unit_backward<VMath>(g[j], g[H + j], g[2 * H + j], g[3 * H + j], c_t[j],
                               HAS_CP ? c_prev[j] : 0.f, dh[j], HAS_DC ? dc[j] : 0.f, di[j],
                               df[j], dg[j], dout[j], dcp);
    if (HAS_DCP) dc_prev[j] = dcp;
  }
}

// Pointwise backward of one step: from dh (B, H) (gradient reaching h_t; null = 0), dc (B, H)
// (reaching c_t from later steps, null = 0), activated gates (B, 4H), c_t and c_{t-1}
// (null = 0) -> dgates (B, 4H) pre-activation and dc_prev (B, H) (may alias dc; null to skip).
// Rows of B in parallel, one contiguous chunk per thread.
void cell_pointwise_backward(float* dgates, float* dc_prev, const float* dh, const float* dc,
                             const float* gates, const float* c_t, const float* c_prev,
                             int64_t B, int64_t H) {
  float* zeros = nullptr;
  if (!dh) {  // a zero row to read instead (slot 4: not used by any caller of this helper)
    zeros = cpu::scratch(size_t(std::max<int64_t>(H, 1)), 4);
    std::fill(zeros, zeros + H, 0.f);
  }
  cpu::parallel_for(B, 30 * H, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      float* d = dgates + b * 4 * H;
      float* dcp = dc_prev ? dc_prev + b * H : nullptr;
      const float* dhb = dh ? dh + b * H : zeros;
      const float* dcb = dc ? dc + b * H : nullptr;
      const float* g = gates + b * 4 * H;
      const float* ct = c_t + b * H;
      const float* cpb = c_prev ? c_prev + b * H : nullptr;
      const int which = (dcb ? 4 : 0) | (cpb ? 2 : 0) | (dcp ? 1 : 0);
      switch (which) {
        case 7: cell_row_backward<true, true, true>(d, dcp, dhb, dcb, g, ct, cpb, H, H); break;
        case 6: cell_row_backward<true, true, false>(d, dcp, dhb, dcb, g, ct, cpb, H, H); break;
        case 5: cell_row_backward<true, false, true>(d, dcp, dhb, dcb, g, ct, cpb, H, H); break;
        case 4: cell_row_backward<true, false, false>(d, dcp, dhb, dcb, g, ct, cpb, H, H); break;
        case 3: cell_row_backward<false, true, true>(d, dcp, dhb, dcb, g, ct, cpb, H, H); break;
        case 2: cell_row_backward<false, true, false>(d, dcp, dhb, dcb, g, ct, cpb, H, H); break;
        case 1: cell_row_backward<false, false, true>(d, dcp, dhb, dcb, g, ct, cpb, H, H); break;
        default: cell_row_backward<false, false, false>(d, dcp, dhb, dcb, g, ct, cpb, H, H); break;
      }
    }
  });
}

// Column sums of d (rows, cols) into one or two outputs; columns in parallel, one thread
// per contiguous chunk of columns. Rows are added in order into a per-thread double row
// (row-wise sweeps: the column-wise loop this replaced walked memory `cols` floats apart
// and was 23% of a layer's backward at T50 B64 H256).
void column_sums(float* o1, float* o2, const float* d, int64_t rows, int64_t cols) {
  if (!o1 && !o2) return;
  cpu::parallel_for(cols, rows, [&](int64_t j0, int64_t j1) {
    std::vector<double> acc(size_t(j1 - j0), 0.0);
    double* __restrict a = acc.data();
    const int64_t w = j1 - j0;
    for (int64_t r = 0; r < rows; ++r) {
      const float* __restrict row = d + r * cols + j0;
#pragma omp simd
      for (int64_t j = 0; j < w; ++j) a[j] += row[j];
    }
    for (int64_t j = 0; j < w; ++j) {
      if (o1) o1[j0 + j] = float(a[j]);
      if (o2) o2[j0 + j] = float(a[j]);
    }
  });
}

// ---- the recurrence: one OpenMP region per layer call, W_hh packed once -----------------
// Threads split the hidden units: thread t owns units [u0, u1) (NR-aligned cut points) and,
// for them, the four gate columns q*H + u of every step. It packs its slice of w_hh once
// (forward: the columns of the 4 gate blocks, each padded to whole NR panels; backward: the
// columns u0..u1 of w_hh), so a step is: its product into a private (B, panels*NR) buffer,
// its fused pointwise pass, then ONE barrier (the next step's product reads every unit of
// h_t / of dgates). With one thread nothing is shared and there is no barrier at all.

// Units [u0, u1) of thread tid of team: cut points rounded up to NR so panels stay whole.
void unit_range(int64_t H, int tid, int team, int64_t nr, int64_t& u0, int64_t& u1) {
  const auto cut = [&](int64_t t) { return std::min(H, (H * t / team + nr - 1) / nr * nr); };
  u0 = cut(tid);
  u1 = tid + 1 == team ? H : cut(tid + 1);
}

// Threads for a layer's recurrence: only when a step's product (B x 4H x K) is big enough
// to pay a barrier per step (>= 2^20 multiply-adds, ~20 us of one core), and never nested.
int recurrence_team(int64_t B, int64_t K, int64_t H) {
  int nt = cpu::num_threads();
#ifdef _OPENMP
  if (omp_in_parallel()) nt = 1;
#endif
  if (nt > 1 && double(B) * 4.0 * double(H) * double(K) < double(1 << 20)) nt = 1;
  return std::max(1, nt);
}

// One row of the fused forward for units [0, n) of this thread. Pre-activation of gate q =
// base_q (the input projection with biases, or just the biases) + l_q (the product for
// this step; absent when it is zero). Activated gates go to g_q (which may be base_q:
// each element is read before it is written, hence no restrict there), c and h updated.
template <bool HAS_C, bool HAS_L>
NX_AI void cell_row_sum(float* gi, float* gf, float* gg, float* go, const float* bi,
                        const float* bf, const float* bg, const float* bo,
                        const float* __restrict li, const float* __restrict lf,
                        const float* __restrict lg, const float* __restrict lo,
                        const float* __restrict cp, float* __restrict co,
                        float* __restrict ho, int64_t n) {
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) {
    float i = HAS_L ? bi[j] + li[j] : bi[j], f = HAS_L ? bf[j] + lf[j] : bf[j];
    float g = HAS_L ? bg[j] + lg[j] : bg[j], o = HAS_L ? bo[j] + lo[j] : bo[j];
    lstm::unit_forward<VMath>(i, f, g, o, HAS_C, HAS_C ? cp[j] : 0.f, co[j], ho[j]);
    gi[j] = i;
    gf[j] = f;
    gg[j] = g;
    go[j] = o;
  }
}

// Fused gate nonlinearity and cell update for one step; rows of B in parallel, one thread
// per contiguous chunk of rows. g (B, 4H) holds pre-activations in, activated gates out.
void cell_pointwise(float* g, const float* c_prev, float* c_out, float* h_out, int64_t B,
                    int64_t H) {
  cpu::parallel_for(B, 40 * H, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      float* gi = g + b * 4 * H;  // [i | f | g | o], each H
      float *gf = gi + H, *gg = gi + 2 * H, *go = gi + 3 * H;
      if (c_prev)
        cell_row_sum<true, false>(gi, gf, gg, go, gi, gf, gg, go, nullptr, nullptr, nullptr,
                                  nullptr, c_prev + b * H, c_out + b * H, h_out + b * H, H);
      else
        cell_row_sum<false, false>(gi, gf, gg, go, gi, gf, gg, go, nullptr, nullptr, nullptr,
                                   nullptr, nullptr, c_out + b * H, h_out + b * H, H);
    }
  });
}

// One step's pointwise forward over rows [0, B) for one thread's units [u0, u0+nu).
struct FwdRows {
  float* g;            // gates[t] (B, 4H): activated gates out
  const float* base;   // row b's gate block q at base + b*base_ld + q*H (+ u0 applied)
  int64_t base_ld;     // 4H (input projection in gates[t]) or 0 (one bias row)
  const float* L;      // (B, 4*nup) product, gate q at column q*nup; null = zero
  int64_t nup;
  const float* cp;     // c_{t-1} (B, H) or null
  float* co;           // c_t (B, H)
  float* ho;           // h_t (B, H)
  int64_t B, H, u0, nu;
};

template <bool HAS_C, bool HAS_L>
NX_AI void fwd_rows_t(const FwdRows& r) {
  const int64_t H = r.H, G = 4 * H, u0 = r.u0, nup = r.nup;
  for (int64_t b = 0; b < r.B; ++b) {
    float* g = r.g + b * G + u0;
    const float* bs = r.base + b * r.base_ld + u0;
    const float* l = HAS_L ? r.L + b * 4 * nup : nullptr;
    cell_row_sum<HAS_C, HAS_L>(g, g + H, g + 2 * H, g + 3 * H, bs, bs + H, bs + 2 * H, bs + 3 * H,
                               l, HAS_L ? l + nup : nullptr, HAS_L ? l + 2 * nup : nullptr,
                               HAS_L ? l + 3 * nup : nullptr, HAS_C ? r.cp + b * H + u0 : nullptr,
                               r.co + b * H + u0, r.ho + b * H + u0, r.nu);
  }
}
NX_AI void fwd_rows_any(const FwdRows& r) {
  if (r.cp && r.L) fwd_rows_t<true, true>(r);
  else if (r.L) fwd_rows_t<false, true>(r);
  else if (r.cp) fwd_rows_t<true, false>(r);
  else fwd_rows_t<false, false>(r);
}

// One step's pointwise backward over rows [0, B) for one thread's units: dh = dout[t] +
// dh_next; dc_next is read (dc reaching c_t) and overwritten with dc_{t-1}.
struct BwdRows {
  float* dg;           // dgates[t] (B, 4H) out
  float* dc_next;      // (B, H) in/out
  const float* dout;   // dout[t] (B, H)
  const float* dh_next;  // (B, H)
  float* dhs;          // (nu) scratch row
  const float* gates;  // gates[t] (B, 4H)
  const float* ct;     // c_t (B, H)
  const float* cp;     // c_{t-1} (B, H) or null
  int64_t B, H, u0, nu;
};

NX_AI void bwd_rows_any(const BwdRows& r) {
  const int64_t H = r.H, G = 4 * H, u0 = r.u0, nu = r.nu;
  for (int64_t b = 0; b < r.B; ++b) {
    const float* dor = r.dout + b * H + u0;
    const float* dhn = r.dh_next + b * H + u0;
    float* __restrict dhs = r.dhs;
#pragma omp simd
    for (int64_t j = 0; j < nu; ++j) dhs[j] = dor[j] + dhn[j];
    float* d = r.dg + b * G + u0;
    float* dcn = r.dc_next + b * H + u0;
    const float* gr = r.gates + b * G + u0;
    const float* ct = r.ct + b * H + u0;
    if (r.cp) cell_row_backward<true, true, true>(d, dcn, dhs, dcn, gr, ct, r.cp + b * H + u0, H, nu);
    else cell_row_backward<true, false, true>(d, dcn, dhs, dcn, gr, ct, nullptr, H, nu);
  }
}

// The row passes per ISA path (the rest of this file is compiled for baseline x86-64, where
// these loops ran 4 floats wide without FMA: 30% of a layer's forward). Which one runs
// follows cpu::isa(), like the GEMM's micro-kernels, so tests reach all three.
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define NX_T512 __attribute__((target("avx512f,avx512dq,avx2,fma,prefer-vector-width=512")))
#define NX_T256 __attribute__((target("avx2,fma")))
#else
#define NX_T512
#define NX_T256
#endif
NX_T512 void fwd_rows_avx512(const FwdRows& r) { fwd_rows_any(r); }
NX_T256 void fwd_rows_avx2(const FwdRows& r) { fwd_rows_any(r); }
void fwd_rows_portable(const FwdRows& r) { fwd_rows_any(r); }
NX_T512 void bwd_rows_avx512(const BwdRows& r) { bwd_rows_any(r); }
NX_T256 void bwd_rows_avx2(const BwdRows& r) { bwd_rows_any(r); }
void bwd_rows_portable(const BwdRows& r) { bwd_rows_any(r); }

using FwdRowsFn = void (*)(const FwdRows&);
using BwdRowsFn = void (*)(const BwdRows&);
FwdRowsFn fwd_rows_for_isa() {
  static const cpu::PerIsa<FwdRowsFn> k{fwd_rows_portable, fwd_rows_avx2, fwd_rows_avx512};
  return k.get();
}
BwdRowsFn bwd_rows_for_isa() {
  static const cpu::PerIsa<BwdRowsFn> k{bwd_rows_portable, bwd_rows_avx2, bwd_rows_avx512};
  return k.get();
}

// Runs body(tid, team) in one parallel region of `team` threads (or inline for one).
// Scratch is allocated inside (per-thread arenas); an allocation failure in any thread is
// rethrown after the region (an exception must not leave an OpenMP region), and every
// thread checks `failed` after the setup barrier so nobody waits at a barrier alone.
template <class Setup, class Body>
void run_team(int team, Setup&& setup, Body&& body) {
  if (team <= 1) {
    setup(0, 1);
    body(0, 1);
    return;
  }
  int failed = 0;
#pragma omp parallel num_threads(team)
  {
#ifdef _OPENMP
    const int tid = omp_get_thread_num(), nt = omp_get_num_threads();
#else
    const int tid = 0, nt = 1;
#endif
    try {
      setup(tid, nt);
    } catch (...) {
#pragma omp atomic write
      failed = 1;
    }
#pragma omp barrier
    int f;
#pragma omp atomic read
    f = failed;
    if (!f) body(tid, nt);
  }
  if (failed) throw std::bad_alloc();
}

// Forward recurrence over t = 0..T-1; out (T, B, H), cells (T, B, H), gates (T, B, 4H) get
// h_t, c_t and the activated gates; h0, c0 null for zeros; bias (4H) = b_ih + b_hh (or null).
// fuse_x: the step's product is [x_t, h_{t-1}] @ [w_ih; w_hh]^T (both weights packed once,
// two passes of the micro-kernels into the same tile buffer) and the pointwise pass adds
// the bias; else gates holds x @ w_ih^T + bias on entry (one big GEMM, done by the caller)
// and the step's product is h_{t-1} @ w_hh^T only.
// Thread-to-data: thread tid owns hidden units [u0, u1) of every row and step.
void recurrence_forward(float* gates, float* out, float* cells, const float* x, const float* h0,
                        const float* c0, const float* w_ih, const float* w_hh, const float* bias,
                        int64_t T, int64_t B, int64_t I, int64_t H, bool fuse_x) {
  const cpu::PrepackedGemm pg = cpu::prepacked_gemm();
  const FwdRowsFn rows_fn = fwd_rows_for_isa();
  const int64_t NR = pg.nr, G = 4 * H, BH = B * H;
  const int team = std::min(recurrence_team(B, fuse_x ? I + H : H, H), 64);
  float* bp_hh[64];
  float* bp_ih[64];
  float* lbuf[64];
  float* zbias[64];
  run_team(team,
    [&](int tid, int nt) {
      int64_t u0, u1;
      unit_range(H, tid, nt, NR, u0, u1);
      const int64_t nu = u1 - u0, nup = (nu + NR - 1) / NR * NR, panels = 4 * nup / NR;
      bp_hh[tid] = bp_ih[tid] = lbuf[tid] = zbias[tid] = nullptr;
      if (nu <= 0) return;
      bp_hh[tid] = cpu::scratch(size_t(H) * panels * NR + 64, 5);
      lbuf[tid] = cpu::scratch(size_t(B) * 4 * nup + 64, 6);
      if (fuse_x) bp_ih[tid] = cpu::scratch(size_t(I) * panels * NR + 64, 7);
      if (fuse_x && !bias) {  // zeros to add (one row; the pass adds base + product)
        zbias[tid] = cpu::scratch(size_t(G) + 64, 4);
        std::fill(zbias[tid], zbias[tid] + G, 0.f);
      }
      // op(B) (k, nu) for gate q = w[q*H + u0 : q*H + u1, :]^T: element (p, j) at
      // w[(q*H + u0 + j)*k + p], i.e. bs_p = 1, bs_j = k.
      for (int64_t q = 0; q < 4; ++q) {
        cpu::GemmArgs gh{nullptr, nullptr, w_hh + (q * H + u0) * H, nullptr, 0, nu, H,
                         0, 0, 1, H, 1.f, 0.f, ACT_NONE, 0.f};
        pg.pack_b(bp_hh[tid], gh, 0, nu, q * nup / NR, panels);
        if (fuse_x && I > 0) {
          cpu::GemmArgs gi{nullptr, nullptr, w_ih + (q * H + u0) * I, nullptr, 0, nu, I,
                           0, 0, 1, I, 1.f, 0.f, ACT_NONE, 0.f};
          pg.pack_b(bp_ih[tid], gi, 0, nu, q * nup / NR, panels);
        }
      }
    },
    [&](int tid, int nt) {
      int64_t u0, u1;
      unit_range(H, tid, nt, NR, u0, u1);
      const int64_t nu = u1 - u0, nup = (nu + NR - 1) / NR * NR, panels = 4 * nup / NR;
      float* L = lbuf[tid];  // (B, 4*nup): gate q of unit u0+j at column q*nup + j
      for (int64_t t = 0; t < T; ++t) {
        float* g = gates + t * B * G;                                // (B, 4H)
        const float* hp = t > 0 ? out + (t - 1) * BH : h0;           // (B, H) or null
        const float* cp = t > 0 ? cells + (t - 1) * BH : c0;         // (B, H) or null
        if (nu > 0) {
          bool have_l = false;
          if (fuse_x) {  // L = x_t (B, I) @ w_ih slice (zeros when I = 0)
            cpu::GemmArgs ga{nullptr, x + t * B * I, nullptr, nullptr, B, 0, I, I, 1, 0, 0,
                             1.f, 0.f, ACT_NONE, 0.f};
            pg.run(L, 4 * nup, ga, bp_ih[tid], 0, panels, panels, false);
            have_l = true;
          }
          if (hp) {  // L (+)= h_{t-1} (B, H) @ w_hh slice
            cpu::GemmArgs ga{nullptr, hp, nullptr, nullptr, B, 0, H, H, 1, 0, 0,
                             1.f, 0.f, ACT_NONE, 0.f};
            pg.run(L, 4 * nup, ga, bp_hh[tid], 0, panels, panels, have_l);
            have_l = true;
          }
          FwdRows r{g, fuse_x ? (bias ? bias : zbias[tid]) : g, fuse_x ? 0 : G,
                    have_l ? L : nullptr, nup, cp, cells + t * BH, out + t * BH, B, H, u0, nu};
          rows_fn(r);
        }
        if (nt > 1) {  // h_t complete before any thread's product of step t+1 reads it
#pragma omp barrier
        }
      }
    });
}

// Backward recurrence over t = T-1..0: dg (T, B, 4H) receives the pre-activation gate
// gradients; dh_next, dc_next (B, H) hold dh_n, dc_n (zeros if absent) on entry and dh0,
// dc0 on exit. Thread-to-data: thread tid owns hidden units [u0, u1): their pointwise
// backward (all four gate columns q*H + u) and their columns of dh_{t-1} = dg[t] @ w_hh.
void recurrence_backward(float* dg, float* dh_next, float* dc_next, const float* dout,
                         const float* gates, const float* cells, const float* c0,
                         const float* w_hh, int64_t T, int64_t B, int64_t H) {
  const cpu::PrepackedGemm pg = cpu::prepacked_gemm();
  const BwdRowsFn rows_fn = bwd_rows_for_isa();
  const int64_t NR = pg.nr, G = 4 * H, BH = B * H;
  const int team = std::min(recurrence_team(B, H, H), 64);
  float* bpack[64];
  float* lbuf[64];
  run_team(team,
    [&](int tid, int nt) {
      int64_t u0, u1;
      unit_range(H, tid, nt, NR, u0, u1);
      const int64_t nu = u1 - u0, panels = (nu + NR - 1) / NR;
      bpack[tid] = lbuf[tid] = nullptr;
      if (nu <= 0) return;
      bpack[tid] = cpu::scratch(size_t(G) * panels * NR + 64, 5);
      lbuf[tid] = cpu::scratch(size_t(B) * panels * NR + size_t(nu) + 64, 6);
      // op(B) (4H, nu) = w_hh[:, u0:u1], row-major: bs_p = H, bs_j = 1.
      cpu::GemmArgs gb{nullptr, nullptr, w_hh + u0, nullptr, 0, nu, G, 0, 0, H, 1,
                       1.f, 0.f, ACT_NONE, 0.f};
      pg.pack_b(bpack[tid], gb, 0, nu, 0, panels);
    },
    [&](int tid, int nt) {
      int64_t u0, u1;
      unit_range(H, tid, nt, NR, u0, u1);
      const int64_t nu = u1 - u0, panels = (nu + NR - 1) / NR, ldl = panels * NR;
      float* L = lbuf[tid];          // (B, ldl): dh_{t-1} for units u0..u1
      float* dhs = L + B * ldl;      // (nu): dout[t] + dh_next for one row
      for (int64_t t = T - 1; t >= 0; --t) {
        if (nu > 0) {
          BwdRows r{dg + t * B * G, dc_next, dout + t * BH, dh_next, dhs, gates + t * B * G,
                    cells + t * BH, t > 0 ? cells + (t - 1) * BH : c0, B, H, u0, nu};
          rows_fn(r);
        }
        if (nt > 1) {  // dg[t] complete (all 4H columns) before the products read it
#pragma omp barrier
        }
        if (nu > 0) {
          // dh_{t-1}[:, u0:u1] (B, nu) = dg[t] (B, 4H) @ w_hh[:, u0:u1]
          cpu::GemmArgs ga{nullptr, dg + t * B * G, nullptr, nullptr, B, 0, G, G, 1, 0, 0,
                           1.f, 0.f, ACT_NONE, 0.f};
          pg.run(L, ldl, ga, bpack[tid], 0, panels, panels, false);
          for (int64_t b = 0; b < B; ++b)
            std::memcpy(dh_next + b * H + u0, L + b * ldl, size_t(nu) * sizeof(float));
        }
      }
    });
}

// The weight gradients are computed transposed, dW^T (K, 4H) = X^T (K, rows) @ dgates
// (rows, 4H), then transposed into place: dgates (13 MB at T50 B64 H256) is then the B
// operand, packed by streaming whole rows, where as the A operand of dgates^T @ X it was
// packed MR floats at a time from rows 16 KB apart (14% of the backward, memory-latency
// bound); the small X^T is the one packed from strided rows.
void weight_grad(float* dw, const float* x1, const float* g1, int64_t rows1, const float* x2,
                 const float* g2, int64_t rows2, int64_t G, int64_t K) {
  if (G == 0 || K == 0) return;
  if (rows1 == 0 && rows2 == 0) {
    std::memset(dw, 0, size_t(G * K) * sizeof(float));
    return;
  }
  float* tmp = cpu::scratch(size_t(K) * G + 64, 4);  // (K, G)
  if (rows1 > 0) mm(tmp, x1, g1, nullptr, K, G, rows1, true, false, 0.f);
  if (rows2 > 0) mm(tmp, x2, g2, nullptr, K, G, rows2, true, false, rows1 > 0 ? 1.f : 0.f);
  cpu::parallel_for(G, K, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t q = 0; q < K; ++q) dw[r * K + q] = tmp[q * G + r];
  });
}

// The CPU's primitives for lstm::Lstm (../lstm_common.h lists what each must do).
struct CpuLstm {
  struct Buffer {
    float* p;
    Buffer(int64_t n, int slot) : p(cpu::scratch(size_t(std::max<int64_t>(n, 1)), slot)) {}
    float* f() const { return p; }
  };
  static View view(const float* p, int64_t n) { return fview(p, n); }
  static void mm(float* c, const float* a, const float* b, const float* bias, int64_t m,
                 int64_t n, int64_t k, bool ta, bool tb, float beta) {
    ::nx::mm(c, a, b, bias, m, n, k, ta, tb, beta);
  }
  static void add(float* o, const float* a, const float* b, int64_t n) {
    for (int64_t j = 0; j < n; ++j) o[j] = a[j] + b[j];
  }
  static void copy(float* dst, const float* src, int64_t n) {
    std::memcpy(dst, src, size_t(n) * sizeof(float));
  }
  static void zero(float* p, int64_t n) {
    if (n > 0) std::memset(p, 0, size_t(n) * sizeof(float));
  }
  template <class... A>
  static void gemm_backward(A&&... a) { Cpu::gemm_backward(std::forward<A>(a)...); }
  template <class... A>
  static void cell_pointwise(A... a) { ::nx::cell_pointwise(a...); }
  template <class... A>
  static void cell_pointwise_backward(A... a) { ::nx::cell_pointwise_backward(a...); }
  // Fuse the input projection into the recurrence while both packed weights stay cache-sized
  // (4H x (I+H) <= 1M floats, 4 MiB): measured 1T (thread CPU time, alternating, 2 runs),
  // T50 B64 I128 H256 (1.5 MiB of weights) 27.0/28.7 ms fused vs 31.0/29.8 one big input
  // GEMM; T100 B32 I512 H512 (8 MiB, streamed from L3 every step) 165/172 fused vs 142/145.
  static bool fuse_input(int64_t I, int64_t H) { return 4.0 * double(H) * double(I + H) <= double(1 << 20); }
  template <class... A>
  static void recurrence_forward(A... a) { ::nx::recurrence_forward(a...); }
  template <class... A>
  static void recurrence_backward(A... a) { ::nx::recurrence_backward(a...); }
  template <class... A>
  static void weight_grad(A... a) { ::nx::weight_grad(a...); }
  template <class... A>
  static void column_sums(A... a) { ::nx::column_sums(a...); }
};
using L = lstm::Lstm<CpuLstm>;

}  // namespace

void Cpu::lstm_cell_forward(View h_out, View c_out, View gates, View x, View h, View c,
                            View w_ih, View w_hh, View b_ih, View b_hh, int64_t B, int64_t I,
                            int64_t H) {
  L::cell_forward(h_out, c_out, gates, x, h, c, w_ih, w_hh, b_ih, b_hh, B, I, H);
}

void Cpu::lstm_cell_backward(View dx, View dh, View dc, View dw_ih, View dw_hh, View db_ih,
                             View db_hh, View dh_out, View dc_out, View gates, View x, View h,
                             View c, View c_out, View w_ih, View w_hh, int64_t B, int64_t I,
                             int64_t H) {
  L::cell_backward(dx, dh, dc, dw_ih, dw_hh, db_ih, db_hh, dh_out, dc_out, gates, x, h, c, c_out,
                   w_ih, w_hh, B, I, H);
}

void Cpu::lstm_layer_forward(View out, View h_n, View c_n, View gates, View cells, View x,
                             View h0, View c0, View w_ih, View w_hh, View b_ih, View b_hh,
                             int64_t T, int64_t B, int64_t I, int64_t H) {
  L::layer_forward(out, h_n, c_n, gates, cells, x, h0, c0, w_ih, w_hh, b_ih, b_hh, T, B, I, H);
}

void Cpu::lstm_layer_backward(View dx, View dh0, View dc0, View dw_ih, View dw_hh, View db_ih,
                              View db_hh, View dout, View dh_n, View dc_n, View gates,
                              View cells, View out, View x, View h0, View c0, View w_ih,
                              View w_hh, int64_t T, int64_t B, int64_t I, int64_t H) {
  L::layer_backward(dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dout, dh_n, dc_n, gates, cells, out,
                    x, h0, c0, w_ih, w_hh, T, B, I, H);
}

}  // namespace nx
