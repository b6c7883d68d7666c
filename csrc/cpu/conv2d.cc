// conv2d.cc (cpu) — 2-D convolution (cross-correlation, as PyTorch's conv2d) forward, and its
// two backwards: backward_data (also the forward of a transposed convolution) and
// backward_weight (with the bias gradient).
//
// Layouts (row-major, PyTorch's): inp/dinp (N, C, H, W); weight/dweight (K, C/G, R, S);
// bias/dbias (K); out/dout (N, K, P, Q) with P = window_out(H, R, stride_h, pad_h, dil_h) and
// Q likewise. Group g (G = groups) maps input channels [g*Cg, (g+1)*Cg) to output channels
// [g*Kg, (g+1)*Kg), Cg = C/G, Kg = K/G. Padding reads as zero.
//
// Variants (`variant` argument; -1 picks):
//   conv2d_k0_loop    direct loops, the plain reference path: one output plane (n, k) per
//                     work item (forward), one input plane (n, c) (backward_data), one
//                     weight slice (k, c) (backward_weight); the innermost loop runs over a
//                     precomputed in-bounds column range, so it has no branch and vectorises
//                     when the stride is 1.
//   conv2d_k1_im2col  blocked im2col + our packed GEMM (gemm.h, ISA chosen at run time):
//                     per image n and group g, with the column matrix col (Cg*R*S, PQ)
//                     built one block of output pixels at a time (at most kColBudget floats):
//                       forward          out_g (Kg, PQ)   = W_g (Kg, CgRS) @ col
//                       backward_data    col              = W_g^T @ dout_g, then col2im
//                       backward_weight  dW_g (Kg, CgRS) += dout_g @ col^T
//                     A 1x1, stride-1, pad-0 convolution skips im2col: col is the image.
//                     backward_weight with small slices (Cg*R*S <= kDotMaxCRS: first layers,
//                     LeNet conv1) runs "k1 dot" instead of the GEMM: the product is Kg x CRS
//                     with a reduction over N*P*Q pixels (LeNet conv1: 20 x 25 over 36,864),
//                     which a GEMM tile (12 x 32, reduction streamed through packed panels)
//                     fills badly. dout rows and col rows are both contiguous along the
//                     pixels, so conv2d_kernel.inc (one TU per ISA: conv2d_avx512.cc,
//                     conv2d_avx2.cc, conv2d_portable.cc) vectorises the reduction itself:
//                     a 4 x 6 (AVX-512) register tile of dot products, one vector lane per
//                     pixel mod VL, lanes summed once at the end; dbias is one more column
//                     (a row of ones in col), so dout is read once.
//                     3x3, stride-1 layers with >= 16 channels (use_winograd): all three
//                     kernels run Winograd F(2x2, 3x3) (forward_winograd: 16 GEMMs of
//                     (K, C) x (C, tiles), 2.25x fewer flops than im2col; backward_data is
//                     the same with flipped weights; backward_weight_winograd: 16 GEMMs
//                     dZ (K, tiles) x V^T (tiles, C)); measured 1.2-1.7x faster than im2col
//                     on ResNet 64ch 56x56 and 128ch 28x28 (1 thread).
//                     Forward with >= 32 taps (C/g*R*S) and >= VL output channels per
//                     group, when Winograd does not apply (use_direct): "k1 direct", no
//                     im2col: conv2d_kernel.inc's row kernel puts output channels across the
//                     vector lanes and broadcasts input pixels from the zero-padded image
//                     (85-107 GFLOPS against im2col's 41-73 on LeNet conv2 and 3x3/2 layers);
//                     backward_weight of the same layers likewise (backward_weight_direct:
//                     a block of taps x channels held in registers over all pixels).
//                     Stride-1 layers with few channels take "k1 flat" (pixels across the
//                     lanes over the padded image flattened row by row, flat_conv): the
//                     forward when Kg < VL (LeNet conv1), backward_data (a stride-1
//                     convolution of the padded dout) when the padding wastes < 1.5x;
//                     strided backward_data (transposed convolutions) with >= 16 channels
//                     as sh*sw stride-1 phases through the same kernel.
//                     Small images (P*Q < 256, not pointwise; use_batched_forward) put the
//                     columns of several images side by side, so each GEMM has >= 512
//                     pixels (LeNet conv2: 8 images of 64): forward_batched,
//                     backward_data_batched, backward_weight_batched (GEMM path).
// variant -1: k1, except when the per-group GEMM would have fewer than 4 rows (Kg < 4 with
// groups > 1, e.g. depthwise) where k0's direct loops beat a GEMM that fills 1/12 of its
// micro-tile; k0 is 10-30x slower than k1 on the benchmark layers (the reference path).
//
// Performance (issue 5; 1 thread, alternating with torch 2.13 / oneDNN on the shared 2-vCPU
// Zen 4, peak 116 GFLOPS; the box was at load 4-9 throughout, so +-15%; bench/results/
// conv2d.json has the harness's numbers):
//   LeNet conv1 N64 C1 28x28 K20 5x5 (36.9 MFLOP): backward_weight was 2.3 ms, 16 GFLOPS,
//     0.6x: the GEMM saw 20 x 25 products reduced over 576 pixels per image (a 12 x 32 tile
//     two-thirds empty, both operands packed per image) and dbias was a serial float add
//     chain (4 cycles per element: 0.6 ms alone). Now the dot kernel + fused dbias:
//     ~0.6-1.1 ms, 1.4-1.8x torch; forward (bias folded into the GEMM) 1.6-2.2x.
//   LeNet conv2 N64 C20 12x12 K50 5x5 (0.37 GFLOP per kernel): per-image GEMMs were
//     50 x 64 x 500, with im2col's 8-float runs costing as much as the GEMM (two int64
//     divisions and a memcpy call per run). Batching 8 images and tight row loops: forward
//     ~4.5 -> ~3.6 ms, backward_data ~5.2 -> ~3.9 ms, 1.2-1.4x torch.
//   ResNet 128ch 28x28 N32 (7.4 GFLOP): with im2col 0.75-0.9x torch. Count: per image the GEMM
//     is 128 x 784 x 1152 (231 MFLOP) and im2col writes 0.9 M floats (3.6 MB); perf showed
//     the GEMM at ~80% of the time and im2col + packing ~15%. Our GEMM runs this shape at
//     86-89 GFLOPS (~77% of peak, as on its squares), while oneDNN's direct convolution
//     (blocked nChw16c layout, JIT kernel) reaches ~110 GFLOPS (~94%) on a quiet machine:
//     even a free im2col would have left us at ~0.85x. Tried: column blocks of 256 pixels
//     so the GEMM reads col in place (+3-8%, kept: kFwdColBudget); backward_data in blocks
//     of <= 28 channels for the same reason (-10%, dropped: W^T is then packed per block);
//     the dot kernel for CRS 1152 (1.4x slower: the lane partials no longer fit in cache).
//     What worked: fewer flops. Winograd F(2x2, 3x3) (above) does 103 instead of 231 MFLOP
//     per image; with GEMMs at ~65% of its time and the transforms ~30% it runs at 110-150
//     "direct-equivalent" GFLOPS: forward ~85 -> ~50-60 ms, backward_data ~81 -> ~55-65 ms,
//     backward_weight ~105 -> ~50-60 ms; 1.03-1.1x torch in the loaded harness runs.
//   ResNet 64ch 56x56 N32 (3.7 GFLOP): Winograd too, 1.4-1.9x torch.
//   backward_weight_winograd's first version scattered dZ one tile at a time into 16 planes,
//   which cost as much as its GEMMs (now contiguous even/odd rows, like the input).
//
// Threads: k0 splits its work items (above) with cpu::parallel_for. k1 opens one OpenMP
// region per call and cuts the work into contiguous chunks, about 4 per thread (chunk_count),
// handed out dynamically: output pixels of the flattened (N, P*Q) space for forward and
// backward_weight (whole images when N is large, parts of an image when N is small, so N = 1
// still uses every core), input planes (n, c) for backward_data (so col2im never races).
// Each chunk runs serial GEMMs on its thread's scratch: inside the region each thread sets
// its OpenMP thread count to 1, so the GEMM (and any cpu::parallel_for) it calls does not
// nest a second level of threads. backward_weight keeps one partial dW per chunk and sums
// them in chunk order afterwards (deterministic whichever thread ran a chunk). Small problems
// (under ~2^18 flops per thread) use fewer threads, down to one, and then the GEMM may
// parallelise by itself.
// Scratch slots (cpu::scratch; 0 and 1 belong to the GEMM). Per thread: 2 = im2col column
// block / Winograd's V / the padded image or dout of the direct, flat and phase paths, 3 =
// forward output tile / dot's lane partials / Winograd's M or dZ / direct backward_weight's
// transposed dout / the flat kernel's wide rows, 5 = the dot path's gathered or widened
// dout, 6 = the dot path's row of ones. On the calling thread (before the team starts): 4 =
// backward_weight's per-chunk partials, 5 = Winograd's U, 6 = packed weights (flipped for
// backward_data_winograd, with the bias column, per block of lanes for direct, flat and
// phases). A path never uses one slot for two live buffers, and the threads' slots 5 and 6
// are only used by paths whose calling-thread slots 5 and 6 are free.
#include <algorithm>
#include <cstring>
#include <exception>
#include <limits>
#include <vector>

#include "../checks/conv2d.h"
#include "backend.h"
#include "conv2d_kernels.h"
#include "gemm.h"

