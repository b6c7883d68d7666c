// gemm.cu (cuda) — C = act(alpha*op(A)@op(B) + beta*C + bias), batched, and its backward.
// Layouts: row-major; A (m, k) or (k, m) when trans_a; B (k, n) or (n, k) when trans_b;
// batch strides in elements (0 broadcasts). Internally every operand is read through
// element strides (ops.cuh GemmDesc), so transposes never copy.
//
// Variants:
//   gemm_k0_naive  one thread per C element, k loop from global memory (the reference path)
//   gemm_k1_tiled  128x128 block tile, BK=8 k-slices, 256 threads each owning an 8x8 register
//                  micro-tile (two 4x4 quadrants 64 apart, so shared-memory reads are float4
//                  and conflict-free); float4 global loads of each operand whose
//                  contiguous axis is 16-byte aligned, scalar guarded loads otherwise and at tails; shared tiles double-
//                  buffered (next k-slice loaded into registers while this one is computed,
//                  one __syncthreads per slice); float4 stores in the epilogue. No register
//                  spills at the 128-register cap of 2 blocks/SM (ptxas -v, sm_90).
//   gemm_k2_tiled64  the same kernel (template) with a 64x64 tile, BK=16 and 4x4 micro-
//                  tiles: 4x the blocks, for products whose 128-tile grid would leave
//                  multiprocessors idle (Linear layers at training batch sizes, LSTM steps).
//   split-K (3)    k2 over `splits` contiguous k ranges at once (grid z = batch * splits),
//                  each writing its partial C to a workspace slab; a second kernel adds the
//                  slabs in order and applies alpha/beta/biases/activation. For C with few
//                  tiles and a long k (conv weight gradients: a 64x576 C summed over 131072
//                  products gave 9 blocks, split 30 ways it gives 270).
// variant -1: k0 for tiny products (launch-bound either way); k1 when the 128-tile grid has
// a block for every multiprocessor and wastes < 30% more of its tiles than the 64-tile grid
// (a 64-row C wastes half of each 128-tile: k2 there), else k2 when the 64-tile grid has a
// block for every multiprocessor, else split-K when k allows 4 ranges of >= 128 (else k2). (The CPU has variants {0, 1, 2}; the CUDA module also accepts 3.)
// Every variant sums each C element over p in a fixed order (split-K: each range in order,
// then the ranges in order): the result does not depend on scheduling (deterministic).
#include <algorithm>

#include "../checks/gemm.h"
#include "check.cuh"
#include "ops.cuh"

