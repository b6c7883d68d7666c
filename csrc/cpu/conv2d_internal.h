// conv2d_internal.h — what the conv2d algorithm files share (internal to the CPU backend):
// the tuning constants, the small inline helpers (im2col rows, ranges, thread teams), the
// zero-padded geometry, and the functions one algorithm file calls in another. The files:
//   conv2d.cc           selection of the algorithm per call (variant -1) and the k0 loops
//   conv2d_common.cc    GEMM glue, thread teams, im2col/col2im, padding, the bias gradient
//   conv2d_im2col.cc    k1 im2col + GEMM, per image and batched across images
//   conv2d_winograd.cc  k1 Winograd F(2x2, 3x3), all three directions
//   conv2d_direct.cc    k1 direct forward/backward_weight, flat stride-1 kernel, phases
//   conv2d_dot.cc       k1 dot backward_weight for small slices
// Layouts and the variant table: conv2d.cc. Measurements: bench/CONV2D.md.
#pragma once

#include <algorithm>
#include <cstring>
#include <exception>
#include <limits>
#include <vector>

#include "../checks/conv2d.h"
#include "backend.h"
#include "conv2d_kernels.h"
#include "gemm.h"

namespace nx::conv {

using checks::ConvShape;

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

// Chunks of a k1 call: kChunksPerThread per thread, each at least ~2^21 flops, at most one
// per work item. Chunks are handed out one at a time (run_team): on this shared 2-core box
// a thread whose core is taken by another process gives its remaining chunks to the other
// thread instead of making it wait at the end (a static half/half split ran 2 threads no
// faster than 1 whenever one core was busy).
constexpr int64_t kChunksPerThread = 4;

// Forward for small images (P*Q < kBatchPixels, not pointwise): the columns of `bat` images
// sit side by side in one block col (CRS, bat*PQ), so one GEMM W_g (Kg, CRS) @ col has
// n = bat*PQ >= kBatchPixels instead of PQ (LeNet conv2: 8 images, n = 512 instead of 64):
// W_g is packed once per 8 images instead of once per image, the GEMM's 32-wide column
// panels are full, and the block falls under the GEMM's direct-B limits (read in place).
// The product goes to a tile (Kg, bat*PQ) and is copied into the images' output rows with
// the bias. Thread mapping: the batches of images are cut into chunks handed out to threads.
constexpr int64_t kBatchPixels = 512;

// One image's transformed tiles, 16 * max(C, K) * tiles floats, must fit in 16 MiB per thread
// (the im2col path blocks large images; this one takes whole images): ResNet's 56x56 at 64
// channels is 0.8 M floats, a 224x224 image at 64 channels (12.8 M) goes to im2col.
constexpr int64_t kWinogradMaxFloats = int64_t(1) << 22;

// Tiles per batch of images (the GEMMs' n): ~192 keeps V and M (16 x 128 x 196 floats each
// for ResNet 128ch 28x28, one image) in the 2 MiB L2 between the transform and the GEMM;
// 384 (two images) measured 10-30% slower at 1 thread, alternating runs.
constexpr int64_t kWinogradTiles = 192;

struct FlatPlan {
  int64_t src_ch, Hs, Ws, pt, pl;  // source: channels, padded size, top/left padding
  int64_t outk, Ho, Wo;            // output channels per group and plane size
  int64_t taps, FK, chunks;
  std::vector<int64_t> offs;
  float* w = nullptr;  // (G, chunks, taps, FK)
};

// ---- functions defined in one conv2d file and called from another --------------------

void gemm(float* c, const float* a, const float* b, int64_t m, int64_t n, int64_t k, int64_t as_i,
          int64_t as_p, int64_t bs_p, int64_t bs_j, float beta);
int team_size(double flops, int64_t max_items);
int64_t chunk_count(int team, double flops, int64_t max_items);
const cpu::Conv2dKernels& kernels();
void im2col(float* col, const float* img, const ConvShape& s, int64_t j0, int64_t nb, int64_t ld = 0);
void col2im(float* img, const float* col, const ConvShape& s, int64_t channels, int64_t j0, int64_t nb,
            int64_t ld = 0);
bool is_pointwise(const ConvShape& s);
int64_t col_block(const ConvShape& s, int64_t budget = kColBudget);
void forward_im2col(const ConvShape& s, float* out, const float* in, const float* w, const float* bias);
bool use_batched_forward(const ConvShape& s);
void forward_batched(const ConvShape& s, float* out, const float* in, const float* w, const float* bias);
bool padded_fits(const ConvShape& s, int64_t Hp, int64_t Wp, int64_t channels);
bool input_padding_fits(const ConvShape& s);
bool use_direct(const ConvShape& s);
void copy_padded(float* dst, int64_t dplane, int64_t ws, int64_t top, int64_t left, const float* src,
                 int64_t channels, int64_t h, int64_t w);
std::vector<int64_t> tap_offsets(const ConvShape& s, int64_t channels, int64_t plane, int64_t ws);
void forward_direct(const ConvShape& s, float* out, const float* in, const float* w, const float* bias);
bool use_flat_forward(const ConvShape& s);
bool use_flat_backward_data(const ConvShape& s);
FlatPlan flat_plan(const ConvShape& s, const float* w, bool backward);
void flat_conv(const ConvShape& s, const FlatPlan& f, float* out, const float* src, const float* bias);
bool use_phases_backward_data(const ConvShape& s);
void backward_data_phases(const ConvShape& s, float* dinp, const float* dout, const float* w);
void backward_weight_direct(const ConvShape& s, float* dw, const float* dout, const float* in);
bool use_winograd(const ConvShape& s);
void forward_winograd(const ConvShape& s, float* out, const float* in, const float* w, const float* bias);
void backward_weight_winograd(const ConvShape& s, float* dw, const float* dout, const float* in);
bool use_winograd_backward_data(const ConvShape& s);
void backward_data_winograd(const ConvShape& s, float* dinp, const float* dout, const float* w);
void backward_data_im2col(const ConvShape& s, float* dinp, const float* dout, const float* w);
void gather_dout(float* dst, const float* dout, const ConvShape& s, int64_t n0, int64_t nn, int64_t g);
void backward_data_batched(const ConvShape& s, float* dinp, const float* dout, const float* w);
void backward_weight_batched(const ConvShape& s, float* dw, const float* dout, const float* in);
void backward_weight_im2col(const ConvShape& s, float* dw, const float* dout, const float* in);
void backward_weight_dot(const ConvShape& s, float* dw, float* dbias, const float* dout, const float* in);
bool use_dot(const ConvShape& s);
void bias_grad(const ConvShape& s, float* dbias, const float* dout);

// ---- inline helpers ---------------------------------------------------------------------

// Columns q of an output row whose input column q*sw + off lies inside [0, W): [lo, hi).
inline void valid_cols(int64_t off, int64_t sw, int64_t W, int64_t Q, int64_t& lo, int64_t& hi) {
  lo = off >= 0 ? 0 : std::min(Q, (-off + sw - 1) / sw);
  hi = (W - 1 - off) < 0 ? 0 : std::min(Q, (W - 1 - off) / sw + 1);
  if (hi < lo) hi = lo;
}

// Split [0, total) into `parts` contiguous ranges: range t is [b, e).
inline void split_range(int64_t total, int64_t parts, int64_t t, int64_t& b, int64_t& e) {
  b = total * t / parts;
  e = total * (t + 1) / parts;
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

// d[q] += v[q] for q in [a, b): one output row of col2im, stride 1 (restrict: vectorised
// without a run-time overlap check per row).
inline void add_row(float* __restrict d, const float* __restrict v, int64_t a, int64_t b) {
  for (int64_t q = a; q < b; ++q) d[q] += v[q];
}

// Pixels (n, j) in [u0, u1) of the flattened (N, PQ) space, image by image: f(n, ja, jb).
template <class F>
void for_pixel_range(const ConvShape& s, int64_t u0, int64_t u1, F&& f) {
  for (int64_t n = u0 / s.PQ; n < s.N && n * s.PQ < u1; ++n)
    f(n, std::max<int64_t>(u0 - n * s.PQ, 0), std::min<int64_t>(u1 - n * s.PQ, s.PQ));
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

}  // namespace nx::conv