namespace nx {
namespace {

// Floats per im2col column block, per thread (4 MiB): the block and the GEMM's packed panels
// stay in L2/L3 while a block is consumed; larger layers are cut into blocks of output pixels.
constexpr int64_t kColBudget = int64_t(1) << 20;
// The forward's blocks are smaller (1.25 MiB): 128x1152 weights times a block of 256 pixels
// (ResNet 128ch 28x28) or 64x576 times 512 (64ch 56x56) fall under the GEMM's direct-B limits,
// so the GEMM reads the column block in place instead of packing it a second time; measured
// 1T 3-8% faster than one whole-image block (noisy machine, alternating runs).
constexpr int64_t kFwdColBudget = int64_t(5) << 16;
// backward_weight takes the dot-product kernel when C/groups*R*S <= kDotMaxCRS. Measured 1T
// (dot vs GEMM, ms): LeNet conv1 (CRS 25) 0.97 vs 2.5, C3 3x3 K64 32x32 2.6-3.6 vs 4.0-4.6,
// C3 7x7/2 K64 64x64 5.2-5.4 vs 5.8-6.7, C16 3x3 (144) 5.7-7.1 vs 7.2-7.5; the GEMM wins at
// CRS 500 (LeNet conv2: 5.7-5.9 vs 4.8-5.1) and by ~1.4x at 576 and 1152.
constexpr int64_t kDotMaxCRS = 160;
// The forward takes the direct path (forward_direct) when C/groups*R*S >= kDirectMinCRS and
// there are at least VL output channels per group (and Winograd does not apply). Measured 1T,
// direct vs im2col (ms): LeNet conv2 6->16 5x5 N128 0.72 vs 1.51, 20->50 5x5 N64 2.40 vs 3.18,
// 3x3/2 64->128 28x28 N32 9.9 vs 12.8, 128->256 14x14 9.4 vs 15.8, 7x7/2 3->64 64x64 N16 3.4
// vs 4.7 (85-107 GFLOPS against 41-73); below ~32 taps im2col is cheap and the direct
// kernel's transposing write-out dominates: CRS 25 K20 0.82 vs 0.59, C3 3x3 K64 2.4 vs 1.6.
constexpr int64_t kDirectMinCRS = 32;
using checks::ConvShape;

// Columns q of an output row whose input column q*sw + off lies inside [0, W): [lo, hi).
inline void valid_cols(int64_t off, int64_t sw, int64_t W, int64_t Q, int64_t& lo, int64_t& hi) {
  lo = off >= 0 ? 0 : std::min(Q, (-off + sw - 1) / sw);
  hi = (W - 1 - off) < 0 ? 0 : std::min(Q, (W - 1 - off) / sw + 1);
  if (hi < lo) hi = lo;
}

// ---- GEMM glue ------------------------------------------------------------------------

// One product through the packed GEMM of the current ISA; k == 0 gives C = 0 (beta 0) or
// leaves C (beta 1), as a product with no terms.
void gemm_run(const cpu::GemmArgs& g) {
  if (g.m == 0 || g.n == 0) return;
  if (g.k == 0) {
    if (g.beta == 0.f) std::fill(g.c, g.c + g.m * g.n, 0.f);
    return;
  }
  cpu::kGemmPacked.get()(g);
}

// C (m, n) = alpha * A @ B + beta * C with A(i, p) = a[i*as_i + p*as_p], B(p, j) = b[p*bs_p + j*bs_j].
void gemm(float* c, const float* a, const float* b, int64_t m, int64_t n, int64_t k, int64_t as_i,
          int64_t as_p, int64_t bs_p, int64_t bs_j, float beta) {
  cpu::GemmArgs g{c, a, b, nullptr, m, n, k, as_i, as_p, bs_p, bs_j, 1.f, beta, ACT_NONE, 0.f};
  gemm_run(g);
}

// Split [0, total) into `parts` contiguous ranges: range t is [b, e).
inline void split_range(int64_t total, int64_t parts, int64_t t, int64_t& b, int64_t& e) {
  b = total * t / parts;
  e = total * (t + 1) / parts;
}

// Threads for a k1 call: one per 2^18 flops of work (about what the GEMM itself wants),
// at most one per `max_items` work item, at most the OpenMP thread count.
int team_size(double flops, int64_t max_items) {
  const double by_work = std::max(1.0, flops / double(1 << 18));
  return int(std::max<int64_t>(1, std::min<int64_t>({int64_t(cpu::num_threads()),
                                                       int64_t(std::min(by_work, 1e9)), max_items})));
}

// Chunks of a k1 call: kChunksPerThread per thread, each at least ~2^21 flops, at most one
// per work item. Chunks are handed out one at a time (run_team): on this shared 2-core box
// a thread whose core is taken by another process gives its remaining chunks to the other
// thread instead of making it wait at the end (a static half/half split ran 2 threads no
// faster than 1 whenever one core was busy).
constexpr int64_t kChunksPerThread = 4;
int64_t chunk_count(int team, double flops, int64_t max_items) {
  if (team <= 1) return 1;
  const double by_work = std::min(1e9, std::max(1.0, flops / double(1 << 21)));
  return std::max<int64_t>(team, std::min<int64_t>({team * kChunksPerThread, int64_t(by_work), max_items}));
}

// Run body(c, chunks) for every chunk c < chunks on `team` threads, chunks handed out in
// order as threads become free (schedule(dynamic, 1)); each chunk's result must not depend
// on which thread ran it (results stay deterministic). Inside the region each thread sets
// its OpenMP thread count to 1, so the GEMM and cpu::parallel_for it calls run serially on
// that thread (one level of parallelism, no barriers inside the GEMM). Exceptions are
// carried out. team <= 1 or one chunk: body(0, 1) on the calling thread.
template <class F>
void run_team(int team, int64_t chunks, F&& body) {
  if (team <= 1 || chunks <= 1) {
    body(int64_t(0), int64_t(1));
    return;
  }
  std::exception_ptr err;
#pragma omp parallel num_threads(team)
  {
#ifdef _OPENMP
    omp_set_num_threads(1);
#endif
#pragma omp for schedule(dynamic, 1)
    for (int64_t c = 0; c < chunks; ++c) {
      try {
        body(c, chunks);
      } catch (...) {
#pragma omp critical(nx_conv2d_err)
        if (!err) err = std::current_exception();
      }
    }
  }
  if (err) std::rethrow_exception(err);
}

// ---- the per-ISA micro-kernels (conv2d_kernel.inc; conv2d_kernels.h) ------------------

// This ISA's table: dot (backward_weight's dot products), direct and directw (the direct
// forward and backward_weight row kernels), flat (the flat stride-1 kernel), with its vector
// width vl and the flat kernel's channels per tile fk.
const cpu::Conv2dKernels& kernels() {
  static const cpu::PerIsa<cpu::Conv2dKernels> k{cpu::conv2d_kernels_portable(), cpu::conv2d_kernels_avx2(),
                                             cpu::conv2d_kernels_avx512()};
  return k.get();
}

// ---- im2col / col2im ------------------------------------------------------------------

// dst[0:cnt) = src[0:cnt) for the short runs of im2col (an output row, often 5-60 floats):
// fixed 16-float copies inline to vector moves, where a memcpy call per run cost about as
// much as the copy (LeNet conv1: 600 calls of 96 bytes per image).
inline void copy_short(float* dst, const float* src, int64_t cnt) {
  int64_t i = 0;
  for (; i + 16 <= cnt; i += 16) std::memcpy(dst + i, src + i, 16 * sizeof(float));
  for (; i + 4 <= cnt; i += 4) std::memcpy(dst + i, src + i, 4 * sizeof(float));
  for (; i < cnt; ++i) dst[i] = src[i];
}

// d[0:Q) = one output row of one im2col row, stride 1: input row ih of `plane` at columns
// q + woff for q in [qlo, qhi), zero elsewhere (padding). Plain loops the compiler vectorises
// inline (no memcpy/memset calls: LeNet conv2's runs are 8 floats, where a call per run and
// the generic path's bookkeeping cost as much as the GEMM).
__attribute__((optimize("no-tree-loop-distribute-patterns")))
inline void im2col_row(float* __restrict d, const float* __restrict plane, int64_t ih, int64_t woff,
                       int64_t qlo, int64_t qhi, const ConvShape& s) {
  if (ih < 0 || ih >= s.H) {
    for (int64_t q = 0; q < s.Q; ++q) d[q] = 0.f;
    return;
  }
  const float* __restrict src = plane + ih * s.W + woff;
  for (int64_t q = 0; q < qlo; ++q) d[q] = 0.f;
  for (int64_t q = qlo; q < qhi; ++q) d[q] = src[q];
  for (int64_t q = std::max(qlo, qhi); q < s.Q; ++q) d[q] = 0.f;
}

// col (CRS, nb) = the column matrix of one image's group (img: (Cg, H, W)) for output pixels
// [j0, j0 + nb). Thread mapping: rows (c, r, s) split over threads (parallel_for).
// Row stride of col: ld (nb when 0; the batched forward puts several images side by side).
void im2col(float* col, const float* img, const ConvShape& s, int64_t j0, int64_t nb, int64_t ld = 0) {
  if (ld == 0) ld = nb;
  const int64_t p_first = j0 / s.Q, q_first = j0 % s.Q, jend = j0 + nb;
  const bool whole_rows = s.sw == 1 && q_first == 0 && nb % s.Q == 0;
  cpu::parallel_for(s.CRS, nb, [&](int64_t row0, int64_t row1) {
    for (int64_t row = row0; row < row1; ++row) {
      const int64_t c = row / (s.R * s.S), r = (row / s.S) % s.R, sx = row % s.S;
      const float* plane = img + c * s.HW;  // (H, W)
      const int64_t hoff = r * s.dh - s.ph, woff = sx * s.dw - s.pw;
      int64_t qlo, qhi;
      valid_cols(woff, s.sw, s.W, s.Q, qlo, qhi);
      float* dst = col + row * ld;
      if (whole_rows) {  // stride 1, the block is whole output rows: the tight loop
        // Short runs without column padding (LeNet conv2: 10 floats) take one fixed 16-float
        // copy per output row, where the generic row loop cost as much as the dot kernel
        // after it. The copy reads and writes past the run, so it is used only where the read
        // stays inside the plane and the write inside this block's row of col, where the
        // next output rows (written after it) overwrite the excess.
        const bool short_runs = s.Q <= 16 && qlo == 0 && qhi == s.Q;
        for (int64_t p = p_first; p < p_first + nb / s.Q; ++p) {
          const int64_t ih = p * s.sh + hoff, at = (p - p_first) * s.Q;
          if (short_runs && at + 16 <= nb && ih >= 0 && ih * s.W + woff + 16 <= s.HW)
            std::memcpy(dst + at, plane + ih * s.W + woff, 16 * sizeof(float));
          else
            im2col_row(dst + at, plane, ih, woff, qlo, qhi, s);
        }
        continue;
      }
      // One output row p (or its part inside the block) per pass; p and the first column
      // step along instead of being divided out of j per pass (LeNet conv2: 8-float runs,
      // where two int64 divisions per run cost as much as the copy).
      for (int64_t j = j0, p = p_first, q0 = q_first; j < jend; ++p, q0 = 0) {
        const int64_t q1 = std::min(s.Q, q0 + (jend - j));
        float* d = dst + (j - j0) - q0;  // d[q] is output pixel (p, q)
        const int64_t ih = p * s.sh + hoff;
        if (ih < 0 || ih >= s.H) {
          for (int64_t q = q0; q < q1; ++q) d[q] = 0.f;
        } else {
          const float* src = plane + ih * s.W + woff;  // src[q*sw] is input (ih, q*sw + woff)
          const int64_t a = std::min(std::max(q0, qlo), q1), b = std::max(a, std::min(q1, qhi));
          for (int64_t q = q0; q < a; ++q) d[q] = 0.f;
          if (s.sw == 1) {
            copy_short(d + a, src + a, b - a);
          } else {
            for (int64_t q = a; q < b; ++q) d[q] = src[q * s.sw];
          }
          for (int64_t q = b; q < q1; ++q) d[q] = 0.f;
        }
        j += q1 - q0;
      }
    }
  });
}

// d[q] += v[q] for q in [a, b): one output row of col2im, stride 1 (restrict: vectorised
// without a run-time overlap check per row).
inline void add_row(float* __restrict d, const float* __restrict v, int64_t a, int64_t b) {
  for (int64_t q = a; q < b; ++q) d[q] += v[q];
}

// img (channels, H, W) += the column block col (channels*R*S, nb) folded back (the adjoint
// of im2col). Thread mapping: channels split over threads, so no two threads add to one pixel.
// Row stride of col: ld (nb when 0). Output row p and its first column step along the
// block instead of being divided out of j per output row.
void col2im(float* img, const float* col, const ConvShape& s, int64_t channels, int64_t j0, int64_t nb,
            int64_t ld = 0) {
  if (ld == 0) ld = nb;
  const int64_t p_first = j0 / s.Q, q_first = j0 % s.Q;
  const bool whole_rows = s.sw == 1 && q_first == 0 && nb % s.Q == 0;
  cpu::parallel_for(channels, s.R * s.S * nb, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      float* plane = img + c * s.HW;
      for (int64_t r = 0; r < s.R; ++r)
        for (int64_t sx = 0; sx < s.S; ++sx) {
          const float* src = col + ((c * s.R + r) * s.S + sx) * ld;
          const int64_t hoff = r * s.dh - s.ph, woff = sx * s.dw - s.pw;
          int64_t qlo, qhi;
          valid_cols(woff, s.sw, s.W, s.Q, qlo, qhi);
          const int64_t jend = j0 + nb;
          if (whole_rows) {  // stride 1, whole output rows: the tight loop
            for (int64_t p = p_first; p < p_first + nb / s.Q; ++p) {
              const int64_t ih = p * s.sh + hoff;
              if (ih >= 0 && ih < s.H)
                add_row(plane + ih * s.W + woff, src + (p - p_first) * s.Q, qlo, qhi);
            }
            continue;
          }
          for (int64_t j = j0, p = p_first, q0 = q_first; j < jend; ++p, q0 = 0) {
            const int64_t q1 = std::min(s.Q, q0 + (jend - j));
            const int64_t ih = p * s.sh + hoff;
            if (ih >= 0 && ih < s.H) {
              const float* v = src + (j - j0) - q0;  // v[q] is output pixel (p, q)
              float* d = plane + ih * s.W + woff;    // d[q*sw] is input (ih, q*sw + woff)
              const int64_t a = std::max(q0, qlo), b = std::min(q1, qhi);
              if (s.sw == 1) {
                for (int64_t q = a; q < b; ++q) d[q] += v[q];
              } else {
                for (int64_t q = a; q < b; ++q) d[q * s.sw] += v[q];
              }
            }
            j += q1 - q0;
          }
        }
    }
  });
}

bool is_pointwise(const ConvShape& s) {
  return s.R == 1 && s.S == 1 && s.sh == 1 && s.sw == 1 && s.ph == 0 && s.pw == 0;
}

// Output pixels per column block: the block (CRS, nb) stays within kColBudget floats.
int64_t col_block(const ConvShape& s, int64_t budget = kColBudget) {
  if (s.CRS * s.PQ <= budget) return s.PQ;
  int64_t nb = std::max<int64_t>(64, budget / std::max<int64_t>(s.CRS, 1)) / 64 * 64;
  return std::min(nb, s.PQ);
}

// Pixels (n, j) in [u0, u1) of the flattened (N, PQ) space, image by image: f(n, ja, jb).
template <class F>
void for_pixel_range(const ConvShape& s, int64_t u0, int64_t u1, F&& f) {
  for (int64_t n = u0 / s.PQ; n < s.N && n * s.PQ < u1; ++n)
    f(n, std::max<int64_t>(u0 - n * s.PQ, 0), std::min<int64_t>(u1 - n * s.PQ, s.PQ));
}

// ---- k0: direct loops -----------------------------------------------------------------

// Thread mapping: output planes (n, k) split over threads.
void forward_loop(const ConvShape& s, float* out, const float* in, const float* w, const float* bias) {
  cpu::parallel_for(s.N * s.K, 2 * s.CRS * s.PQ, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t n = i / s.K, k = i % s.K, g = k / s.Kg;
      float* o = out + i * s.PQ;  // (P, Q)
      std::fill(o, o + s.PQ, bias ? bias[k] : 0.f);
      for (int64_t c = 0; c < s.Cg; ++c) {
        const float* plane = in + (n * s.C + g * s.Cg + c) * s.HW;  // (H, W)
        const float* wk = w + (k * s.Cg + c) * s.R * s.S;           // (R, S)
        for (int64_t r = 0; r < s.R; ++r)
          for (int64_t sx = 0; sx < s.S; ++sx) {
            const float wv = wk[r * s.S + sx];
            const int64_t hoff = r * s.dh - s.ph, woff = sx * s.dw - s.pw;
            int64_t qlo, qhi;
            valid_cols(woff, s.sw, s.W, s.Q, qlo, qhi);
            for (int64_t p = 0; p < s.P; ++p) {
              const int64_t ih = p * s.sh + hoff;
              if (ih < 0 || ih >= s.H) continue;
              const float* src = plane + ih * s.W + woff;
              float* orow = o + p * s.Q;
              if (s.sw == 1) {
                for (int64_t q = qlo; q < qhi; ++q) orow[q] += wv * src[q];
              } else {
                for (int64_t q = qlo; q < qhi; ++q) orow[q] += wv * src[q * s.sw];
              }
            }
          }
      }
    }
  });
}

