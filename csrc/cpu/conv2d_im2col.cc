// conv2d_im2col.cc (cpu) — conv2d k1 by im2col + our packed GEMM: per image and group
// (forward_im2col, backward_data_im2col, backward_weight_im2col), and with the columns of
// several small images side by side (forward_batched, backward_data_batched,
// backward_weight_batched). The variant table and thread/scratch rules: conv2d.cc.
#include "conv2d_internal.h"

namespace nx::conv {

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

// The batched paths' work split: the N images cut into batches of `bat` side by side (one GEMM
// of up to L = bat*PQ columns each), batches cut into chunks handed out to threads. run calls
// begin(t) once per thread, then body(t, n0, nn, col, buf) for each of its batches (images
// n0 .. n0+nn-1) with the thread's scratch col (CRS x L) and buf (Kg x L).
struct ImageBatches {
  const ConvShape& s;
  int64_t bat, batches, L, chunks;
  int team;
  explicit ImageBatches(const ConvShape& sh) : s(sh) {
    bat = std::min(s.N, (kBatchPixels + s.PQ - 1) / s.PQ);
    batches = (s.N + bat - 1) / bat;
    L = bat * s.PQ;
    const double flops = 2.0 * s.N * s.K * s.CRS * s.PQ;
    team = team_size(flops, batches);
    chunks = chunk_count(team, flops, batches);
  }
  template <class Begin, class Body>
  void run(Begin&& begin, Body&& body) const {
    run_team(team, chunks, [&](int64_t t, int64_t nth) {
      int64_t b0, b1;
      split_range(batches, nth, t, b0, b1);
      float* col = cpu::scratch(size_t(s.CRS * L) + 16, 2);
      float* buf = cpu::scratch(size_t(s.Kg * L) + 16, 3);
      begin(t);
      for (int64_t bi = b0; bi < b1; ++bi) body(t, bi * bat, std::min(bat, s.N - bi * bat), col, buf);
    });
  }
};

bool use_batched_forward(const ConvShape& s) {
  return !is_pointwise(s) && s.PQ < kBatchPixels / 2 && s.N > 1 && s.CRS * kBatchPixels <= kFwdColBudget;
}

void forward_batched(const ConvShape& s, float* out, const float* in, const float* w, const float* bias) {
  ImageBatches(s).run([](int64_t) {}, [&](int64_t, int64_t n0, int64_t nn, float* col, float* tile) {
    const int64_t len = nn * s.PQ;
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
  });
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
  ImageBatches(s).run([](int64_t) {}, [&](int64_t, int64_t n0, int64_t nn, float* col, float* dg) {
    const int64_t len = nn * s.PQ;
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
  });
}

// backward_weight (GEMM path) for small images: dW_g (Kg, CRS) += dout_g (Kg, bat*PQ) @
// col^T (bat*PQ, CRS) over `bat` images side by side, so each GEMM reduces over bat*PQ
// pixels instead of PQ (LeNet conv2: 512 instead of 64; every GEMM call loads and stores
// all of dW once). Thread mapping: batches cut into chunks handed out to threads, one
// partial dW per chunk, summed in chunk order.
void backward_weight_batched(const ConvShape& s, float* dw, const float* dout, const float* in) {
  const ImageBatches ib(s);
  const int64_t wsize = s.K * s.CRS, chunks = ib.chunks;
  float* extra = chunks > 1 ? cpu::scratch(size_t((chunks - 1) * wsize) + 16, 4) : nullptr;
  const auto part_of = [&](int64_t t) { return t == 0 ? dw : extra + (t - 1) * wsize; };
  ib.run([&](int64_t t) { std::fill(part_of(t), part_of(t) + wsize, 0.f); },
         [&](int64_t t, int64_t n0, int64_t nn, float* col, float* dg) {
           const int64_t len = nn * s.PQ;
           for (int64_t g = 0; g < s.G; ++g) {
             gather_dout(dg, dout, s, n0, nn, g);
             for (int64_t i = 0; i < nn; ++i)
               im2col(col + i * s.PQ, in + ((n0 + i) * s.C + g * s.Cg) * s.HW, s, 0, s.PQ, len);
             // dW_g (Kg, CRS) += dg (Kg, len) @ col^T (len, CRS); col^T(p, j) = col[j*len + p]
             gemm(part_of(t) + g * s.Kg * s.CRS, dg, col, s.Kg, s.CRS, len, len, 1, 1, len, 1.f);
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

}  // namespace nx::conv
