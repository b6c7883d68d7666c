// strided.h — pieces of the elementwise and index kernels that are the same on both backends
// (included by csrc/cpu/{elementwise,index}.cc and csrc/cuda/{elementwise,index}.cu):
//   elem_size(dtype)       bytes per element
//   convert<To, From>(x)   the cast rule (host and device): bool-like uint8 reads as 0/1 and is
//                          written as x != 0; float -> int64 truncates toward zero, NaN / inf /
//                          out of range give INT64_MIN (what NumPy's astype gives on x86)
//   coalesce<N>(shape, st) drop size-1 axes, then merge an outer axis d into its inner
//                          neighbour when contiguous in all N operands (st[k][d] ==
//                          st[k][d+1] * shape[d+1]); the innermost axis stays last (host)
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "common.h"


namespace nx {

inline size_t elem_size(DType d) { return d == DType::F32 ? 4 : (d == DType::I64 ? 8 : 1); }

template <class To, class From>
NX_HD To convert(From x) {
  return To(x);  // float <- float / int64, int64 <- int64
}
template <> NX_HD float convert<float, uint8_t>(uint8_t x) { return x ? 1.f : 0.f; }
template <> NX_HD int64_t convert<int64_t, float>(float x) {
  return (x >= -9223372036854775808.f && x < 9223372036854775808.f) ? int64_t(x)
                                                                     : int64_t(-9223372036854775807LL - 1);
}
template <> NX_HD int64_t convert<int64_t, uint8_t>(uint8_t x) { return x ? 1 : 0; }
template <> NX_HD uint8_t convert<uint8_t, float>(float x) { return x != 0.f ? 1 : 0; }
template <> NX_HD uint8_t convert<uint8_t, int64_t>(int64_t x) { return x != 0 ? 1 : 0; }
template <> NX_HD uint8_t convert<uint8_t, uint8_t>(uint8_t x) { return x ? 1 : 0; }

template <int N>
void coalesce(std::vector<int64_t>& shape, std::array<std::vector<int64_t>, N>& st) {
  std::vector<int64_t> osh;
  std::array<std::vector<int64_t>, N> os;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (!osh.empty()) {
      bool merge = true;
      for (int k = 0; k < N; ++k) merge = merge && os[k].back() == st[k][d] * shape[d];
      if (merge) {
        osh.back() *= shape[d];
        for (int k = 0; k < N; ++k) os[k].back() = st[k][d];
        continue;
      }
    }
    osh.push_back(shape[d]);
    for (int k = 0; k < N; ++k) os[k].push_back(st[k][d]);
  }
  shape = std::move(osh);
  st = std::move(os);
}

}  // namespace nx