// Thread mapping: input planes (n, c) split over threads.
void backward_data_loop(const ConvShape& s, float* dinp, const float* dout, const float* w) {
  cpu::parallel_for(s.N * s.C, 2 * s.Kg * s.R * s.S * s.PQ, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t n = i / s.C, cin = i % s.C, g = cin / s.Cg, c = cin % s.Cg;
      float* plane = dinp + i * s.HW;  // (H, W)
      std::fill(plane, plane + s.HW, 0.f);
      for (int64_t kk = 0; kk < s.Kg; ++kk) {
        const int64_t k = g * s.Kg + kk;
        const float* dplane = dout + (n * s.K + k) * s.PQ;  // (P, Q)
        const float* wk = w + (k * s.Cg + c) * s.R * s.S;   // (R, S)
        for (int64_t r = 0; r < s.R; ++r)
          for (int64_t sx = 0; sx < s.S; ++sx) {
            const float wv = wk[r * s.S + sx];
            const int64_t hoff = r * s.dh - s.ph, woff = sx * s.dw - s.pw;
            int64_t qlo, qhi;
            valid_cols(woff, s.sw, s.W, s.Q, qlo, qhi);
            for (int64_t p = 0; p < s.P; ++p) {
              const int64_t ih = p * s.sh + hoff;
              if (ih < 0 || ih >= s.H) continue;
              float* drow = plane + ih * s.W + woff;
              const float* grow = dplane + p * s.Q;
              if (s.sw == 1) {
                for (int64_t q = qlo; q < qhi; ++q) drow[q] += wv * grow[q];
              } else {
                for (int64_t q = qlo; q < qhi; ++q) drow[q * s.sw] += wv * grow[q];
              }
            }
          }
      }
    }
  });
}

// Thread mapping: weight slices (k, c) (R*S taps each) split over threads.
void backward_weight_loop(const ConvShape& s, float* dw, const float* dout, const float* in) {
  cpu::parallel_for(s.K * s.Cg, 2 * s.N * s.R * s.S * s.PQ, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t k = i / s.Cg, c = i % s.Cg, g = k / s.Kg;
      for (int64_t r = 0; r < s.R; ++r)
        for (int64_t sx = 0; sx < s.S; ++sx) {
          const int64_t hoff = r * s.dh - s.ph, woff = sx * s.dw - s.pw;
          int64_t qlo, qhi;
          valid_cols(woff, s.sw, s.W, s.Q, qlo, qhi);
          double acc = 0.0;  // one tap sums N*P*Q products
          for (int64_t n = 0; n < s.N; ++n) {
            const float* plane = in + (n * s.C + g * s.Cg + c) * s.HW;
            const float* dplane = dout + (n * s.K + k) * s.PQ;
            for (int64_t p = 0; p < s.P; ++p) {
              const int64_t ih = p * s.sh + hoff;
              if (ih < 0 || ih >= s.H) continue;
              const float* src = plane + ih * s.W + woff;
              const float* grow = dplane + p * s.Q;
              float part = 0.f;
              if (s.sw == 1) {
                for (int64_t q = qlo; q < qhi; ++q) part += grow[q] * src[q];
              } else {
                for (int64_t q = qlo; q < qhi; ++q) part += grow[q] * src[q * s.sw];
              }
              acc += part;
            }
          }
          dw[i * s.R * s.S + r * s.S + sx] = float(acc);
        }
    }
  });
}

// ---- k1: im2col + GEMM ----------------------------------------------------------------

// Thread mapping: the N*PQ output pixels are cut into contiguous chunks (whole images when N
// is large, parts of one image when N is small), handed out to threads; a thread builds the
// columns of its chunk block by block, multiplies them by W_g with a serial GEMM into its
// tile (Kg, nb) and copies the tile into the output rows (adding the bias).
void forward_im2col(const ConvShape& s, float* out, const float* in, const float* w, const float* bias) {
  const bool pointwise = is_pointwise(s);
  const int64_t nb_max = col_block(s, kFwdColBudget);
  const double flops = 2.0 * s.N * s.K * s.CRS * s.PQ;
  const int team = team_size(flops, (s.N * s.PQ + 31) / 32);
  // The bias rides in the GEMM as one more column of W (a row of ones in col), so the output
  // is written once instead of written and then read again for the bias (CIFAR stem,
  // C*R*S = 27: the output pass is a third of the time).
  const bool fold = bias && !pointwise;
  const int64_t kk = s.CRS + (fold ? 1 : 0);  // GEMM inner dimension
  float* wb = nullptr;                          // (K, kk): W with the bias as last column
  if (fold) {
    wb = cpu::scratch(size_t(s.K * kk) + 16, 6);
    for (int64_t k = 0; k < s.K; ++k) {
      std::memcpy(wb + k * kk, w + k * s.CRS, size_t(s.CRS) * sizeof(float));
      wb[k * kk + s.CRS] = bias[k];
    }
  }
  run_team(team, chunk_count(team, flops, (s.N * s.PQ + 31) / 32), [&](int64_t t, int64_t nth) {
    int64_t u0, u1;
    split_range(s.N * s.PQ, nth, t, u0, u1);
    float* col = pointwise ? nullptr : cpu::scratch(size_t(kk * nb_max) + 16, 2);
    float* tile = cpu::scratch(size_t(s.Kg * nb_max) + 16, 3);
    for_pixel_range(s, u0, u1, [&](int64_t n, int64_t ja, int64_t jb) {
      const float* img = in + n * s.C * s.HW;  // (C, H, W)
      float* oimg = out + n * s.K * s.PQ;       // (K, P, Q)
      for (int64_t g = 0; g < s.G; ++g) {
        const float* wg = w + g * s.Kg * s.CRS;       // (Kg, CRS)
        const float* img_g = img + g * s.Cg * s.HW;  // (Cg, H, W)
        float* og = oimg + g * s.Kg * s.PQ;           // (Kg, PQ)
        for (int64_t j0 = ja; j0 < jb; j0 += nb_max) {
          const int64_t nb = std::min(nb_max, jb - j0);
          const bool direct = nb == s.PQ;  // a whole image: the GEMM writes the output rows
          float* c = direct ? og : tile;
          if (pointwise) {  // columns are the image itself: B (Cg, nb) = img_g[:, j0:j0+nb]
            gemm(c, wg, img_g + j0, s.Kg, nb, s.Cg, s.Cg, 1, s.HW, 1, 0.f);
          } else {
            im2col(col, img_g, s, j0, nb);
            if (fold) {
              std::fill(col + s.CRS * nb, col + kk * nb, 1.f);
              gemm(c, wb + g * s.Kg * kk, col, s.Kg, nb, kk, kk, 1, nb, 1, 0.f);
            } else {
              gemm(c, wg, col, s.Kg, nb, s.CRS, s.CRS, 1, nb, 1, 0.f);
            }
          }
          for (int64_t k = 0; k < s.Kg; ++k) {
            float* row = og + k * s.PQ + j0;
            const float b = bias && !fold ? bias[g * s.Kg + k] : 0.f;
            if (direct) {
              if (bias && !fold) for (int64_t j = 0; j < nb; ++j) row[j] += b;
            } else {
              const float* src = tile + k * nb;
              for (int64_t j = 0; j < nb; ++j) row[j] = src[j] + b;
            }
          }
        }
      }
    });
  });
}

// Forward for small images (P*Q < kBatchPixels, not pointwise): the columns of `bat` images
// sit side by side in one block col (CRS, bat*PQ), so one GEMM W_g (Kg, CRS) @ col has
// n = bat*PQ >= kBatchPixels instead of PQ (LeNet conv2: 8 images, n = 512 instead of 64):
// W_g is packed once per 8 images instead of once per image, the GEMM's 32-wide column
// panels are full, and the block falls under the GEMM's direct-B limits (read in place).
// The product goes to a tile (Kg, bat*PQ) and is copied into the images' output rows with
// the bias. Thread mapping: the batches of images are cut into chunks handed out to threads.
constexpr int64_t kBatchPixels = 512;
bool use_batched_forward(const ConvShape& s) {
  return !is_pointwise(s) && s.PQ < kBatchPixels / 2 && s.N > 1 && s.CRS * kBatchPixels <= kFwdColBudget;
}

void forward_batched(const ConvShape& s, float* out, const float* in, const float* w, const float* bias) {
  const int64_t bat = std::min(s.N, (kBatchPixels + s.PQ - 1) / s.PQ);
  const int64_t batches = (s.N + bat - 1) / bat, L = bat * s.PQ;
  const double flops = 2.0 * s.N * s.K * s.CRS * s.PQ;
  const int team = team_size(flops, batches);
  run_team(team, chunk_count(team, flops, batches), [&](int64_t t, int64_t nth) {
    int64_t b0, b1;
    split_range(batches, nth, t, b0, b1);
    float* col = cpu::scratch(size_t(s.CRS * L) + 16, 2);
    float* tile = cpu::scratch(size_t(s.Kg * L) + 16, 3);
    for (int64_t bi = b0; bi < b1; ++bi) {
      const int64_t n0 = bi * bat, nn = std::min(bat, s.N - n0), len = nn * s.PQ;
      for (int64_t g = 0; g < s.G; ++g) {
        for (int64_t i = 0; i < nn; ++i)  // image n0+i's columns at col[:, i*PQ : (i+1)*PQ]
          im2col(col + i * s.PQ, in + ((n0 + i) * s.C + g * s.Cg) * s.HW, s, 0, s.PQ, len);
        gemm(tile, w + g * s.Kg * s.CRS, col, s.Kg, len, s.CRS, s.CRS, 1, len, 1, 0.f);
        for (int64_t i = 0; i < nn; ++i)
          for (int64_t k = 0; k < s.Kg; ++k) {
            float* row = out + ((n0 + i) * s.K + g * s.Kg + k) * s.PQ;
            const float* src = tile + k * len + i * s.PQ;
            const float b = bias ? bias[g * s.Kg + k] : 0.f;
            for (int64_t j = 0; j < s.PQ; ++j) row[j] = src[j] + b;
          }
      }
    }
  });
}

// ---- k1 forward, direct ----------------------------------------------------------------
//
// im2col copies every input pixel R*S times (LeNet conv2, 6 -> 16 5x5 on 14x14: as long as
// its GEMM, whose 16 rows also fill a 12-row micro-tile badly), and the GEMM then runs at
// ~60-75% of peak on these thin products. The direct path reads the (zero-padded) image in
// place: conv2d_kernel.inc's row kernel puts output channels across the vector lanes and
// broadcasts each input value, one weight vector load per up to 24 FMAs. Weights are packed once per call into blocks of VL output
// channels, (G, blocks, Cg*R*S, VL), zero past Kg; taps are the offsets of (c, r, s) in the
// padded image. Thread mapping: the N*P output rows are cut into chunks handed out to
// threads; a thread pads each image it starts (into its scratch slot 2) when there is padding.
// Whether a zero-padded copy of `channels` planes of Hp x Wp (the direct, flat and phase
// paths' working image) stays within a few times the tensors' own size. Huge padding or
// dilation with a tiny output (accepted by the checks) would otherwise make these paths
// allocate, or overflow the index math of, a padded plane im2col never builds.
bool padded_fits(const ConvShape& s, int64_t Hp, int64_t Wp, int64_t channels) {
  const double own = double(s.C) * double(s.HW) + double(s.K) * double(s.PQ);
  return double(Hp) * double(Wp) * double(channels) <= 4.0 * own + double(1 << 16);
}
bool input_padding_fits(const ConvShape& s) {
  return padded_fits(s, s.H + 2 * s.ph, s.W + 2 * s.pw, s.C);
}

bool use_direct(const ConvShape& s) {
  return !is_pointwise(s) && s.CRS >= kDirectMinCRS && s.Kg >= kernels().vl && input_padding_fits(s);
}

// Copies `channels` planes of h x w floats from src into the planes of dst (dplane floats
// apart, rows ws apart), at row offset top and column offset left; dst's borders are left as
// they are (the callers zero them). The padded working images of the direct, flat, phase
// and dot paths are all built this way.
void copy_padded(float* dst, int64_t dplane, int64_t ws, int64_t top, int64_t left, const float* src,
                 int64_t channels, int64_t h, int64_t w) {
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t y = 0; y < h; ++y)
      std::memcpy(dst + c * dplane + (y + top) * ws + left, src + (c * h + y) * w, size_t(w) * sizeof(float));
}

// Offsets of the taps (c, r, x) of `channels` planes (plane floats apart, rows ws apart) from
// an output pixel's top-left source position, in (c, r, x) order.
std::vector<int64_t> tap_offsets(const ConvShape& s, int64_t channels, int64_t plane, int64_t ws) {
  std::vector<int64_t> offs(size_t(channels * s.R * s.S));
  for (int64_t c = 0, e = 0; c < channels; ++c)
    for (int64_t r = 0; r < s.R; ++r)
      for (int64_t x = 0; x < s.S; ++x, ++e) offs[size_t(e)] = c * plane + r * s.dh * ws + x * s.dw;
  return offs;
}

// The zero-padded geometry of the direct paths: an image becomes (C, Hp, Wp); tap e = (c, r,
// x) of a group sits at offs[e] from an output pixel's top-left input position.
struct Padded {
  int64_t Hp, Wp, plane;
  bool any;
  std::vector<int64_t> offs;
  explicit Padded(const ConvShape& s)
      : Hp(s.H + 2 * s.ph),
        Wp(s.W + 2 * s.pw),
        plane(Hp * Wp),
        any(s.ph > 0 || s.pw > 0),
        offs(tap_offsets(s, s.Cg, plane, Wp)) {}
  // Image n (C, H, W) of `in`, zero-padded into `buf` (C * plane floats) when there is padding.
  const float* image(const ConvShape& s, const float* in, int64_t n, float* buf) const {
    const float* img = in + n * s.C * s.HW;
    if (!any) return img;
    std::fill(buf, buf + s.C * plane, 0.f);
    copy_padded(buf, plane, Wp, s.ph, s.pw, img, s.C, s.H, s.W);
    return buf;
  }
};