namespace nx {
namespace cuda {
namespace {

// ---- gemm_k0_naive: thread -> one (b, i, j) of C, grid-stride over batch*m*n ------------
__global__ void gemm_k0_naive(GemmDesc g) {
  const int64_t total = g.batch * g.m * g.n;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < total;
       t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t j = t % g.n, i = (t / g.n) % g.m, bt = t / (g.n * g.m);
    const float* a = g.a + bt * g.stride_a + i * g.as_i;
    const float* b = g.b + bt * g.stride_b + j * g.bs_j;
    float acc = 0.f;
    for (int64_t p = 0; p < g.k; ++p) acc = fmaf(a[p * g.as_p], b[p * g.bs_p], acc);
    float* c = g.c + bt * g.stride_c + i * g.ldc + j;
    float v = g.alpha * acc;
    if (g.beta != 0.f) v += g.beta * *c;
    if (g.bias_col) v += g.bias_col[j];
    if (g.bias_row) v += g.bias_row[i];
    *c = act_fwd(g.act, v, g.act_param);
  }
}

// ---- gemm_k1_tiled (BM = 128) and gemm_k2_tiled64 (BM = 64): one template -----------
// Two tile shapes, both 256 threads (16 x 16) and BK*BM = 1024 floats per operand slice, so
// every thread loads exactly one float4 of A and one of B per k-slice:
//   k1: BM = BN = 128, BK = 8,  TM = 8 (8x8 outputs per thread, two 4x4 quadrants 64 apart)
//   k2: BM = BN = 64,  BK = 16, TM = 4 (4x4 outputs per thread)
constexpr int kThreads = 256;

// A_MK: op(A) is contiguous along k (as_p == 1, A stored (m, k)); else along m (as_i == 1).
// B_KN: op(B) is contiguous along n (bs_j == 1, B stored (k, n)); else along k (bs_p == 1).
// VA, VB: operand A's / B's base pointer and row stride along its contiguous axis allow float4
// loads, decided per operand on the 64-tile kernel (a leading dimension of 27 or 49 in one
// operand no longer makes the other's loads scalar; the 128-tile kernel keeps both or
// neither); C's float4 stores are decided at run time (the epilogue).
// Block (blockIdx.x, blockIdx.y, blockIdx.z) -> C tile (n0 = BN*x, m0 = BM*y) of batch z;
// the host splits launches so y and z stay within the grid limits.
template <int BM, bool A_MK, bool B_KN, bool VA, bool VB>
__global__ void __launch_bounds__(kThreads, 2) gemm_tiled(GemmDesc g) {
  constexpr int BN = BM, BK = 1024 / BM;  // BK*BM = 1024: one float4 per thread and operand
  constexpr int TM = BM / 16;             // outputs per thread along m and n (8 or 4)
  constexpr int QH = TM / 4;              // 4-wide quadrants per axis (2 or 1), BM/2 apart
  constexpr int KQ = BK / 4;              // float4s per row of a k-contiguous slice
  constexpr int CQ = BM / 4;              // float4s per k-row of an m/n-contiguous slice
  // Shared tiles, k-major: As[buf][kk][i], Bs[buf][kk][j]. 2 * 2 * 4 KiB = 16 KiB.
  __shared__ __align__(16) float As[2][BK][BM];
  __shared__ __align__(16) float Bs[2][BK][BN];

  const int tid = threadIdx.x;
  const int tx = tid & 15, ty = tid >> 4;  // compute mapping: 16 x 16 threads
  const int64_t m0 = int64_t(blockIdx.y) * BM, n0 = int64_t(blockIdx.x) * BN;
  // Split-K: blockIdx.z = batch * splits + split; this block sums p in [kbeg, kbeg + K).
  const int64_t bz = blockIdx.z, bt = g.splits > 1 ? bz / g.splits : bz;
  const int64_t kbeg = (bz - bt * g.splits) * g.k_chunk * (g.splits > 1);
  const int64_t K = g.splits > 1 ? min(g.k - kbeg, g.k_chunk) : g.k;
  const int64_t ktiles = (K + BK - 1) / BK;

  // Load mapping (one float4 or 4 scalars per thread per operand per k-slice):
  //   operand contiguous along k (A_MK, or B when !B_KN): thread -> row tid/KQ of the tile,
  //     k offset (tid%KQ)*4;
  //   operand contiguous along m/n: thread -> k row tid/CQ, columns (tid%CQ)*4 .. +3.
  // Each thread keeps a pointer to its first element and steps it by one k-slice per tile,
  // so the loop does no 64-bit index products. Out-of-range rows/columns read as 0.
  const int lr_row = tid / KQ, lr_k = (tid % KQ) * 4;
  const int lc_k = tid / CQ, lc_col = (tid % CQ) * 4;
  const float* pa;
  const float* pb;
  int64_t a_step, b_step;
  bool a_ok;  // A_MK: the row exists. !A_MK: unused (a_cols says how many columns exist)
  int a_cols = 0, b_cols = 0;
  bool b_ok;
  {
    const float* A = g.a + bt * g.stride_a + kbeg * g.as_p;
    const float* B = g.b + bt * g.stride_b + kbeg * g.bs_p;
    if (A_MK) {
      pa = A + (m0 + lr_row) * g.as_i + lr_k;  // element (m0+lr_row, lr_k); as_p == 1
      a_step = BK;
      a_ok = m0 + lr_row < g.m;
    } else {
      pa = A + int64_t(lc_k) * g.as_p + m0 + lc_col;  // element (m0+lc_col, lc_k); as_i == 1
      a_step = BK * g.as_p;
      a_ok = true;
      const int64_t left = g.m - (m0 + lc_col);
      a_cols = left >= 4 ? 4 : (left < 0 ? 0 : int(left));
    }
    if (B_KN) {
      pb = B + int64_t(lc_k) * g.bs_p + n0 + lc_col;  // element (lc_k, n0+lc_col); bs_j == 1
      b_step = BK * g.bs_p;
      b_ok = true;
      const int64_t left = g.n - (n0 + lc_col);
      b_cols = left >= 4 ? 4 : (left < 0 ? 0 : int(left));
    } else {
      pb = B + (n0 + lr_row) * g.bs_j + lr_k;  // element (lr_k, n0+lr_row); bs_p == 1
      b_step = BK;
      b_ok = n0 + lr_row < g.n;
    }
  }

  float ra[4], rb[4];  // next k-slice in flight, staged in registers
  auto load = [&](int64_t k0) {
    if (A_MK) {
      const int64_t kr = K - k0 - lr_k;  // valid k values from this thread's offset
      if (VA && a_ok && kr >= 4) {
        const float4 v = *reinterpret_cast<const float4*>(pa);
        ra[0] = v.x; ra[1] = v.y; ra[2] = v.z; ra[3] = v.w;
      } else {
#pragma unroll
        for (int q = 0; q < 4; ++q) ra[q] = (a_ok && q < kr) ? pa[q] : 0.f;
      }
    } else {
      const bool kok = k0 + lc_k < K;
      if (VA && kok && a_cols == 4) {
        const float4 v = *reinterpret_cast<const float4*>(pa);
        ra[0] = v.x; ra[1] = v.y; ra[2] = v.z; ra[3] = v.w;
      } else {
#pragma unroll
        for (int q = 0; q < 4; ++q) ra[q] = (kok && q < a_cols) ? pa[q] : 0.f;
      }
    }
    if (B_KN) {
      const bool kok = k0 + lc_k < K;
      if (VB && kok && b_cols == 4) {
        const float4 v = *reinterpret_cast<const float4*>(pb);
        rb[0] = v.x; rb[1] = v.y; rb[2] = v.z; rb[3] = v.w;
      } else {
#pragma unroll
        for (int q = 0; q < 4; ++q) rb[q] = (kok && q < b_cols) ? pb[q] : 0.f;
      }
    } else {
      const int64_t kr = K - k0 - lr_k;
      if (VB && b_ok && kr >= 4) {
        const float4 v = *reinterpret_cast<const float4*>(pb);
        rb[0] = v.x; rb[1] = v.y; rb[2] = v.z; rb[3] = v.w;
      } else {
#pragma unroll
        for (int q = 0; q < 4; ++q) rb[q] = (b_ok && q < kr) ? pb[q] : 0.f;
      }
    }
    pa += a_step;
    pb += b_step;
  };
  auto store = [&](int buf) {
    if (A_MK) {
#pragma unroll
      for (int q = 0; q < 4; ++q) As[buf][lr_k + q][lr_row] = ra[q];
    } else {
      *reinterpret_cast<float4*>(&As[buf][lc_k][lc_col]) = make_float4(ra[0], ra[1], ra[2], ra[3]);
    }
    if (B_KN) {
      *reinterpret_cast<float4*>(&Bs[buf][lc_k][lc_col]) = make_float4(rb[0], rb[1], rb[2], rb[3]);
    } else {
#pragma unroll
      for (int q = 0; q < 4; ++q) Bs[buf][lr_k + q][lr_row] = rb[q];
    }
  };

  float acc[TM][TM];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TM; ++j) acc[i][j] = 0.f;

