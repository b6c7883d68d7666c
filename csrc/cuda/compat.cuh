// compat.cuh — what lets csrc/cuda/*.cu compile both ways from one source:
//   nvcc                the real CUDA build (neuraxon._cuda): <cuda_runtime.h>, <<<...>>>;
//   NX_CUDA_EMU defined the emulated build (neuraxon._cuda_emu): the same files compiled as
//                       plain C++ against HIP-CPU (AMD's header-only CPU implementation of
//                       the HIP/CUDA model: blocks, fibers for __syncthreads, __shared__,
//                       warp shuffles, streams), found through NEURAXON_HIP_CPU_DIR.
// It provides
//   NX_DEVICE_CODE      1 where __global__/__device__ code is compiled (nvcc or emulation);
//   NX_LAUNCH(grid, block, kernel)(args...)
//                       the one launch form every .cu file uses: kernel<<<grid, block, 0,
//                       stream()>>>(args...) under nvcc, hipLaunchKernelGGL on the emulated
//                       stream otherwise. kernel may be a template-id with commas. No kernel
//                       of neuraxon uses dynamic shared memory, so the macro has no such slot.
//   the cuda* runtime names the backend uses, mapped to hip* in the emulated build, plus the
//   device intrinsics HIP spells differently (__shfl_xor_sync, __int_as_float, __align__).
//
// What the emulation cannot do, and how the sources stay portable (HIP-CPU's UPSTREAM.md):
//   * its warps are 64 wide; our kernels use 32-lane groups only through __shfl_xor_sync,
//     which maps to a 32-wide __shfl_xor, so lane arithmetic (threadIdx.x & 31) agrees;
//   * a shuffle is a barrier of the whole block there: a kernel shuffles only where every
//     thread of its block reaches the shuffle (true on the GPU too for full-mask *_sync);
//   * no __syncwarp / __match_any_sync / warp votes: the kernels use __syncthreads and
//     shared memory instead (pool2d.cu's ordered plane scatter);
//   * launch configurations are not checked by HIP-CPU: NX_LAUNCH checks them here as the
//     CUDA runtime would (block <= 1024 threads, grid y/z <= 65535), so a bad launch
//     geometry fails the emulated tests instead of running silently.
#pragma once

#ifndef NX_CUDA_EMU

#include <cuda_runtime.h>

#define NX_DEVICE_CODE 1
#define NX_LAUNCH(grid, block, ...)                                   \
  ::nx::cuda::note_launch(#__VA_ARGS__, dim3(grid), dim3(block)), \
      __VA_ARGS__<<<(grid), (block), 0, ::nx::cuda::stream()>>>
#define NX_EMULATED 0

#else  // ---- emulated CUDA: HIP-CPU -------------------------------------------------------

#include <hip/hip_runtime.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <tuple>
#include <vector>

#define NX_DEVICE_CODE 1
#define NX_EMULATED 1

// HIP-CPU marks kernels and device functions `simd` under GCC, which only makes unused
// vector clones (and a warning per struct argument); kernels keep `flatten`.
#undef __device__
#define __device__
#undef __global__
#define __global__ __attribute__((flatten))

// Runtime API: the names the backend calls.
using cudaError_t = hipError_t;
using cudaStream_t = hipStream_t;
using cudaDeviceProp = hipDeviceProp_t;
#define cudaSuccess hipSuccess
#define cudaErrorMemoryAllocation hipErrorOutOfMemory
#define cudaErrorInvalidConfiguration hipErrorInvalidConfiguration
#define cudaGetErrorString hipGetErrorString
#define cudaGetLastError hipGetLastError
#define cudaGetDeviceCount hipGetDeviceCount
#define cudaGetDeviceProperties hipGetDeviceProperties
#define cudaStreamCreateWithFlags hipStreamCreateWithFlags
#define cudaStreamNonBlocking hipStreamNonBlocking
#define cudaStreamSynchronize hipStreamSynchronize
#define cudaMalloc hipMalloc
#define cudaFree hipFree
#define cudaMemsetAsync hipMemsetAsync
#define cudaMemcpy hipMemcpy
#define cudaMemcpyHostToDevice hipMemcpyHostToDevice
#define cudaMemcpyDeviceToHost hipMemcpyDeviceToHost
#define cudaMemcpyDeviceToDevice hipMemcpyDeviceToDevice
// cudaMemcpyAsync from pageable host memory to the device returns once the runtime has
// staged the source (CUDA's documented behaviour), so the caller may free it at once. HIP-CPU
// would read the source later, when the stream runs the copy: the emulation stages it here
// in a buffer that the enqueued copy owns, as the CUDA runtime does.
namespace nx::cuda {
// Runs f on the emulated stream's thread after everything enqueued before it (what a host
// callback on a CUDA stream does).
template <class F>
void emu_enqueue_host(hipStream_t s, F f) {
  if (!s) s = hip::detail::Runtime::null_stream();
  s->apply([f](auto&& tasks) { tasks.emplace_back([f](auto&&) { f(); }); });
}
}  // namespace nx::cuda

inline cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, hipMemcpyKind kind,
                                   hipStream_t s) {
  if (kind != hipMemcpyHostToDevice || bytes == 0 || !dst || !src)
    return hipMemcpyAsync(dst, src, bytes, kind, s);
  const auto* p = static_cast<const unsigned char*>(src);
  auto staged = std::make_shared<std::vector<unsigned char>>(p, p + bytes);
  ::nx::cuda::emu_enqueue_host(s, [=] { std::memcpy(dst, staged->data(), bytes); });
  return hipSuccess;
}