void forward_direct(const ConvShape& s, float* out, const float* in, const float* w, const float* bias) {
  const auto fn = kernels().direct;
  const int64_t VL = kernels().vl;
  const int64_t blocks = (s.Kg + VL - 1) / VL, bsize = s.CRS * VL;
  const Padded pd(s);
  float* wt = cpu::scratch(size_t(s.G * blocks * bsize) + 16, 6);
  for (int64_t g = 0; g < s.G; ++g)
    for (int64_t b = 0; b < blocks; ++b) {
      float* dst = wt + (g * blocks + b) * bsize;  // (CRS, VL)
      for (int64_t e = 0; e < s.CRS; ++e)
        for (int64_t l = 0; l < VL; ++l) {
          const int64_t k = b * VL + l;
          dst[e * VL + l] = k < s.Kg ? w[(g * s.Kg + k) * s.CRS + e] : 0.f;
        }
    }
  const double flops = 2.0 * s.N * s.K * s.CRS * s.PQ;
  const int64_t rows = s.N * s.P;
  const int team = team_size(flops, rows);
  run_team(team, chunk_count(team, flops, rows), [&](int64_t t, int64_t nth) {
    int64_t u0, u1;
    split_range(rows, nth, t, u0, u1);
    float* buf = pd.any ? cpu::scratch(size_t(s.C * pd.plane) + 16, 2) : nullptr;
    const float* xi = nullptr;
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t n = u / s.P, p = u % s.P;
      if (!xi || p == 0) xi = pd.image(s, in, n, buf);  // a new image
      for (int64_t g = 0; g < s.G; ++g)
        for (int64_t b = 0; b < blocks; b += 2) {  // two blocks per call where there are two
          const int64_t k0 = g * s.Kg + b * VL, kcount = std::min(2 * VL, s.Kg - b * VL);
          fn(out + (n * s.K + k0) * s.PQ + p * s.Q, s.PQ, kcount, wt + (g * blocks + b) * bsize, bsize,
             bias ? bias + k0 : nullptr, xi + g * s.Cg * pd.plane + p * s.sh * pd.Wp, pd.offs.data(), s.CRS,
             s.Q, s.sw);
        }
    }
  });
}

// ---- k1 forward and backward_data, flat (stride 1, few output channels) -----------------
//
// conv2d_kernel.inc's flat kernel puts pixels across the lanes over the padded input
// flattened row by row (see there). One routine serves both directions:
//   forward         out (Kg, P, Q) of image n, group g = the taps (c, r, s) of the padded
//                   input (Cg, H + 2ph, W + 2pw) with weights w[k][c, r, s];
//   backward_data   dinp (Cg, H, W) = the taps (k, r', s') of dout padded by (R-1)*dh - ph
//                   rows and (S-1)*dw - pw columns, (Kg, P + 2ah, Q + 2aw), with the flipped
//                   weights w[k][c, R-1-r', S-1-s'] (a stride-1 convolution).
// FlatPlan holds what one call packs once: the taps' offsets in the padded source plane and
// the weights in chunks of FK output channels, (chunks, taps, FK).
// Thread mapping: images (or blocks of output rows when N < 8) handed out to threads in
// chunks; per image and group, the source is padded into the thread's scratch slot 2 and
// each chunk of FK output channels is computed over whole padded-width rows into slot 3,
// then the valid columns copied out.
bool flat_padding_ok(const ConvShape& s) {  // backward_data's dout padding is not negative
  return s.ph <= (s.R - 1) * s.dh && s.pw <= (s.S - 1) * s.dw;
}

// Forward: stride 1 with fewer output channels per group than vector lanes (where the
// direct path would leave lanes empty; LeNet conv1 6 channels, N128: 0.44 vs 1.0 ms with
// im2col). With more channels and < 32 taps im2col stays (CIFAR stem C3 K64: flat 59 vs 69
// GFLOPS).
bool use_flat_forward(const ConvShape& s) {
  const int64_t VL = kernels().vl;
  return s.sh == 1 && s.sw == 1 && !is_pointwise(s) && s.Kg < VL && input_padding_fits(s);
}

// backward_data: stride 1 when the padded dout wastes little work. The flat kernel computes
// H x (Q + 2*aw) positions per channel for P x Q useful ones' worth of taps: 1.1-1.3x for
// "same" padding (5x5 pad 2 C64 14x14: 15.4 vs 20.4 ms im2col; 3x3 pad 1 K8 16x16: 0.45 vs
// 1.24 ms), but 2.5-3x for unpadded small images (LeNet conv2 20->50 on 12x12: 5.6 vs 2.9 ms).
bool use_flat_backward_data(const ConvShape& s) {
  if (s.sh != 1 || s.sw != 1 || is_pointwise(s) || !flat_padding_ok(s)) return false;
  const int64_t ws = s.Q + 2 * ((s.S - 1) * s.dw - s.pw);
  return 2.0 * double(s.H) * double(ws) <= 3.0 * double(s.PQ) && padded_fits(s, s.H, ws, s.K);
}

struct FlatPlan {
  int64_t src_ch, Hs, Ws, pt, pl;  // source: channels, padded size, top/left padding
  int64_t outk, Ho, Wo;            // output channels per group and plane size
  int64_t taps, FK, chunks;
  std::vector<int64_t> offs;
  float* w = nullptr;  // (G, chunks, taps, FK)
};

FlatPlan flat_plan(const ConvShape& s, const float* w, bool backward) {
  FlatPlan f;
  const int64_t ah = (s.R - 1) * s.dh - s.ph, aw = (s.S - 1) * s.dw - s.pw;
  f.src_ch = backward ? s.Kg : s.Cg;
  f.pt = backward ? ah : s.ph;
  f.pl = backward ? aw : s.pw;
  const int64_t Hin = backward ? s.P : s.H, Win = backward ? s.Q : s.W;
  f.Hs = Hin + 2 * f.pt;
  f.Ws = Win + 2 * f.pl;
  f.outk = backward ? s.Cg : s.Kg;
  f.Ho = backward ? s.H : s.P;
  f.Wo = backward ? s.W : s.Q;
  f.taps = f.src_ch * s.R * s.S;
  f.FK = kernels().fk;
  f.chunks = (f.outk + f.FK - 1) / f.FK;
  f.offs = tap_offsets(s, f.src_ch, f.Hs * f.Ws, f.Ws);
  f.w = cpu::scratch(size_t(s.G * f.chunks * f.taps * f.FK) + 16, 6);
  for (int64_t g = 0; g < s.G; ++g)
    for (int64_t o = 0; o < f.chunks * f.FK; ++o)  // output channel o of group g
      for (int64_t c = 0, e = 0; c < f.src_ch; ++c)
        for (int64_t r = 0; r < s.R; ++r)
          for (int64_t x = 0; x < s.S; ++x, ++e) {
            float v = 0.f;
            if (o < f.outk) {
              // forward: w[g*Kg + o][c][r][x]; backward: w[g*Kg + c][o][R-1-r][S-1-x]
              v = backward ? w[(((g * s.Kg + c) * s.Cg + o) * s.R + (s.R - 1 - r)) * s.S + (s.S - 1 - x)]
                           : w[(((g * s.Kg + o) * s.Cg + c) * s.R + r) * s.S + x];
            }
            f.w[((g * f.chunks + o / f.FK) * f.taps + e) * f.FK + o % f.FK] = v;
          }
  return f;
}

// out (N, G*outk, Ho, Wo) from src (N, G*src_ch, Hin, Win) through plan f (see above).
void flat_conv(const ConvShape& s, const FlatPlan& f, float* out, const float* src, const float* bias) {
  const auto fn = kernels().flat;
  const int64_t VL = kernels().vl;
  const int64_t Hin = f.Hs - 2 * f.pt, Win = f.Ws - 2 * f.pl, splane = f.Hs * f.Ws;
  const int64_t L = f.Ho * f.Ws;  // whole padded-width output rows
  // The kernel reads up to offs[e] + L rounded up to VL: past the last padded plane by at most
  // (R-1)*dh*Ws + (S-1)*dw + L + VL - splane floats, zero in the slack.
  const int64_t slack = std::max<int64_t>(0, (s.R - 1) * s.dh * f.Ws + (s.S - 1) * s.dw + L + VL - splane) + VL;
  const double flops = 2.0 * s.N * s.G * f.outk * f.taps * f.Ho * f.Wo;
  // Work items: images, or blocks of output rows when there are few images (N = 1 still
  // uses every core); a thread pads an image once for its consecutive items of it.
  const int64_t rblocks = std::max<int64_t>(1, std::min<int64_t>(f.Ho, (8 + s.N - 1) / s.N));
  const int64_t items = s.N * rblocks;
  const int team = team_size(flops, items);
  run_team(team, chunk_count(team, flops, items), [&](int64_t t, int64_t nth) {
    int64_t u0, u1;
    split_range(items, nth, t, u0, u1);
    float* pad = cpu::scratch(size_t(f.src_ch * splane + slack) + 16, 2);
    float* wide = cpu::scratch(size_t(f.FK * L) + 16, 3);
    std::fill(pad, pad + f.src_ch * splane + slack, 0.f);
    int64_t have = -1;  // the image (n*G + g) now in pad
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t n = u / rblocks, rb = u % rblocks;
      const int64_t p0 = f.Ho * rb / rblocks, p1 = f.Ho * (rb + 1) / rblocks, Lb = (p1 - p0) * f.Ws;
      for (int64_t g = 0; g < s.G; ++g) {
        if (have != n * s.G + g) {
          // borders stay zero from the fill above
          copy_padded(pad, splane, f.Ws, f.pt, f.pl, src + (n * s.G + g) * f.src_ch * Hin * Win, f.src_ch, Hin,
                      Win);
          have = n * s.G + g;
        }
        for (int64_t ch = 0; ch < f.chunks; ++ch) {
          const int64_t o0 = ch * f.FK, kcount = std::min(f.FK, f.outk - o0);
          fn(wide, Lb, kcount, f.w + (g * f.chunks + ch) * f.taps * f.FK, bias ? bias + g * f.outk + o0 : nullptr,
             pad + p0 * f.Ws, f.offs.data(), f.taps, Lb);
          for (int64_t k = 0; k < kcount; ++k) {
            float* dst = out + ((n * s.G + g) * f.outk + o0 + k) * f.Ho * f.Wo;
            for (int64_t p = p0; p < p1; ++p)
              std::memcpy(dst + p * f.Wo, wide + k * Lb + (p - p0) * f.Ws, size_t(f.Wo) * sizeof(float));
          }
        }
      }
    }
  });
}

// backward_data of a strided layer (undilated), by phases: the input pixels (h, w) with
// h = a + sh*i, w = b + sw*j for one phase (a, b) all receive taps r = r0 + u*sh,
// x = x0 + v*sw with r0 = (a + ph) mod sh (likewise x0), from dout rows p = ba + i - u
// (ba = (a + ph - r0)/sh) and columns likewise. So each phase is a stride-1 correlation of
// dout (zero-padded) with the flipped Ru x Rv sub-kernel, computed by the flat kernel over
// whole padded rows and then scattered into every sh-th row and sw-th column of dinp. The
// transposed convolutions of DCGAN and the convolutional autoencoders (4x4/2) run here;
// im2col + GEMM + col2im ran their 64 -> 128 4x4/2 on 14x14 at ~75 GFLOPS.
// Thread mapping: images handed out to threads in chunks (run_team); per image, group and
// phase a thread pads dout into its slot 2 and computes into its slot 3.
// Used with >= 16 input channels per group: measured 1T (phases vs im2col, ms) 64 <- 128
// 4x4/2 on 14x14 N64 12.2 vs 15.2, 32 <- 64 4x4/2 on 28x28 10.6 vs 12.7, 64 <- 128 3x3/2
// on 56x56 N16 22.8 vs 22.6; but 1 <- 64 4x4/2 (a generator's last layer) 2.2 vs 0.6: one
// channel per flat tile is load-bound.
bool use_phases_backward_data(const ConvShape& s) {
  return (s.sh > 1 || s.sw > 1) && s.dh == 1 && s.dw == 1 && s.sh <= s.R && s.sw <= s.S && s.Cg >= 16 &&
         padded_fits(s, s.P + s.R, s.Q + s.S, s.K);
}

struct Phase {
  int64_t a, b, Hi, Wi, Ru, Rv, r0, x0;  // rows a + sh*i (i < Hi), columns b + sw*j (j < Wi)
  int64_t PT, PL, D, E, Hs, Ws;          // dout padding and the taps' row/column shift
  int64_t wofs;                          // this phase's packed weights (G, chunks, taps, FK)
};

