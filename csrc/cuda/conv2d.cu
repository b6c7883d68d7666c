// conv2d.cu (cuda) — 2-D convolution (cross-correlation, as PyTorch) forward, backward_data
// (also the forward of a transposed convolution) and backward_weight (+ bias gradient);
// argument checks and variant choice as csrc/cpu/conv2d.cc.
//
// Layouts (PyTorch's): inp/dinp (N, C, H, W); weight/dweight (K, C/G, R, S); bias/dbias (K);
// out/dout (N, K, P, Q). Group g maps channels [g*Cg, (g+1)*Cg) to [g*Kg, (g+1)*Kg).
//
// Variants (`variant`; -1 picks k1 unless groups > 1 with Kg < 4, e.g. depthwise, as the CPU):
//   conv2d_k0_direct  direct loops. forward: thread -> one output pixel (n, k, p, q), loops
//                     over (c, r, s). backward_data: thread -> one input pixel (n, c, h, w),
//                     a gather over (k, r, s) whose taps land on it. backward_weight: block ->
//                     one weight element (k, c, r, s), threads stride over (n, p, q), fixed-
//                     order block reduction.
//   conv2d_k1_im2col  im2col + the tiled GEMM of gemm.cu, images in chunks of nb so the column
//                     matrix stays within kColBudget floats. Column matrix col (C*R*S, nb*PQ):
//                     row (c*R + r)*S + s, column n*PQ + p*Q + q (image-major), so group g's
//                     rows are one contiguous block.
//                       forward          out[n]_g (Kg, PQ) = W_g (Kg, CgRS) @ col_g[:, n]:
//                                        one batched GEMM over the nb images (W broadcast,
//                                        stride 0), written straight into out, bias as the
//                                        GEMM's per-row bias. 1x1/stride-1/pad-0 convs use
//                                        the image itself as col (no im2col, no chunks).
//                       backward_data    dcol[:, n] = W_g^T @ dout[n]_g (batched GEMM), then
//                                        col2im as a GATHER: thread -> one input pixel, sums
//                                        its (r, s) taps in order (no atomics).
//                       backward_weight  dout chunk permuted to (K, nb*PQ), then one GEMM per
//                                        group with the inner dimension nb*PQ:
//                                        dW_g (Kg, CgRS) (+)= dout_g @ col_g^T, chunks
//                                        accumulated through beta = 1 in chunk order.
//   dbias: dout summed over (p, q) then over n with the deterministic sum_middle (reduce.cu).
// Every sum runs in an order fixed by the shapes: results are bit-reproducible.
#include <algorithm>

#include "../checks/conv2d.h"
#include "check.cuh"
#include "ops.cuh"

namespace nx {
namespace cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kColBudget = int64_t(1) << 26;  // floats (256 MiB) per column matrix
using checks::ConvShape;

#define NX_GRID_STRIDE(t, n)                                                     \
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < (n); \
       t += int64_t(gridDim.x) * blockDim.x)

// ---- conv2d_k0_direct -----------------------------------------------------------------
__global__ void direct_fwd_kernel(float* out, const float* x, const float* w, const float* bias,
                                  ConvShape s) {
  NX_GRID_STRIDE(t, s.N * s.K * s.PQ) {
    const int64_t q = t % s.Q, p = (t / s.Q) % s.P, k = (t / s.PQ) % s.K, n = t / (s.PQ * s.K);
    const int64_t g = k / s.Kg;
    const float* wk = w + k * s.CRS;  // (Cg, R, S)
    float acc = 0.f;
    for (int64_t c = 0; c < s.Cg; ++c) {
      const float* plane = x + (n * s.C + g * s.Cg + c) * s.HW;
      for (int64_t r = 0; r < s.R; ++r) {
        const int64_t h = p * s.sh - s.ph + r * s.dh;
        if (h < 0 || h >= s.H) continue;
        for (int64_t u = 0; u < s.S; ++u) {
          const int64_t wc = q * s.sw - s.pw + u * s.dw;
          if (wc < 0 || wc >= s.W) continue;
          acc = fmaf(wk[(c * s.R + r) * s.S + u], plane[h * s.W + wc], acc);
        }
      }
    }
    out[t] = acc + (bias ? bias[k] : 0.f);
  }
}

