// allocator.cu — the caching device allocator (the idea of PyTorch's CUDACachingAllocator,
// reduced to its core).
//
// Size bins: a request is rounded up to
//   * a multiple of 512 B when <= 1 MiB (small tensors, scratch),
//   * else one of 8 steps per power of two (2^e * (1 + j/8)), so a bin wastes < 12.5%.
// Free lists: one LIFO list of blocks per bin. free() pushes the block to its bin's list;
// alloc() pops from the bin's list, or cudaMallocs a fresh block of the bin's size. A
// training loop that allocates the same shapes every step therefore stops calling
// cudaMalloc/cudaFree after its first step.
// Safety: every kernel and copy runs on the one stream (buffer.cu), so a block freed by the
// host (its last use already enqueued) and handed out again is only touched by work enqueued
// later on the same stream: stream order keeps the two uses apart without host waits.
// Out of memory: the cache is emptied (cudaFree of every free block) and cudaMalloc retried
// once; a second failure throws OutOfMemoryError naming requested / in use / cached bytes.
// Statistics as PyTorch: memory_allocated (live blocks, rounded sizes), its peak, and
// memory_cached (live + free blocks held from the driver).
#include <mutex>
#include <unordered_map>
#include <vector>

#include "check.cuh"

#if NX_EMULATED && defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define NX_ASAN_DEVICE_MEMORY 1
#else
#define NX_ASAN_DEVICE_MEMORY 0
#endif

namespace nx::cuda {
namespace {

// Under the emulated build with AddressSanitizer, "device" memory is host memory, so ASan can
// check kernels' accesses the way compute-sanitizer does on a GPU, if it knows the
// allocator's view: a live block is addressable for the bytes asked for (the bin's rounding
// slack is poisoned, so an off-by-one store past a tensor is caught), a cached free block is
// poisoned (use after free). Kernels and copies run later on the stream, so the marks are
// enqueued on it too, in order with them.
void asan_mark(void* ptr, size_t live, size_t bin) {
#if NX_ASAN_DEVICE_MEMORY
  emu_enqueue_host(stream(), [=] {
    ASAN_UNPOISON_MEMORY_REGION(ptr, live);
    ASAN_POISON_MEMORY_REGION(static_cast<char*>(ptr) + live, bin - live);
  });
#else
  (void)ptr, (void)live, (void)bin;
#endif
}

struct Pool {
  std::mutex mu;
  std::unordered_map<size_t, std::vector<void*>> free_blocks;  // bin size -> free blocks
  std::unordered_map<void*, size_t> live;                      // ptr -> bin size
  size_t allocated = 0, peak = 0, reserved = 0;
};

// Leaked on purpose: freeing device memory during static destruction races the driver's
// own teardown; the process exit returns everything.
Pool& pool() {
  static Pool* p = new Pool;
  return *p;
}

void release_free_blocks(Pool& p) {  // caller holds p.mu
#if NX_ASAN_DEVICE_MEMORY
  cudaStreamSynchronize(stream());  // every mark has run; then hand back unpoisoned memory
  for (auto& kv : p.free_blocks)
    for (void* ptr : kv.second) ASAN_UNPOISON_MEMORY_REGION(ptr, kv.first);
#endif
  for (auto& kv : p.free_blocks) {
    for (void* ptr : kv.second) {
      cudaFree(ptr);  // implicit device sync; errors ignored (memory is gone either way)
      p.reserved -= kv.first;
    }
  }
  p.free_blocks.clear();
  cudaGetLastError();
}

std::string mib(size_t b) { return cat(b / (1024 * 1024), " MiB (", b, " bytes)"); }

}  // namespace

size_t round_size(size_t bytes) {
  constexpr size_t kSmall = size_t(1) << 20;
  if (bytes <= kSmall) return ((bytes + 511) / 512) * 512;
  size_t e = 63 - size_t(__builtin_clzll(bytes - 1));  // 2^e < bytes <= 2^(e+1)
  size_t step = (size_t(1) << e) / 8;                  // 8 bins per power of two
  return ((bytes + step - 1) / step) * step;
}

void* alloc(size_t bytes) {
  if (bytes == 0) return nullptr;
  stream();  // device initialised (reports a missing driver as RuntimeError here)
  const size_t bin = round_size(bytes);
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mu);
  void* ptr = nullptr;
  auto it = p.free_blocks.find(bin);
  if (it != p.free_blocks.end() && !it->second.empty()) {
    ptr = it->second.back();
    it->second.pop_back();
  } else {
    // A null pointer with success counts as out of memory too (HIP-CPU's hipMalloc is a
    // malloc that reports success either way).
    cudaError_t e = cudaMalloc(&ptr, bin);
    if (e == cudaSuccess && ptr == nullptr) e = cudaErrorMemoryAllocation;
    if (e == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      release_free_blocks(p);
      e = cudaMalloc(&ptr, bin);
      if (e == cudaSuccess && ptr == nullptr) e = cudaErrorMemoryAllocation;
      if (e == cudaErrorMemoryAllocation) {
        cudaGetLastError();
        throw OutOfMemoryError(cat("CUDA out of memory: tried to allocate ", mib(bin),
                                   "; in use ", mib(p.allocated), "; cached (free) ",
                                   mib(p.reserved - p.allocated), "; held from the driver ",
                                   mib(p.reserved)));
      }
    }
    NX_CUDA(e);
    p.reserved += bin;
  }
  asan_mark(ptr, bytes, bin);
  p.live[ptr] = bin;
  p.allocated += bin;
  if (p.allocated > p.peak) p.peak = p.allocated;
  return ptr;
}

void free(void* ptr, size_t) {
  if (!ptr) return;
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mu);
  auto it = p.live.find(ptr);
  if (it == p.live.end()) return;  // not ours: ignore rather than crash in a destructor
  size_t bin = it->second;
  p.live.erase(it);
  p.allocated -= bin;
  asan_mark(ptr, 0, bin);
  p.free_blocks[bin].push_back(ptr);
}

size_t memory_allocated() {
  std::lock_guard<std::mutex> lock(pool().mu);
  return pool().allocated;
}
size_t max_memory_allocated() {
  std::lock_guard<std::mutex> lock(pool().mu);
  return pool().peak;
}
size_t memory_cached() {
  std::lock_guard<std::mutex> lock(pool().mu);
  return pool().reserved;
}
void reset_peak_memory_stats() {
  std::lock_guard<std::mutex> lock(pool().mu);
  pool().peak = pool().allocated;
}
void empty_cache() {
  Pool& p = pool();
  std::lock_guard<std::mutex> lock(p.mu);
  release_free_blocks(p);
}

}  // namespace nx::cuda