void backward_data_phases(const ConvShape& s, float* dinp, const float* dout, const float* w) {
  const auto fn = kernels().flat;
  const int64_t VL = kernels().vl;
  const int64_t FK = kernels().fk, chunks = (s.Cg + FK - 1) / FK;
  std::vector<Phase> ph;
  int64_t wtotal = 0, most = 0;  // packed weight floats; largest padded source + slack
  for (int64_t a = 0; a < s.sh && a < s.H; ++a)
    for (int64_t b = 0; b < s.sw && b < s.W; ++b) {
      Phase f{};
      f.a = a;
      f.b = b;
      f.Hi = (s.H - a + s.sh - 1) / s.sh;
      f.Wi = (s.W - b + s.sw - 1) / s.sw;
      f.r0 = (a + s.ph) % s.sh;
      f.x0 = (b + s.pw) % s.sw;
      f.Ru = (s.R - f.r0 + s.sh - 1) / s.sh;  // >= 1: sh <= R
      f.Rv = (s.S - f.x0 + s.sw - 1) / s.sw;
      const int64_t ba = (a + s.ph - f.r0) / s.sh, bb = (b + s.pw - f.x0) / s.sw;
      f.PT = std::max<int64_t>(0, f.Ru - 1 - ba);
      f.PL = std::max<int64_t>(0, f.Rv - 1 - bb);
      f.D = ba - (f.Ru - 1) + f.PT;
      f.E = bb - (f.Rv - 1) + f.PL;
      f.Hs = std::max(f.PT + s.P, f.Hi + f.Ru - 1 + f.D);
      f.Ws = std::max(f.PL + s.Q, f.Wi + f.Rv - 1 + f.E);
      f.wofs = wtotal;
      wtotal += s.G * chunks * s.Kg * f.Ru * f.Rv * FK;
      most = std::max(most, s.Kg * f.Hs * f.Ws + f.Ws + f.Hi * f.Ws + VL);
      ph.push_back(f);
    }
  float* wp = cpu::scratch(size_t(wtotal) + 16, 6);
  for (const Phase& f : ph)
    for (int64_t g = 0; g < s.G; ++g)
      for (int64_t o = 0; o < chunks * FK; ++o)  // input channel o of group g (a lane)
        for (int64_t k = 0, e = 0; k < s.Kg; ++k)
          for (int64_t u = 0; u < f.Ru; ++u)
            for (int64_t v = 0; v < f.Rv; ++v, ++e) {
              const int64_t r = f.r0 + (f.Ru - 1 - u) * s.sh, x = f.x0 + (f.Rv - 1 - v) * s.sw;
              const float val = o < s.Cg ? w[(((g * s.Kg + k) * s.Cg + o) * s.R + r) * s.S + x] : 0.f;
              wp[f.wofs + ((g * chunks + o / FK) * s.Kg * f.Ru * f.Rv + e) * FK + o % FK] = val;
            }
  const double flops = 2.0 * s.N * s.K * s.CRS * s.PQ;
  const int team = team_size(flops, s.N);
  run_team(team, chunk_count(team, flops, s.N), [&](int64_t t, int64_t nth) {
    int64_t n0, n1;
    split_range(s.N, nth, t, n0, n1);
    float* pad = cpu::scratch(size_t(most) + 16, 2);
    int64_t wide_max = 0;
    for (const Phase& f : ph) wide_max = std::max(wide_max, f.Hi * f.Ws);
    float* wide = cpu::scratch(size_t(FK * wide_max) + 16, 3);
    std::vector<int64_t> offs;
    for (int64_t n = n0; n < n1; ++n)
      for (int64_t g = 0; g < s.G; ++g)
        for (const Phase& f : ph) {
          const int64_t splane = f.Hs * f.Ws, taps = s.Kg * f.Ru * f.Rv, L = f.Hi * f.Ws;
          std::fill(pad, pad + most, 0.f);
          copy_padded(pad, splane, f.Ws, f.PT, f.PL, dout + (n * s.K + g * s.Kg) * s.PQ, s.Kg, s.P, s.Q);
          offs.resize(size_t(taps));
          for (int64_t k = 0, e = 0; k < s.Kg; ++k)
            for (int64_t u = 0; u < f.Ru; ++u)
              for (int64_t v = 0; v < f.Rv; ++v, ++e) offs[size_t(e)] = k * splane + (u + f.D) * f.Ws + v + f.E;
          for (int64_t ch = 0; ch < chunks; ++ch) {
            const int64_t c0 = ch * FK, kcount = std::min(FK, s.Cg - c0);
            fn(wide, L, kcount, wp + f.wofs + (g * chunks + ch) * taps * FK, nullptr, pad, offs.data(), taps, L);
            for (int64_t c = 0; c < kcount; ++c) {
              float* plane = dinp + (n * s.C + g * s.Cg + c0 + c) * s.HW;
              const float* src = wide + c * L;
              for (int64_t i = 0; i < f.Hi; ++i) {
                float* row = plane + (f.a + i * s.sh) * s.W + f.b;
                for (int64_t j = 0; j < f.Wi; ++j) row[j * s.sw] = src[i * f.Ws + j];
              }
            }
          }
        }
  });
}

// k1 backward_weight, direct (use_direct, as the forward): dW (in the forward's packed
// layout (G, blocks, CRS, VL)) += dout (pixels, channels) x the padded image's taps, through
// conv2d_kernel.inc's backward_weight row kernel, which keeps a block of taps x channels in
// registers over all rows of an image instead of an im2col matrix streamed through a GEMM
// (ResNet 3x3/2 64->128: im2col + GEMM at 68 GFLOPS). Each image's dout is transposed to
// (P*Q, G*blocks*VL) (zero lanes past Kg) and its input padded, once per chunk that touches it.
// Thread mapping: the N*P output rows are cut into chunks handed out to threads, one partial
// dW per chunk, the partials summed in chunk order (deterministic for a given thread count).
void backward_weight_direct(const ConvShape& s, float* dw, const float* dout, const float* in) {
  const auto fn = kernels().directw;
  const int64_t VL = kernels().vl;
  const int64_t blocks = (s.Kg + VL - 1) / VL, bsize = s.CRS * VL, wsize = s.G * blocks * bsize;
  const int64_t ldk = s.G * blocks * VL;  // floats per pixel of the transposed dout
  const Padded pd(s);
  const double flops = 2.0 * s.N * s.K * s.CRS * s.PQ;
  const int64_t rows = s.N * s.P;
  const int team = team_size(flops, rows);
  const int64_t chunks = chunk_count(team, flops, rows);
  float* parts = cpu::scratch(size_t(chunks * wsize) + 16, 4);
  run_team(team, chunks, [&](int64_t t, int64_t nth) {
    int64_t u0, u1;
    split_range(rows, nth, t, u0, u1);
    float* part = parts + t * wsize;
    std::fill(part, part + wsize, 0.f);
    float* buf = pd.any ? cpu::scratch(size_t(s.C * pd.plane) + 16, 2) : nullptr;
    float* dT = cpu::scratch(size_t(s.PQ * ldk) + 16, 3);
    if (s.Kg % VL) std::fill(dT, dT + s.PQ * ldk, 0.f);  // lanes past Kg stay zero
    for (int64_t u = u0; u < u1;) {  // the rows [pa, pb) of image n
      const int64_t n = u / s.P, pa = u % s.P, pb = std::min(s.P, pa + (u1 - u));
      const float* xi = pd.image(s, in, n, buf);
      for (int64_t g = 0; g < s.G; ++g)
        for (int64_t k = 0; k < s.Kg; ++k) {
          const float* src = dout + (n * s.K + g * s.Kg + k) * s.PQ;
          float* dst = dT + g * blocks * VL + k;
          for (int64_t j = pa * s.Q; j < pb * s.Q; ++j) dst[j * ldk] = src[j];
        }
      for (int64_t g = 0; g < s.G; ++g)
        for (int64_t b = 0; b < blocks; b += 2)
          fn(part + (g * blocks + b) * bsize, bsize, std::min<int64_t>(2, blocks - b), dT + (g * blocks + b) * VL,
             ldk, xi + g * s.Cg * pd.plane, pd.offs.data(), s.CRS, pa, pb, s.Q, s.sh * pd.Wp, s.sw);
      u += pb - pa;
    }
  });
  cpu::parallel_for(s.K * s.CRS, chunks, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {  // dw[(g*Kg + b*VL + l)*CRS + e]
      const int64_t k = i / s.CRS, e = i % s.CRS, g = k / s.Kg, kk = k % s.Kg;
      const int64_t at = (g * blocks + kk / VL) * bsize + e * VL + kk % VL;
      float acc = 0.f;
      for (int64_t c = 0; c < chunks; ++c) acc += parts[c * wsize + at];  // chunk order
      dw[i] = acc;
    }
  });
}

// ---- k1 forward, Winograd F(2x2, 3x3) --------------------------------------------------
//
// For 3x3, stride-1, undilated, ungrouped layers with >= 16 channels in and out (ResNet's
// 3x3 layers): each 2x2 block of outputs ("tile", TP x TQ tiles per image) comes from a 4x4
// input patch d as Y = A^T [ (G g G^T) .* (B^T d B) ] A, so the 16 element positions xi of
// the 4x4 transformed tiles give 16 independent GEMMs
//   M[xi] (K, tiles) = U[xi] (K, C) @ V[xi] (C, tiles),  U = G g G^T,  V = B^T d B,
// with 16*K*C*tiles multiply-adds instead of 36*K*C*tiles: 2.25x fewer flops than im2col
// (ResNet 128ch 28x28: 103 instead of 231 MFLOP per image), while the GEMM itself is the same
// (our packed GEMM, B = V read in place: K <= 256 and V small). The transforms use only
// +-1 and +-1/2 (F(2x2, 3x3)): float32 error stays at the level of the direct sum.
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
//   A^T = [1 1 1 0; 0 1 -1 -1].
// Layouts: U (16, K, C) (calling thread's scratch slot 5, transformed once per call);
// V (16, C, L) and M (16, K, L) per batch of images, L = images*TP*TQ tiles, tile index
// (image, tp, tq) (slots 2 and 3 of the thread). Thread mapping: batches of images cut into
// chunks handed out to threads; the weight transform splits (k, c) over threads first.
// The input transform works on whole tile rows: each of the 4 input rows of tile row tp is
// split into even and odd columns (zero where the patch leaves the image), so every step
// after that is a contiguous, vectorisable loop over tq.
// ev[u] = x[2u], od[u] = x[2u+1] for u < n.
inline void deinterleave(float* __restrict ev, float* __restrict od, const float* __restrict x, int64_t n) {
  for (int64_t u = 0; u < n; ++u) {
    ev[u] = x[2 * u];
    od[u] = x[2 * u + 1];
  }
}
// B over the columns of n tiles (ev/od: even/odd columns): v0 = e0 - e1, v1 = o0 + e1,
// v2 = e1 - o0, v3 = o0 - o1 (e1 = ev[q + 1]...).
inline void col_bt(float* __restrict v0, float* __restrict v1, float* __restrict v2, float* __restrict v3,
                   const float* __restrict ev, const float* __restrict od, int64_t n) {
  for (int64_t q = 0; q < n; ++q) {
    v0[q] = ev[q] - ev[q + 1];
    v1[q] = od[q] + ev[q + 1];
    v2[q] = ev[q + 1] - od[q];
    v3[q] = od[q] - od[q + 1];
  }
}
// A^T over the 4 rows of n tiles: s0 = m0 + m1 + m2, s1 = m1 - m2 - m3.
inline void rows_at(float* __restrict s0, float* __restrict s1, const float* __restrict m0,
                    const float* __restrict m1, const float* __restrict m2, const float* __restrict m3,
                    int64_t n) {
  for (int64_t q = 0; q < n; ++q) {
    s0[q] = m0[q] + m1[q] + m2[q];
    s1[q] = m1[q] - m2[q] - m3[q];
  }
}
// A over the 4 columns, + bias: ya = c0 + c1 + c2 + b, yb = c1 - c2 - c3 + b.
inline void cols_at(float* __restrict ya, float* __restrict yb, const float* __restrict c0,
                    const float* __restrict c1, const float* __restrict c2, const float* __restrict c3,
                    float b, int64_t n) {
  for (int64_t q = 0; q < n; ++q) {
    ya[q] = c0[q] + c1[q] + c2[q] + b;
    yb[q] = c1[q] - c2[q] - c3[q] + b;
  }
}

// One image's transformed tiles, 16 * max(C, K) * tiles floats, must fit in 16 MiB per thread
// (the im2col path blocks large images; this one takes whole images): ResNet's 56x56 at 64
// channels is 0.8 M floats, a 224x224 image at 64 channels (12.8 M) goes to im2col.
constexpr int64_t kWinogradMaxFloats = int64_t(1) << 22;
// Tiles per batch of images (the GEMMs' n): ~192 keeps V and M (16 x 128 x 196 floats each
// for ResNet 128ch 28x28, one image) in the 2 MiB L2 between the transform and the GEMM;
// 384 (two images) measured 10-30% slower at 1 thread, alternating runs.
constexpr int64_t kWinogradTiles = 192;
bool use_winograd(const ConvShape& s) {
  if (!(s.R == 3 && s.S == 3 && s.sh == 1 && s.sw == 1 && s.dh == 1 && s.dw == 1 && s.G == 1 &&
        s.C >= 16 && s.K >= 16 && s.K <= 256 && s.ph <= 2 && s.pw <= 2))
    return false;
  const int64_t tiles = ((s.P + 1) / 2) * ((s.Q + 1) / 2);
  return 16 * std::max(s.C, s.K) * tiles <= kWinogradMaxFloats;
}

// V (16, C, L) = B^T d B for every channel and tile of images n0 .. n0+nn-1 (tile index
// (image, tp, tq), L = nn*TP*TQ). Work buffers: rows, cols 8*(TQ+1) floats each; pad, one
// zero-padded input row, 2*(TQ+1) + W + 2*pw floats, zero outside [pw, pw + W).
void wino_input(const ConvShape& s, float* V, const float* in, int64_t n0, int64_t nn, int64_t L,
                float* rows, float* cols, float* pad) {
  const int64_t C = s.C, TP = (s.P + 1) / 2, TQ = (s.Q + 1) / 2, T = TP * TQ;
  // V (16, C, L) = B^T d B for every channel and tile.
  for (int64_t i = 0; i < nn; ++i)
    for (int64_t c = 0; c < C; ++c) {
      const float* plane = in + ((n0 + i) * C + c) * s.HW;
      for (int64_t tp = 0; tp < TP; ++tp) {
        // rows[r][0 or 1][u]: input row 2tp-ph+r, column 2u-pw (even) / 2u+1-pw (odd):
        // the row goes zero-padded into pad (column x at pad[x + pw]), then splits.
        for (int64_t r = 0; r < 4; ++r) {
          float* ev = rows + (2 * r) * (TQ + 1);
          float* od = ev + (TQ + 1);
          const int64_t ih = 2 * tp - s.ph + r;
          if (ih < 0 || ih >= s.H) {
            std::fill(ev, ev + 2 * (TQ + 1), 0.f);
            continue;
          }
          std::memcpy(pad + s.pw, plane + ih * s.W, size_t(s.W) * sizeof(float));
          deinterleave(ev, od, pad, TQ + 1);
        }
        // cols = B^T over the 4 rows: z0 = d0 - d2, z1 = d1 + d2, z2 = d2 - d1, z3 = d1 - d3
        const int64_t L2 = 2 * (TQ + 1);
        const float* d0 = rows;
        const float* d1 = d0 + L2;
        const float* d2 = d1 + L2;
        const float* d3 = d2 + L2;
        float* z0 = cols;
        float* z1 = z0 + L2;
        float* z2 = z1 + L2;
        float* z3 = z2 + L2;
        for (int64_t u = 0; u < L2; ++u) {
          z0[u] = d0[u] - d2[u];
          z1[u] = d1[u] + d2[u];
          z2[u] = d2[u] - d1[u];
          z3[u] = d1[u] - d3[u];
        }
        // then B over the columns of tile tq (columns 2tq..2tq+3 = ev[tq], od[tq],
        // ev[tq+1], od[tq+1]): v0 = e0 - e1, v1 = o0 + e1, v2 = e1 - o0, v3 = o0 - o1.
        const int64_t base = i * T + tp * TQ;
        for (int64_t a = 0; a < 4; ++a) {
          const float* ev = cols + a * L2;
          const float* od = ev + (TQ + 1);
          float* v0 = V + ((a * 4 + 0) * C + c) * L + base;
          float* v1 = V + ((a * 4 + 1) * C + c) * L + base;
          float* v2 = V + ((a * 4 + 2) * C + c) * L + base;
          float* v3 = V + ((a * 4 + 3) * C + c) * L + base;
          col_bt(v0, v1, v2, v3, ev, od, TQ);
        }
      }
    }
}