// Input pixel (n, c, h, w) gathers dout[n, k, p, q] * w[k, c, r, s] over the (k, r, s) with
// p*sh - ph + r*dh == h and q*sw - pw + s*dw == w.
__global__ void direct_bwd_data_kernel(float* dx, const float* dy, const float* w, ConvShape s) {
  NX_GRID_STRIDE(t, s.N * s.C * s.HW) {
    const int64_t wc = t % s.W, h = (t / s.W) % s.H, c = (t / s.HW) % s.C, n = t / (s.HW * s.C);
    const int64_t g = c / s.Cg, cl = c % s.Cg;
    float acc = 0.f;
    for (int64_t kl = 0; kl < s.Kg; ++kl) {
      const int64_t k = g * s.Kg + kl;
      const float* plane = dy + (n * s.K + k) * s.PQ;
      const float* wk = w + k * s.CRS + cl * s.R * s.S;
      for (int64_t r = 0; r < s.R; ++r) {
        const int64_t ph = h + s.ph - r * s.dh;
        if (ph < 0 || ph % s.sh) continue;
        const int64_t p = ph / s.sh;
        if (p >= s.P) continue;
        for (int64_t u = 0; u < s.S; ++u) {
          const int64_t qw = wc + s.pw - u * s.dw;
          if (qw < 0 || qw % s.sw) continue;
          const int64_t q = qw / s.sw;
          if (q >= s.Q) continue;
          acc = fmaf(plane[p * s.Q + q], wk[r * s.S + u], acc);
        }
      }
    }
    dx[t] = acc;
  }
}

// Block -> weight element (k, cl, r, s); threads stride over (n, p, q).
__global__ void direct_bwd_weight_kernel(float* dw, const float* dy, const float* x, ConvShape s) {
  __shared__ float red[32];
  const int64_t M = s.N * s.PQ;
  for (int64_t e = blockIdx.x; e < s.K * s.CRS; e += gridDim.x) {
    const int64_t u = e % s.S, r = (e / s.S) % s.R, cl = (e / (s.R * s.S)) % s.Cg, k = e / s.CRS;
    const int64_t c = (k / s.Kg) * s.Cg + cl;
    float acc = 0.f;
    for (int64_t j = threadIdx.x; j < M; j += blockDim.x) {
      const int64_t q = j % s.Q, p = (j / s.Q) % s.P, n = j / s.PQ;
      const int64_t h = p * s.sh - s.ph + r * s.dh, wc = q * s.sw - s.pw + u * s.dw;
      if (h < 0 || h >= s.H || wc < 0 || wc >= s.W) continue;
      acc = fmaf(dy[(n * s.K + k) * s.PQ + j % s.PQ], x[(n * s.C + c) * s.HW + h * s.W + wc], acc);
    }
    acc = block_sum(acc, red);
    if (threadIdx.x == 0) dw[e] = acc;
  }
}

// ---- conv2d_k1_im2col -----------------------------------------------------------------
// col (C*R*S, nb*PQ) for images [n0, n0+nb): thread -> one col element; consecutive
// threads take consecutive columns (q fastest), so reads along w are coalesced.
__global__ void im2col_kernel(float* col, const float* x, ConvShape s, int64_t n0, int64_t nb) {
  const int64_t L = nb * s.PQ, rows = s.C * s.R * s.S;
  NX_GRID_STRIDE(t, rows * L) {
    const int64_t row = udiv(t, L), j = t - row * L;
    const int64_t rs = udiv(row, s.S), u = row - rs * s.S, c = udiv(rs, s.R), r = rs - c * s.R;
    const int64_t jq = udiv(j, s.Q), q = j - jq * s.Q, nn = udiv(jq, s.P), p = jq - nn * s.P;
    const int64_t n = n0 + nn;
    const int64_t h = p * s.sh - s.ph + r * s.dh, wc = q * s.sw - s.pw + u * s.dw;
    col[t] = (h >= 0 && h < s.H && wc >= 0 && wc < s.W) ? x[((n * s.C + c) * s.H + h) * s.W + wc] : 0.f;
  }
}