  if (ktiles > 0) {
    load(0);
    store(0);
  }
  __syncthreads();  // slice 0 visible to all threads
  for (int64_t kt = 0; kt < ktiles; ++kt) {
    const int buf = int(kt & 1);
    const bool more = kt + 1 < ktiles;
    if (more) load((kt + 1) * BK);  // global loads in flight while the FMAs below run
#pragma unroll
    for (int kk = 0; kk < BK; ++kk) {
      // rows h*BM/2 + ty*4 .. +3 and cols h*BN/2 + tx*4 .. +3 for each quadrant h < QH
      // (float4 reads: the 16 tx of a warp read 256 contiguous bytes of Bs; the 2 ty read 2
      // broadcast float4s of As)
      float av[TM], bv[TM];
#pragma unroll
      for (int h = 0; h < QH; ++h) {
        const float4 a = *reinterpret_cast<const float4*>(&As[buf][kk][h * (BM / 2) + ty * 4]);
        const float4 b = *reinterpret_cast<const float4*>(&Bs[buf][kk][h * (BN / 2) + tx * 4]);
        av[h * 4 + 0] = a.x; av[h * 4 + 1] = a.y; av[h * 4 + 2] = a.z; av[h * 4 + 3] = a.w;
        bv[h * 4 + 0] = b.x; bv[h * 4 + 1] = b.y; bv[h * 4 + 2] = b.z; bv[h * 4 + 3] = b.w;
      }
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TM; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
    }
    // The other buffer was last read in iteration kt-1, which every thread finished before
    // the barrier that ended it: safe to overwrite now.
    if (more) store(buf ^ 1);
    __syncthreads();  // slice kt+1 visible; slice kt free for iteration kt+2
  }