void forward_winograd(const ConvShape& s, float* out, const float* in, const float* w, const float* bias) {
  const int64_t C = s.C, K = s.K, TP = (s.P + 1) / 2, TQ = (s.Q + 1) / 2, T = TP * TQ;
  // Images per batch: about kWinogradTiles tiles per GEMM, V <= 4 MiB.
  const int64_t bat = std::max<int64_t>(1, std::min<int64_t>({s.N, (kWinogradTiles + T - 1) / T, (int64_t(1) << 20) / (16 * C * T) + 1}));
  const int64_t batches = (s.N + bat - 1) / bat, Lmax = bat * T;
  float* U = cpu::scratch(size_t(16 * K * C) + 16, 5);
  cpu::parallel_for(K * C, 64, [&](int64_t e0, int64_t e1) {
    for (int64_t e = e0; e < e1; ++e) {  // e = k*C + c
      const float* g = w + e * 9;         // (3, 3)
      float t[4][3];                      // G g
      for (int j = 0; j < 3; ++j) {
        t[0][j] = g[j];
        t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
        t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
        t[3][j] = g[6 + j];
      }
      for (int i = 0; i < 4; ++i) {       // (G g) G^T
        const float u[4] = {t[i][0], 0.5f * (t[i][0] + t[i][1] + t[i][2]),
                            0.5f * (t[i][0] - t[i][1] + t[i][2]), t[i][2]};
        for (int j = 0; j < 4; ++j) U[(i * 4 + j) * K * C + e] = u[j];
      }
    }
  });
  const double flops = 2.0 * s.N * K * C * 16 * T;
  const int team = team_size(flops, batches);
  run_team(team, chunk_count(team, flops, batches), [&](int64_t t, int64_t nth) {
    int64_t b0, b1;
    split_range(batches, nth, t, b0, b1);
    float* V = cpu::scratch(size_t(16 * C * Lmax) + 16, 2);
    float* M = cpu::scratch(size_t(16 * K * Lmax) + 16, 3);
    std::vector<float> rows(size_t(8 * (TQ + 1)));  // even/odd halves of the 4 patch rows
    std::vector<float> pad(size_t(2 * (TQ + 1) + s.W + 2 * s.pw), 0.f);  // one padded input row
    std::vector<float> cols(size_t(8 * (TQ + 1)));  // the same after B^T over the rows
    for (int64_t bi = b0; bi < b1; ++bi) {
      const int64_t n0 = bi * bat, nn = std::min(bat, s.N - n0), L = nn * T;
      wino_input(s, V, in, n0, nn, L, rows.data(), cols.data(), pad.data());
      // M[xi] (K, L) = U[xi] (K, C) @ V[xi] (C, L)
      for (int64_t xi = 0; xi < 16; ++xi)
        gemm(M + xi * K * L, U + xi * K * C, V + xi * C * L, K, L, C, C, 1, L, 1, 0.f);
      // Y = A^T m A per tile, + bias: rows s0 = m0 + m1 + m2, s1 = m1 - m2 - m3, then the same
      // over the columns; tile (tp, tq) writes outputs (2tp + i, 2tq + j) inside (P, Q).
      std::vector<float> y(size_t(12 * TQ));
      for (int64_t i = 0; i < nn; ++i)
        for (int64_t k = 0; k < K; ++k) {
          float* o = out + ((n0 + i) * K + k) * s.PQ;
          const float b = bias ? bias[k] : 0.f;
          for (int64_t tp = 0; tp < TP; ++tp) {
            const float* m = M + k * L + i * T + tp * TQ;  // m + xi*K*L: element xi, TQ tiles
            float* y00 = y.data();
            float* y01 = y00 + TQ;
            float* y10 = y01 + TQ;
            float* y11 = y10 + TQ;
            float* sr = y11 + TQ;  // 8 rows: s0[j], s1[j]
            for (int64_t j = 0; j < 4; ++j)
              rows_at(sr + j * TQ, sr + (4 + j) * TQ, m + j * K * L, m + (4 + j) * K * L,
                      m + (8 + j) * K * L, m + (12 + j) * K * L, TQ);
            cols_at(y00, y01, sr, sr + TQ, sr + 2 * TQ, sr + 3 * TQ, b, TQ);
            cols_at(y10, y11, sr + 4 * TQ, sr + 5 * TQ, sr + 6 * TQ, sr + 7 * TQ, b, TQ);
            for (int64_t di = 0; di < 2; ++di) {
              const int64_t p = 2 * tp + di;
              if (p >= s.P) break;
              float* orow = o + p * s.Q;
              const float* ye = di == 0 ? y00 : y10;
              const float* yo = di == 0 ? y01 : y11;
              for (int64_t q = 0; q < s.Q / 2; ++q) {
                orow[2 * q] = ye[q];
                orow[2 * q + 1] = yo[q];
              }
              if (s.Q % 2) orow[s.Q - 1] = ye[s.Q / 2];
            }
          }
        }
    }
  });
}

// e[q] = r[2q], o[q] = r[2q+1] for q < n, zero past the row's length len.
inline void split_row(float* __restrict e, float* __restrict o, const float* __restrict r, int64_t len, int64_t n) {
  for (int64_t q = 0; q < len / 2; ++q) {
    e[q] = r[2 * q];
    o[q] = r[2 * q + 1];
  }
  for (int64_t q = len / 2; q < n; ++q) {
    e[q] = 2 * q < len ? r[2 * q] : 0.f;
    o[q] = 0.f;
  }
}
// x (4 rows x (even n, odd n)) = A applied over two rows y0 = (e0, o0), y1 = (e1, o1).
inline void rows_adt(float* __restrict x, const float* __restrict e0, const float* __restrict o0,
                     const float* __restrict e1, const float* __restrict o1, int64_t n) {
  for (int64_t q = 0; q < n; ++q) {
    x[q] = e0[q], x[n + q] = o0[q];
    x[2 * n + q] = e0[q] + e1[q], x[3 * n + q] = o0[q] + o1[q];
    x[4 * n + q] = e0[q] - e1[q], x[5 * n + q] = o0[q] - o1[q];
    x[6 * n + q] = -e1[q], x[7 * n + q] = -o1[q];
  }
}
// One row of dZ over n tiles: (xe, xe + xo, xe - xo, -xo).
inline void dz_row(float* __restrict d0, float* __restrict d1, float* __restrict d2, float* __restrict d3,
                   const float* __restrict xe, const float* __restrict xo, int64_t n) {
  for (int64_t q = 0; q < n; ++q) {
    d0[q] = xe[q];
    d1[q] = xe[q] + xo[q];
    d2[q] = xe[q] - xo[q];
    d3[q] = -xo[q];
  }
}

// backward_weight by the same transform: with Z = U .* V per tile and Y = A^T Z A,
//   dZ = A dY A^T (4x4 per tile, dY zero outside (P, Q)),
//   dU[xi] (K, C) = sum over tiles dZ[xi] (K, tiles) @ V[xi]^T (tiles, C)   (16 GEMMs),
//   dW = G^T dU G (3x3 per (k, c)).
// Thread mapping: batches of images cut into chunks handed out to threads, one partial dU
// (16, K, C) per chunk (calling thread's scratch slot 4), summed in chunk order; then the
// (k, c) pairs split over threads for G^T dU G. dbias is bias_grad's (the caller's).
void backward_weight_winograd(const ConvShape& s, float* dw, const float* dout, const float* in) {
  const int64_t C = s.C, K = s.K, TP = (s.P + 1) / 2, TQ = (s.Q + 1) / 2, T = TP * TQ;
  const int64_t bat = std::max<int64_t>(1, std::min<int64_t>({s.N, (kWinogradTiles + T - 1) / T, (int64_t(1) << 20) / (16 * C * T) + 1}));
  const int64_t batches = (s.N + bat - 1) / bat, Lmax = bat * T, usize = 16 * K * C;
  const double flops = 2.0 * s.N * K * C * 16 * T;
  const int team = team_size(flops, batches);
  const int64_t chunks = chunk_count(team, flops, batches);
  float* parts = cpu::scratch(size_t(chunks * usize) + 16, 4);
  run_team(team, chunks, [&](int64_t t, int64_t nth) {
    int64_t b0, b1;
    split_range(batches, nth, t, b0, b1);
    float* V = cpu::scratch(size_t(16 * C * Lmax) + 16, 2);
    float* D = cpu::scratch(size_t(16 * K * Lmax) + 16, 3);  // dZ (16, K, L)
    float* dU = parts + t * usize;
    std::fill(dU, dU + usize, 0.f);
    std::vector<float> rows(size_t(8 * (TQ + 1))), cols(size_t(8 * (TQ + 1)));
    std::vector<float> pad(size_t(2 * (TQ + 1) + s.W + 2 * s.pw), 0.f);
    std::vector<float> yb(size_t(12 * TQ));
    for (int64_t bi = b0; bi < b1; ++bi) {
      const int64_t n0 = bi * bat, nn = std::min(bat, s.N - n0), L = nn * T;
      wino_input(s, V, in, n0, nn, L, rows.data(), cols.data(), pad.data());
      for (int64_t i = 0; i < nn; ++i)
        for (int64_t k = 0; k < K; ++k) {
          const float* dy = dout + ((n0 + i) * K + k) * s.PQ;  // (P, Q)
          float* dk = D + k * L + i * T;                         // + xi*K*L: element xi
          for (int64_t tp = 0; tp < TP; ++tp) {
            // Even/odd columns of output rows 2tp, 2tp+1 (zero past P, Q), then the rows of
            // A dY: x0 = y0, x1 = y0 + y1, x2 = y0 - y1, x3 = -y1, each as even/odd halves;
            // then each row x -> (xe, xe + xo, xe - xo, -xo) into planes 4r .. 4r+3.
            float* e0 = yb.data();
            float* o0 = e0 + TQ;
            float* e1 = o0 + TQ;
            float* o1 = e1 + TQ;
            const float* r0 = dy + 2 * tp * s.Q;
            split_row(e0, o0, r0, s.Q, TQ);
            if (2 * tp + 1 < s.P) split_row(e1, o1, r0 + s.Q, s.Q, TQ);
            else std::fill(e1, e1 + 2 * TQ, 0.f);
            float* x = e0 + 4 * TQ;  // 4 rows x (even, odd)
            rows_adt(x, e0, o0, e1, o1, TQ);
            for (int64_t r = 0; r < 4; ++r)
              dz_row(dk + (r * 4) * K * L + tp * TQ, dk + (r * 4 + 1) * K * L + tp * TQ,
                     dk + (r * 4 + 2) * K * L + tp * TQ, dk + (r * 4 + 3) * K * L + tp * TQ,
                     x + (2 * r) * TQ, x + (2 * r + 1) * TQ, TQ);
          }
        }
      // dU[xi] (K, C) += dZ[xi] (K, L) @ V[xi]^T (L, C); V^T(p, j) = V[xi][j*L + p]
      for (int64_t xi = 0; xi < 16; ++xi)
        gemm(dU + xi * K * C, D + xi * K * L, V + xi * C * L, K, C, L, L, 1, 1, L, 1.f);
    }
  });
  cpu::parallel_for(K * C, 16 * chunks + 64, [&](int64_t e0, int64_t e1) {
    for (int64_t e = e0; e < e1; ++e) {  // e = k*C + c
      float u[16];
      for (int64_t xi = 0; xi < 16; ++xi) {
        float acc = 0.f;
        for (int64_t c = 0; c < chunks; ++c) acc += parts[c * usize + xi * K * C + e];  // chunk order
        u[xi] = acc;
      }
      // t (3, 4) = G^T u, G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]; then dw (3, 3) = t G.
      float tt[3][4];
      for (int j = 0; j < 4; ++j) {
        tt[0][j] = u[j] + 0.5f * (u[4 + j] + u[8 + j]);
        tt[1][j] = 0.5f * (u[4 + j] - u[8 + j]);
        tt[2][j] = 0.5f * (u[4 + j] + u[8 + j]) + u[12 + j];
      }
      float* g = dw + e * 9;
      for (int r = 0; r < 3; ++r) {
        g[r * 3 + 0] = tt[r][0] + 0.5f * (tt[r][1] + tt[r][2]);
        g[r * 3 + 1] = 0.5f * (tt[r][1] - tt[r][2]);
        g[r * 3 + 2] = 0.5f * (tt[r][1] + tt[r][2]) + tt[r][3];
      }
    }
  });
}

// backward_data of a 3x3 stride-1 layer is itself such a convolution: dinp (N, C, H, W) is
// dout (N, K, P, Q) correlated with w' (C, K, 3, 3), w'[c, k, r, s] = w[k, c, 2-r, 2-s], with
// padding 2 - pad (so its output is H x W again): forward_winograd with the roles swapped.
// w' lives in the calling thread's scratch slot 6.
bool use_winograd_backward_data(const ConvShape& s) {
  if (!use_winograd(s)) return false;
  ConvShape t = s;
  t.C = s.K, t.K = s.C, t.ph = 2 - s.ph, t.pw = 2 - s.pw;
  return use_winograd(t);
}