// dx[n0+n, c, h, w] = sum over (r, s) of dcol[(c*R + r)*S + s, n*PQ + p*Q + q] for the taps
// that land on (h, w). Thread -> one input pixel of the chunk.
__global__ void col2im_kernel(float* dx, const float* dcol, ConvShape s, int64_t n0, int64_t nb) {
  const int64_t L = nb * s.PQ;
  NX_GRID_STRIDE(t, nb * s.C * s.HW) {
    const int64_t tw = udiv(t, s.W), wc = t - tw * s.W, th = udiv(tw, s.H), h = tw - th * s.H;
    const int64_t n = udiv(th, s.C), c = th - n * s.C;
    float acc = 0.f;
    for (int64_t r = 0; r < s.R; ++r) {
      const int64_t ph = h + s.ph - r * s.dh;
      if (ph < 0 || ph % s.sh) continue;
      const int64_t p = ph / s.sh;
      if (p >= s.P) continue;
      for (int64_t u = 0; u < s.S; ++u) {
        const int64_t qw = wc + s.pw - u * s.dw;
        if (qw < 0 || qw % s.sw) continue;
        const int64_t q = qw / s.sw;
        if (q >= s.Q) continue;
        acc += dcol[((c * s.R + r) * s.S + u) * L + n * s.PQ + p * s.Q + q];
      }
    }
    dx[(n0 * s.C) * s.HW + t] = acc;
  }
}

// dst (K, nb*PQ) = dout[n0:n0+nb] (nb, K, PQ) permuted. Thread -> one dst element.
__global__ void permute_kn_kernel(float* dst, const float* dy, ConvShape s, int64_t n0, int64_t nb) {
  const int64_t L = nb * s.PQ;
  NX_GRID_STRIDE(t, s.K * L) {
    const int64_t k = udiv(t, L), j = t - k * L, n = udiv(j, s.PQ), pq = j - n * s.PQ;
    dst[t] = dy[((n0 + n) * s.K + k) * s.PQ + pq];
  }
}

bool is_pointwise(const ConvShape& s) {
  return s.R == 1 && s.S == 1 && s.sh == 1 && s.sw == 1 && s.ph == 0 && s.pw == 0;
}

// Images per chunk so that (C*R*S) * nb*PQ floats fit the budget (at least 1).
int64_t chunk_images(const ConvShape& s, int64_t rows) {
  const int64_t per = std::max<int64_t>(rows * s.PQ, 1);
  return std::max<int64_t>(1, std::min<int64_t>(s.N, kColBudget / per));
}

void im2col(float* col, const float* x, const ConvShape& s, int64_t n0, int64_t nb) {
  const int64_t total = s.C * s.R * s.S * nb * s.PQ;
  NX_LAUNCH(grid_1d(total, kThreads), kThreads, im2col_kernel)(col, x, s, n0, nb);
  NX_CUDA_LAUNCH();
}

