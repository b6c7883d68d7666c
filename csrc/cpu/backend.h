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
#include <exception>
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

// One value per ISA path (a kernel function, a table of kernels); get() returns the one of
// the path isa() selects now. Every run-time ISA choice in the CPU kernels is one of these,
// so forcing a path with set_isa() reaches all of them alike.
template <class T>
struct PerIsa {
  T portable, avx2, avx512;
  const T& get() const {
    switch (isa()) {
      case Isa::Avx512: return avx512;
      case Isa::Avx2: return avx2;
      default: return portable;
    }
  }
};

// Threads of the CPU kernels: set_num_threads(n) for the whole process (every region names
// its team with num_threads(...)), else OpenMP's default (OMP_NUM_THREADS). omp_set_num_threads
// alone would set it only for the calling thread: kernels called from other Python threads
// kept the default.
int num_threads();
void set_num_threads(int n);  // n >= 1

// Run body(begin, end) over [0, n) split into contiguous chunks, one per thread, when the
// work (n * cost_per_item, in rough flops) is large enough to be worth waking threads. The
// split follows the team the runtime actually gives (fewer threads than asked inside another
// region or under OMP_DYNAMIC still cover all of [0, n)); an exception thrown by body is
// carried out of the region and rethrown (one escaping an OpenMP region would terminate).
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
  std::exception_ptr err;
#pragma omp parallel num_threads(nt)
  {
#ifdef _OPENMP
    const int t = omp_get_thread_num(), team = omp_get_num_threads();
#else
    const int t = 0, team = 1;
#endif
    const int64_t b = n * t / team, e = n * (t + 1) / team;
    if (b < e) {
      try {
        body(b, e);
      } catch (...) {
#pragma omp critical(nx_parallel_for_err)
        if (!err) err = std::current_exception();
      }
    }
  }
  if (err) std::rethrow_exception(err);
}

// Scratch memory reused across calls (one arena per thread), so hot loops never touch
// fresh pages. Returned memory is 64-byte aligned and uninitialised; a later call with the
// same slot may move it. Slots 0 and 1 belong to gemm; kernels that call gemm use 2 and up.
float* scratch(size_t floats, int slot = 0);
// Frees every scratch arena of the calling thread and of the OpenMP pool's workers (they
// grow to the largest call and are kept); returns the bytes freed. Not while kernels run.
size_t release_scratch();

}  // namespace cpu
}  // namespace nx
