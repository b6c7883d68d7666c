// check.cuh — every CUDA runtime call goes through NX_CUDA(...): a failure throws
// std::runtime_error naming the call, the file and the line (Python sees RuntimeError).
// Kernel launches are followed by NX_CUDA_LAUNCH() to catch bad launch configurations.
#pragma once

#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "../common.h"

#define NX_CUDA(call)                                                                    \
  do {                                                                                   \
    cudaError_t nx_err_ = (call);                                                        \
    if (nx_err_ != cudaSuccess)                                                          \
      throw std::runtime_error(::nx::cat("CUDA error in ", #call, " at ", __FILE__, ":", \
                                         __LINE__, ": ", cudaGetErrorString(nx_err_)));  \
  } while (0)

#define NX_CUDA_LAUNCH() NX_CUDA(cudaGetLastError())