void backward_data_winograd(const ConvShape& s, float* dinp, const float* dout, const float* w) {
  ConvShape t = s;  // the forward problem: inputs dout, outputs dinp
  t.C = s.K, t.K = s.C, t.H = s.P, t.W = s.Q, t.P = s.H, t.Q = s.W;
  t.ph = 2 - s.ph, t.pw = 2 - s.pw;
  t.Cg = t.C, t.Kg = t.K, t.HW = s.PQ, t.PQ = s.HW, t.CRS = t.C * 9;
  float* wt = cpu::scratch(size_t(s.C * s.K * 9) + 16, 6);
  cpu::parallel_for(s.C * s.K, 9, [&](int64_t e0, int64_t e1) {
    for (int64_t e = e0; e < e1; ++e) {  // e = c*K + k
      const int64_t c = e / s.K, k = e % s.K;
      const float* src = w + (k * s.C + c) * 9;
      for (int64_t i = 0; i < 9; ++i) wt[e * 9 + i] = src[8 - i];
    }
  });
  forward_winograd(t, dinp, dout, wt, nullptr);
}

// Thread mapping: the N*C input planes (n, c) are cut into contiguous chunks handed out to
// threads; for a chunk's channels of group g a thread computes their rows of W_g^T @ dout_g
// (a serial GEMM, m = channels*R*S) block by block and folds them into the chunk's planes,
// so no two threads write one pixel.
void backward_data_im2col(const ConvShape& s, float* dinp, const float* dout, const float* w) {
  const bool pointwise = is_pointwise(s);
  const int64_t nb_max = col_block(s);
  const int64_t RS = s.R * s.S;
  const double flops = 2.0 * s.N * s.K * s.CRS * s.PQ;
  const int team = team_size(flops, s.N * s.C);
  run_team(team, chunk_count(team, flops, s.N * s.C), [&](int64_t t, int64_t nth) {
    int64_t u0, u1;
    split_range(s.N * s.C, nth, t, u0, u1);
    float* col = pointwise ? nullptr : cpu::scratch(size_t(s.CRS * nb_max) + 16, 2);
    for (int64_t n = u0 / std::max<int64_t>(s.C, 1); s.C > 0 && n < s.N && n * s.C < u1; ++n) {
      const int64_t ca = std::max<int64_t>(u0 - n * s.C, 0), cb = std::min<int64_t>(u1 - n * s.C, s.C);
      const float* gimg = dout + n * s.K * s.PQ;  // (K, P, Q)
      for (int64_t g = ca / s.Cg; g < s.G && g * s.Cg < cb; ++g) {
        const int64_t la = std::max(ca, g * s.Cg) - g * s.Cg, lb = std::min(cb, (g + 1) * s.Cg) - g * s.Cg;
        float* dimg = dinp + (n * s.C + g * s.Cg + la) * s.HW;  // (lb-la, H, W)
        const float* gg = gimg + g * s.Kg * s.PQ;               // (Kg, PQ)
        const float* wg = w + g * s.Kg * s.CRS;                  // (Kg, CRS)
        if (pointwise) {  // dinp rows (lb-la, HW) = W_g^T[la:lb] (lb-la, Kg) @ dout_g (Kg, HW)
          gemm(dimg, wg + la, gg, lb - la, s.PQ, s.Kg, 1, s.Cg, s.PQ, 1, 0.f);
          continue;
        }
        std::fill(dimg, dimg + (lb - la) * s.HW, 0.f);
        const int64_t rows = (lb - la) * RS;
        for (int64_t j0 = 0; j0 < s.PQ; j0 += nb_max) {
          const int64_t nb = std::min(nb_max, s.PQ - j0);
          // col (rows, nb) = W_g^T[la*RS : lb*RS] (rows, Kg) @ dout_g[:, j0:j0+nb] (Kg, nb);
          // W_g^T(i, k) = wg[k*CRS + la*RS + i]
          gemm(col, wg + la * RS, gg + j0, rows, nb, s.Kg, 1, s.CRS, s.PQ, 1, 0.f);
          col2im(dimg, col, s, lb - la, j0, nb);
        }
      }
    }
  });
}

// dst (Kg, nn*PQ) = group g's rows of dout for images n0 .. n0+nn-1 side by side (the
// batched backwards' GEMM operand: one image's (Kg, PQ) rows are PQ apart, two images' K*PQ).
void gather_dout(float* dst, const float* dout, const ConvShape& s, int64_t n0, int64_t nn, int64_t g) {
  const int64_t L = nn * s.PQ;
  for (int64_t i = 0; i < nn; ++i)
    for (int64_t k = 0; k < s.Kg; ++k)
      std::memcpy(dst + k * L + i * s.PQ, dout + ((n0 + i) * s.K + g * s.Kg + k) * s.PQ,
                  size_t(s.PQ) * sizeof(float));
}

// backward_data for small images (the forward's batching, use_batched_forward): col
// (CRS, bat*PQ) = W_g^T @ dout of `bat` images side by side, one GEMM per batch and group
// (W_g^T packed once per batch instead of once per image), then col2im into each image.
// Thread mapping: batches of images cut into chunks handed out to threads; a batch writes
// only its own images' planes.
void backward_data_batched(const ConvShape& s, float* dinp, const float* dout, const float* w) {
  const int64_t bat = std::min(s.N, (kBatchPixels + s.PQ - 1) / s.PQ);
  const int64_t batches = (s.N + bat - 1) / bat, L = bat * s.PQ;
  const double flops = 2.0 * s.N * s.K * s.CRS * s.PQ;
  const int team = team_size(flops, batches);
  run_team(team, chunk_count(team, flops, batches), [&](int64_t t, int64_t nth) {
    int64_t b0, b1;
    split_range(batches, nth, t, b0, b1);
    float* col = cpu::scratch(size_t(s.CRS * L) + 16, 2);
    float* dg = cpu::scratch(size_t(s.Kg * L) + 16, 3);
    for (int64_t bi = b0; bi < b1; ++bi) {
      const int64_t n0 = bi * bat, nn = std::min(bat, s.N - n0), len = nn * s.PQ;
      for (int64_t g = 0; g < s.G; ++g) {
        gather_dout(dg, dout, s, n0, nn, g);
        // col (CRS, len) = W_g^T (CRS, Kg) @ dg (Kg, len); W_g^T(i, k) = wg[k*CRS + i]
        gemm(col, w + g * s.Kg * s.CRS, dg, s.CRS, len, s.Kg, 1, s.CRS, len, 1, 0.f);
        for (int64_t i = 0; i < nn; ++i) {
          float* dimg = dinp + ((n0 + i) * s.C + g * s.Cg) * s.HW;  // (Cg, H, W)
          std::fill(dimg, dimg + s.Cg * s.HW, 0.f);
          col2im(dimg, col + i * s.PQ, s, s.Cg, 0, s.PQ, len);
        }
      }
    }
  });
}

// backward_weight (GEMM path) for small images: dW_g (Kg, CRS) += dout_g (Kg, bat*PQ) @
// col^T (bat*PQ, CRS) over `bat` images side by side, so each GEMM reduces over bat*PQ
// pixels instead of PQ (LeNet conv2: 512 instead of 64; every GEMM call loads and stores
// all of dW once). Thread mapping: batches cut into chunks handed out to threads, one
// partial dW per chunk, summed in chunk order.
void backward_weight_batched(const ConvShape& s, float* dw, const float* dout, const float* in) {
  const int64_t bat = std::min(s.N, (kBatchPixels + s.PQ - 1) / s.PQ);
  const int64_t batches = (s.N + bat - 1) / bat, L = bat * s.PQ;
  const int64_t wsize = s.K * s.CRS;
  const double flops = 2.0 * s.N * s.K * s.CRS * s.PQ;
  const int team = team_size(flops, batches);
  const int64_t chunks = chunk_count(team, flops, batches);
  float* extra = chunks > 1 ? cpu::scratch(size_t((chunks - 1) * wsize) + 16, 4) : nullptr;
  run_team(team, chunks, [&](int64_t t, int64_t nth) {
    int64_t b0, b1;
    split_range(batches, nth, t, b0, b1);
    float* part = t == 0 ? dw : extra + (t - 1) * wsize;
    float* col = cpu::scratch(size_t(s.CRS * L) + 16, 2);
    float* dg = cpu::scratch(size_t(s.Kg * L) + 16, 3);
    std::fill(part, part + wsize, 0.f);
    for (int64_t bi = b0; bi < b1; ++bi) {
      const int64_t n0 = bi * bat, nn = std::min(bat, s.N - n0), len = nn * s.PQ;
      for (int64_t g = 0; g < s.G; ++g) {
        gather_dout(dg, dout, s, n0, nn, g);
        for (int64_t i = 0; i < nn; ++i)
          im2col(col + i * s.PQ, in + ((n0 + i) * s.C + g * s.Cg) * s.HW, s, 0, s.PQ, len);
        // dW_g (Kg, CRS) += dg (Kg, len) @ col^T (len, CRS); col^T(p, j) = col[j*len + p]
        gemm(part + g * s.Kg * s.CRS, dg, col, s.Kg, s.CRS, len, len, 1, 1, len, 1.f);
      }
    }
  });
  if (chunks <= 1) return;
  cpu::parallel_for(wsize, chunks, [&](int64_t e0, int64_t e1) {
    for (int64_t u = 1; u < chunks; ++u) {  // chunk order: deterministic
      const float* src = extra + (u - 1) * wsize;
      for (int64_t e = e0; e < e1; ++e) dw[e] += src[e];
    }
  });
}

// Thread mapping: the N*PQ output pixels are cut into contiguous chunks as in the forward;
// a chunk's dout_g @ col^T products go into the chunk's own partial dW (dw itself for chunk
// 0), then the partials are added in chunk order with the elements of dW split over threads.
void backward_weight_im2col(const ConvShape& s, float* dw, const float* dout, const float* in) {
  const bool pointwise = is_pointwise(s);
  const int64_t nb_max = col_block(s);
  const int64_t wsize = s.K * s.CRS;
  const double flops = 2.0 * s.N * s.K * s.CRS * s.PQ;
  const int team = team_size(flops, (s.N * s.PQ + 63) / 64);
  const int64_t chunks = chunk_count(team, flops, (s.N * s.PQ + 63) / 64);
  // Chunk c's partial dW: dw itself for chunk 0, else slice c-1 of the calling thread's slot 4.
  float* extra = chunks > 1 ? cpu::scratch(size_t((chunks - 1) * wsize) + 16, 4) : nullptr;
  run_team(team, chunks, [&](int64_t t, int64_t nth) {
    int64_t u0, u1;
    split_range(s.N * s.PQ, nth, t, u0, u1);
    float* part = t == 0 ? dw : extra + (t - 1) * wsize;
    float* col = pointwise ? nullptr : cpu::scratch(size_t(s.CRS * nb_max) + 16, 2);
    std::fill(part, part + wsize, 0.f);
    for_pixel_range(s, u0, u1, [&](int64_t n, int64_t ja, int64_t jb) {
      const float* img = in + n * s.C * s.HW;
      const float* gimg = dout + n * s.K * s.PQ;
      for (int64_t g = 0; g < s.G; ++g) {
        float* dwg = part + g * s.Kg * s.CRS;         // (Kg, CRS)
        const float* gg = gimg + g * s.Kg * s.PQ;     // (Kg, PQ)
        const float* img_g = img + g * s.Cg * s.HW;  // (Cg, H, W)
        for (int64_t j0 = ja; j0 < jb; j0 += nb_max) {
          const int64_t nb = std::min(nb_max, jb - j0);
          if (pointwise) {
            // dW_g (Kg, Cg) += dout_g[:, j0:] (Kg, nb) @ img_g[:, j0:]^T; B(p, j) = img_g[j*HW + j0 + p]
            gemm(dwg, gg + j0, img_g + j0, s.Kg, s.Cg, nb, s.PQ, 1, 1, s.HW, 1.f);
          } else {
            im2col(col, img_g, s, j0, nb);
            // dW_g (Kg, CRS) += dout_g[:, j0:j0+nb] (Kg, nb) @ col^T (nb, CRS); col^T(p, j) = col[j*nb + p]
            gemm(dwg, gg + j0, col, s.Kg, s.CRS, nb, s.PQ, 1, 1, nb, 1.f);
          }
        }
      }
    });
  });
  if (chunks <= 1) return;
  cpu::parallel_for(wsize, chunks, [&](int64_t e0, int64_t e1) {
    for (int64_t u = 1; u < chunks; ++u) {  // chunk order: deterministic
      const float* src = extra + (u - 1) * wsize;
      for (int64_t e = e0; e < e1; ++e) dw[e] += src[e];
    }
  });
}

