// backend.h (cpu) — the CPU backend: struct Cpu holds every kernel of kernel_api.inc, plus
// the helpers the kernel files share: OpenMP thread count, the ISA chosen at run time, and
// a parallel loop over blocks.
//
// ISA paths: code that uses AVX-512 or AVX2 lives in translation units compiled with those
// flags (gemm_avx512.cc, gemm_avx2.cc, ...); the portable path is compiled for baseline
// x86-64. isa() picks the best the CPU supports; set_isa() lets tests force each path.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "../common.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace nx {

struct Cpu {
#define NX_KERNEL(name, params) static void name params;
#include "../kernel_api.inc"
#undef NX_KERNEL
};

namespace cpu {

enum class Isa : int { Portable = 0, Avx2 = 1, Avx512 = 2 };
const char* isa_name(Isa isa);
Isa isa_supported();          // best path this CPU can run
Isa isa();                    // the path kernels use now (<= supported)
void set_isa(Isa isa);        // ValueError when the CPU cannot run it

inline int num_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

// Run body(begin, end) over [0, n) split into contiguous chunks, one per thread, when the
// work (n * cost_per_item, in rough flops) is large enough to be worth waking threads.
template <class F>
void parallel_for(int64_t n, int64_t cost_per_item, F&& body) {
  if (n <= 0) return;
  const int64_t work = n * (cost_per_item > 0 ? cost_per_item : 1);
  int nt = num_threads();
  if (nt <= 1 || work < (1 << 15) || n == 1) {
    body(int64_t(0), n);
    return;
  }
  if (nt > n) nt = static_cast<int>(n);
#pragma omp parallel num_threads(nt)
  {
#ifdef _OPENMP
    int t = omp_get_thread_num();
#else
    int t = 0;
#endif
    int64_t b = n * t / nt, e = n * (t + 1) / nt;
    if (b < e) body(b, e);
  }
}

// Scratch memory reused across calls (one arena per thread), so hot loops never touch
// fresh pages. Returned memory is 64-byte aligned and uninitialised; a later call with the
// same slot may move it. Slots 0 and 1 belong to gemm; kernels that call gemm use 2 and up.
float* scratch(size_t floats, int slot = 0);

}  // namespace cpu
}  // namespace nx