// HIP-CPU has no hipDeviceGetAttribute; the attributes we read come from the properties
// (its "multiprocessors" are the host's cores).
enum cudaDeviceAttr { cudaDevAttrMultiProcessorCount, cudaDevAttrClockRate };
inline cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  hipDeviceProp_t prop;
  const hipError_t e = hipGetDeviceProperties(&prop, device);
  if (e == hipSuccess)
    *value = attr == cudaDevAttrClockRate ? prop.clockRate : prop.multiProcessorCount;
  return e;
}
// The runtime version neuraxon reports for the emulation: 0 (there is no cudart).
#define CUDART_VERSION 0

// Device intrinsics CUDA spells differently. All our shuffles are full-warp (mask ~0u) over
// 32-lane groups; HIP-CPU's __shfl_xor takes the group width instead of a mask.
template <class T>
inline T __shfl_xor_sync(unsigned /*mask: always full*/, T v, int lane_mask) {
  return __shfl_xor(v, lane_mask, 32);
}
inline float __int_as_float(int x) {
  float f;
  std::memcpy(&f, &x, sizeof f);
  return f;
}
#define __align__(n) __attribute__((aligned(n)))
// CUDA's integer min/max overloads (same-type arguments, as our kernels call them).
template <class T>
inline T min(T a, T b) { return b < a ? b : a; }
template <class T>
inline T max(T a, T b) { return a < b ? b : a; }

namespace nx::cuda {

cudaStream_t stream();  // buffer.cu
void note_launch(const char* kernel, dim3 grid, dim3 block);  // buffer.cu (the launch log)
bool launch_dry();  // buffer.cu: the log records launches without running them (emulation)

// The emulated <<<grid, block, 0, stream()>>>: checks the geometry, then enqueues the kernel
// on the emulated stream through hipLaunchKernelGGL (asynchronous, as on a GPU).
template <class Kernel>
struct EmuLaunch {
  dim3 grid, block;
  Kernel* kernel;
  template <class... Args>
  void operator()(Args... args) const {
    const uint64_t threads = uint64_t(block.x) * block.y * block.z;
    if (threads == 0 || threads > 1024 || block.x > 1024 || block.y > 1024 || block.z > 64 ||
        grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 2147483647u || grid.y > 65535 ||
        grid.z > 65535) {
      // What the CUDA runtime reports for such a launch, at the next cudaGetLastError;
      // HIP-CPU itself would run any geometry.
      hip::detail::Runtime::set_last_error(hipErrorInvalidConfiguration);
      return;
    }
    if (launch_dry()) return;
    Kernel* k = kernel;
    hipLaunchKernelGGL(k, grid, block, 0, stream(), args...);
  }
};
template <class Kernel>
EmuLaunch<Kernel> emu_launch(dim3 grid, dim3 block, Kernel* kernel, const char* name) {
  note_launch(name, grid, block);
  return {grid, block, kernel};
}

}  // namespace nx::cuda

#define NX_LAUNCH(grid, block, ...) ::nx::cuda::emu_launch((grid), (block), __VA_ARGS__, #__VA_ARGS__)

#endif  // NX_CUDA_EMU

namespace nx::cuda {
// The launch log (buffer.cu; neuraxon._cuda.launch_log): while it is on, every NX_LAUNCH
// records the kernel's name and geometry, so tests and bench/gpu_geometry.py can see how many
// blocks each op runs on, on the emulated build as on a GPU. Off: one relaxed load a launch.
void note_launch(const char* kernel, dim3 grid, dim3 block);
}  // namespace nx::cuda
