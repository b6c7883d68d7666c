// buffer.cu — device queries, host<->device copies and a plain allocator
// (cudaMalloc/cudaFree). Every call checked.
#include <atomic>

#include "backend.h"
#include "check.cuh"

namespace nx::cuda {

namespace {
std::atomic<size_t> g_allocated{0}, g_peak{0};
}

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error so later queries report afresh
    return 0;
  }
  return n;
}

std::string unavailable_reason() {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return cudaGetErrorString(e);
  }
  return n == 0 ? "no CUDA device found" : "";
}

std::string device_name(int index) {
  int n = device_count();
  NX_CHECK(index >= 0 && index < n, "device_name: index ", index, " out of range (", n, " devices)");
  cudaDeviceProp prop;
  NX_CUDA(cudaGetDeviceProperties(&prop, index));
  return prop.name;
}

int runtime_version() { return CUDART_VERSION; }

void synchronize() { NX_CUDA(cudaDeviceSynchronize()); }

void* alloc(size_t bytes) {
  if (bytes == 0) return nullptr;
  void* p = nullptr;
  NX_CUDA(cudaMalloc(&p, bytes));
  size_t now = g_allocated += bytes;
  size_t peak = g_peak.load();
  while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {}
  return p;
}

void free(void* ptr, size_t bytes) {
  if (!ptr) return;
  g_allocated -= bytes;
  cudaFree(ptr);  // never throws from a destructor path
}

size_t memory_allocated() { return g_allocated; }
size_t max_memory_allocated() { return g_peak; }
size_t memory_cached() { return 0; }
void empty_cache() {}

void copy_to_device(void* dst, const void* src, size_t bytes) {
  if (bytes) NX_CUDA(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
}
void copy_to_host(void* dst, const void* src, size_t bytes) {
  if (bytes) NX_CUDA(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
}

}  // namespace nx::cuda
