// backend.h (cuda) — the CUDA backend: struct Cuda holds every kernel of kernel_api.inc,
// plus the device runtime the Python module needs (device queries, the caching allocator,
// the stream). Plain C++: module_cuda.cc includes it without nvcc.
//
// Execution model: one stream per process (device 0), created lazily; every kernel and
// copy is enqueued on it asynchronously. The host waits only where it reads device memory
// (copy_to_host, synchronize); kernels that find bad data (indices, targets) record it on
// the device and those waits raise it (deferred device errors, check.cuh).
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
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

// Device memory ran out even after the allocator's cache was freed and the allocation was
// retried. Python sees neuraxon.cuda.OutOfMemoryError (a RuntimeError subclass).
struct OutOfMemoryError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

int device_count();                 // 0 when no usable device; reason in unavailable_reason()
std::string unavailable_reason();   // "" when a device is usable
std::string device_name(int index);
int runtime_version();              // cudart version this module was built with (e.g. 13000)
int clock_khz(int index);           // the multiprocessors' peak clock (cudaDevAttrClockRate)
void synchronize();                 // waits for the stream (all work enqueued so far)
// Every host wait on the stream goes through wait_stream(), which counts it: tests measure
// the host syncs of a training step with host_sync_count() (they stall the pipeline).
void wait_stream();
int64_t host_sync_count();

// The launch log: while on (set_launch_log(true), which also clears it), every kernel launch
// appends its kernel (the launch's source text), grid and threads per block.
struct LaunchRecord {
  std::string kernel;
  unsigned grid_x, grid_y, grid_z, threads;
};
// dry (emulated device only): record the launches without running them, for the geometry
// report of shapes too large to emulate (outputs are then left unwritten).
void set_launch_log(bool on, bool dry = false);
std::vector<LaunchRecord> take_launch_log();  // the records so far (the log is left empty)

// Device memory (allocator.cu): a caching allocator. alloc rounds `bytes` up to its size
// bin and reuses a cached block of that bin when there is one; free returns the block to
// the cache (never to the driver, never throws). alloc never returns null for bytes > 0:
// it throws OutOfMemoryError (after emptying the cache and retrying once) or runtime_error.
void* alloc(size_t bytes);
void free(void* ptr, size_t bytes);
size_t round_size(size_t bytes);    // the bin a request of `bytes` is served from
size_t memory_allocated();          // bytes in live blocks (rounded sizes), as PyTorch
size_t max_memory_allocated();      // peak of memory_allocated since start / reset
size_t memory_cached();             // bytes held by the cache: live + free blocks
void reset_peak_memory_stats();
void empty_cache();                 // returns every free cached block to the driver

// Host <-> device copies on the stream; copy_to_host waits for the stream (the host reads).
void copy_to_device(void* dst, const void* src, size_t bytes);
void copy_to_host(void* dst, const void* src, size_t bytes);
void copy_on_device(void* dst, const void* src, size_t bytes);  // asynchronous, on the stream

// DLPack's stream exchange (module_cuda.cc: Tensor.__dlpack__ and neuraxon.from_dlpack).
// A stream is named by the integer DLPack uses: 1 = the legacy default stream, 2 = the
// per-thread default stream, any other value a cudaStream_t (on the emulated device only 1,
// 2 and our own stream exist; 1 and 2 are HIP-CPU's null stream there).
uintptr_t stream_handle();  // our stream as that integer (consumers pass it to producers)
// Makes `consumer` wait, on the device, for everything enqueued on our stream so far (an
// event recorded here and waited for there; no host wait). Nothing to do for our own stream.
// The emulated device waits on the host instead (HIP-CPU's cross-stream waits can deadlock).
void order_consumer(uintptr_t consumer);
// Waits for the stream without raising (for destructors): imported memory is handed back to
// its producer only once our kernels are done with it. Counted as a host sync; a deferred
// device error stays pending for the next wait_stream().
void wait_stream_quiet() noexcept;

}  // namespace cuda
}  // namespace nx
