// conv2d_dot.cc (cpu) — conv2d k1 backward_weight for small slices (C/g*R*S <= kDotMaxCRS):
// the ISA dot kernel reduces over the pixels itself, dbias as one more column. The variant
// table and thread/scratch rules: conv2d.cc.
#include "conv2d_internal.h"

namespace nx::conv {

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

}  // namespace nx::conv
