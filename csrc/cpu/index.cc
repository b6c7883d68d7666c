// index.cc (cpu) — gather and scatter_add along the middle axis of an (outer, size, inner)
// view: embedding lookups, index_select, one-hot picks and their backwards.
//
// Layouts: inp/out (outer, size, inner) contiguous; index int64 (m); gathered/scattered
// side (outer, m, inner). Index values in [-size, size); negatives count from the end; any
// other value raises ValueError before anything is written.
//
// One implementation each (no variants):
//  * gather: every (outer, j) pair copies one row of `inner` elements (memcpy).
//    Threads: the outer*m rows, one contiguous chunk per thread.
//  * scatter_add: out[o, idx[j], :] += src[o, j, :] for j in order. Threads own disjoint
//    (outer row, column block) tasks and walk j = 0..m-1 in order inside each, so repeated
//    indices add up without atomics and the result is deterministic (bitwise, any thread
//    count).
// gather takes any dtype (out and inp alike); scatter_add float32 or int64.
#include <algorithm>
#include <cstring>

#include "../checks/index.h"
#include "../strided.h"
#include "backend.h"

namespace nx {
namespace {


// Validates every index (serial: m is small next to the data moved) and returns them
// normalised into [0, size) in scratch memory (slot 2 reinterpreted as int64).
const int64_t* normalise(const char* K, const View& index, int64_t m, int64_t size) {
  int64_t* nidx = reinterpret_cast<int64_t*>(cpu::scratch(size_t(std::max<int64_t>(2 * m, 1)), 2));
  const int64_t* idx = index.i64();
  for (int64_t j = 0; j < m; ++j) {
    const int64_t v = idx[j];
    NX_CHECK(v >= -size && v < size, K, ": index ", v, " at position ", j,
             " is out of range for an axis of size ", size);
    nidx[j] = v < 0 ? v + size : v;
  }
  return nidx;
}

template <class T>
void scatter_add_impl(T* out, const T* src, const int64_t* idx, int64_t outer, int64_t size,
                      int64_t m, int64_t inner) {
  // Column block so that there are at least ~4 tasks per thread when outer is small.
  const int64_t want = std::max<int64_t>(1, 4 * cpu::num_threads() / std::max<int64_t>(outer, 1));
  const int64_t jb = std::max<int64_t>(16, (inner + want - 1) / want);
  const int64_t nblk = (inner + jb - 1) / jb;
  cpu::parallel_for(outer * nblk, m * std::min(inner, jb), [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t o = t / nblk, c0 = (t % nblk) * jb, w = std::min(inner, c0 + jb) - c0;
      for (int64_t j = 0; j < m; ++j) {
        T* d = out + (o * size + idx[j]) * inner + c0;    // out[o, idx[j], c0:c0+w]
        const T* s = src + (o * m + j) * inner + c0;      // src[o, j, c0:c0+w]
        for (int64_t c = 0; c < w; ++c) d[c] += s[c];
      }
    }
  });
}

}  // namespace

void Cpu::gather(View out, View inp, View index, int64_t outer, int64_t size, int64_t m,
                 int64_t inner) {
  const char* K = "gather";
  checks::check_gather(out, inp, index, outer, size, m, inner);
  const int64_t* idx = normalise(K, index, m, size);
  if (outer * m * inner == 0) return;
  const size_t es = elem_size(inp.dtype);
  const size_t row = size_t(inner) * es;
  const char* src = static_cast<const char*>(inp.data);
  char* dst = static_cast<char*>(out.data);
  cpu::parallel_for(outer * m, inner, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t o = r / m, j = r % m;
      std::memcpy(dst + size_t(r) * row, src + size_t(o * size + idx[j]) * row, row);
    }
  });
}

void Cpu::scatter_add(View out, View src, View index, int64_t outer, int64_t size, int64_t m,
                      int64_t inner) {
  const char* K = "scatter_add";
  checks::check_scatter_add(out, src, index, outer, size, m, inner);
  const int64_t* idx = normalise(K, index, m, size);
  if (outer * m * inner == 0) return;
  if (out.dtype == DType::F32) scatter_add_impl(out.f(), src.f(), idx, outer, size, m, inner);
  else scatter_add_impl(out.i64(), src.i64(), idx, outer, size, m, inner);
}

void Cpu::check_index(View index, int64_t n, int64_t lo, int64_t hi, int64_t dim,
                      bool runtime_error) {
  checks::check_check_index(index, n, lo, hi, dim);
  const int64_t* v = index.i64();
  for (int64_t j = 0; j < n; ++j) {
    if (v[j] >= lo && v[j] < hi) continue;
    const std::string msg = checks::index_bounds_message(v[j], dim, hi);
    if (runtime_error) throw std::runtime_error(msg);
    throw std::out_of_range(msg);
  }
}

}  // namespace nx