  // Epilogue: alpha, beta (never reads C when 0), biases, activation; float4 stores when
  // the row segment is whole and aligned.
  float* C = g.c + bz * g.stride_c;  // split-K: the partial sums' workspace, one slab per z
  // (Without a vector operand the float4 store path is compiled out: with it the scalar
  // 128-tile kernel spilled 48 bytes of registers, ptxas -v sm_90.)
  const bool vec_c = (VA || VB) && (reinterpret_cast<uintptr_t>(g.c) & 15) == 0 && g.ldc % 4 == 0 &&
                     g.stride_c % 4 == 0;
#pragma unroll
  for (int ih = 0; ih < QH; ++ih)
#pragma unroll
    for (int ii = 0; ii < 4; ++ii) {
      const int64_t i = m0 + ih * (BM / 2) + ty * 4 + ii;
      if (i >= g.m) continue;
      const float brow = g.bias_row ? g.bias_row[i] : 0.f;
#pragma unroll
      for (int jh = 0; jh < QH; ++jh) {
        const int64_t j0 = n0 + jh * (BN / 2) + tx * 4;
        float v[4];
#pragma unroll
        for (int jj = 0; jj < 4; ++jj) v[jj] = g.alpha * acc[ih * 4 + ii][jh * 4 + jj];
        float* dst = C + i * g.ldc + j0;
        if (vec_c && j0 + 3 < g.n) {
          if (g.beta != 0.f) {
            const float4 o = *reinterpret_cast<const float4*>(dst);
            v[0] += g.beta * o.x; v[1] += g.beta * o.y; v[2] += g.beta * o.z; v[3] += g.beta * o.w;
          }
#pragma unroll
          for (int jj = 0; jj < 4; ++jj) {
            if (g.bias_col) v[jj] += g.bias_col[j0 + jj];
            v[jj] = act_fwd(g.act, v[jj] + brow, g.act_param);
          }
          *reinterpret_cast<float4*>(dst) = make_float4(v[0], v[1], v[2], v[3]);
        } else {
#pragma unroll
          for (int jj = 0; jj < 4; ++jj) {
            if (j0 + jj < g.n) {
              float x = v[jj];
              if (g.beta != 0.f) x += g.beta * dst[jj];
              if (g.bias_col) x += g.bias_col[j0 + jj];
              dst[jj] = act_fwd(g.act, x + brow, g.act_param);
            }
          }
        }
      }
    }
}

// One launch per (batch chunk, row-tile chunk) of at most 65535 each (grid y/z limits);
// each chunk's pointers are offset on the host (offsets are multiples of 4 floats whenever
// the strides are, so float4 alignment is preserved).
template <int BM, bool A_MK, bool B_KN>
void launch_tiled(const GemmDesc& g) {
  constexpr int BN = BM;
  const int64_t lda = A_MK ? g.as_i : g.as_p, ldb = B_KN ? g.bs_p : g.bs_j;
  const bool va = aligned16(g.a) && lda % 4 == 0 && g.stride_a % 4 == 0;
  const bool vb = aligned16(g.b) && ldb % 4 == 0 && g.stride_b % 4 == 0;
  const int64_t mt = (g.m + BM - 1) / BM, nt = (g.n + BN - 1) / BN;
  constexpr int64_t kMaxYZ = 65535;
  for (int64_t b0 = 0; b0 < g.batch; b0 += kMaxYZ)
    for (int64_t t0 = 0; t0 < mt; t0 += kMaxYZ) {
      GemmDesc h = g;
      h.batch = std::min(kMaxYZ, g.batch - b0);
      h.m = std::min(g.m - t0 * BM, kMaxYZ * BM);
      h.a = g.a + b0 * g.stride_a + t0 * BM * g.as_i;
      h.b = g.b + b0 * g.stride_b;
      h.c = g.c + b0 * g.stride_c + t0 * BM * g.ldc;
      if (g.bias_row) h.bias_row = g.bias_row + t0 * BM;
      dim3 grid(unsigned(nt), unsigned(std::min(kMaxYZ, mt - t0)), unsigned(h.batch));
      if (va && vb) {
        NX_LAUNCH(grid, kThreads, gemm_tiled<BM, A_MK, B_KN, true, true>)(h);
      } else if constexpr (BM == 64) {  // one vector operand: only the 64-tile kernel (the
        // 128-tile one spills 40-48 bytes of registers that way: ptxas -v, sm_90)
        if (va) NX_LAUNCH(grid, kThreads, gemm_tiled<BM, A_MK, B_KN, true, false>)(h);
        else if (vb) NX_LAUNCH(grid, kThreads, gemm_tiled<BM, A_MK, B_KN, false, true>)(h);
        else NX_LAUNCH(grid, kThreads, gemm_tiled<BM, A_MK, B_KN, false, false>)(h);
      } else {
        NX_LAUNCH(grid, kThreads, gemm_tiled<BM, A_MK, B_KN, false, false>)(h);
      }
      NX_CUDA_LAUNCH();
    }
}

// Split-K epilogue: C[b] (i, j) = act(alpha * sum_s W[b*splits + s] (i, j) + beta*C + biases),
// the slabs added in increasing s (a fixed order: results repeat bit for bit).
__global__ void splitk_sum_kernel(GemmDesc g, const float* w) {
  const int64_t mn = g.m * g.n, total = g.batch * mn;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < total;
       t += int64_t(gridDim.x) * blockDim.x) {
    const int64_t bt = t / mn, r = t - bt * mn, i = r / g.n, j = r - i * g.n;
    const float* src = w + bt * g.splits * mn + r;
    float acc = 0.f;
    for (int64_t s = 0; s < g.splits; ++s) acc += src[s * mn];
    float* c = g.c + bt * g.stride_c + i * g.ldc + j;
    float v = g.alpha * acc;
    if (g.beta != 0.f) v += g.beta * *c;
    if (g.bias_col) v += g.bias_col[j];
    if (g.bias_row) v += g.bias_row[i];
    *c = act_fwd(g.act, v, g.act_param);
  }
}