void forward_im2col(const ConvShape& s, float* out, const float* x, const float* w, const float* bias) {
  const bool pw = is_pointwise(s);
  const int64_t nbmax = pw ? s.N : chunk_images(s, s.C * s.R * s.S);
  Scratch col(pw ? 0 : sizeof(float) * size_t(s.C * s.R * s.S * nbmax * s.PQ));
  for (int64_t n0 = 0; n0 < s.N; n0 += nbmax) {
    const int64_t nb = std::min(nbmax, s.N - n0);
    const int64_t L = pw ? s.HW : nb * s.PQ;  // row stride of the column matrix
    const float* colp = pw ? x + n0 * s.C * s.HW : col.f();
    if (!pw) im2col(col.f(), x, s, n0, nb);
    for (int64_t g = 0; g < s.G; ++g) {
      GemmDesc d;
      d.batch = nb; d.m = s.Kg; d.n = s.PQ; d.k = s.CRS;
      d.a = w + g * s.Kg * s.CRS; d.as_i = s.CRS; d.as_p = 1; d.stride_a = 0;  // W_g broadcast
      d.b = colp + g * s.CRS * L; d.bs_p = L; d.bs_j = 1;
      d.stride_b = pw ? s.C * s.HW : s.PQ;                                   // image n's columns
      d.c = out + (n0 * s.K + g * s.Kg) * s.PQ; d.ldc = s.PQ; d.stride_c = s.K * s.PQ;
      d.bias_row = bias ? bias + g * s.Kg : nullptr;
      gemm(d);
    }
  }
}

void backward_data_im2col(const ConvShape& s, float* dx, const float* dy, const float* w) {
  const bool pw = is_pointwise(s);
  const int64_t nbmax = pw ? s.N : chunk_images(s, s.C * s.R * s.S);
  Scratch dcol(pw ? 0 : sizeof(float) * size_t(s.C * s.R * s.S * nbmax * s.PQ));
  for (int64_t n0 = 0; n0 < s.N; n0 += nbmax) {
    const int64_t nb = std::min(nbmax, s.N - n0);
    const int64_t L = pw ? s.HW : nb * s.PQ;
    float* colp = pw ? dx + n0 * s.C * s.HW : dcol.f();
    for (int64_t g = 0; g < s.G; ++g) {
      GemmDesc d;
      d.batch = nb; d.m = s.CRS; d.n = s.PQ; d.k = s.Kg;
      d.a = w + g * s.Kg * s.CRS; d.as_i = 1; d.as_p = s.CRS; d.stride_a = 0;  // W_g^T
      d.b = dy + (n0 * s.K + g * s.Kg) * s.PQ; d.bs_p = s.PQ; d.bs_j = 1; d.stride_b = s.K * s.PQ;
      d.c = colp + g * s.CRS * L; d.ldc = L; d.stride_c = pw ? s.C * s.HW : s.PQ;
      gemm(d);
    }
    if (!pw) {
      NX_LAUNCH(grid_1d(nb * s.C * s.HW, kThreads), kThreads, col2im_kernel)(dx, dcol.f(), s, n0, nb);
      NX_CUDA_LAUNCH();
    }
  }
}

void backward_weight_im2col(const ConvShape& s, float* dw, const float* dy, const float* x) {
  const int64_t rows = s.C * s.R * s.S;
  const int64_t nbmax = chunk_images(s, std::max(rows, s.K));
  Scratch col(sizeof(float) * size_t(rows * nbmax * s.PQ));
  Scratch dyp(nbmax > 1 ? sizeof(float) * size_t(s.K * nbmax * s.PQ) : 0);
  for (int64_t n0 = 0; n0 < s.N; n0 += nbmax) {
    const int64_t nb = std::min(nbmax, s.N - n0);
    const int64_t L = nb * s.PQ;
    im2col(col.f(), x, s, n0, nb);
    const float* a = dy + n0 * s.K * s.PQ;  // nb == 1: dout[n0] is already (K, PQ)
    if (nb > 1) {
      NX_LAUNCH(grid_1d(s.K * L, kThreads), kThreads, permute_kn_kernel)(dyp.f(), dy, s, n0, nb);
      NX_CUDA_LAUNCH();
      a = dyp.f();
    }
    for (int64_t g = 0; g < s.G; ++g) {
      GemmDesc d;
      d.m = s.Kg; d.n = s.CRS; d.k = L;
      d.a = a + g * s.Kg * L; d.as_i = L; d.as_p = 1;
      d.b = col.f() + g * s.CRS * L; d.bs_p = 1; d.bs_j = L;  // col_g^T
      d.c = dw + g * s.Kg * s.CRS; d.ldc = s.CRS;
      d.beta = n0 == 0 ? 0.f : 1.f;  // chunks accumulate in order (deterministic)
      gemm(d);
    }
  }
  if (s.N == 0) fill_f32(dw, s.K * s.CRS, 0.f);
}

