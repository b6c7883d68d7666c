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
// Measurements and the history of each path: bench/CONV2D.md.
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
#include "conv2d_internal.h"

namespace nx::conv {
namespace {

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

}  // namespace
}  // namespace nx::conv

namespace nx {
using namespace conv;

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