template <int BM>
void launch_tiled_any(const GemmDesc& g) {
  const bool a_mk = g.as_p == 1, b_kn = g.bs_j == 1;
  if (a_mk && b_kn) return launch_tiled<BM, true, true>(g);
  if (a_mk) return launch_tiled<BM, true, false>(g);
  if (b_kn) return launch_tiled<BM, false, true>(g);
  return launch_tiled<BM, false, false>(g);
}

// Split-K on the 64-tile kernel: the products whose C has too few tiles to occupy the GPU but
// a long k (weight gradients: C (K, C*R*S) summed over N*P*Q; bias-free Linear backward).
// Splits so tiles * splits is about two blocks per multiprocessor, each split >= 128 of k (a
// multiple of 16, so float4 loads stay aligned), at least 4 of them (fewer do not pay for the
// second launch: an LSTM step's 64x1024x256 product would split in 2), the workspace at most
// 2^26 floats, and batch * splits within one launch's grid z.
int64_t split_count(const GemmDesc& g, int64_t& chunk) {
  const int64_t tiles = ((g.m + 63) / 64) * ((g.n + 63) / 64) * g.batch;
  int64_t s = std::min<int64_t>((2 * sm_count() + tiles - 1) / tiles, g.k / 128);
  s = std::min<int64_t>(s, (int64_t(1) << 26) / std::max<int64_t>(1, g.batch * g.m * g.n));
  s = std::min<int64_t>(s, 65535 / g.batch);  // grid z = batch * splits in one launch
  if (s < 4) return 1;
  chunk = ((g.k + s - 1) / s + 15) / 16 * 16;
  return (g.k + chunk - 1) / chunk;
}