// k1 backward_weight for small weight slices: im2col + the dot-product micro-kernel
// (conv2d_kernel.inc). Thread mapping as backward_weight_im2col: chunks of the N*PQ output
// pixels; a chunk adds dout_g (Kg, pixels) x col (CRS, pixels) products into its thread's
// lane-partial dW (K*CRS*VL floats, scratch slot 3, zeroed per chunk), sums each element's
// lanes into the chunk's partial dW, and the chunks are summed in order at the end.
void backward_weight_dot(const ConvShape& s, float* dw, float* dbias, const float* dout, const float* in) {
  const auto dot = kernels().dot;
  const int64_t VL = kernels().vl;
  const bool pointwise = is_pointwise(s);
  // dbias rides along as one more column row of ones (col row CRS): dbias[k] = sum of dout
  // row k, summed while the rows are in registers instead of in a second pass over dout.
  const bool fuse_bias = dbias && !pointwise;
  const int64_t nc = s.CRS + (fuse_bias ? 1 : 0);  // columns of the product per group
  const int64_t nb_max = col_block(s);
  const int64_t wsize = s.K * nc;                   // (K, nc): dW rows, then dbias
  const double flops = 2.0 * s.N * s.K * s.CRS * s.PQ;
  // Small images (the forward's batching): `bat` images side by side, so each dot call
  // reduces over bat*PQ pixels. Per image (LeNet conv2, PQ = 100) every 4 x 6 tile loaded and
  // stored its 24 lane accumulators for 7 vector steps, the last one partial: 19 GFLOPS.
  const bool batched = !pointwise && use_batched_forward(s);
  const int64_t bat = batched ? std::min(s.N, (kBatchPixels + s.PQ - 1) / s.PQ) : 1;
  // Stride 1, larger images: no im2col at all. Over the padded image flattened row by row
  // (the flat path's view), tap (c, r, x)'s column row is the padded plane itself from
  // offset r*dh*Wp + x*dw, so for each (c, r) the S taps are b rows dw apart, contiguous
  // along the pixels; dout is widened to the padded row width with zeros (LeNet conv1 1 -> 6:
  // the 25 x 784 column matrix per image was half the time).
  // Only with >= 4 taps per kernel row: each dot call has S columns (a 3-wide tile loads 7
  // vectors per 12 FMAs; CIFAR stem C3 K64 3x3: flat 5.6 ms vs im2col 4.5 ms, 1T).
  const bool flat = !pointwise && !batched && s.sh == 1 && s.sw == 1 && s.S >= 4 && input_padding_fits(s);
  const int64_t items = batched ? (s.N + bat - 1) / bat : flat ? s.N : (s.N * s.PQ + 63) / 64;
  const int team = team_size(flops, items);
  const int64_t chunks = chunk_count(team, flops, items);
  // Chunk c's partial (K, nc) (its lanes summed): slice c of the calling thread's slot 4.
  float* parts = cpu::scratch(size_t(chunks * wsize) + 16, 4);
  run_team(team, chunks, [&](int64_t t, int64_t nth) {
    float* lanes = cpu::scratch(size_t(wsize * VL) + 16, 3);
    std::fill(lanes, lanes + wsize * VL, 0.f);
    if (batched) {
      const int64_t L = bat * s.PQ;
      float* col = cpu::scratch(size_t(nc * L) + 16, 2);
      float* dg = cpu::scratch(size_t(s.Kg * L) + 16, 5);
      int64_t b0, b1;
      split_range(items, nth, t, b0, b1);
      for (int64_t bi = b0; bi < b1; ++bi) {
        const int64_t n0 = bi * bat, nn = std::min(bat, s.N - n0), len = nn * s.PQ;
        for (int64_t g = 0; g < s.G; ++g) {
          gather_dout(dg, dout, s, n0, nn, g);
          for (int64_t i = 0; i < nn; ++i)  // image n0+i's columns at col[:, i*PQ : (i+1)*PQ]
            im2col(col + i * s.PQ, in + ((n0 + i) * s.C + g * s.Cg) * s.HW, s, 0, s.PQ, len);
          if (fuse_bias) std::fill(col + s.CRS * len, col + (s.CRS + 1) * len, 1.f);
          dot(lanes + g * s.Kg * nc * VL, dg, len, col, len, s.Kg, nc, len, nc);
        }
      }
    }
    if (flat) {
      const int64_t Wp = s.W + 2 * s.pw, plane = (s.H + 2 * s.ph) * Wp, L = s.P * Wp;
      const int64_t padn = s.Cg * plane + (s.S - 1) * s.dw;  // the last taps read past the planes
      float* pad = cpu::scratch(size_t(padn) + 16, 2);
      float* dg = cpu::scratch(size_t(s.Kg * L) + 16, 5);
      float* ones = fuse_bias ? cpu::scratch(size_t(L) + 16, 6) : nullptr;
      std::fill(pad, pad + padn, 0.f);  // borders and slack stay zero
      std::fill(dg, dg + s.Kg * L, 0.f);  // the columns past Q stay zero
      if (ones) std::fill(ones, ones + L, 1.f);
      int64_t n0, n1;
      split_range(s.N, nth, t, n0, n1);
      for (int64_t n = n0; n < n1; ++n)
        for (int64_t g = 0; g < s.G; ++g) {
          const float* img = in + (n * s.C + g * s.Cg) * s.HW;
          copy_padded(pad, plane, Wp, s.ph, s.pw, img, s.Cg, s.H, s.W);
          copy_padded(dg, L, Wp, 0, 0, dout + (n * s.K + g * s.Kg) * s.PQ, s.Kg, s.P, s.Q);
          float* lg = lanes + g * s.Kg * nc * VL;  // (Kg, nc, VL)
          // The columns past Q of a wide row pair zero dout with real pixels; 0 * inf would
          // put a NaN into taps that never see the inf, so an image holding a non-finite
          // value reduces over the valid columns of each output row instead (slower, exact).
          uint32_t worst = 0;
          for (int64_t i = 0; i < s.Cg * s.HW; ++i) {
            uint32_t b;
            std::memcpy(&b, img + i, sizeof b);
            worst = std::max(worst, b & 0x7F800000u);
          }
          const int64_t rows = worst == 0x7F800000u ? s.P : 1, len = rows == 1 ? L : s.Q;
          for (int64_t p = 0; p < rows; ++p) {
            const float* dp = dg + p * Wp;  // row p's (or all rows') dout, lda L
            for (int64_t c = 0; c < s.Cg; ++c)
              for (int64_t r = 0; r < s.R; ++r)
                dot(lg + (c * s.R + r) * s.S * VL, dp, L, pad + c * plane + (p + r * s.dh) * Wp, s.dw, s.Kg, s.S,
                    len, nc);
            if (ones) dot(lg + s.CRS * VL, dp, L, ones, 0, s.Kg, 1, len, nc);
          }
        }
    }
    int64_t u0 = 0, u1 = 0;  // the per-image path's pixels (none when batched or flat)
    if (!batched && !flat) split_range(s.N * s.PQ, nth, t, u0, u1);
    float* col = pointwise || batched || flat ? nullptr : cpu::scratch(size_t(nc * nb_max) + 16, 2);
    for_pixel_range(s, u0, u1, [&](int64_t n, int64_t ja, int64_t jb) {
      for (int64_t g = 0; g < s.G; ++g) {
        float* lg = lanes + g * s.Kg * nc * VL;                      // (Kg, nc, VL)
        const float* gg = dout + (n * s.K + g * s.Kg) * s.PQ;        // (Kg, PQ)
        const float* img_g = in + (n * s.C + g * s.Cg) * s.HW;       // (Cg, H, W)
        for (int64_t j0 = ja; j0 < jb; j0 += nb_max) {
          const int64_t nb = std::min(nb_max, jb - j0);
          if (pointwise) {  // the columns are the image rows (Cg, HW) themselves
            dot(lg, gg + j0, s.PQ, img_g + j0, s.HW, s.Kg, s.Cg, nb, nc);
          } else {
            im2col(col, img_g, s, j0, nb);
            if (fuse_bias) std::fill(col + s.CRS * nb, col + (s.CRS + 1) * nb, 1.f);
            dot(lg, gg + j0, s.PQ, col, nb, s.Kg, nc, nb, nc);
          }
        }
      }
    });
    float* part = parts + t * wsize;
    for (int64_t e = 0; e < wsize; ++e) {
      const float* l = lanes + e * VL;
      float sum = 0.f;
      for (int64_t v = 0; v < VL; ++v) sum += l[v];
      part[e] = sum;
    }
  });
  cpu::parallel_for(wsize, chunks, [&](int64_t e0, int64_t e1) {
    for (int64_t e = e0; e < e1; ++e) {
      float acc = 0.f;
      for (int64_t u = 0; u < chunks; ++u) acc += parts[u * wsize + e];  // chunk order
      const int64_t k = e / nc, j = e % nc;
      if (j < s.CRS) dw[k * s.CRS + j] = acc;
      else dbias[k] = acc;
    }
  });
}

// Whether k1's backward_weight takes the dot-product path (see the top of the file): small
// slices, except where the direct path applies (LeNet-5 conv2 6->16 5x5, N128, 1T: direct
// 0.90 ms, dot 1.71 ms; the dot path remains for slices with fewer than VL channels or 32 taps).
bool use_dot(const ConvShape& s) {
  return s.CRS <= kDotMaxCRS && !use_direct(s);
}

// dbias (K) = sum of dout over n, p, q. Thread mapping: channels k split over threads.
// Each plane is summed in kLanes independent partial sums (element j into lane j % kLanes,
// summed in a fixed order at the end): one running float sum is a chain of dependent adds
// the compiler may not reorder (4 cycles each: 0.6 ms of LeNet conv1's 1.5 ms).
void bias_grad(const ConvShape& s, float* dbias, const float* dout) {
  constexpr int64_t kLanes = 32;
  cpu::parallel_for(s.K, s.N * s.PQ, [&](int64_t k0, int64_t k1) {
    for (int64_t k = k0; k < k1; ++k) {
      double acc = 0.0;
      for (int64_t n = 0; n < s.N; ++n) {
        const float* plane = dout + (n * s.K + k) * s.PQ;
        float lane[kLanes] = {};
        int64_t j = 0;
        for (; j + kLanes <= s.PQ; j += kLanes)
          for (int64_t l = 0; l < kLanes; ++l) lane[l] += plane[j + l];
        for (int64_t l = 0; j + l < s.PQ; ++l) lane[l] += plane[j + l];
        float part = 0.f;
        for (int64_t l = 0; l < kLanes; ++l) part += lane[l];
        acc += part;
      }
      dbias[k] = float(acc);
    }
  });
}

}  // namespace

void Cpu::conv2d_forward(View out, View inp, View weight, View bias, int64_t N, int64_t C,
                         int64_t H, int64_t W, int64_t K, int64_t R, int64_t S,
                         int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w,
                         int64_t dil_h, int64_t dil_w, int64_t groups, int64_t variant) {
  const ConvShape s = checks::check_conv2d_forward(out, inp, weight, bias, N, C, H, W, K, R, S, stride_h,
                                                     stride_w, pad_h, pad_w, dil_h, dil_w, groups, variant);
  if (N * K * s.PQ == 0) return;
  const float* b = bias.data ? bias.f() : nullptr;
  if (s.variant == 0) forward_loop(s, out.f(), inp.f(), weight.f(), b);
  else if (use_winograd(s)) forward_winograd(s, out.f(), inp.f(), weight.f(), b);
  else if (use_direct(s)) forward_direct(s, out.f(), inp.f(), weight.f(), b);
  else if (use_flat_forward(s)) flat_conv(s, flat_plan(s, weight.f(), false), out.f(), inp.f(), b);
  else if (use_batched_forward(s)) forward_batched(s, out.f(), inp.f(), weight.f(), b);
  else forward_im2col(s, out.f(), inp.f(), weight.f(), b);
}

void Cpu::conv2d_backward_data(View dinp, View dout, View weight, int64_t N, int64_t C,
                               int64_t H, int64_t W, int64_t K, int64_t R, int64_t S,
                               int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w,
                               int64_t dil_h, int64_t dil_w, int64_t groups, int64_t variant) {
  const ConvShape s = checks::check_conv2d_backward_data(dinp, dout, weight, N, C, H, W, K, R, S, stride_h,
                                                           stride_w, pad_h, pad_w, dil_h, dil_w, groups,
                                                           variant);
  if (N * C * s.HW == 0) return;
  if (s.variant == 0) backward_data_loop(s, dinp.f(), dout.f(), weight.f());
  else if (use_winograd_backward_data(s)) backward_data_winograd(s, dinp.f(), dout.f(), weight.f());
  else if (use_flat_backward_data(s)) flat_conv(s, flat_plan(s, weight.f(), true), dinp.f(), dout.f(), nullptr);
  else if (use_phases_backward_data(s)) backward_data_phases(s, dinp.f(), dout.f(), weight.f());
  else if (use_batched_forward(s)) backward_data_batched(s, dinp.f(), dout.f(), weight.f());
  else backward_data_im2col(s, dinp.f(), dout.f(), weight.f());
}

void Cpu::conv2d_backward_weight(View dweight, View dbias, View dout, View inp, int64_t N,
                                 int64_t C, int64_t H, int64_t W, int64_t K, int64_t R,
                                 int64_t S, int64_t stride_h, int64_t stride_w, int64_t pad_h,
                                 int64_t pad_w, int64_t dil_h, int64_t dil_w, int64_t groups,
                                 int64_t variant) {
  const ConvShape s = checks::check_conv2d_backward_weight(dweight, dbias, dout, inp, N, C, H, W, K, R, S,
                                                             stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
                                                             groups, variant);
  const bool dot = s.variant == 1 && K * s.CRS > 0 && use_dot(s);
  if (dot && !is_pointwise(s)) {  // the dot path sums dbias in its own pass over dout
    backward_weight_dot(s, dweight.f(), dbias.data ? dbias.f() : nullptr, dout.f(), inp.f());
    return;
  }
  if (dbias.data && K > 0) bias_grad(s, dbias.f(), dout.f());
  if (K * s.CRS == 0) return;
  if (s.variant == 0) backward_weight_loop(s, dweight.f(), dout.f(), inp.f());
  else if (dot) backward_weight_dot(s, dweight.f(), nullptr, dout.f(), inp.f());
  else if (use_winograd(s)) backward_weight_winograd(s, dweight.f(), dout.f(), inp.f());
  else if (use_direct(s)) backward_weight_direct(s, dweight.f(), dout.f(), inp.f());
  else if (use_batched_forward(s)) backward_weight_batched(s, dweight.f(), dout.f(), inp.f());
  else backward_weight_im2col(s, dweight.f(), dout.f(), inp.f());
}

}  // namespace nx
