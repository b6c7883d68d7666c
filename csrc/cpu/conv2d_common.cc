// conv2d_common.cc (cpu) — what several conv2d algorithms use: GEMM calls on the path in use,
// thread teams, im2col/col2im, the zero-padded image, and the bias gradient.
#include "conv2d_internal.h"

namespace nx::conv {

namespace {

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

}  // namespace

// C (m, n) = alpha * A @ B + beta * C with A(i, p) = a[i*as_i + p*as_p], B(p, j) = b[p*bs_p + j*bs_j].
void gemm(float* c, const float* a, const float* b, int64_t m, int64_t n, int64_t k, int64_t as_i,
          int64_t as_p, int64_t bs_p, int64_t bs_j, float beta) {
  cpu::GemmArgs g{c, a, b, nullptr, m, n, k, as_i, as_p, bs_p, bs_j, 1.f, beta, ACT_NONE, 0.f};
  gemm_run(g);
}

// Threads for a k1 call: one per 2^18 flops of work (about what the GEMM itself wants),
// at most one per `max_items` work item, at most the OpenMP thread count.
int team_size(double flops, int64_t max_items) {
  const double by_work = std::max(1.0, flops / double(1 << 18));
  return int(std::max<int64_t>(1, std::min<int64_t>({int64_t(cpu::num_threads()),
                                                       int64_t(std::min(by_work, 1e9)), max_items})));
}

int64_t chunk_count(int team, double flops, int64_t max_items) {
  if (team <= 1) return 1;
  const double by_work = std::min(1e9, std::max(1.0, flops / double(1 << 21)));
  return std::max<int64_t>(team, std::min<int64_t>({team * kChunksPerThread, int64_t(by_work), max_items}));
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

// col (CRS, nb) = the columns of img (C, H, W) (one row per tap (c, r, s)) for output pixels
// [j0, j0 + nb). Thread mapping: rows (c, r, s) split over threads (parallel_for).
// Row stride of col: ld (nb when 0; the batched forward puts several images side by side).
void im2col(float* col, const float* img, const ConvShape& s, int64_t j0, int64_t nb, int64_t ld) {
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

namespace {

// col2im for column stride 1 and whole output rows [p0, p0 + rows): per channel and tap, the
// output rows whose input row is inside the image and the columns inside it are worked out
// once (valid_cols), then every row is one d[q] += v[q] run. (A loop that re-derived them per
// row and per tap cost more than the adds on LeNet conv2's 10-float rows: its bookkeeping,
// stack spills and a division per tap took 54% of a 128-image backward_data, the GEMM 37%.)
void col2im_rows(float* img, const float* col, const ConvShape& s, int64_t channels, int64_t p0,
                 int64_t rows, int64_t ld) {
  const int64_t W = s.W, Q = s.Q, HW = s.HW;
  cpu::parallel_for(channels, s.R * s.S * rows * Q, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      float* plane = img + c * HW;
      for (int64_t r = 0; r < s.R; ++r) {
        const int64_t hoff = r * s.dh - s.ph;  // input row of output row p: p*sh + hoff
        int64_t plo, phi;
        valid_cols(hoff, s.sh, s.H, p0 + rows, plo, phi);
        const int64_t pa = std::max(p0, plo), pb = phi;
        if (pa >= pb) continue;
        for (int64_t x = 0; x < s.S; ++x) {
          const int64_t woff = x * s.dw - s.pw;
          int64_t qlo, qhi;
          valid_cols(woff, 1, W, Q, qlo, qhi);
          const int64_t n = qhi - qlo;
          if (n <= 0) continue;
          const float* src = col + ((c * s.R + r) * s.S + x) * ld + (pa - p0) * Q + qlo;
          float* dst = plane + (pa * s.sh + hoff) * W + woff + qlo;
          for (int64_t p = pa; p < pb; ++p, src += Q, dst += s.sh * W) add_row(dst, src, 0, n);
        }
      }
    }
  });
}

}  // namespace

// img (channels, H, W) += col (channels*R*S, nb) folded back onto the image (the adjoint
// of im2col). Thread mapping: channels split over threads, so no two threads add to one pixel.
// Row stride of col: ld (nb when 0). Output row p and its first column step along the
// block instead of being divided out of j per output row.
void col2im(float* img, const float* col, const ConvShape& s, int64_t channels, int64_t j0, int64_t nb,
            int64_t ld) {
  if (ld == 0) ld = nb;
  const int64_t p_first = j0 / s.Q, q_first = j0 % s.Q;
  if (s.sw == 1 && q_first == 0 && nb % s.Q == 0) {  // whole output rows
    col2im_rows(img, col, s, channels, p_first, nb / s.Q, ld);
    return;
  }
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
int64_t col_block(const ConvShape& s, int64_t budget) {
  if (s.CRS * s.PQ <= budget) return s.PQ;
  int64_t nb = std::max<int64_t>(64, budget / std::max<int64_t>(s.CRS, 1)) / 64 * 64;
  return std::min(nb, s.PQ);
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

}  // namespace nx::conv