void gemm_split_k(const GemmDesc& g, int64_t splits, int64_t chunk) {
  Scratch w(sizeof(float) * size_t(g.batch * splits * g.m * g.n));
  GemmDesc h = g;  // the partial products: alpha 1, no beta/bias/activation, slab per z
  h.c = w.f();
  h.ldc = g.n;
  h.stride_c = g.m * g.n;
  h.alpha = 1.f;
  h.beta = 0.f;
  h.bias_col = h.bias_row = nullptr;
  h.act = ACT_NONE;
  h.splits = splits;
  h.k_chunk = chunk;
  h.batch = g.batch * splits;  // grid z; the kernel recovers the batch index as z / splits
  launch_tiled_any<64>(h);
  const int threads = 256;
  GemmDesc e = g;  // the epilogue: g's output, scalars and biases over `splits` slabs
  e.splits = splits;
  NX_LAUNCH(grid_1d(g.batch * g.m * g.n, threads), threads, splitk_sum_kernel)(e, w.f());
  NX_CUDA_LAUNCH();
}

}  // namespace

void gemm(const GemmDesc& g, int64_t variant) {
  if (g.batch == 0 || g.m == 0 || g.n == 0) return;
  const bool a_mk = g.as_p == 1, a_km = g.as_i == 1, b_kn = g.bs_j == 1, b_nk = g.bs_p == 1;
  if (variant == -1) {
    // Tiny: one naive pass. Otherwise the 128-tile kernel, unless its grid would leave most
    // multiprocessors idle (e.g. a batch-64 Linear layer), where 4x more 64-tiles fill them.
    // Few 64-tiles and a long k: split k as well (variant 3).
    const double tiles128 = double((g.m + 127) / 128) * double((g.n + 127) / 128) * double(g.batch);
    const double tiles64 = double((g.m + 63) / 64) * double((g.n + 63) / 64) * double(g.batch);
    // The share of a tile grid's outputs that fall outside C (computed, then dropped): a
    // 64-row C (a 64-channel conv) wastes half of every 128-tile and none of the 64-tiles.
    const double useful = double(g.m) * double(g.n) * double(g.batch);
    const double waste128 = 1.0 - useful / (tiles128 * 128.0 * 128.0);
    const double waste64 = 1.0 - useful / (tiles64 * 64.0 * 64.0);
    if (double(g.m) * g.n * g.k * g.batch < 32768.0) variant = 0;
    else if (tiles128 >= double(sm_count()) && waste128 - waste64 < 0.3) variant = 1;
    else if (tiles64 >= double(sm_count())) variant = 2;
    else variant = 3;  // split-K, or k2 when k is too short to split (split_count below)
  }
  if (variant >= 1 && (a_mk || a_km) && (b_kn || b_nk)) {
    if (variant == 1) return launch_tiled_any<128>(g);
    int64_t chunk = 0;
    const int64_t splits = variant == 3 ? split_count(g, chunk) : 1;
    if (splits > 1) return gemm_split_k(g, splits, chunk);
    return launch_tiled_any<64>(g);
  }
  const int threads = 256;
  NX_LAUNCH(grid_1d(g.batch * g.m * g.n, threads), threads, gemm_k0_naive)(g);
  NX_CUDA_LAUNCH();
}