void bias_grad(const ConvShape& s, float* dbias, const float* dy) {
  if (s.N * s.PQ == 0) return fill_f32(dbias, s.K, 0.f);
  Scratch planes(sizeof(float) * size_t(s.N * s.K));
  sum_middle(planes.f(), dy, s.N * s.K, s.PQ, 1);   // (N*K, PQ) -> (N*K)
  sum_middle(dbias, planes.f(), 1, s.N, s.K);       // (N, K) -> (K)
}

}  // namespace
}  // namespace cuda

using namespace cuda;

void Cuda::conv2d_forward(View out, View inp, View weight, View bias, int64_t N, int64_t C,
                          int64_t H, int64_t W, int64_t K, int64_t R, int64_t S,
                          int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w,
                          int64_t dil_h, int64_t dil_w, int64_t groups, int64_t variant) {
  const ConvShape s = checks::check_conv2d_forward(out, inp, weight, bias, N, C, H, W, K, R, S, stride_h,
                                                     stride_w, pad_h, pad_w, dil_h, dil_w, groups, variant);
  if (N * K * s.PQ == 0) return;
  if (s.variant == 0) {
    NX_LAUNCH(grid_1d(N * K * s.PQ, kThreads), kThreads, direct_fwd_kernel)(
        out.f(), inp.f(), weight.f(), bias.f(), s);
    NX_CUDA_LAUNCH();
  } else {
    forward_im2col(s, out.f(), inp.f(), weight.f(), bias.f());
  }
}

void Cuda::conv2d_backward_data(View dinp, View dout, View weight, int64_t N, int64_t C,
                                int64_t H, int64_t W, int64_t K, int64_t R, int64_t S,
                                int64_t stride_h, int64_t stride_w, int64_t pad_h, int64_t pad_w,
                                int64_t dil_h, int64_t dil_w, int64_t groups, int64_t variant) {
  const ConvShape s = checks::check_conv2d_backward_data(dinp, dout, weight, N, C, H, W, K, R, S, stride_h,
                                                           stride_w, pad_h, pad_w, dil_h, dil_w, groups,
                                                           variant);
  if (N * C * s.HW == 0) return;
  if (s.variant == 0) {
    NX_LAUNCH(grid_1d(N * C * s.HW, kThreads), kThreads, direct_bwd_data_kernel)(
        dinp.f(), dout.f(), weight.f(), s);
    NX_CUDA_LAUNCH();
  } else {
    backward_data_im2col(s, dinp.f(), dout.f(), weight.f());
  }
}

void Cuda::conv2d_backward_weight(View dweight, View dbias, View dout, View inp, int64_t N,
                                  int64_t C, int64_t H, int64_t W, int64_t K, int64_t R,
                                  int64_t S, int64_t stride_h, int64_t stride_w, int64_t pad_h,
                                  int64_t pad_w, int64_t dil_h, int64_t dil_w, int64_t groups,
                                  int64_t variant) {
  const ConvShape s = checks::check_conv2d_backward_weight(dweight, dbias, dout, inp, N, C, H, W, K, R, S,
                                                             stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
                                                             groups, variant);
  if (dbias.data && K > 0) bias_grad(s, dbias.f(), dout.f());
  if (K * s.CRS == 0) return;
  if (s.variant == 0) {
    const unsigned grid = unsigned(std::min<int64_t>(K * s.CRS, int64_t(sm_count()) * 64));
    NX_LAUNCH(grid, kThreads, direct_bwd_weight_kernel)(dweight.f(), dout.f(), inp.f(), s);
    NX_CUDA_LAUNCH();
  } else {
    backward_weight_im2col(s, dweight.f(), dout.f(), inp.f());
  }
}

}  // namespace nx
