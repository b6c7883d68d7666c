// module_cpu.cc — neuraxon._cpu: every kernel of kernel_api.inc for the CPU, plus what
// `neuraxon info` and the tests need to know about the build (compiler, ISA paths, threads).
#define NX_BACKEND_CUDA 0
#include "bind_kernels.h"
#include "../cpu/backend.h"

namespace py = pybind11;

PYBIND11_MODULE(_cpu, m) {
  m.doc() = "neuraxon CPU kernels (C++17, OpenMP, AVX-512/AVX2/portable chosen at run time)";
  nx::bind_kernels<nx::Cpu>(m);
  m.def("isa_supported", [] { return std::string(nx::cpu::isa_name(nx::cpu::isa_supported())); });
  m.def("isa", [] { return std::string(nx::cpu::isa_name(nx::cpu::isa())); });
  m.def("set_isa", [](const std::string& name) {
    for (auto i : {nx::cpu::Isa::Portable, nx::cpu::Isa::Avx2, nx::cpu::Isa::Avx512})
      if (name == nx::cpu::isa_name(i)) return nx::cpu::set_isa(i);
    throw std::invalid_argument("set_isa: unknown ISA '" + name + "' (portable, avx2, avx512)");
  });
  m.def("isa_paths", [] { return std::vector<std::string>{"portable", "avx2", "avx512"}; });
  m.def("num_threads", &nx::cpu::num_threads);
  m.def("set_num_threads", &nx::cpu::set_num_threads);
  m.def("release_scratch", &nx::cpu::release_scratch, py::call_guard<py::gil_scoped_release>(),
        "Free the kernels' per-thread scratch arenas; returns the bytes freed.");
#if defined(__clang__)
  m.attr("compiler") = "clang " __clang_version__;
#elif defined(__GNUC__)
  m.attr("compiler") = "gcc " __VERSION__;
#else
  m.attr("compiler") = "unknown";
#endif
#ifdef _OPENMP
  m.attr("openmp") = true;
#else
  m.attr("openmp") = false;
#endif
}