GemmDesc gemm_desc(float* c, const float* a, const float* b, int64_t m, int64_t n, int64_t k,
                   bool ta, bool tb, float alpha, float beta) {
  GemmDesc g;
  g.c = c; g.a = a; g.b = b;
  g.m = m; g.n = n; g.k = k;
  g.as_i = ta ? 1 : k; g.as_p = ta ? m : 1;  // A (m,k): [i*k + p]; stored (k,m): [p*m + i]
  g.bs_p = tb ? 1 : n; g.bs_j = tb ? k : 1;  // B (k,n): [p*n + j]; stored (n,k): [j*k + p]
  g.ldc = n;
  g.alpha = alpha; g.beta = beta;
  return g;
}

}  // namespace cuda

void Cuda::gemm_forward(View c, View a, View b, View bias, int64_t batch, int64_t m, int64_t n,
                        int64_t k, bool trans_a, bool trans_b, int64_t stride_a,
                        int64_t stride_b, int64_t stride_c, float alpha, float beta,
                        int64_t act, float act_param, int64_t variant) {
  checks::check_gemm_forward(c, a, b, bias, batch, m, n, k, trans_a, trans_b, stride_a, stride_b,
                             stride_c, alpha, beta, act, act_param, variant, 3);
  cuda::GemmDesc g = cuda::gemm_desc(c.f(), a.f(), b.f(), m, n, k, trans_a, trans_b, alpha, beta);
  g.bias_col = bias.f();
  g.batch = batch;
  g.stride_a = stride_a; g.stride_b = stride_b; g.stride_c = stride_c;
  g.act = act; g.act_param = act_param;
  cuda::gemm(g, variant);
}

void Cuda::gemm_backward(View da, View db, View dbias, View dc, View a, View b, int64_t m,
                         int64_t n, int64_t k, bool trans_a, bool trans_b, int64_t variant) {
  checks::check_gemm_backward(da, db, dbias, dc, a, b, m, n, k, trans_a, trans_b, variant, 3);
  if (da.data && m * k > 0) {
    // dA (as stored): !trans_a: (m,k) = dC (m,n) @ B^T; trans_a: (k,m) = op(B) (k,n) @ dC^T.
    if (!trans_a) cuda::gemm(cuda::gemm_desc(da.f(), dc.f(), b.f(), m, k, n, false, !trans_b), variant);
    else cuda::gemm(cuda::gemm_desc(da.f(), b.f(), dc.f(), k, m, n, trans_b, true), variant);
  }
  if (db.data && k * n > 0) {
    // dB (as stored): !trans_b: (k,n) = op(A)^T (k,m) @ dC; trans_b: (n,k) = dC^T @ op(A).
    if (!trans_b) cuda::gemm(cuda::gemm_desc(db.f(), a.f(), dc.f(), k, n, m, !trans_a, false), variant);
    else cuda::gemm(cuda::gemm_desc(db.f(), dc.f(), a.f(), n, k, m, true, trans_a), variant);
  }
  if (dbias.data && n > 0) cuda::sum_middle(dbias.f(), dc.f(), 1, m, n);
}

}  // namespace nx
