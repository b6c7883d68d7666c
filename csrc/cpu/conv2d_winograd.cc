// conv2d_winograd.cc (cpu) — conv2d k1 by Winograd F(2x2, 3x3) for 3x3 stride-1 layers with
// >= 16 channels: 16 GEMMs per direction over transformed tiles. The variant table and
// thread/scratch rules: conv2d.cc.
#include "conv2d_internal.h"

namespace nx::conv {

namespace {

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

}  // namespace

bool use_winograd(const ConvShape& s) {
  if (!(s.R == 3 && s.S == 3 && s.sh == 1 && s.sw == 1 && s.dh == 1 && s.dw == 1 && s.G == 1 &&
        s.C >= 16 && s.K >= 16 && s.K <= 256 && s.ph <= 2 && s.pw <= 2))
    return false;
  const int64_t tiles = ((s.P + 1) / 2) * ((s.Q + 1) / 2);
  return 16 * std::max(s.C, s.K) * tiles <= kWinogradMaxFloats;
}

namespace {

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

}  // namespace

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

namespace {

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

}  // namespace

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

}  // namespace nx::conv
