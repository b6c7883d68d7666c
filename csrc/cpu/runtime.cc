// runtime.cc (cpu) — run-time ISA choice and the per-thread scratch arenas.
#include <atomic>
#include <cstdlib>
#include <memory>

#include "backend.h"

namespace nx::cpu {

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    default: return "portable";
  }
}

Isa isa_supported() {
#if defined(__x86_64__) || defined(__i386__)
  static const Isa best = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return Isa::Avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::Avx2;
    return Isa::Portable;
  }();
  return best;
#else
  return Isa::Portable;
#endif
}

// Atomic: set_isa() may run while other threads' kernels read the path (relaxed is enough,
// any value they see is a path this CPU can run).
static std::atomic<Isa> g_isa{isa_supported()};

Isa isa() { return g_isa.load(std::memory_order_relaxed); }

void set_isa(Isa want) {
  NX_CHECK(int(want) >= 0 && int(want) <= int(isa_supported()), "set_isa: this CPU supports up to '",
           isa_name(isa_supported()), "', cannot use '", isa_name(want), "'");
  g_isa.store(want, std::memory_order_relaxed);
}

namespace {
std::atomic<int> g_threads{0};  // 0: not set, OpenMP's default
}  // namespace

int num_threads() {
#ifdef _OPENMP
  const int n = g_threads.load(std::memory_order_relaxed);
  return n > 0 ? n : omp_get_max_threads();
#else
  return 1;
#endif
}

void set_num_threads(int n) {
  NX_CHECK(n >= 1, "set_num_threads: n must be >= 1, got ", n);
  g_threads.store(n, std::memory_order_relaxed);
}

namespace {
struct Arena {
  float* ptr = nullptr;
  size_t cap = 0;
  ~Arena() { std::free(ptr); }
};
thread_local Arena arenas[8];
}  // namespace

size_t release_scratch() {
  size_t freed = 0;
  const auto release_mine = [&freed] {
    size_t mine = 0;
    for (Arena& a : arenas) {
      mine += a.cap * sizeof(float);
      std::free(a.ptr);
      a.ptr = nullptr;
      a.cap = 0;
    }
#pragma omp atomic
    freed += mine;
  };
  release_mine();
  // The pool's workers hold arenas of their own: each frees its own in one region (a team
  // of the current size: the threads that ran the kernels).
#pragma omp parallel num_threads(num_threads())
  {
#ifdef _OPENMP
    if (omp_get_thread_num() != 0) release_mine();
#endif
  }
  return freed;
}

float* scratch(size_t floats, int slot) {
  NX_CHECK(slot >= 0 && slot < 8, "scratch: slot ", slot, " out of range");
  Arena& a = arenas[slot];
  if (a.cap < floats) {
    std::free(a.ptr);
    size_t bytes = ((floats * sizeof(float) + 63) / 64) * 64;
    a.ptr = static_cast<float*>(std::aligned_alloc(64, bytes));
    if (!a.ptr) { a.cap = 0; throw std::bad_alloc(); }
    a.cap = floats;
  }
  return a.ptr;
}

}  // namespace nx::cpu
