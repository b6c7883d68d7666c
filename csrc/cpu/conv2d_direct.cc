// conv2d_direct.cc (cpu) — conv2d k1 without im2col: the direct forward and backward_weight
// (output channels across the vector lanes over the zero-padded image), the flat stride-1
// kernel (pixels across the lanes) for few-channel layers and backward_data, and strided
// backward_data as stride-1 phases. The variant table and thread/scratch rules: conv2d.cc.
#include "conv2d_internal.h"

namespace nx::conv {

bool use_direct(const ConvShape& s) {
  return !is_pointwise(s) && s.CRS >= kDirectMinCRS && s.Kg >= kernels().vl && input_padding_fits(s);
}

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

namespace {

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

}  // namespace

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

namespace {

struct Phase {
  int64_t a, b, Hi, Wi, Ru, Rv, r0, x0;  // rows a + sh*i (i < Hi), columns b + sw*j (j < Wi)
  int64_t PT, PL, D, E, Hs, Ws;          // dout padding and the taps' row/column shift
  int64_t wofs;                          // this phase's packed weights (G, chunks, taps, FK)
};

}  // namespace

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

}  // namespace nx::conv
