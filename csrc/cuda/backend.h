// backend.h (cuda) — the CUDA backend: struct Cuda holds every kernel of kernel_api.inc,
// plus the device runtime the Python module needs (device queries, memory, the stream).
// Plain C++: module_cuda.cc includes it without nvcc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "../common.h"

namespace nx {

struct Cuda {
#define NX_KERNEL(name, params) static void name params;
#include "../kernel_api.inc"
#undef NX_KERNEL
};

namespace cuda {

int device_count();                 // 0 when no usable device; reason in unavailable_reason()
std::string unavailable_reason();   // "" when a device is usable
std::string device_name(int index);
int runtime_version();              // cudart version this module was built with (e.g. 13000)
void synchronize();

// Device memory (allocator.cu). alloc never returns null for bytes > 0: it throws.
void* alloc(size_t bytes);
void free(void* ptr, size_t bytes);
size_t memory_allocated();
size_t max_memory_allocated();
size_t memory_cached();
void empty_cache();

void copy_to_device(void* dst, const void* src, size_t bytes);
void copy_to_host(void* dst, const void* src, size_t bytes);

}  // namespace cuda
}  // namespace nx
